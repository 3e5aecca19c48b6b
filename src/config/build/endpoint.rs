//! Endpoints: `[defaults]` built once over the built-in protection, then
//! `[validation]` and each `[[endpoint]]` over it (a key set on a table
//! wins, else the inherited value), plus each message endpoint's sender,
//! parameters and templates.

use super::Problems;
use crate::config::raw::{
    RawEndpoint, RawLimit, RawMessage, STATUS_MAX_PER_IP, STATUS_PATH, VALIDATION_PATH,
};
use crate::config::settings::{
    Budget, CountryPolicy, DestinationPolicy, EndpointKind, EndpointSpec, LimitRule, MessageSpec,
    OnRedisError, WebAccess,
};
use crate::config::values::{Mode, Per, Scope};
use crate::phone::{self, Country, NumberKind};
use crate::template::{Pattern, Template};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Names a request parameter of a message endpoint cannot take, because the
/// proxy itself reads them.
const RESERVED_PARAMS: &[&str] = &["receiver", "callback", "country", "number", "_"];

/// Everything an endpoint inherits from `[defaults]`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Protection {
    country: CountryPolicy,
    limits: Vec<LimitRule>,
    on_redis_error: OnRedisError,
    destinations: DestinationPolicy,
    /// Without its per-country caps, which are inherited on their own.
    budget: Option<Budget>,
    country_budgets: Option<BTreeMap<Country, u64>>,
    web: WebAccess,
}

impl Protection {
    /// What applies when `[defaults]` says nothing.
    pub(super) fn builtin(on_redis_error: OnRedisError) -> Protection {
        Protection {
            country: CountryPolicy {
                guess: true,
                default: Country::known("DE").unwrap_or_else(|| unreachable!("DE is a region")),
            },
            limits: vec![LimitRule {
                per: Per::Ip,
                digits: 0,
                max: 10,
                window: Duration::from_secs(3600),
                global: false,
                shadow: false,
            }],
            on_redis_error,
            destinations: DestinationPolicy {
                allowed: Vec::new(),
                denied: Vec::new(),
                denied_prefixes: Vec::new(),
                // libphonenumber cannot tell mobiles from landlines in the
                // +1 plan: without the second, no US or Canadian number
                // could be sent to.
                number_types: vec![NumberKind::Mobile, NumberKind::FixedLineOrMobile],
                trusted: Vec::new(),
                shadow: false,
            },
            budget: None,
            country_budgets: None,
            web: super::web::builtin(),
        }
    }

    /// The keys `raw` sets over `base`.
    pub(super) fn over(key: &str, raw: &RawEndpoint, base: &Protection, p: &mut Problems) -> Self {
        let country = CountryPolicy {
            guess: raw.guess_country.unwrap_or(base.country.guess),
            default: raw.default_country.unwrap_or(base.country.default),
        };
        let d = &base.destinations;
        let trusted = match &raw.trusted_numbers {
            Some(list) => trusted_numbers(&format!("{key}.trusted_numbers"), list, country, p),
            None => d.trusted.clone(),
        };
        let destinations = DestinationPolicy {
            allowed: raw.allowed_countries.clone().unwrap_or(d.allowed.clone()),
            denied: raw.denied_countries.clone().unwrap_or(d.denied.clone()),
            denied_prefixes: raw
                .denied_prefixes
                .as_ref()
                .map_or(d.denied_prefixes.clone(), |v| {
                    v.iter().map(|prefix| prefix.0.clone()).collect()
                }),
            number_types: raw.number_types.clone().unwrap_or(d.number_types.clone()),
            trusted,
            shadow: raw.destination_mode.map_or(d.shadow, |m| m == Mode::Shadow),
        };
        Protection {
            country,
            limits: match &raw.limits {
                Some(rules) => limits(&format!("{key}.limits"), rules, p),
                None => base.limits.clone(),
            },
            on_redis_error: raw.on_redis_error.unwrap_or(base.on_redis_error),
            destinations,
            budget: budget(key, raw, base.budget.as_ref(), p),
            country_budgets: match &raw.country_budgets {
                Some(m) => Some(m.iter().map(|(c, n)| (*c, n.0.get())).collect()),
                None => base.country_budgets.clone(),
            },
            web: super::web::over(key, raw, &base.web, p),
        }
    }
}

/// Refuses every key of `keys` that is set: `[table]` does not take it.
pub(super) fn refuse_keys(table: &str, keys: &[(&str, bool)], why: &str, p: &mut Problems) {
    for (name, _) in keys.iter().filter(|(_, set)| *set) {
        let message = format!("[{table}] does not take {name}; {why}");
        p.push(format!("{table}.{name}"), message);
    }
}

/// `[validation]`: its own path, limits and Redis-failure answer (allow:
/// validating sends nothing, so failing open costs nothing); the country
/// policy of `[defaults]`.
pub(super) fn validation(
    raw: &RawEndpoint,
    defaults: &Protection,
    p: &mut Problems,
) -> EndpointSpec {
    let base = Protection {
        country: defaults.country,
        web: defaults.web.clone(),
        ..Protection::builtin(OnRedisError::Allow)
    };
    lookup(
        "validation",
        raw,
        base,
        VALIDATION_PATH,
        EndpointKind::Validate,
        p,
    )
}

/// `[message_status]`: like `[validation]`, with room for a page that
/// polls (300 per address an hour unless it says).
pub(super) fn message_status(
    raw: &RawEndpoint,
    defaults: &Protection,
    p: &mut Problems,
) -> EndpointSpec {
    // The page that sent polls: the same origins may ask.
    let mut base = Protection {
        web: defaults.web.clone(),
        ..Protection::builtin(OnRedisError::Allow)
    };
    for rule in &mut base.limits {
        rule.max = STATUS_MAX_PER_IP;
    }
    lookup(
        "message_status",
        raw,
        base,
        STATUS_PATH,
        EndpointKind::Status,
        p,
    )
}

/// The receipt endpoint at `path`: Nexmo's addresses are many and its
/// retries come in bursts, so no limits; what it stores is authenticated.
pub(super) fn receipts(path: String) -> EndpointSpec {
    let base = Protection::builtin(OnRedisError::Allow);
    EndpointSpec {
        path,
        // Called by Nexmo's servers, not by pages.
        web: base.web,
        country: base.country,
        limits: Vec::new(),
        on_redis_error: base.on_redis_error,
        destinations: None,
        budget: None,
        kind: EndpointKind::Receipts,
    }
}

/// An endpoint that sends nothing: its own path, limits and country
/// guessing over `base`.
fn lookup(
    table: &str,
    raw: &RawEndpoint,
    base: Protection,
    default_path: &str,
    kind: EndpointKind,
    p: &mut Problems,
) -> EndpointSpec {
    let keys = [&raw.message_keys()[1..], &raw.destination_keys()].concat();
    refuse_keys(table, &keys, "it sends nothing", p);
    let own = Protection::over(table, raw, &base, p);
    let path = raw.path.clone().unwrap_or_else(|| default_path.into());
    check_path(&format!("{table}.path"), &path, p);
    EndpointSpec {
        path,
        web: own.web,
        country: own.country,
        limits: own.limits,
        on_redis_error: own.on_redis_error,
        destinations: None,
        budget: None,
        kind,
    }
}

/// One `[[endpoint]]`, or `None` when it has problems.
pub(super) fn message(
    key: &str,
    raw: &RawEndpoint,
    defaults: &Protection,
    p: &mut Problems,
    warnings: &mut Vec<String>,
) -> Option<EndpointSpec> {
    let own = Protection::over(key, raw, defaults, p);
    let path = p.required(format!("{key}.path"), raw.path.clone());
    if let Some(path) = &path {
        check_path(&format!("{key}.path"), path, p);
        if own.destinations.allowed.is_empty() {
            warnings.push(format!("{key} ({path}): allowed_countries is empty, so every country can be sent to; list the countries you serve"));
        }
    }
    let sender = sender(key, raw.sender.as_deref(), p, warnings);
    let vars = raw.vars.clone().unwrap_or_default();
    let params = params(key, raw.params.as_ref(), p);
    let budget = match (own.budget, own.country_budgets) {
        (Some(b), per_country) => Some(Budget {
            per_country: per_country.unwrap_or_default(),
            ..b
        }),
        (None, Some(per_country)) if !per_country.is_empty() => {
            let why = "needs a budget = { max_parts, window } for its window";
            p.push(format!("{key}.country_budgets"), why);
            None
        }
        (None, _) => None,
    };
    let (default, variants) = templates(key, raw, &vars, p, warnings)?;
    Some(EndpointSpec {
        path: path?,
        web: own.web,
        country: own.country,
        limits: own.limits,
        on_redis_error: own.on_redis_error,
        destinations: Some(own.destinations),
        budget,
        kind: EndpointKind::Message(MessageSpec {
            sender: sender?,
            variants,
            default,
            vars,
            params: params?,
        }),
    })
}

fn limits(key: &str, rules: &[RawLimit], p: &mut Problems) -> Vec<LimitRule> {
    let mut out = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        let k = format!("{key}[{i}]");
        let per = p.required(format!("{k}.per"), r.per);
        let digits = match (per, r.digits) {
            (Some(Per::Prefix), d) => d.unwrap_or(4),
            (_, None) => 0,
            (_, Some(_)) => {
                p.push(
                    format!("{k}.digits"),
                    "only rules with per = \"prefix\" take digits",
                );
                0
            }
        };
        if per == Some(Per::Prefix) && !(1..=10).contains(&digits) {
            p.push(
                format!("{k}.digits"),
                format!("{digits} is not between 1 and 10"),
            );
        }
        let max = p.required(format!("{k}.max"), r.max);
        let window = p.required(format!("{k}.window"), r.window);
        if let (Some(per), Some(max), Some(window)) = (per, max, window) {
            out.push(LimitRule {
                per,
                digits,
                max: max.0.get(),
                window: window.0,
                global: r.scope == Scope::Global,
                shadow: r.mode == Mode::Shadow,
            });
        }
    }
    out
}

/// An own `budget` replaces the inherited one (its per-country caps come
/// from `country_budgets`, own or inherited, separately).
fn budget(key: &str, raw: &RawEndpoint, base: Option<&Budget>, p: &mut Problems) -> Option<Budget> {
    let Some(b) = &raw.budget else {
        return base.cloned();
    };
    let max = p.required(format!("{key}.budget.max_parts"), b.max_parts);
    let window = p.required(format!("{key}.budget.window"), b.window);
    Some(Budget {
        max_parts: max?.0.get(),
        window: window?.0,
        per_country: BTreeMap::new(),
        shadow: b.mode == Mode::Shadow,
    })
}

fn trusted_numbers(key: &str, list: &[String], c: CountryPolicy, p: &mut Problems) -> Vec<String> {
    let mut out = Vec::new();
    for (i, s) in list.iter().enumerate() {
        match phone::parse(s, || [c.default]) {
            Ok(n) if s.trim().starts_with('+') => out.push(n.e164().to_string()),
            _ => p.push(
                format!("{key}[{i}]"),
                format!("{s:?} is not a valid number in international format (+...)"),
            ),
        }
    }
    out
}

fn check_path(key: &str, path: &str, p: &mut Problems) {
    if !path.starts_with('/') || path.contains(char::is_whitespace) || path.contains(['?', '#']) {
        p.push(
            key,
            format!(
                "{path:?} is not a path: it must start with '/' and hold no spaces, '?' or '#'"
            ),
        );
    }
}

fn sender(
    key: &str,
    sender: Option<&str>,
    p: &mut Problems,
    warnings: &mut Vec<String>,
) -> Option<String> {
    let Some(sender) = sender.map(str::trim).filter(|s| !s.is_empty()) else {
        p.push(
            format!("{key}.sender"),
            "not set: every message endpoint needs a sender",
        );
        return None;
    };
    let compact: String = sender.chars().filter(|c| *c != ' ').collect();
    let plausible = (compact.len() <= 15 && compact.chars().all(|c| c.is_ascii_digit()))
        || (compact.len() <= 11 && compact.chars().all(|c| c.is_ascii_alphanumeric()));
    if !plausible {
        warnings.push(format!(
            "{key}.sender {sender:?}: Nexmo takes up to 11 letters and digits or up to 15 digits; it may alter or refuse this one"
        ));
    }
    Some(sender.to_string())
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Declared parameters and their regexes.
fn params(
    key: &str,
    raw: Option<&BTreeMap<String, String>>,
    p: &mut Problems,
) -> Option<Vec<(String, Pattern)>> {
    let before = p.0.len();
    let mut out = Vec::new();
    for (name, pattern) in raw.into_iter().flatten() {
        let pkey = format!("{key}.params.{name}");
        if !is_identifier(name) {
            p.push(&pkey, "parameter names are letters, digits and '_'");
        } else if RESERVED_PARAMS.contains(&name.as_str()) {
            p.push(
                &pkey,
                format!("{name:?} is read by the proxy itself and cannot be a template parameter"),
            );
        }
        match Pattern::anchored(pattern) {
            Ok(r) => out.push((name.clone(), r)),
            Err(e) => p.push(&pkey, e),
        }
    }
    (p.0.len() == before).then_some(out)
}

/// The default template and the language variants, each checked against
/// the names it may use and rendered once with sample data (a German
/// mobile number, the endpoint's vars, empty parameters), so a text Nexmo
/// would refuse fails here and a costly one is flagged.
fn templates(
    key: &str,
    raw: &RawEndpoint,
    vars: &BTreeMap<String, String>,
    p: &mut Problems,
    warnings: &mut Vec<String>,
) -> Option<(Template, BTreeMap<String, Template>)> {
    let mut known: BTreeSet<String> = ["number", "country"].map(String::from).into();
    for name in vars.keys() {
        if !is_identifier(name) {
            p.push(
                format!("{key}.vars.{name}"),
                "variable names are letters, digits and '_'",
            );
        }
        known.insert(name.clone());
    }
    known.extend(raw.params.iter().flatten().map(|(name, _)| name.clone()));
    let sample = |name: &str| match name {
        "number" => Some("+49 176 12345678"),
        "country" => Some("DE"),
        other => vars.get(other).map(String::as_str),
    };
    let mut template =
        |k: String, text: &str, p: &mut Problems| match Template::checked(text, &known, sample) {
            Ok((t, parts)) => {
                if parts > 3 {
                    warnings.push(format!(
                        "{k} renders to {parts} SMS parts; each part is billed"
                    ));
                }
                Some(t)
            }
            Err(message) => {
                p.push(k, message);
                None
            }
        };
    match &raw.message {
        None => {
            p.push(
                format!("{key}.message"),
                "not set: every message endpoint needs a message",
            );
            None
        }
        Some(RawMessage::Plain(text)) => Some((
            template(format!("{key}.message"), text, p)?,
            BTreeMap::new(),
        )),
        Some(RawMessage::ByLanguage(map)) => {
            let mut variants = BTreeMap::new();
            let mut default = None;
            for (lang, text) in map {
                let k = format!("{key}.message.{lang}");
                let t = template(k.clone(), text, p);
                if lang == "default" {
                    default = t;
                } else if !(2..=8).contains(&lang.len())
                    || !lang.chars().all(|c| c.is_ascii_alphabetic())
                {
                    p.push(
                        k,
                        "language keys are primary language subtags such as \"de\" or \"en\"",
                    );
                } else if let Some(t) = t {
                    variants.insert(lang.to_ascii_lowercase(), t);
                }
            }
            if !map.contains_key("default") {
                p.push(
                    format!("{key}.message.default"),
                    "not set: a message with language variants needs a default",
                );
            }
            Some((default?, variants))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--print-config` writes `RawEndpoint::builtin*` where nothing is set;
    /// they must be what the tables are built from.
    #[test]
    fn the_written_builtins_are_the_ones_built() {
        let mut p = Problems::default();
        for on in [OnRedisError::Deny, OnRedisError::Allow, OnRedisError::Local] {
            let builtin = Protection::builtin(on);
            let mut other = builtin.clone();
            other.country.guess = false;
            other.country.default = Country::known("FR").unwrap();
            other.limits.clear();
            other.destinations.number_types = vec![NumberKind::Voip];
            other.destinations.shadow = true;
            other.web = WebAccess {
                cors_origins: vec!["https://x.example".into()],
                any_origin: true,
                jsonp: false,
                referers: vec!["https://y.example".into()],
            };
            let mut raw = RawEndpoint::builtin();
            raw.on_redis_error = Some(on);
            assert_eq!(Protection::over("defaults", &raw, &other, &mut p), builtin);
        }
        // Tables that inherit the web keys: from [defaults], whatever it says.
        let mut defaults = Protection::builtin(OnRedisError::Deny);
        defaults.web.jsonp = false;
        defaults.web.cors_origins = vec!["https://x.example".into()];
        let unset = RawEndpoint::default();
        assert_eq!(validation(&unset, &defaults, &mut p).web, defaults.web);
        assert_eq!(message_status(&unset, &defaults, &mut p).web, defaults.web);
        assert_eq!(
            validation(&RawEndpoint::builtin_validation(), &defaults, &mut p),
            validation(&unset, &defaults, &mut p)
        );
        assert_eq!(
            message_status(&RawEndpoint::builtin_message_status(), &defaults, &mut p),
            message_status(&unset, &defaults, &mut p)
        );
        assert!(p.0.is_empty());
    }
}
