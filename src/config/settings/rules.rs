//! Limit rules, budgets, rule modes and durations.

use super::{Budget, Collector, LimitPer, LimitRule};
use crate::config::raw::{RawBudget, RawLimit};
use crate::phone::Country;
use std::collections::BTreeMap;
use std::time::Duration;

pub(super) fn parse_limits(key: &str, raw: &[RawLimit], p: &mut Collector) -> Vec<LimitRule> {
    raw.iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let k = format!("{key}[{i}]");
            let per = match r.per.as_str() {
                "ip" => Some(LimitPer::Ip),
                "number" => Some(LimitPer::Number),
                "endpoint" => Some(LimitPer::Endpoint),
                "prefix" => match r.digits.unwrap_or(4) {
                    d @ 1..=10 => Some(LimitPer::Prefix { digits: d }),
                    d => {
                        p.push(format!("{k}.digits"), format!("{d} is not between 1 and 10"));
                        None
                    }
                },
                "country" => Some(LimitPer::Country),
                "ip_countries" => Some(LimitPer::IpCountries),
                other => {
                    p.push(
                        format!("{k}.per"),
                        format!("unknown {other:?}: use \"ip\", \"number\", \"endpoint\", \"prefix\", \"country\" or \"ip_countries\""),
                    );
                    None
                }
            };
            if r.digits.is_some() && r.per != "prefix" {
                p.push(format!("{k}.digits"), "only rules with per = \"prefix\" take digits");
            }
            let shadow = match &r.mode {
                Some(m) => p.parse(&format!("{k}.mode"), parse_mode(m)),
                None => Some(false),
            };
            let max = if r.max < 1 {
                p.push(
                    format!("{k}.max"),
                    format!(
                        "{} is not a positive count (to turn a limit off, remove the rule)",
                        r.max
                    ),
                );
                None
            } else {
                Some(r.max as u64)
            };
            let window = p.parse(&format!("{k}.window"), parse_duration(&r.window));
            let global = match r.scope.as_deref() {
                None | Some("endpoint") => Some(false),
                Some("global") => Some(true),
                Some(other) => {
                    p.push(
                        format!("{k}.scope"),
                        format!("unknown {other:?}: use \"endpoint\" or \"global\""),
                    );
                    None
                }
            };
            Some(LimitRule { per: per?, max: max?, window: window?, global: global?, shadow: shadow? })
        })
        .collect()
}

pub(super) fn parse_mode(m: &str) -> Result<bool, String> {
    match m {
        "enforce" => Ok(false),
        "shadow" => Ok(true),
        other => Err(format!("unknown {other:?}: use \"enforce\" or \"shadow\"")),
    }
}

pub(super) fn parse_budget(
    key: &str,
    raw: Option<&RawBudget>,
    per_country: Option<&BTreeMap<String, i64>>,
    p: &mut Collector,
) -> Option<Budget> {
    let Some(b) = raw else {
        if per_country.is_some_and(|m| !m.is_empty()) {
            p.push(
                format!("{key}.country_budgets"),
                "needs a budget = { max_parts, window } for its window",
            );
        }
        return None;
    };
    let max_parts = if b.max_parts < 1 {
        p.push(
            format!("{key}.budget.max_parts"),
            format!("{} is not a positive count", b.max_parts),
        );
        None
    } else {
        Some(b.max_parts as u64)
    };
    let window = p.parse(&format!("{key}.budget.window"), parse_duration(&b.window));
    let shadow = match &b.mode {
        Some(m) => p.parse(&format!("{key}.budget.mode"), parse_mode(m)),
        None => Some(false),
    };
    let mut countries = BTreeMap::new();
    for (code, max) in per_country.into_iter().flatten() {
        let k = format!("{key}.country_budgets.{code}");
        match (Country::parse(code), *max) {
            (Ok(c), m) if m >= 1 => {
                countries.insert(c, m as u64);
            }
            (Err(e), _) => p.push(k, e),
            (_, m) => p.push(k, format!("{m} is not a positive count")),
        }
    }
    Some(Budget {
        max_parts: max_parts?,
        window: window?,
        per_country: countries,
        shadow: shadow?,
    })
}

/// `"1h"`, `"30m"`, `"10s"`, `"500ms"`, `"1d"`, or bare seconds (`"3600"`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| {
        format!("{s:?} is not a duration such as \"10s\", \"15m\", \"1h\" or \"1d\"")
    })?;
    let d = match unit.trim() {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "m" | "min" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        "d" => Duration::from_secs(n * 86_400),
        _ => {
            return Err(format!(
                "{s:?} is not a duration such as \"10s\", \"15m\", \"1h\" or \"1d\""
            ))
        }
    };
    if d.is_zero() {
        return Err(format!("{s:?} is zero; a window must be positive"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        for (s, want) in [
            ("10s", 10),
            ("15m", 900),
            ("1h", 3600),
            ("1d", 86_400),
            ("3600", 3600),
        ] {
            assert_eq!(parse_duration(s), Ok(Duration::from_secs(want)), "{s}");
        }
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        for bad in ["", "h", "-1h", "1w", "0s", "1.5h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
