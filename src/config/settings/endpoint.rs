//! Validation of one `[[endpoint]]`: path, sender, template, parameters,
//! and what it inherits from `[defaults]` (country policy, limits,
//! destination policy, budget, Redis-failure answer).

use super::rules::{parse_budget, parse_limits, parse_mode};
use super::{
    policy, Budget, Collector, CountryPolicy, DestinationPolicy, EndpointKind, EndpointSpec,
    LimitRule, MessageSpec, OnRedisError,
};
use crate::config::raw::{RawEndpoint, RawMessage, RawPolicy};
use crate::endpoints::template::Template;
use crate::phone::{Country, NumberKind};
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};

/// The longest text Nexmo accepts (status 12 above it).
const MAX_TEXT_CHARS: usize = 3200;

/// Names a request parameter of a message endpoint cannot take, because the
/// proxy itself reads them.
const RESERVED_PARAMS: &[&str] = &["receiver", "callback", "country", "number", "_"];

/// What an endpoint inherits from `[defaults]` (and `redis.on_error`).
pub(super) struct Inherited<'a> {
    pub(super) country: &'a CountryPolicy,
    pub(super) limits: &'a [LimitRule],
    pub(super) raw: &'a RawPolicy,
    pub(super) on_redis_error: Option<OnRedisError>,
}

pub(super) fn endpoint(
    key: &str,
    e: &RawEndpoint,
    inherited: &Inherited,
    p: &mut Collector,
    warnings: &mut Vec<String>,
) -> Option<EndpointSpec> {
    check_path(&format!("{key}.path"), &e.path, p);
    let country = policy(
        key,
        inherited.country,
        e.guess_country,
        e.default_country.as_deref(),
        p,
    );
    let limits = match &e.limits {
        Some(l) => parse_limits(&format!("{key}.limits"), l, p),
        None => inherited.limits.to_vec(),
    };
    let (destinations, budget, on_redis_error) = protection(key, e, inherited, p, warnings);
    if e.sender.trim().is_empty() {
        p.push(
            format!("{key}.sender"),
            "not set: every message endpoint needs a sender",
        );
    } else if !sender_is_plausible(&e.sender) {
        warnings.push(format!(
            "{key}.sender {:?}: Nexmo takes up to 11 letters and digits or up to 15 digits; it may alter or refuse this one",
            e.sender
        ));
    }

    let mut params = Vec::new();
    for (name, pattern) in &e.params {
        let pkey = format!("{key}.params.{name}");
        if !is_identifier(name) {
            p.push(&pkey, "parameter names are letters, digits and '_'");
        } else if RESERVED_PARAMS.contains(&name.as_str()) {
            p.push(
                &pkey,
                format!("{name:?} is read by the proxy itself and cannot be a template parameter"),
            );
        }
        // Anchored so a pattern like "ios|android" cannot match a substring
        // of a longer, attacker-chosen value.
        match Regex::new(&format!("^(?:{pattern})$")) {
            Ok(r) => params.push((name.clone(), r)),
            Err(err) => p.push(&pkey, format!("invalid regex: {err}")),
        }
    }
    let mut known: BTreeSet<String> = ["number", "country"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for name in e.vars.keys() {
        if !is_identifier(name) {
            p.push(
                format!("{key}.vars.{name}"),
                "variable names are letters, digits and '_'",
            );
        }
        known.insert(name.clone());
    }
    known.extend(e.params.keys().cloned());

    // Each template is rendered once with sample data (a German mobile
    // number, the endpoint's vars, empty parameters) so a text Nexmo would
    // refuse (over 3200 characters) fails here, and a costly one is flagged.
    let mut long_texts = Vec::new();
    let mut parse = |k: String, text: &str| {
        let r = match Template::parse(text, &known) {
            Ok(_) if text.trim().is_empty() => Err("empty message".to_string()),
            Ok(t) => {
                let sample = t.render(|name| match name {
                    "number" => Some("+49 176 12345678"),
                    "country" => Some("DE"),
                    other => e.vars.get(other).map(String::as_str),
                });
                let chars = sample.chars().count();
                if chars > MAX_TEXT_CHARS {
                    Err(format!(
                        "renders to {chars} characters; Nexmo accepts at most {MAX_TEXT_CHARS}"
                    ))
                } else {
                    let parts = crate::nexmo::gsm::parts(&sample);
                    if parts > 3 {
                        long_texts.push(format!(
                            "{k} renders to {parts} SMS parts; each part is billed"
                        ));
                    }
                    Ok(t)
                }
            }
            Err(err) => Err(err.to_string()),
        };
        r.map_err(|msg| p.push(k, msg)).ok()
    };
    let (default, variants) = match &e.message {
        None => {
            p.push(
                format!("{key}.message"),
                "not set: every message endpoint needs a message",
            );
            (None, BTreeMap::new())
        }
        Some(RawMessage::Plain(text)) => (parse(format!("{key}.message"), text), BTreeMap::new()),
        Some(RawMessage::ByLanguage(map)) => {
            let mut variants = BTreeMap::new();
            let mut default = None;
            let mut bad_langs = Vec::new();
            for (lang, text) in map {
                let k = format!("{key}.message.{lang}");
                let t = parse(k.clone(), text);
                if lang == "default" {
                    default = t;
                } else if lang.len() < 2
                    || lang.len() > 8
                    || !lang.chars().all(|c| c.is_ascii_alphabetic())
                {
                    bad_langs.push(k);
                } else if let Some(t) = t {
                    variants.insert(lang.to_ascii_lowercase(), t);
                }
            }
            for k in bad_langs {
                p.push(
                    k,
                    "language keys are primary language subtags such as \"de\" or \"en\"",
                );
            }
            if !map.contains_key("default") {
                p.push(
                    format!("{key}.message.default"),
                    "not set: a message with language variants needs a default",
                );
            }
            (default, variants)
        }
    };
    warnings.extend(long_texts);
    Some(EndpointSpec {
        path: e.path.clone(),
        country: country?,
        limits,
        on_redis_error: on_redis_error?,
        destinations: Some(destinations),
        budget,
        kind: EndpointKind::Message(MessageSpec {
            sender: e.sender.trim().to_string(),
            variants,
            default: default?,
            vars: e.vars.clone(),
            params,
        }),
    })
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn sender_is_plausible(s: &str) -> bool {
    let compact: String = s.chars().filter(|c| *c != ' ').collect();
    (compact.len() <= 15 && compact.chars().all(|c| c.is_ascii_digit()))
        || (compact.len() <= 11 && compact.chars().all(|c| c.is_ascii_alphanumeric()))
}

pub(super) fn check_path(key: &str, path: &str, p: &mut Collector) {
    if !path.starts_with('/') || path.contains(char::is_whitespace) || path.contains(['?', '#']) {
        p.push(
            key,
            format!(
                "{path:?} is not a path: it must start with '/' and hold no spaces, '?' or '#'"
            ),
        );
    }
}

/// The endpoint's destination policy, budget and Redis-failure answer.
fn protection(
    key: &str,
    e: &RawEndpoint,
    inherited: &Inherited,
    p: &mut Collector,
    warnings: &mut Vec<String>,
) -> (DestinationPolicy, Option<Budget>, Option<OnRedisError>) {
    let d = inherited.raw;
    // A key set on the endpoint wins, else [defaults]; errors name the
    // table the value came from.
    let pick = |own: &Option<Vec<String>>,
                def: &Option<Vec<String>>,
                name: &str|
     -> (String, Vec<String>) {
        match (own, def) {
            (Some(v), _) => (format!("{key}.{name}"), v.clone()),
            (None, Some(v)) => (format!("defaults.{name}"), v.clone()),
            (None, None) => (format!("{key}.{name}"), Vec::new()),
        }
    };
    let countries = |k: &str, list: Vec<String>, p: &mut Collector| -> Vec<Country> {
        list.iter()
            .enumerate()
            .filter_map(|(i, c)| p.parse(&format!("{k}[{i}]"), Country::parse(c)))
            .collect()
    };
    let (k, v) = pick(
        &e.allowed_countries,
        &d.allowed_countries,
        "allowed_countries",
    );
    let allowed = countries(&k, v, p);
    let (k, v) = pick(&e.denied_countries, &d.denied_countries, "denied_countries");
    let denied = countries(&k, v, p);
    let (k, v) = pick(&e.denied_prefixes, &d.denied_prefixes, "denied_prefixes");
    let mut denied_prefixes = Vec::new();
    for (i, s) in v.iter().enumerate() {
        let t = s.trim();
        if t.starts_with('+') && t.len() >= 2 && t[1..].chars().all(|c| c.is_ascii_digit()) {
            denied_prefixes.push(t.to_string());
        } else {
            p.push(
                format!("{k}[{i}]"),
                format!("{s:?} is not an E.164 prefix such as \"+4915\""),
            );
        }
    }
    let mut number_types = Vec::new();
    if e.number_types.is_none() && d.number_types.is_none() {
        number_types.push(NumberKind::Mobile);
    } else {
        let (k, v) = pick(&e.number_types, &d.number_types, "number_types");
        for (i, t) in v.iter().enumerate() {
            match NumberKind::parse(t) {
                Some(kind) => number_types.push(kind),
                None => p.push(
                    format!("{k}[{i}]"),
                    format!("unknown number type {t:?} (mobile, fixed_line, fixed_line_or_mobile, toll_free, premium_rate, shared_cost, voip, personal_number, pager, uan, voicemail, unknown)"),
                ),
            }
        }
    }
    let (k, v) = pick(&e.trusted_numbers, &d.trusted_numbers, "trusted_numbers");
    let mut trusted = Vec::new();
    for (i, s) in v.iter().enumerate() {
        match crate::phone::parse(s, || inherited.country.default) {
            Ok(n) if s.trim().starts_with('+') => trusted.push(n.e164().to_string()),
            _ => p.push(
                format!("{k}[{i}]"),
                format!("{s:?} is not a valid number in international format (+...)"),
            ),
        }
    }
    let shadow = match e.destination_mode.as_ref().or(d.destination_mode.as_ref()) {
        Some(m) => p
            .parse(&format!("{key}.destination_mode"), parse_mode(m))
            .unwrap_or(false),
        None => false,
    };
    if allowed.is_empty() {
        warnings.push(format!(
            "{key} ({}): allowed_countries is empty, so every country can be sent to; list the countries you serve",
            e.path
        ));
    }
    let budget = parse_budget(
        key,
        e.budget.as_ref().or(d.budget.as_ref()),
        e.country_budgets.as_ref().or(d.country_budgets.as_ref()),
        p,
    );
    let on_redis_error = match e.on_redis_error.as_ref().or(d.on_redis_error.as_ref()) {
        Some(s) => p.parse(&format!("{key}.on_redis_error"), OnRedisError::parse(s)),
        None => Some(inherited.on_redis_error.unwrap_or(OnRedisError::Deny)),
    };
    (
        DestinationPolicy {
            allowed,
            denied,
            denied_prefixes,
            number_types,
            trusted,
            shadow,
        },
        budget,
        on_redis_error,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plausible_senders() {
        assert!(sender_is_plausible("Acme Inc"));
        assert!(!sender_is_plausible("Awesome Sender"));
        assert!(sender_is_plausible("4915112345678"));
        assert!(!sender_is_plausible("A very long sender name"));
        assert!(!sender_is_plausible("Acme-Inc"));
    }
}
