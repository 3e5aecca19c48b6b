//! `--print-config`: the configuration `load` accepted, written back as
//! TOML that reads as the same configuration (secrets aside, shown as
//! `***`), with each value that is not at its default followed by where
//! it came from: the file, a `NEXMO_PROXY_*` variable, an old upper-case
//! variable or an old flag.

use super::legacy::Origins;
use super::raw::{RawBudget, RawConfig, RawEndpoint, RawLimit};
use super::settings::RedisSettings;
use super::{env_origin, is_under, GeoipSource, OnRedisError, Settings, Sources};
use toml_edit::{DocumentMut, Item, Table};

/// Failures of the TOML writer; none is expected from these types.
#[derive(Debug, thiserror::Error)]
pub(super) enum PrintError {
    #[error("cannot write the configuration as TOML: {0}")]
    Write(#[from] toml::ser::Error),
    #[error("cannot annotate the configuration: {0}")]
    Annotate(#[from] toml_edit::TomlError),
}

pub(super) fn render(
    raw: &RawConfig,
    settings: &Settings,
    legacy: &Origins,
    sources: &Sources,
) -> Result<String, PrintError> {
    // Built-in values written out where they apply, so that what runs is
    // what is read; each [[endpoint]] still inherits what it does not set.
    let mut builtin = RawConfig {
        defaults: RawEndpoint::builtin(),
        validation: RawEndpoint::builtin_validation(),
        ..RawConfig::default()
    };
    let on_error = raw.redis.as_ref().and_then(|r| r.on_error);
    builtin.defaults.on_redis_error = Some(on_error.unwrap_or(OnRedisError::Deny));
    if raw.redis.is_some() {
        builtin.redis = Some(RedisSettings::default());
    }
    if raw.nexmo.dlr_url.is_some() {
        builtin.message_status = RawEndpoint::builtin_message_status();
    }
    let mut effective = raw.clone();
    effective.defaults = effective.defaults.or(&builtin.defaults);
    effective.validation = effective.validation.or(&builtin.validation);
    effective.message_status = effective.message_status.or(&builtin.message_status);
    // Relative to the file it was read from; the printout may live elsewhere.
    if let GeoipSource::File(path) = &settings.geoip {
        let path = std::path::absolute(path).unwrap_or_else(|_| path.clone());
        effective.geoip.database = Some(path.display().to_string());
    }

    let mut doc: DocumentMut = toml::to_string(&effective)?.parse()?;
    let marks = Marks {
        effective: toml::Value::try_from(&effective)?,
        defaults: toml::Value::try_from(&builtin)?,
        rule: toml::Value::try_from(RawLimit::default())?,
        budget: toml::Value::try_from(RawBudget::default())?,
        legacy,
        sources,
    };
    marks.table(doc.as_table_mut(), &mut Vec::new());
    note_empty(&mut doc, raw);
    Ok(format!("{}{doc}", header(raw, settings, sources)))
}

/// A word on the tables that are empty because nothing is set there.
fn note_empty(doc: &mut DocumentMut, raw: &RawConfig) {
    let notes = [
        (
            "geoip",
            "database not set: the bundled DB-IP Lite country database",
        ),
        (
            "message_status",
            match raw.nexmo.dlr_url {
                Some(_) => "",
                None => "not served without nexmo.dlr_url",
            },
        ),
    ];
    for (key, note) in notes {
        if let Some(Item::Table(t)) = doc.get_mut(key) {
            if t.is_empty() && !note.is_empty() {
                t.decor_mut().set_suffix(format!(" # {note}"));
            }
        }
    }
}

fn header(raw: &RawConfig, settings: &Settings, sources: &Sources) -> String {
    let from = match &sources.config_file {
        Some(p) => format!("{} and the environment", p.display()),
        None => "the environment alone (no file)".into(),
    };
    let limiter = match raw.redis {
        Some(_) => "",
        None => "# No [redis] table: limits are counted in process.\n",
    };
    let warnings: String = settings
        .warnings
        .iter()
        .map(|w| format!("# warning: {w}\n"))
        .collect();
    format!(
        "# The effective configuration of nexmo-proxy, read from {from}.\n\
         # Secrets are shown as *** (a file holding them is refused: set the real ones).\n\
         # A value followed by \"# from ...\" is not at its\n\
         # default and says where it was set; other values are defaults.\n\
         # Each [[endpoint]] takes every key it does not set from [defaults];\n\
         # [validation] takes only the country policy and the web keys (cors_origins, jsonp,\n\
         # allowed_referers) from it, [message_status] only the web keys.\n\
         {limiter}{warnings}\n"
    )
}

struct Marks<'a> {
    effective: toml::Value,
    defaults: toml::Value,
    /// A limit rule's and a budget's own defaults (`mode`, `scope`).
    rule: toml::Value,
    budget: toml::Value,
    legacy: &'a Origins,
    sources: &'a Sources,
}

impl Marks<'_> {
    fn table(&self, table: &mut Table, path: &mut Vec<String>) {
        for (key, item) in table.iter_mut() {
            path.push(key.get().to_string());
            self.item(item, path);
            path.pop();
        }
    }

    fn item(&self, item: &mut Item, path: &mut Vec<String>) {
        match item {
            Item::Table(t) => self.table(t, path),
            Item::ArrayOfTables(a) => {
                for (i, t) in a.iter_mut().enumerate() {
                    path.push(i.to_string());
                    self.table(t, path);
                    path.pop();
                }
            }
            Item::Value(v) => {
                if at(&self.effective, path) != self.default_at(path) {
                    v.decor_mut()
                        .set_suffix(format!(" # from {}", self.origin(path)));
                }
            }
            Item::None => {}
        }
    }

    fn default_at(&self, path: &[String]) -> Option<&toml::Value> {
        let own = match path {
            [.., table, i, key] if table == "limits" && i.parse::<usize>().is_ok() => {
                at(&self.rule, std::slice::from_ref(key))
            }
            [.., table, key] if table == "budget" => at(&self.budget, std::slice::from_ref(key)),
            _ => None,
        };
        at(&self.defaults, path).or(own)
    }

    /// Legacy options win over `NEXMO_PROXY_*`, which wins over the file.
    fn origin(&self, path: &[String]) -> String {
        let key = crate::tolerant::key_path(path);
        let legacy = self
            .legacy
            .iter()
            .filter(|(root, _)| is_under(&key, root))
            .max_by_key(|(root, _)| root.len());
        if let Some((_, names)) = legacy {
            let named: Vec<String> = names
                .split(", ")
                .map(|name| match name.starts_with("--") {
                    true => format!("{name} (old flag)"),
                    false => format!("{name} (old variable)"),
                })
                .collect();
            return named.join(", ");
        }
        if let Some(var) = env_origin(path, &self.sources.env) {
            return var.to_string();
        }
        match &self.sources.config_file {
            Some(p) => p.display().to_string(),
            None => "the built-in defaults".into(),
        }
    }
}

/// The value at `path` (keys, and array indices as digits).
fn at<'a>(value: &'a toml::Value, path: &[String]) -> Option<&'a toml::Value> {
    path.iter().try_fold(value, |v, key| match v {
        toml::Value::Table(t) => t.get(key),
        toml::Value::Array(a) => a.get(key.parse::<usize>().ok()?),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{effective_toml, load, Sources};
    use crate::cli::LegacyFlags;
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    fn sources(file: &Path, env: &[(&str, &str)], flags: LegacyFlags) -> Sources {
        Sources {
            config_file: Some(file.to_path_buf()),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            flags,
        }
    }

    /// Printed, then read back from another directory with the same
    /// environment and flags: the same settings, but for what is masked.
    fn reads_back_as_loaded(file: &Path, env: &[(&str, &str)], flags: LegacyFlags) -> String {
        let first = sources(file, env, flags.clone());
        let loaded = load(&first).unwrap();
        let printed = effective_toml(&first).unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let copy = tempfile::Builder::new()
            .suffix(".toml")
            .tempfile_in(elsewhere.path())
            .unwrap();
        // The masks are refused; real values stand in for them.
        let unmasked = printed
            .replace("\"***\"", "\"stand-in\"")
            .replace(":***@", ":pw@")
            .replace("=***", "=tok");
        std::fs::write(copy.path(), &unmasked).unwrap();
        let mut again = load(&sources(copy.path(), env, flags))
            .unwrap_or_else(|e| panic!("{}: {e}\n{printed}", file.display()));
        again.config_file.clone_from(&loaded.config_file);
        for (secret, shown) in [
            (&loaded.nexmo.api_secret, &mut again.nexmo.api_secret),
            (
                &loaded.nexmo.signature_secret,
                &mut again.nexmo.signature_secret,
            ),
            (&loaded.limits.key_secret, &mut again.limits.key_secret),
        ] {
            let expected = if secret.is_empty() { "" } else { "stand-in" };
            assert_eq!(shown.expose(), expected, "{printed}");
            shown.clone_from(secret);
        }
        if let (Some(a), Some(b)) = (&loaded.redis, &mut again.redis) {
            b.url.clone_from(&a.url);
            b.cluster.clone_from(&a.cluster);
        }
        again.nexmo.dlr_url.clone_from(&loaded.nexmo.dlr_url);
        assert_eq!(again, loaded, "{}:\n{printed}", file.display());
        printed
    }

    fn repo(path: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
    }

    #[test]
    fn every_valid_fixture_and_the_example_read_back_as_loaded() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(repo("tests/fixtures/valid"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        assert!(files.len() >= 3, "fixtures not found");
        files.push(repo("proxy.example.toml"));
        for file in files {
            let dir = tempfile::tempdir().unwrap();
            let copy = dir.path().join("proxy.toml");
            std::fs::copy(&file, &copy).unwrap();
            let printed = reads_back_as_loaded(&copy, &[], LegacyFlags::default());
            assert!(!printed.contains("s3cr3t"), "{printed}");
        }
    }

    #[test]
    fn legacy_options_and_variables_read_back_and_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("proxy.toml");
        let toml = "[nexmo]\napi_key = \"k\"\napi_secret = \"file-secret-1\"\n\
                    dlr_url = \"https://p.example/r/?token=tok-77\"\n\
                    [redis]\nurl = \"redis://:pw-99@127.0.0.1:6390/2\"\n\
                    [geoip]\ndatabase = \"geo/country.mmdb\"\n\
                    [[endpoint]]\npath = \"/a/\"\nsender = \"Acme\"\nmessage = \"hi\"\n";
        std::fs::write(&file, toml).unwrap();
        std::fs::create_dir(dir.path().join("geo")).unwrap();
        std::fs::write(dir.path().join("geo/country.mmdb"), "").unwrap();
        let env = [
            ("NEXMO_PROXY_SERVER__WORKERS", "3"),
            ("LIMIT_AMOUNT", "4"),
            ("MESSAGE", "Get {it}"),
            ("SENDER", "Old"),
        ];
        let flags = LegacyFlags {
            port: Some("9001".into()),
            ..LegacyFlags::default()
        };
        let printed = reads_back_as_loaded(&file, &env, flags);
        let line = |start: &str| {
            printed
                .lines()
                .find(|l| l.starts_with(start))
                .unwrap_or_else(|| panic!("no {start:?} in\n{printed}"))
                .to_string()
        };
        let shown = file.display().to_string();
        assert_eq!(
            line("workers"),
            "workers = 3 # from NEXMO_PROXY_SERVER__WORKERS"
        );
        assert_eq!(
            line("listen"),
            "listen = \"0.0.0.0:9001\" # from --port (old flag)"
        );
        assert_eq!(
            line("max = 4"),
            "max = 4 # from LIMIT_AMOUNT (old variable)"
        );
        assert_eq!(line("api_key"), format!("api_key = \"k\" # from {shown}"));
        assert_eq!(
            line("api_secret"),
            format!("api_secret = \"***\" # from {shown}")
        );
        assert_eq!(line("client_timeout"), "client_timeout = \"5s\"");
        assert_eq!(
            line("message = \"Get"),
            "message = \"Get {{it}}\" # from MESSAGE (old variable), SENDER (old variable)"
        );
        for secret in ["file-secret-1", "tok-77", "pw-99"] {
            assert!(!printed.contains(secret), "{printed}");
        }
        assert!(printed.contains("url = \"redis://:***@127.0.0.1:6390/2\""));
        let _: BTreeMap<String, toml::Value> = toml::from_str(&printed).unwrap();
    }
}
