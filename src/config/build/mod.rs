//! From `RawConfig` to `Settings`: what serde's types cannot check alone
//! (ranges, credentials that depend on endpoints, paths relative to the
//! file) and what spans tables (`[defaults]` inherited by every endpoint).
//! Every problem is collected with its key path; nothing stops at the first.

mod endpoint;
mod web;

use super::raw::{RawConfig, RawGeoip};
use super::settings::{
    EndpointKind, EndpointSpec, GeoipSource, OnRedisError, RedisSettings, Settings,
};
use super::values;
use super::Problem;
use endpoint::Protection;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The problems found so far.
#[derive(Default)]
pub(super) struct Problems(pub(super) Vec<Problem>);

impl Problems {
    pub(super) fn push(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem::new(key, message));
    }

    /// `value`, or a "not set" problem at `key`.
    fn required<T>(&mut self, key: impl Into<String>, value: Option<T>) -> Option<T> {
        if value.is_none() {
            self.push(key, "not set");
        }
        value
    }
}

/// The settings `raw` describes; `raw` is left in its normal form (what
/// `--print-config` writes).
pub(super) fn settings(
    raw: &mut RawConfig,
    config_file: Option<PathBuf>,
    p: &mut Problems,
) -> Settings {
    let mut warnings = Vec::new();
    check_tables(raw, p, &mut warnings);
    check_shutdown(raw, &mut warnings);
    let geoip = geoip(&raw.geoip, config_file.as_deref(), p);

    let on_redis_error = raw.redis.as_ref().and_then(|r| r.on_error);
    let builtin = Protection::builtin(on_redis_error.unwrap_or(OnRedisError::Deny));
    // What is set per endpoint only.
    let keys = raw.defaults.message_keys();
    endpoint::refuse_keys("defaults", &keys, "set it on each [[endpoint]]", p);
    let defaults = Protection::over("defaults", &raw.defaults, &builtin, p);
    let validation = endpoint::validation(&raw.validation, &defaults, p);

    let mut seen = BTreeSet::from([validation.path.clone()]);
    let mut endpoints = Vec::new();
    for (i, e) in raw.endpoint.iter().enumerate() {
        let key = format!("endpoint[{i}]");
        if let Some(path) = e
            .path
            .as_ref()
            .filter(|path| !seen.insert(path.to_string()))
        {
            p.push(
                format!("{key}.path"),
                format!("{path:?} is used by another endpoint"),
            );
        }
        endpoints.extend(endpoint::message(&key, e, &defaults, p, &mut warnings));
    }
    if !endpoints.is_empty() && !raw.nexmo.dry_run {
        let missing = [
            ("api_key", "NEXMO_API_KEY", raw.nexmo.api_key.is_empty()),
            (
                "api_secret",
                "NEXMO_API_SECRET",
                // Signed sends carry no API secret.
                raw.nexmo.api_secret.is_empty() && raw.nexmo.signature_secret.is_empty(),
            ),
        ];
        for (key, var, _) in missing.iter().filter(|m| m.2) {
            p.push(
                format!("nexmo.{key}"),
                format!("not set: set nexmo.{key} (or {var}), or turn on nexmo.dry_run (DEVELOPMENT_MODE) to log instead of sending"),
            );
        }
    }
    let (receipts, message_status) = delivery(raw, &defaults, p, &mut warnings);
    for e in receipts.iter().chain(message_status.iter()) {
        if !seen.insert(e.path.clone()) {
            let key = match e.kind {
                EndpointKind::Receipts => "nexmo.dlr_url",
                _ => "message_status.path",
            };
            p.push(key, format!("{:?} is used by another endpoint", e.path));
        }
    }
    if raw.server.demo_page {
        check_demo_page(&seen, endpoints.is_empty(), p, &mut warnings);
    }
    let served = std::iter::once(&validation).chain(&endpoints);
    warn_any_origin(served.chain(&message_status), &mut warnings);
    Settings {
        server: raw.server.clone(),
        nexmo: raw.nexmo.clone(),
        redis: raw.redis.clone(),
        geoip,
        validation,
        endpoints,
        receipts,
        message_status,
        limits: raw.limits.clone(),
        config_file,
        warnings,
    }
}

/// `server.demo_page` takes `/` and sends with the first `[[endpoint]]`.
fn check_demo_page(
    paths: &BTreeSet<String>,
    no_endpoint: bool,
    p: &mut Problems,
    warnings: &mut Vec<String>,
) {
    if paths.contains("/") {
        p.push(
            "server.demo_page",
            "the demo page is served at /, which an endpoint uses",
        );
    }
    if no_endpoint {
        warnings.push(
            "server.demo_page: there is no [[endpoint]], so the page can only check numbers"
                .to_string(),
        );
    }
}

fn warn_any_origin<'a>(served: impl Iterator<Item = &'a EndpointSpec>, warnings: &mut Vec<String>) {
    for e in served.filter(|e| e.web.any_origin) {
        warnings.push(format!("{}: cors_origins = [\"*\"] lets every web site call it from its pages (list the origins of your own pages)", e.path));
    }
}

/// With `nexmo.dlr_url`, the receipt endpoint at its path and the status
/// endpoint; without, neither (no receipt would ever arrive).
fn delivery(
    raw: &RawConfig,
    defaults: &Protection,
    p: &mut Problems,
    warnings: &mut Vec<String>,
) -> (Option<EndpointSpec>, Option<EndpointSpec>) {
    let Some(dlr_url) = &raw.nexmo.dlr_url else {
        if raw.message_status.path.is_some() || raw.message_status.limits.is_some() {
            warnings.push("[message_status] is not served without nexmo.dlr_url".into());
        }
        return (None, None);
    };
    if dlr_url.chars().count() > 100 {
        p.push(
            "nexmo.dlr_url",
            "longer than 100 characters, which Nexmo refuses (status 23)",
        );
    }
    match url::Url::parse(dlr_url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
            if raw.nexmo.signature_secret.is_empty() && u.query().is_none() {
                warnings.push("delivery receipts are believed on our api-key alone, which every receipt and request carries: set nexmo.signature_secret (signed webhooks), or at least a secret token in nexmo.dlr_url's query".into());
            }
            let status = endpoint::message_status(&raw.message_status, defaults, p);
            (Some(endpoint::receipts(u.path().to_string())), Some(status))
        }
        _ => {
            p.push(
                "nexmo.dlr_url",
                "not an absolute http(s) URL: Nexmo calls it, and the proxy serves its path",
            );
            (None, None)
        }
    }
}

/// Ranges and normal forms of `[server]`, `[nexmo]`, `[redis]`, `[limits]`.
fn check_tables(raw: &mut RawConfig, p: &mut Problems, warnings: &mut Vec<String>) {
    raw.server.max_body_bytes = raw.server.max_body_bytes.max(1024);
    let nexmo = &mut raw.nexmo;
    nexmo.api_key = nexmo.api_key.trim().to_string();
    for value in [&mut nexmo.long_virtual_number, &mut nexmo.dlr_url] {
        *value = value
            .take()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
    }
    let loopback = match nexmo.url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        None => false,
    };
    if nexmo.url.scheme() == "http" && !loopback {
        warnings.push(format!(
            "nexmo.url uses plain http towards {}: the API secret travels in clear",
            nexmo.url.host_str().unwrap_or("?")
        ));
    }
    if nexmo.dry_run {
        warnings.push("nexmo.dry_run is on: messages are logged, not sent".into());
    }
    if let Some(r) = &raw.redis {
        redis_urls(r, p);
    }
    refuse_masks(raw, p);
    if !(32..=128).contains(&raw.limits.ipv6_prefix) {
        p.push("limits.ipv6_prefix", "must be between 32 and 128");
    }
}

/// `redis.url`, or the seeds of `redis.cluster`: Redis URLs (a cluster
/// has only database 0). Messages never echo a URL: it may carry a password.
fn redis_urls(r: &RedisSettings, p: &mut Problems) {
    let seeds = r.cluster.iter().enumerate();
    let urls: Vec<(String, &str)> = match r.cluster.is_empty() {
        true => vec![("redis.url".into(), r.url.expose())],
        false => seeds
            .map(|(i, u)| (format!("redis.cluster[{i}]"), u.expose()))
            .collect(),
    };
    if !r.cluster.is_empty() && r.url != RedisSettings::default().url {
        p.push(
            "redis.url",
            "is set beside redis.cluster: a cluster is found from its seed nodes, set one of the two",
        );
    }
    for (key, url) in urls {
        let key = key.as_str();
        let cluster = key != "redis.url";
        match url::Url::parse(url.trim()) {
            Err(e) => p.push(key, format!("not a URL: {e}")),
            // The Redis client is built without TLS (it would add a TLS
            // stack for one rarely used transport).
            Ok(u) if u.scheme() == "rediss" => p.push(
                key,
                "rediss:// (TLS) is not built in: reach Redis over a private network, or through a local TLS tunnel (stunnel, spiped) at a redis:// address",
            ),
            Ok(u) if cluster && u.scheme() != "redis" => p.push(
                key,
                format!("scheme {:?} is not redis://", u.scheme()),
            ),
            Ok(u) if !matches!(u.scheme(), "redis" | "redis+unix" | "unix") => p.push(
                key,
                format!("scheme {:?} is not redis:// or unix://", u.scheme()),
            ),
            Ok(u) if cluster && !matches!(u.path(), "" | "/" | "/0") => p.push(
                key,
                "names a database: a Redis Cluster has only database 0",
            ),
            // The client authenticates to every node with the first
            // seed's credentials.
            Ok(u) if cluster && credentials(&u) != first_credentials(r) => p.push(
                key,
                "has other credentials than redis.cluster[0]: every seed takes the same user and password",
            ),
            Ok(_) => {}
        }
    }
}

fn credentials(u: &url::Url) -> (String, Option<String>) {
    (u.username().to_string(), u.password().map(str::to_string))
}

fn first_credentials(r: &RedisSettings) -> (String, Option<String>) {
    r.cluster
        .first()
        .and_then(|u| url::Url::parse(u.expose().trim()).ok())
        .map(|u| credentials(&u))
        .unwrap_or_default()
}

/// `***` where a secret goes: a `--print-config` output used as it is.
fn refuse_masks(raw: &RawConfig, p: &mut Problems) {
    let n = &raw.nexmo;
    let redis = raw.redis.as_ref().map(|r| r.url.expose());
    let values = [
        ("nexmo.api_secret", Some(n.api_secret.expose())),
        ("nexmo.signature_secret", Some(n.signature_secret.expose())),
        ("limits.key_secret", Some(raw.limits.key_secret.expose())),
        ("nexmo.url", Some(n.url.as_str())),
        ("nexmo.dlr_url", n.dlr_url.as_deref()),
        ("redis.url", redis),
    ];
    let seeds = raw.redis.iter().flat_map(|r| &r.cluster);
    let seeds = seeds.map(|u| ("redis.cluster", Some(u.expose())));
    for (key, value) in values.into_iter().chain(seeds) {
        if value.is_some_and(values::holds_mask) {
            p.push(key, "holds \"***\", the mask --print-config writes for a secret: set the real value (here or in its environment variable)");
        }
    }
}

/// A send may wait for its slot and take `nexmo.timeout`, and when Nexmo
/// throttles it, wait up to 1 s and do both again (its one retry): a
/// shorter drain can cut it off after Nexmo was asked.
fn check_shutdown(raw: &RawConfig, warnings: &mut Vec<String>) {
    let longest = raw.nexmo.longest_send();
    let drain = raw.server.shutdown_timeout;
    if drain < longest {
        warnings.push(format!(
            "server.shutdown_timeout ({}) is shorter than the longest send ({}: 2 x (nexmo.max_queue_wait + nexmo.timeout) + 1s), so a stop can cut a send off after Nexmo was asked",
            humantime::format_duration(drain),
            humantime::format_duration(longest)
        ));
    }
}

fn geoip(raw: &RawGeoip, config_file: Option<&Path>, p: &mut Problems) -> GeoipSource {
    match raw.database.as_deref() {
        None => GeoipSource::Bundled,
        Some(s) if s.trim().is_empty() => GeoipSource::Disabled,
        Some(s) => {
            let base = config_file.and_then(Path::parent).unwrap_or(Path::new(""));
            let path = base.join(s);
            if let Err(e) = std::fs::File::open(&path) {
                p.push(
                    "geoip.database",
                    format!("cannot read {}: {e}", path.display()),
                );
            }
            GeoipSource::File(path)
        }
    }
}
