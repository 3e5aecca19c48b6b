//! Configuration: one `load()` for start-up, `--check` and every reload.
//!
//! Layers, lowest to highest precedence:
//! 1. built-in defaults (the `Default` impls in `raw`);
//! 2. the TOML file (`--config PATH`, else `./proxy.toml` if present);
//! 3. `NEXMO_PROXY_<TABLE>__<KEY>` variables, for any key of the file;
//! 4. the old proxy's upper-case variables, then its flags (`legacy`).
//!
//! `load` reads the environment from `Sources`, not from the process, so a
//! reload sees the same overrides as start-up and tests need no global state.

mod cli;
mod legacy;
mod raw;
mod secret;
mod settings;
mod summary;

pub use cli::{Cli, LegacyFlags};
pub use legacy::parse_bool;
pub use raw::RawConfig;
pub use secret::Secret;
pub use settings::{
    parse_duration, Budget, CountryPolicy, DestinationPolicy, EndpointKind, EndpointSpec,
    GeoipSource, LimitPer, LimitRule, LimitsSettings, MessageSpec, NexmoSettings, OnRedisError,
    RedisSettings, ServerSettings, Settings,
};

use figment::providers::{Format, Serialized, Toml};
use figment::Figment;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// Prefix of the environment variables that mirror `proxy.toml` keys.
pub const ENV_PREFIX: &str = "NEXMO_PROXY_";

/// Where a configuration comes from.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// `--config`; when `None`, `./proxy.toml` is used if it exists.
    pub config_file: Option<PathBuf>,
    /// A snapshot of the environment.
    pub env: BTreeMap<String, String>,
    pub flags: LegacyFlags,
}

impl Sources {
    /// The command line plus the process environment, taken once at start-up.
    pub fn from_cli(cli: &Cli) -> Self {
        Sources {
            config_file: cli.config.clone(),
            env: std::env::vars().collect(),
            flags: cli.legacy.clone(),
        }
    }

    /// The file `load` reads, if any.
    pub fn resolved_file(&self) -> Option<PathBuf> {
        match &self.config_file {
            Some(p) => Some(p.clone()),
            None => {
                let p = PathBuf::from("proxy.toml");
                p.is_file().then_some(p)
            }
        }
    }
}

/// One thing wrong with a configuration, named by its key path
/// (`endpoint[1].limits[0].max`, `NEXMO_API_KEY`, `--port`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub message: String,
}

impl Problem {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Every problem found; never empty.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid configuration ({} problem{})",
            self.problems.len(),
            if self.problems.len() == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

/// Loads and validates the configuration from `sources`.
pub fn load(sources: &Sources) -> Result<Settings, ConfigError> {
    let mut problems = Vec::new();
    let file = sources.resolved_file();
    let mut figment = Figment::new();
    if let Some(path) = &file {
        match std::fs::read_to_string(path) {
            Ok(text) if text.trim().is_empty() => problems.push(Problem::new(
                path.display().to_string(),
                "the file is empty (refusing to run on defaults alone)",
            )),
            Ok(_) => figment = figment.merge(Toml::file_exact(path)),
            Err(e) => problems.push(Problem::new(
                path.display().to_string(),
                format!("cannot read: {e}"),
            )),
        }
    }
    for (var, value) in &sources.env {
        if let Some(rest) = var.strip_prefix(ENV_PREFIX) {
            let key = rest.to_ascii_lowercase().replace("__", ".");
            if key.is_empty() {
                continue;
            }
            let parsed: figment::value::Value =
                value.parse().unwrap_or_else(|_| value.as_str().into());
            figment = figment.merge(Serialized::default(&key, parsed));
        }
    }
    if !problems.is_empty() {
        return Err(ConfigError { problems });
    }
    let mut raw: RawConfig = match figment.extract() {
        Ok(raw) => raw,
        Err(e) => {
            let fallback = file
                .as_ref()
                .map_or_else(|| "(top level)".to_string(), |f| f.display().to_string());
            return Err(ConfigError {
                problems: e
                    .into_iter()
                    .map(|e| figment_problem(e, &fallback))
                    .collect(),
            });
        }
    };
    legacy::apply(&mut raw, &sources.flags, &sources.env, &mut problems);
    let settings = Settings::from_raw(raw, file, &mut problems);
    match settings {
        Some(s) if problems.is_empty() => Ok(s),
        _ => Err(ConfigError { problems }),
    }
}

/// Keys whose values must never be echoed in an error message.
fn is_secret_path(path: &[String]) -> bool {
    path.iter().any(|p| {
        p.contains("secret")
            || p.contains("password")
            || p == "url" && path.first().is_some_and(|f| f == "redis")
    })
}

fn figment_problem(e: figment::Error, fallback_key: &str) -> Problem {
    use figment::error::Kind;
    let key = if e.path.is_empty() {
        fallback_key.to_string()
    } else {
        e.path.join(".")
    };
    let message = match &e.kind {
        Kind::InvalidType(_, expected) if is_secret_path(&e.path) => {
            format!("invalid type, expected {expected}")
        }
        Kind::InvalidValue(_, expected) if is_secret_path(&e.path) => {
            format!("invalid value, expected {expected}")
        }
        kind => kind.to_string(),
    };
    let source = match &e.metadata {
        Some(md) => match &md.source {
            Some(src) => format!(" (in {} {src})", md.name),
            None => format!(" (in {})", md.name),
        },
        None => String::new(),
    };
    Problem::new(key, format!("{message}{source}"))
}

#[cfg(test)]
mod tests;
