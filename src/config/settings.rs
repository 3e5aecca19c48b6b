//! The validated configuration the server runs on, built from `RawConfig`.
//! Validation collects every problem with its key path instead of stopping
//! at the first, so one `--check` run shows everything to fix.

use super::raw::{RawBudget, RawConfig, RawEndpoint, RawLimit, RawMessage, RawPolicy};
use super::secret::Secret;
use super::Problem;
use crate::endpoints::template::Template;
use crate::phone::{Country, NumberKind};
use ipnet::IpNet;
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Settings {
    pub server: ServerSettings,
    pub nexmo: NexmoSettings,
    pub redis: Option<RedisSettings>,
    pub geoip: GeoipSource,
    pub validation: EndpointSpec,
    pub endpoints: Vec<EndpointSpec>,
    pub limits: LimitsSettings,
    /// The file this was read from, if any.
    pub config_file: Option<PathBuf>,
    /// Not errors, but worth an operator's look (`--check` prints them).
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    pub trusted_proxies: Vec<IpNet>,
    pub workers: usize,
    pub max_body_bytes: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NexmoSettings {
    pub api_key: String,
    pub api_secret: Secret,
    pub url: url::Url,
    pub long_virtual_number: Option<String>,
    pub dry_run: bool,
    pub timeout: Duration,
    pub dlr_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RedisSettings {
    pub url: Secret,
    pub timeout: Duration,
    pub pool_size: usize,
    pub expected_instances: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LimitsSettings {
    /// Empty: derived at start-up (see `app::Runtime::build`).
    pub key_secret: Secret,
    pub ipv6_prefix: u8,
}

/// What an endpoint does when the Redis limiter cannot decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnRedisError {
    /// 503 `service_unavailable`.
    Deny,
    /// Admit without counting.
    Allow,
    /// Count in-process, each `max` divided by `redis.expected_instances`.
    Local,
}

impl OnRedisError {
    fn parse(s: &str) -> Result<Self, String> {
        match s {
            "deny" => Ok(OnRedisError::Deny),
            "allow" => Ok(OnRedisError::Allow),
            "local" => Ok(OnRedisError::Local),
            other => Err(format!(
                "unknown {other:?}: use \"deny\", \"allow\" or \"local\""
            )),
        }
    }
}

/// Which receivers a message endpoint may send to.
#[derive(Debug, Clone, PartialEq)]
pub struct DestinationPolicy {
    /// Empty: every country.
    pub allowed: Vec<Country>,
    pub denied: Vec<Country>,
    /// E.164 prefixes such as `+4915`.
    pub denied_prefixes: Vec<String>,
    pub number_types: Vec<NumberKind>,
    /// E.164 numbers that bypass limits (never the country rules).
    pub trusted: Vec<String>,
    /// Log and count refusals, do not refuse.
    pub shadow: bool,
}

/// SMS parts an endpoint may send per window, in all and per country.
#[derive(Debug, Clone, PartialEq)]
pub struct Budget {
    pub max_parts: u64,
    pub window: Duration,
    pub per_country: BTreeMap<Country, u64>,
    pub shadow: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum GeoipSource {
    Bundled,
    File(PathBuf),
    Disabled,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CountryPolicy {
    pub guess: bool,
    pub default: Country,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitPer {
    Ip,
    Number,
    Endpoint,
    /// The E.164 number without its last `digits` digits.
    Prefix {
        digits: u32,
    },
    /// The destination country.
    Country,
    /// Distinct destination countries one IP may target.
    IpCountries,
}

impl LimitPer {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitPer::Ip => "ip",
            LimitPer::Number => "number",
            LimitPer::Endpoint => "endpoint",
            LimitPer::Prefix { .. } => "prefix",
            LimitPer::Country => "country",
            LimitPer::IpCountries => "ip_countries",
        }
    }

    /// Rules that need a sendable receiver.
    pub fn needs_receiver(self) -> bool {
        !matches!(self, LimitPer::Ip | LimitPer::Endpoint)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LimitRule {
    pub per: LimitPer,
    pub max: u64,
    pub window: Duration,
    /// Counted across all endpoints (`scope = "global"`) instead of per path.
    pub global: bool,
    /// Evaluated and logged, never refuses.
    pub shadow: bool,
}

#[derive(Debug, Clone)]
pub struct EndpointSpec {
    pub path: String,
    pub country: CountryPolicy,
    pub limits: Vec<LimitRule>,
    pub on_redis_error: OnRedisError,
    /// Message endpoints only.
    pub destinations: Option<DestinationPolicy>,
    pub budget: Option<Budget>,
    pub kind: EndpointKind,
}

#[derive(Debug, Clone)]
pub enum EndpointKind {
    Validate,
    Message(MessageSpec),
}

#[derive(Debug, Clone)]
pub struct MessageSpec {
    pub sender: String,
    /// Language variants (`de`, `en`, ...) and the fallback.
    pub variants: BTreeMap<String, Template>,
    pub default: Template,
    pub vars: BTreeMap<String, String>,
    pub params: Vec<(String, Regex)>,
}

/// Names a request parameter of a message endpoint cannot take, because the
/// proxy itself reads them.
const RESERVED_PARAMS: &[&str] = &["receiver", "callback", "country", "number", "_"];

impl Settings {
    pub fn from_raw(
        raw: RawConfig,
        config_file: Option<PathBuf>,
        problems: &mut Vec<Problem>,
    ) -> Option<Settings> {
        let mut warnings = Vec::new();
        let mut p = Collector { problems };

        let listen = p.parse("server.listen", raw.server.listen.parse::<SocketAddr>());
        let trusted_proxies = raw
            .server
            .trusted_proxies
            .iter()
            .enumerate()
            .filter_map(|(i, s)| p.parse(&format!("server.trusted_proxies[{i}]"), parse_net(s)))
            .collect();

        let url = p.parse("nexmo.url", parse_http_url(&raw.nexmo.url));
        let nexmo_timeout = p.parse("nexmo.timeout", parse_duration(&raw.nexmo.timeout));
        let redis = raw.redis.as_ref().and_then(|r| {
            let url = p.parse("redis.url", check_redis_url(r.url.expose()));
            let timeout = p.parse("redis.timeout", parse_duration(&r.timeout));
            if r.pool_size == 0 {
                p.push("redis.pool_size", "must be at least 1");
            }
            if r.expected_instances == 0 {
                p.push("redis.expected_instances", "must be at least 1");
            }
            Some(RedisSettings {
                url: url.map(|_| r.url.clone())?,
                timeout: timeout?,
                pool_size: r.pool_size.max(1),
                expected_instances: r.expected_instances.max(1),
            })
        });

        let base_dir = config_file
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let geoip = match raw.geoip.database.as_deref() {
            None => GeoipSource::Bundled,
            Some(s) if s.trim().is_empty() => GeoipSource::Disabled,
            Some(s) => {
                let path = base_dir.join(s);
                if let Err(e) = std::fs::File::open(&path) {
                    p.push(
                        "geoip.database",
                        format!("cannot read {}: {e}", path.display()),
                    );
                }
                GeoipSource::File(path)
            }
        };

        let default_country = p.parse(
            "defaults.default_country",
            Country::parse(&raw.defaults.default_country),
        );
        let default_limits = parse_limits("defaults.limits", &raw.defaults.limits, &mut p);
        // With a bad default country the endpoints are still checked (against
        // DE), so one run reports their problems too.
        let defaults = default_country
            .or_else(|| Country::known("DE"))
            .map(|c| CountryPolicy {
                guess: raw.defaults.guess_country,
                default: c,
            });

        let redis_default = raw
            .redis
            .as_ref()
            .and_then(|r| r.on_error.as_deref())
            .and_then(|s| p.parse("redis.on_error", OnRedisError::parse(s)));
        let validation = defaults.as_ref().and_then(|d| {
            let v = &raw.validation;
            let country = policy(
                "validation",
                d,
                v.guess_country,
                v.default_country.as_deref(),
                &mut p,
            )?;
            let limits = match &v.limits {
                Some(l) => parse_limits("validation.limits", l, &mut p),
                None => default_limits.clone(),
            };
            check_path("validation.path", &v.path, &mut p);
            // Validating sends nothing: failing open costs nothing.
            let on_redis_error = match v.on_redis_error.as_deref() {
                Some(s) => p.parse("validation.on_redis_error", OnRedisError::parse(s))?,
                None => OnRedisError::Allow,
            };
            Some(EndpointSpec {
                path: v.path.clone(),
                country,
                limits,
                on_redis_error,
                destinations: None,
                budget: None,
                kind: EndpointKind::Validate,
            })
        });

        let mut seen = BTreeSet::new();
        seen.insert(raw.validation.path.clone());
        let mut endpoints = Vec::new();
        for (i, e) in raw.endpoint.iter().enumerate() {
            let key = format!("endpoint[{i}]");
            if !seen.insert(e.path.clone()) {
                p.push(
                    format!("{key}.path"),
                    format!("{:?} is used by another endpoint", e.path),
                );
            }
            if let Some(d) = &defaults {
                let inherited = Inherited {
                    country: d,
                    limits: &default_limits,
                    raw: &raw.defaults,
                    on_redis_error: redis_default,
                };
                if let Some(spec) = endpoint(&key, e, &inherited, &mut p, &mut warnings) {
                    endpoints.push(spec);
                }
            }
        }

        if !(32..=128).contains(&raw.limits.ipv6_prefix) {
            p.push("limits.ipv6_prefix", "must be between 32 and 128");
        }
        let has_messages = !endpoints.is_empty();
        if has_messages && !raw.nexmo.dry_run {
            if raw.nexmo.api_key.trim().is_empty() {
                p.push("nexmo.api_key", "not set: set nexmo.api_key (or NEXMO_API_KEY), or turn on nexmo.dry_run (DEVELOPMENT_MODE) to log instead of sending");
            }
            if raw.nexmo.api_secret.is_empty() {
                p.push("nexmo.api_secret", "not set: set nexmo.api_secret (or NEXMO_API_SECRET), or turn on nexmo.dry_run (DEVELOPMENT_MODE) to log instead of sending");
            }
        }
        if let Some(u) = &url {
            if u.scheme() == "http" && !is_loopback_host(u) {
                warnings.push(format!(
                    "nexmo.url uses plain http towards {}: the API secret travels in clear",
                    u.host_str().unwrap_or("?")
                ));
            }
        }
        if raw.nexmo.dry_run {
            warnings.push("nexmo.dry_run is on: messages are logged, not sent".into());
        }

        if !p.problems.is_empty() {
            return None;
        }
        Some(Settings {
            server: ServerSettings {
                listen: listen?,
                trusted_proxies,
                workers: raw.server.workers,
                max_body_bytes: raw.server.max_body_bytes.max(1024),
            },
            nexmo: NexmoSettings {
                api_key: raw.nexmo.api_key.trim().to_string(),
                api_secret: raw.nexmo.api_secret.clone(),
                url: url?,
                long_virtual_number: non_empty(&raw.nexmo.long_virtual_number),
                dry_run: raw.nexmo.dry_run,
                timeout: nexmo_timeout?,
                dlr_url: non_empty(&raw.nexmo.dlr_url),
            },
            redis,
            geoip,
            validation: validation?,
            endpoints,
            limits: LimitsSettings {
                key_secret: raw.limits.key_secret.clone(),
                ipv6_prefix: raw.limits.ipv6_prefix,
            },
            config_file,
            warnings,
        })
    }

    /// Every path served, validation first.
    pub fn all_endpoints(&self) -> impl Iterator<Item = &EndpointSpec> {
        std::iter::once(&self.validation).chain(self.endpoints.iter())
    }
}

struct Collector<'a> {
    problems: &'a mut Vec<Problem>,
}

impl Collector<'_> {
    fn push(&mut self, key: impl Into<String>, msg: impl Into<String>) {
        self.problems.push(Problem::new(key, msg));
    }

    fn parse<T, E: std::fmt::Display>(&mut self, key: &str, r: Result<T, E>) -> Option<T> {
        r.map_err(|e| self.push(key, e.to_string())).ok()
    }
}

fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

fn policy(
    key: &str,
    defaults: &CountryPolicy,
    guess: Option<bool>,
    default: Option<&str>,
    p: &mut Collector,
) -> Option<CountryPolicy> {
    let default = match default {
        Some(c) => p.parse(&format!("{key}.default_country"), Country::parse(c))?,
        None => defaults.default,
    };
    Some(CountryPolicy {
        guess: guess.unwrap_or(defaults.guess),
        default,
    })
}

/// What an endpoint inherits from `[defaults]` (and `redis.on_error`).
struct Inherited<'a> {
    country: &'a CountryPolicy,
    limits: &'a [LimitRule],
    raw: &'a RawPolicy,
    on_redis_error: Option<OnRedisError>,
}

fn endpoint(
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

    let mut parse = |k: String, text: &str| {
        let r = match Template::parse(text, &known) {
            Ok(_) if text.trim().is_empty() => Err("empty message".to_string()),
            Ok(t) => Ok(t),
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

fn check_path(key: &str, path: &str, p: &mut Collector) {
    if !path.starts_with('/') || path.contains(char::is_whitespace) || path.contains(['?', '#']) {
        p.push(
            key,
            format!(
                "{path:?} is not a path: it must start with '/' and hold no spaces, '?' or '#'"
            ),
        );
    }
}

fn parse_limits(key: &str, raw: &[RawLimit], p: &mut Collector) -> Vec<LimitRule> {
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

fn parse_mode(m: &str) -> Result<bool, String> {
    match m {
        "enforce" => Ok(false),
        "shadow" => Ok(true),
        other => Err(format!("unknown {other:?}: use \"enforce\" or \"shadow\"")),
    }
}

fn parse_budget(
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

fn parse_net(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{s:?} is not an IP address or CIDR range"))
}

fn parse_http_url(s: &str) -> Result<url::Url, String> {
    let u = url::Url::parse(s.trim()).map_err(|e| format!("{s:?} is not a URL: {e}"))?;
    match u.scheme() {
        "http" | "https" if u.host_str().is_some() => Ok(u),
        _ => Err(format!("{s:?} must be an http:// or https:// URL")),
    }
}

fn check_redis_url(s: &str) -> Result<(), String> {
    // The message must not echo `s`: it may carry a password.
    let u = url::Url::parse(s.trim()).map_err(|e| format!("not a URL: {e}"))?;
    match u.scheme() {
        "redis" | "rediss" | "redis+unix" | "unix" => Ok(()),
        other => Err(format!(
            "scheme {other:?} is not redis://, rediss:// or unix://"
        )),
    }
}

fn is_loopback_host(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        None => false,
    }
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

    #[test]
    fn plausible_senders() {
        assert!(sender_is_plausible("Acme Inc"));
        assert!(!sender_is_plausible("Awesome Sender"));
        assert!(sender_is_plausible("4915112345678"));
        assert!(!sender_is_plausible("A very long sender name"));
        assert!(!sender_is_plausible("Acme-Inc"));
    }
}
