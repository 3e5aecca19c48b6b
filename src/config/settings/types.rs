//! The validated settings types: what the server runs on once `from_raw`
//! has accepted a configuration.

use crate::config::secret::Secret;
use crate::endpoints::template::Template;
use crate::phone::{Country, NumberKind};
use ipnet::IpNet;
use regex::Regex;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
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
    pub(super) fn parse(s: &str) -> Result<Self, String> {
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
