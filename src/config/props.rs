//! Property tests of configuration loading: any file is loaded or refused
//! with problems (never a panic), never shows its secrets in an error,
//! and any limit rule that loads is one the limiter can count.

use super::{load, Sources};
use proptest::prelude::*;

const SECRET: &str = "S3CRETVALUE-never-shown";

fn base() -> String {
    format!(
        "[nexmo]\napi_key = \"key1\"\napi_secret = \"{SECRET}\"\n\
         [[endpoint]]\npath = \"/m/\"\nsender = \"Acme\"\nmessage = \"hi {{number}}\"\n"
    )
}

/// Loads `text` as the configuration file (no environment, no flags).
fn load_text(text: &str) -> Result<super::Settings, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = dir.path().join("proxy.toml");
    std::fs::write(&path, text).map_err(|e| e.to_string())?;
    let sources = Sources {
        config_file: Some(path),
        env: Default::default(),
        flags: Default::default(),
    };
    load(&sources).map_err(|e| e.to_string())
}

fn rule() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec![
            "ip",
            "number",
            "prefix",
            "country",
            "ip_countries",
            "global",
            "bogus",
            "",
        ]),
        prop_oneof![Just(i64::MIN), -2i64..3, 0i64..1_000_000, Just(i64::MAX)],
        prop::sample::select(vec![
            "1h",
            "0s",
            "1d",
            "-1m",
            "x",
            "999999999d",
            "1ms",
            "30d",
            "",
            "1h 30m",
        ]),
        prop::option::of(0i64..20),
        prop::option::of(prop::sample::select(vec!["enforce", "shadow", "x"])),
        prop::option::of(prop::sample::select(vec!["endpoint", "global", "x"])),
    )
        .prop_map(|(per, max, window, digits, mode, scope)| {
            let mut t = format!("{{ per = \"{per}\", max = {max}, window = \"{window}\"");
            if let Some(d) = digits {
                t.push_str(&format!(", digits = {d}"));
            }
            if let Some(m) = mode {
                t.push_str(&format!(", mode = \"{m}\""));
            }
            if let Some(s) = scope {
                t.push_str(&format!(", scope = \"{s}\""));
            }
            t + " }"
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn any_file_loads_or_is_refused(text in ".{0,200}") {
        let _ = load_text(&text);
    }

    /// Garbage anywhere in a file holding a secret: the file may load or
    /// be refused, but no error ever quotes the secret.
    #[test]
    fn a_broken_file_never_shows_its_secret(
        garbage in "[\\[\\]{}=\"'a-z_ .\n\\\\#0-9-]{0,30}",
        at in 0usize..6,
    ) {
        let mut lines: Vec<String> = base().lines().map(str::to_string).collect();
        let at = at.min(lines.len());
        lines.insert(at, garbage.clone());
        let text = lines.join("\n");
        if let Err(e) = load_text(&text) {
            prop_assert!(!e.contains(SECRET), "{:?}\n{}", garbage, e);
        }
        // The secret's own line broken in half.
        let broken = text.replace(&format!("\"{SECRET}\""), &format!("\"{SECRET}{garbage}"));
        if let Err(e) = load_text(&broken) {
            prop_assert!(!e.contains("never-shown"), "{:?}\n{}", garbage, e);
        }
    }

    #[test]
    fn a_limit_rule_that_loads_can_be_counted(rules in proptest::collection::vec(rule(), 0..4)) {
        let text = format!("{}limits = [{}]\n", base(), rules.join(", "));
        if let Ok(settings) = load_text(&text) {
            for r in settings.endpoints.iter().flat_map(|e| &e.limits) {
                prop_assert!(r.max >= 1, "{:?}", r);
                prop_assert!(!r.window.is_zero(), "{:?}", r);
            }
        }
    }
}

/// The properties above are not vacuous: their base file loads, with a
/// rule, and an error does show the text around a broken line.
#[test]
fn the_base_file_loads_and_errors_quote_their_line() {
    let ok = load_text(&format!(
        "{}limits = [{{ per = \"ip\", max = 3, window = \"1h\" }}]\n",
        base()
    ));
    assert_eq!(ok.map(|s| s.endpoints[0].limits.len()), Ok(1));
    let e = load_text(&format!("{}sender = \"Acme\nxyzzy\n", base())).unwrap_err();
    assert!(e.contains("sender") || e.contains("line"), "{e}");
}
