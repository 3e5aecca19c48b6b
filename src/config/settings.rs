//! The validated configuration the server runs on, built from `RawConfig`.
//! Validation collects every problem with its key path instead of stopping
//! at the first, so one `--check` run shows everything to fix.

use super::raw::{RawConfig, RawEndpoint, RawLimit, RawMessage};
use super::secret::Secret;
use super::Problem;
use crate::endpoints::template::Template;
use crate::phone::Country;
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
}

impl LimitPer {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitPer::Ip => "ip",
            LimitPer::Number => "number",
            LimitPer::Endpoint => "endpoint",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LimitRule {
    pub per: LimitPer,
    pub max: u64,
    pub window: Duration,
    /// Counted across all endpoints (`scope = "global"`) instead of per path.
    pub global: bool,
}

#[derive(Debug, Clone)]
pub struct EndpointSpec {
    pub path: String,
    pub country: CountryPolicy,
    pub limits: Vec<LimitRule>,
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
            Some(RedisSettings {
                url: url.map(|_| r.url.clone())?,
                timeout: timeout?,
                pool_size: r.pool_size.max(1),
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
            Some(EndpointSpec {
                path: v.path.clone(),
                country,
                limits,
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
                if let Some(spec) = endpoint(&key, e, d, &default_limits, &mut p, &mut warnings) {
                    endpoints.push(spec);
                }
            }
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

fn endpoint(
    key: &str,
    e: &RawEndpoint,
    defaults: &CountryPolicy,
    default_limits: &[LimitRule],
    p: &mut Collector,
    warnings: &mut Vec<String>,
) -> Option<EndpointSpec> {
    check_path(&format!("{key}.path"), &e.path, p);
    let country = policy(
        key,
        defaults,
        e.guess_country,
        e.default_country.as_deref(),
        p,
    );
    let limits = match &e.limits {
        Some(l) => parse_limits(&format!("{key}.limits"), l, p),
        None => default_limits.to_vec(),
    };
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
                other => {
                    p.push(
                        format!("{k}.per"),
                        format!("unknown {other:?}: use \"ip\", \"number\" or \"endpoint\""),
                    );
                    None
                }
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
            Some(LimitRule {
                per: per?,
                max: max?,
                window: window?,
                global: global?,
            })
        })
        .collect()
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
