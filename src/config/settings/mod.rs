//! The validated configuration the server runs on, built from `RawConfig`.
//! Validation collects every problem with its key path instead of stopping
//! at the first, so one `--check` run shows everything to fix.

use super::raw::RawConfig;
use super::Problem;
use crate::phone::Country;
use ipnet::IpNet;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

mod endpoint;
mod rules;
mod types;

pub use types::*;

use endpoint::{check_path, endpoint, Inherited};
pub use rules::parse_duration;
use rules::parse_limits;

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

pub(super) struct Collector<'a> {
    pub(super) problems: &'a mut Vec<Problem>,
}

impl Collector<'_> {
    pub(super) fn push(&mut self, key: impl Into<String>, msg: impl Into<String>) {
        self.problems.push(Problem::new(key, msg));
    }

    pub(super) fn parse<T, E: std::fmt::Display>(
        &mut self,
        key: &str,
        r: Result<T, E>,
    ) -> Option<T> {
        r.map_err(|e| self.push(key, e.to_string())).ok()
    }
}

fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

pub(super) fn policy(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_proxies_take_addresses_and_ranges() {
        assert!(parse_net("10.0.0.0/8").is_ok());
        assert!(parse_net("::1").is_ok());
        assert!(parse_net("10.0.0.0/33").is_err());
        assert!(parse_net("banana").is_err());
    }
}
