//! The configuration exactly as serde reads it from the merged layers
//! (defaults, `proxy.toml`, `NEXMO_PROXY_*`, legacy variables and flags).
//! Nothing here is validated beyond its shape; `settings` turns it into the
//! types the server runs on. Every table denies unknown keys, so a typo in
//! `proxy.toml` is an error instead of a silently ignored setting.

use super::secret::Secret;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    pub server: RawServer,
    pub nexmo: RawNexmo,
    /// Absent: limits are counted in-process.
    pub redis: Option<RawRedis>,
    pub geoip: RawGeoip,
    pub defaults: RawPolicy,
    pub validation: RawValidation,
    pub endpoint: Vec<RawEndpoint>,
    pub limits: RawLimitsTable,
}

/// Settings shared by every limit rule.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLimitsTable {
    /// HMAC key for numbers in limiter keys; unset: derived from the Nexmo
    /// secret when Redis is used, random per start otherwise.
    pub key_secret: Secret,
    /// IPv6 clients are counted per this prefix length.
    pub ipv6_prefix: u8,
}

impl Default for RawLimitsTable {
    fn default() -> Self {
        RawLimitsTable {
            key_secret: Secret::default(),
            ipv6_prefix: 64,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawServer {
    pub listen: String,
    pub trusted_proxies: Vec<String>,
    /// HTTP worker threads; 0 = one per core.
    pub workers: usize,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
}

impl Default for RawServer {
    fn default() -> Self {
        RawServer {
            listen: "0.0.0.0:8888".into(),
            trusted_proxies: Vec::new(),
            workers: 0,
            max_body_bytes: 16 * 1024,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawNexmo {
    pub api_key: String,
    pub api_secret: Secret,
    pub url: String,
    pub long_virtual_number: String,
    pub dry_run: bool,
    pub timeout: String,
    /// Per-message delivery-receipt URL sent as `callback` (legacy `NEXMO_DLR_URL`).
    pub dlr_url: String,
}

impl Default for RawNexmo {
    fn default() -> Self {
        RawNexmo {
            api_key: String::new(),
            api_secret: Secret::default(),
            url: "https://rest.nexmo.com/sms/json".into(),
            long_virtual_number: String::new(),
            dry_run: false,
            timeout: "10s".into(),
            dlr_url: String::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRedis {
    /// May carry a password (`redis://:pw@host/0`), hence a `Secret`.
    pub url: Secret,
    pub timeout: String,
    pub pool_size: usize,
    /// What message endpoints do when Redis cannot decide: deny, allow, local.
    pub on_error: Option<String>,
    /// How many proxies share this Redis (divides `max` in `local` mode).
    pub expected_instances: u32,
}

impl Default for RawRedis {
    fn default() -> Self {
        RawRedis {
            url: Secret::new("redis://127.0.0.1:6379/0"),
            timeout: "250ms".into(),
            pool_size: 8,
            on_error: None,
            expected_instances: 1,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawGeoip {
    /// `None`: the bundled DB-IP Lite file. `""`: geo-IP off. Else a path.
    pub database: Option<String>,
}

/// What every endpoint inherits unless it overrides it. The protection keys
/// are repeated in `RawEndpoint` on purpose: serde cannot combine `flatten`
/// with `deny_unknown_fields`, and unknown keys must stay errors.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawPolicy {
    pub guess_country: bool,
    pub default_country: String,
    pub limits: Vec<RawLimit>,
    pub allowed_countries: Option<Vec<String>>,
    pub denied_countries: Option<Vec<String>>,
    pub denied_prefixes: Option<Vec<String>>,
    pub number_types: Option<Vec<String>>,
    pub trusted_numbers: Option<Vec<String>>,
    /// "enforce" (default) or "shadow": log and count, do not refuse.
    pub destination_mode: Option<String>,
    pub budget: Option<RawBudget>,
    pub country_budgets: Option<BTreeMap<String, i64>>,
    pub on_redis_error: Option<String>,
}

impl Default for RawPolicy {
    fn default() -> Self {
        RawPolicy {
            guess_country: true,
            default_country: "DE".into(),
            limits: vec![RawLimit::per_ip(10, "1h")],
            allowed_countries: None,
            denied_countries: None,
            denied_prefixes: None,
            number_types: None,
            trusted_numbers: None,
            destination_mode: None,
            budget: None,
            country_budgets: None,
            on_redis_error: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawValidation {
    pub path: String,
    pub guess_country: Option<bool>,
    pub default_country: Option<String>,
    pub limits: Option<Vec<RawLimit>>,
    pub on_redis_error: Option<String>,
}

impl Default for RawValidation {
    fn default() -> Self {
        RawValidation {
            path: "/validate_number/".into(),
            guess_country: None,
            default_country: None,
            limits: Some(vec![RawLimit::per_ip(10, "1h")]),
            on_redis_error: None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawEndpoint {
    pub path: String,
    pub sender: String,
    pub message: Option<RawMessage>,
    pub vars: BTreeMap<String, String>,
    pub params: BTreeMap<String, String>,
    pub guess_country: Option<bool>,
    pub default_country: Option<String>,
    pub limits: Option<Vec<RawLimit>>,
    pub allowed_countries: Option<Vec<String>>,
    pub denied_countries: Option<Vec<String>>,
    pub denied_prefixes: Option<Vec<String>>,
    pub number_types: Option<Vec<String>>,
    pub trusted_numbers: Option<Vec<String>>,
    /// "enforce" (default) or "shadow": log and count, do not refuse.
    pub destination_mode: Option<String>,
    pub budget: Option<RawBudget>,
    pub country_budgets: Option<BTreeMap<String, i64>>,
    pub on_redis_error: Option<String>,
}

/// `budget = { max_parts = 1000, window = "1d" }`: SMS parts per window.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawBudget {
    pub max_parts: i64,
    pub window: String,
    #[serde(default)]
    pub mode: Option<String>,
}

/// `message = "text"` or `message = { default = "...", de = "..." }`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum RawMessage {
    Plain(String),
    ByLanguage(BTreeMap<String, String>),
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimit {
    pub per: String,
    pub max: i64,
    pub window: String,
    #[serde(default)]
    pub scope: Option<String>,
    /// For `per = "prefix"`: how many trailing digits to drop (default 4).
    #[serde(default)]
    pub digits: Option<u32>,
    /// "enforce" (default) or "shadow".
    #[serde(default)]
    pub mode: Option<String>,
}

impl RawLimit {
    pub fn per_ip(max: i64, window: &str) -> Self {
        RawLimit {
            per: "ip".into(),
            max,
            window: window.into(),
            scope: None,
            digits: None,
            mode: None,
        }
    }
}
