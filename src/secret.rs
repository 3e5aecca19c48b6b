//! `Secret`: a string that never prints. API secrets, Redis passwords and
//! key material live in it, so logging a config, a diff or a `--check`
//! summary cannot leak them; and which configuration keys hold secrets, so
//! that error messages about them never quote them.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A secret value. `Debug` and `Display` print `***` (or an empty marker
/// when unset, so `--check` can still say "not set").
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl Secret {
    pub(crate) fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The real value, for the one place that must send it (the Nexmo form
    /// body, the Redis connection). Grep for `expose` to audit those places.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("\"\"")
        } else {
            f.write_str("***")
        }
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// Written out (by `--print-config`) as `Display` shows it: `***`, or `""`
/// when unset.
impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if self.0.is_empty() { "" } else { "***" })
    }
}

/// Configuration keys whose values must never be echoed in an error
/// message: secrets,
/// and the tables holding them (`redis = "redis://:pw@..."` is refused as
/// a table, and must not be quoted either).
pub(crate) fn is_secret_path(path: &[String]) -> bool {
    const SECRETS: [[&str; 2]; 3] = [
        ["nexmo", "api_secret"],
        ["redis", "url"],
        ["limits", "key_secret"],
    ];
    let holds = |s: &[&str; 2]| path.len() <= 2 && path.iter().zip(s).all(|(a, b)| a == b);
    // Cluster seeds are URLs that may carry a password, at any depth of
    // the list.
    let seeds = path.len() >= 2 && path[0] == "redis" && path[1] == "cluster";
    SECRETS.iter().any(holds)
        || seeds
        || path
            .iter()
            .any(|p| p.contains("secret") || p.contains("password"))
}

/// `message` with the value of every secret-looking line of `toml` (a key
/// naming a secret or password, or a URL with credentials) replaced by
/// `***`, even when the line is too broken to parse.
pub(crate) fn hide_in(message: &str, toml: &str) -> String {
    let mut out = message.to_string();
    // Each `key = value` of a line, also inside an inline table.
    let assignments = toml
        .lines()
        .flat_map(|l| l.split([',', '{', '}']))
        .filter_map(|a| a.split_once('='));
    for (key, value) in assignments {
        let key = key.trim().to_ascii_lowercase();
        let value = value.trim().trim_start_matches(['"', '\'']);
        let value = value.trim_end_matches(['"', '\'']).trim();
        let secret = key.contains("secret") || key.contains("password");
        // Shorter values would mangle the message, and are no secret.
        if value.len() >= 4 && (secret || key.ends_with("url") && value.contains('@')) {
            out = out.replace(value, "***");
        }
    }
    mask_credentials(&out)
}

/// `text` with the user and password of every URL in it (`scheme://user:pw@`)
/// made `***`, wherever it stands: on a line of a multi-line list, in an
/// environment variable's value, in a message quoting either.
pub(crate) fn mask_credentials(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || "/?#\"'`,[]{}<>".contains(c))
            .unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(user_end) => {
                out.push_str("***");
                rest = &tail[user_end..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_any_url_are_masked() {
        let cases = [
            ("redis://:pw@10.0.0.1:6379", "redis://***@10.0.0.1:6379"),
            (
                "found string \"redis://u:p@a:1\", expected a sequence",
                "found string \"redis://***@a:1\", expected a sequence",
            ),
            (
                "[\"redis://:x@a\", \"redis://b\"]",
                "[\"redis://***@a\", \"redis://b\"]",
            ),
            ("https://example.com/a@b", "https://example.com/a@b"),
            ("no url here @ all", "no url here @ all"),
            ("://@", "://***@"),
        ];
        for (text, masked) in cases {
            assert_eq!(mask_credentials(text), masked, "{text}");
        }
        let msg = "expected a sequence near \n  \"redis://:hunter2@10.0.0.2:6379\",\n";
        let toml = "[redis]\ncluster = [\n  \"redis://:hunter2@10.0.0.2:6379\",\n]\n";
        assert!(!hide_in(msg, toml).contains("hunter2"));
        let seed = ["redis".to_string(), "cluster".to_string(), "0".to_string()];
        assert!(is_secret_path(&seed) && is_secret_path(&seed[..2]));
    }

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{s:?}"), "***");
        assert!(!format!("{:?}", Some(&s)).contains("hunter2"));
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn an_empty_secret_says_it_is_empty() {
        assert_eq!(format!("{}", Secret::default()), "\"\"");
    }
}
