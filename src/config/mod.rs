//! Configuration: one `load()` for start-up, `--check` and every reload.
//!
//! Layers, lowest to highest precedence:
//! 1. built-in defaults (the `Default` impls of `raw` and `settings`);
//! 2. the TOML file (`Sources::config_file`);
//! 3. `NEXMO_PROXY_<TABLE>__<KEY>` variables, for any key of the file;
//! 4. the old proxy's upper-case variables, then its flags (`legacy`).
//!
//! Every problem of a configuration is reported at once: serde stops at
//! the first bad value, so `load` reports it, drops the value (it falls
//! back to its default, which nothing will run on) and reads again, until
//! the file reads; then `build` adds what spans keys and tables.
//! `load` reads the environment from `Sources`, not from the process, so a
//! reload sees the same overrides as start-up and tests need no global state.

mod build;
mod legacy;
mod print;
#[cfg(test)]
mod props;
mod raw;
mod settings;
mod values;

pub use settings::Settings;
pub(crate) use settings::{
    Budget, CountryPolicy, DestinationPolicy, EndpointKind, EndpointSpec, GeoipSource, LimitRule,
    MessageSpec, NexmoSettings, OnRedisError, Per, ServerSettings, WebAccess,
};

use crate::cli::{Cli, LegacyFlags};
use crate::secret;
use crate::tolerant::{self, Dropped};
use figment::error::{Actual, Kind};
use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Value};
use figment::Figment;
use raw::RawConfig;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// Prefix of the environment variables that mirror `proxy.toml` keys.
const ENV_PREFIX: &str = "NEXMO_PROXY_";

/// More bad values than this in one file is not a file worth reading on.
const MAX_VALUE_PROBLEMS: usize = 200;

/// Where a configuration comes from.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The file to read; `None` runs on defaults and the environment.
    pub(crate) config_file: Option<PathBuf>,
    /// A snapshot of the environment.
    pub(crate) env: BTreeMap<String, String>,
    pub(crate) flags: LegacyFlags,
}

impl Sources {
    /// The command line plus the process environment, taken once at
    /// start-up. Without `--config`, `./proxy.toml` is used if it exists
    /// now; the choice is kept, so a reload never falls back to defaults
    /// because the file was briefly gone.
    pub fn from_cli(cli: &Cli) -> Self {
        let found = PathBuf::from("proxy.toml");
        let config_file = cli
            .config
            .clone()
            .or_else(|| found.is_file().then_some(found));
        Sources {
            config_file,
            env: std::env::vars().collect(),
            flags: cli.legacy.clone(),
        }
    }
}

/// One thing wrong with a configuration, named by its key path
/// (`endpoint[1].limits[0].max`, `NEXMO_API_KEY`, `--port`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct Problem {
    pub key: String,
    pub message: String,
}

impl Problem {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Every problem found; never empty.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        let s = if n == 1 { "" } else { "s" };
        write!(f, "invalid configuration ({n} problem{s})")?;
        for p in &self.problems {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

/// Loads and validates the configuration from `sources`.
pub fn load(sources: &Sources) -> Result<Settings, ConfigError> {
    load_read(sources).map(|(settings, _, _)| settings)
}

/// For `--print-config`: the configuration `load` accepts from `sources`,
/// as TOML, secrets as `***`, each value not at its default followed by
/// where it came from.
pub fn effective_toml(sources: &Sources) -> Result<String, ConfigError> {
    let (settings, raw, origins) = load_read(sources)?;
    print::render(&raw, &settings, &origins, sources).map_err(|e| ConfigError {
        problems: vec![Problem::new("--print-config", e.to_string())],
    })
}

/// `load`, also returning what was read (every layer merged, before
/// `build`) and which keys the legacy options set.
fn load_read(sources: &Sources) -> Result<(Settings, RawConfig, legacy::Origins), ConfigError> {
    let value = merged(sources).map_err(|p| ConfigError { problems: vec![p] })?;
    let (mut raw, mut problems, dropped) = read(value, &sources.env);
    let mut later = build::Problems::default();
    let origins = legacy::apply(&mut raw, &sources.flags, &sources.env, &mut later);
    let settings = build::settings(&mut raw, sources.config_file.clone(), &mut later);
    // A dropped value was reported once; what it leaves unset is not news.
    let reported: Vec<String> = problems.iter().map(|p| p.key.clone()).collect();
    for mut p in later.0 {
        p.key = dropped.written_key(&p.key);
        if !reported.iter().any(|r| is_under(&p.key, r)) {
            problems.push(p);
        }
    }
    if problems.is_empty() {
        return Ok((settings, raw, origins));
    }
    // Grouped by table, in the order of each table's keys.
    problems.sort_by(|a, b| a.key.cmp(&b.key));
    Err(ConfigError { problems })
}

/// Whether key path `key` is `root` or inside it (`a.b[0]` is under `a.b`).
fn is_under(key: &str, root: &str) -> bool {
    key.strip_prefix(root)
        .is_some_and(|s| s.is_empty() || s.starts_with(['.', '[']))
}

/// The file and the `NEXMO_PROXY_*` variables, merged into one tree.
fn merged(sources: &Sources) -> Result<Value, Problem> {
    let mut figment = Figment::new();
    let file = sources.config_file.as_ref();
    let shown = file.map_or("(environment)".into(), |p| p.display().to_string());
    let mut text = String::new();
    if let Some(path) = file {
        text = std::fs::read_to_string(path)
            .map_err(|e| Problem::new(&shown, format!("cannot read: {e}")))?;
        if text.trim().is_empty() {
            let why = "the file is empty (refusing to run on defaults alone)";
            return Err(Problem::new(shown, why));
        }
        figment = figment.merge(Toml::string(&text));
    }
    for (var, value) in &sources.env {
        let Some(rest) = var.strip_prefix(ENV_PREFIX).filter(|r| !r.is_empty()) else {
            continue;
        };
        let key = rest.to_ascii_lowercase().replace("__", ".");
        let parsed: Value = value.parse().unwrap_or_else(|_| value.as_str().into());
        figment = figment.merge(Serialized::default(&key, parsed));
    }
    // A syntax error quotes the line it stopped at, which may be a secret's.
    let syntax =
        |e: figment::Error| Problem::new(&shown, secret::hide_in(&e.kind.to_string(), &text));
    figment.extract::<Dict>().map(Value::from).map_err(syntax)
}

/// Reads `RawConfig`; every bad value is a problem at its key path.
fn read(value: Value, env: &BTreeMap<String, String>) -> (RawConfig, Vec<Problem>, Dropped) {
    // A variable is text: where a string is expected, figment's guess that
    // `12015550123` or `true` is a number or a boolean is undone.
    let as_text = |path: &[String], kind: &Kind| match kind {
        Kind::InvalidType(found, expected)
            if expected.contains("string") && !matches!(found, Actual::Str(_)) =>
        {
            let name: Vec<String> = path.iter().map(|k| k.to_ascii_uppercase()).collect();
            let text = env.get(&format!("{ENV_PREFIX}{}", name.join("__")))?;
            Some(Value::from(text.as_str()))
        }
        _ => None,
    };
    let (raw, bad, dropped) = tolerant::read(value, MAX_VALUE_PROBLEMS, as_text);
    let problems = bad
        .into_iter()
        .map(|b| {
            let from_env = env_origin(&b.path, env)
                .map(|var| format!(" (from {var})"))
                .unwrap_or_default();
            let message = tolerant::describe(&b.kind, secret::is_secret_path(&b.path));
            let message = secret::mask_credentials(&message);
            Problem::new(tolerant::key_path(&b.path), format!("{message}{from_env}"))
        })
        .collect();
    (raw, problems, dropped)
}

/// The `NEXMO_PROXY_*` variable a value at `path` came from, if any.
pub(super) fn env_origin<'a>(
    path: &[String],
    env: &'a BTreeMap<String, String>,
) -> Option<&'a str> {
    let keys: Vec<&String> = path
        .iter()
        .filter(|s| s.parse::<usize>().is_err())
        .collect();
    (1..=keys.len()).rev().find_map(|n| {
        let name: Vec<String> = keys[..n].iter().map(|k| k.to_ascii_uppercase()).collect();
        let var = format!("{ENV_PREFIX}{}", name.join("__"));
        env.get_key_value(&var).map(|(k, _)| k.as_str())
    })
}
