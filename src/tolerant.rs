//! Reading a serde type from a figment `Value` while finding every bad
//! value, not just the first: serde stops at the first error, so each one
//! is recorded with its path as written, dropped from the tree (its field
//! falls back to its default) and the tree read again. `config::load` uses
//! it; nothing here knows the configuration's keys.

use figment::error::Kind;
use figment::value::Value;
use serde::de::DeserializeOwned;

/// One value serde refused: where it was written, and why.
#[derive(Debug)]
pub(crate) struct BadValue {
    pub(crate) path: Vec<String>,
    pub(crate) kind: Kind,
}

/// Array elements dropped, as (array path as written, index as written):
/// what is left of such an array has shifted.
#[derive(Debug, Default)]
pub(crate) struct Dropped(Vec<(Vec<String>, usize)>);

impl Dropped {
    /// A key path of what was read (`endpoint[1].sender`) as written.
    pub(crate) fn written_key(&self, key: &str) -> String {
        if self.0.is_empty() {
            return key.to_string();
        }
        let mut written = Vec::new();
        for part in key.split('.') {
            let (name, mut indexes) = part.split_once('[').unwrap_or((part, ""));
            written.push(name.to_string());
            while let Some((i, rest)) = indexes.split_once(']') {
                written.push(as_written(&written, i, &self.0));
                indexes = rest.strip_prefix('[').unwrap_or(rest);
            }
        }
        key_path(&written)
    }
}

/// `T` read from `value` with every bad value dropped, and what was dropped
/// (at most `max`; past that, or when a value cannot be dropped, `T`'s
/// default comes back with the problems found so far). Before a value is
/// dropped, `retype` may offer another reading of it (once per path).
pub(crate) fn read<T: DeserializeOwned + Default>(
    mut value: Value,
    max: usize,
    retype: impl Fn(&[String], &Kind) -> Option<Value>,
) -> (T, Vec<BadValue>, Dropped) {
    let mut bad = Vec::new();
    let mut dropped = Vec::new();
    let mut retyped = Vec::new();
    while bad.len() < max {
        let e = match T::deserialize(&value) {
            Ok(t) => return (t, bad, Dropped(dropped)),
            Err(e) => e,
        };
        if !retyped.contains(&e.path) {
            if let Some(other) = retype(&e.path, &e.kind) {
                if let Some(at) = value_at(&mut value, &e.path) {
                    *at = other;
                    retyped.push(e.path);
                    continue;
                }
            }
        }
        match drop_value(&mut value, &e.path, &mut dropped) {
            Some(path) => bad.push(BadValue { path, kind: e.kind }),
            None => {
                bad.push(BadValue {
                    path: e.path,
                    kind: e.kind,
                });
                break;
            }
        }
    }
    (T::default(), bad, Dropped(dropped))
}

fn value_at<'a>(value: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    let mut at = value;
    for segment in path {
        at = match at {
            Value::Dict(_, d) => d.get_mut(segment)?,
            Value::Array(_, a) => a.get_mut(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(at)
}

/// Removes the value at `path` (in the current tree) and returns its path
/// in the tree as written. A dropped array element shifts its followers,
/// so `dropped` remembers (array path as written, index as written).
fn drop_value(
    value: &mut Value,
    path: &[String],
    dropped: &mut Vec<(Vec<String>, usize)>,
) -> Option<Vec<String>> {
    let (last, parents) = path.split_last()?;
    let mut written = Vec::new();
    let mut at = value;
    for segment in parents {
        at = match at {
            Value::Dict(_, d) => d.get_mut(segment)?,
            Value::Array(_, a) => a.get_mut(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
        written.push(as_written(&written, segment, dropped));
    }
    let segment = as_written(&written, last, dropped);
    match at {
        Value::Dict(_, d) => {
            d.remove(last)?;
        }
        Value::Array(_, a) => {
            let i: usize = last.parse().ok()?;
            (i < a.len()).then(|| a.remove(i))?;
            dropped.push((written.clone(), segment.parse().ok()?));
        }
        _ => return None,
    }
    written.push(segment);
    Some(written)
}

/// An index as written: the current one plus the elements dropped before it.
fn as_written(array: &[String], segment: &str, dropped: &[(Vec<String>, usize)]) -> String {
    let Ok(mut i) = segment.parse::<usize>() else {
        return segment.to_string();
    };
    let mut gone: Vec<usize> = dropped
        .iter()
        .filter(|(p, _)| p == array)
        .map(|(_, i)| *i)
        .collect();
    gone.sort_unstable();
    for g in gone {
        if g <= i {
            i += 1;
        }
    }
    i.to_string()
}

/// `endpoint[1].limits[0].max`, the README's key style.
pub(crate) fn key_path(path: &[String]) -> String {
    let mut out = String::new();
    for segment in path {
        if segment.parse::<usize>().is_ok() {
            out.push_str(&format!("[{segment}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(segment);
        }
    }
    if out.is_empty() {
        "(top level)".into()
    } else {
        out
    }
}

/// What is wrong, in serde's words but with one level of quotes; with
/// `redact`, never the value itself.
pub(crate) fn describe(kind: &Kind, redact: bool) -> String {
    let one_of = |names: &[&str]| {
        let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
        quoted.join(", ")
    };
    match kind {
        Kind::UnknownField(found, expected) => format!(
            "unknown field: found `{found}`, expected one of {}",
            one_of(expected)
        ),
        Kind::UnknownVariant(found, expected) => format!(
            "unknown variant `{found}`, expected one of {}",
            one_of(expected)
        ),
        Kind::InvalidType(_, expected) if redact => format!("invalid type, expected {expected}"),
        Kind::InvalidValue(_, expected) if redact => format!("invalid value, expected {expected}"),
        Kind::Message(_) if redact => "invalid value".into(),
        kind => kind.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::providers::{Format, Toml};
    use serde::Deserialize;

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields, default)]
    struct T {
        a: Vec<u8>,
        b: Vec<Inner>,
        c: bool,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields, default)]
    struct Inner {
        n: u8,
    }

    #[test]
    fn every_bad_value_is_found_at_its_written_path() {
        let value: Value = figment::Figment::from(Toml::string(
            "a = [1, -1, 2, 300, 3]\nb = [{ n = 1 }, { x = 2 }, 5, { n = 999 }]\nc = 1\nd = 0",
        ))
        .extract()
        .unwrap();
        let (t, bad, dropped) = read::<T>(value, 100, |_, _| None);
        // Keys of what was read, as written: `b[2]` and `a[1]`, `a[3]` were dropped.
        assert_eq!(dropped.written_key("b[2].n"), "b[3].n");
        assert_eq!(dropped.written_key("a[2]"), "a[4]");
        assert_eq!(dropped.written_key("c"), "c");
        let paths: Vec<String> = bad.iter().map(|b| key_path(&b.path)).collect();
        assert_eq!(
            paths,
            ["a[1]", "a[3]", "b[1].x", "b[2]", "b[3].n", "c", "d"]
        );
        // What reads is kept; what did not falls back to its default.
        assert_eq!(t.a, [1, 2, 3]);
        assert_eq!(t.b.len(), 3);
        assert!(!t.c);
        assert!(describe(&bad[2].kind, false)
            .starts_with("unknown field: found `x`, expected one of `n`"));
    }

    #[test]
    fn it_stops_at_the_cap() {
        let value: Value = figment::Figment::from(Toml::string("a = [-1, -2, -3]"))
            .extract()
            .unwrap();
        let (t, bad, _) = read::<T>(value, 2, |_, _| None);
        assert_eq!(bad.len(), 2);
        assert!(t.a.is_empty());
    }
}
