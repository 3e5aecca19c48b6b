//! The validated settings the server runs on. The tables with no keys that
//! span tables (`[server]`, `[nexmo]`, `[redis]`, `[limits]`) are read by
//! serde straight into these types, their values checked by their types;
//! endpoints are built by `build` from `raw`.

pub(crate) use super::values::Per;
use super::values::{self, HttpUrl, Net};
use crate::phone::{Country, NumberKind};
use crate::secret::Secret;
use crate::signature;
use crate::template::{Pattern, Template};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub(crate) server: ServerSettings,
    pub(crate) nexmo: NexmoSettings,
    pub(crate) redis: Option<RedisSettings>,
    pub(crate) geoip: GeoipSource,
    pub(crate) validation: EndpointSpec,
    pub(crate) endpoints: Vec<EndpointSpec>,
    /// With `nexmo.dlr_url`: where receipts arrive (that URL's path) and
    /// where pages ask for them (`[message_status]`).
    pub(crate) receipts: Option<EndpointSpec>,
    pub(crate) message_status: Option<EndpointSpec>,
    pub(crate) limits: LimitsSettings,
    /// The file this was read from, if any.
    pub(crate) config_file: Option<PathBuf>,
    /// Not errors, but worth an operator's look (`--check` prints them).
    pub(crate) warnings: Vec<String>,
}

impl Settings {
    /// Every path served, validation first.
    pub(crate) fn all_endpoints(&self) -> impl Iterator<Item = &EndpointSpec> {
        std::iter::once(&self.validation)
            .chain(self.endpoints.iter())
            .chain(self.receipts.iter())
            .chain(self.message_status.iter())
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ServerSettings {
    pub(crate) listen: SocketAddr,
    pub(crate) trusted_proxies: Vec<Net>,
    /// HTTP worker threads; 0 = one per core.
    pub(crate) workers: usize,
    /// Largest request body accepted, in bytes (at least 1024).
    pub(crate) max_body_bytes: usize,
    /// Time a client has for the request head, and again for the body.
    #[serde(
        deserialize_with = "values::timeout",
        serialize_with = "values::write_duration"
    )]
    pub(crate) client_timeout: Duration,
    /// Open connections, all workers together.
    pub(crate) max_connections: NonZeroUsize,
    /// Open connections per peer address (idle keep-alive ones too; not
    /// for trusted proxies), and requests in progress per client; both
    /// counted as the `ip` rule counts.
    pub(crate) max_connections_per_ip: NonZeroU32,
    /// Health, readiness and metrics, apart from the public listener;
    /// `None` (`""`) serves none of them.
    #[serde(
        deserialize_with = "values::optional_addr",
        serialize_with = "values::write_optional_addr"
    )]
    pub(crate) admin_listen: Option<SocketAddr>,
    /// On SIGTERM/SIGINT: how long requests in flight may take to finish.
    #[serde(
        deserialize_with = "values::timeout",
        serialize_with = "values::write_duration"
    )]
    pub(crate) shutdown_timeout: Duration,
    /// Serve the example form at `/`, calling the first `[[endpoint]]`.
    pub(crate) demo_page: bool,
}

impl ServerSettings {
    pub(crate) fn is_trusted_proxy(&self, ip: &std::net::IpAddr) -> bool {
        self.trusted_proxies.iter().any(|n| n.0.contains(ip))
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: SocketAddr::from(([0, 0, 0, 0], 8888)),
            trusted_proxies: Vec::new(),
            workers: 0,
            max_body_bytes: 16 * 1024,
            client_timeout: Duration::from_secs(5),
            max_connections: NonZeroUsize::MIN.saturating_add(9_999),
            max_connections_per_ip: NonZeroU32::MIN.saturating_add(31),
            // A send may take max_queue_wait + nexmo.timeout, and the same
            // again with its one retry.
            shutdown_timeout: Duration::from_secs(25),
            admin_listen: Some(SocketAddr::from(([127, 0, 0, 1], 9888))),
            demo_page: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct NexmoSettings {
    pub(crate) api_key: String,
    pub(crate) api_secret: Secret,
    pub(crate) url: HttpUrl,
    /// Sender for +1 receivers; empty means none.
    pub(crate) long_virtual_number: Option<String>,
    pub(crate) dry_run: bool,
    #[serde(
        deserialize_with = "values::timeout",
        serialize_with = "values::write_duration"
    )]
    pub(crate) timeout: Duration,
    /// Per-message delivery-receipt URL sent as `callback` (legacy `NEXMO_DLR_URL`).
    #[serde(serialize_with = "values::write_dlr_url")]
    pub(crate) dlr_url: Option<String>,
    /// Signs sends (instead of sending `api_secret`) and receipts must be
    /// signed with it.
    pub(crate) signature_secret: Secret,
    pub(crate) signature_method: signature::Method,
    /// How long delivery states are kept (and answered).
    #[serde(
        deserialize_with = "values::window",
        serialize_with = "values::write_duration"
    )]
    pub(crate) receipt_ttl: Duration,
    /// Most message parts whose state the in-process store keeps.
    pub(crate) max_receipts: NonZeroUsize,
    /// Requests a second to Nexmo, all instances together.
    pub(crate) max_rps: NonZeroU32,
    /// Longest a send waits for its slot before answering status 1.
    #[serde(
        deserialize_with = "values::timeout",
        serialize_with = "values::write_duration"
    )]
    pub(crate) max_queue_wait: Duration,
}

impl NexmoSettings {
    /// The longest a send can take: its slot and `timeout`, and when Nexmo
    /// throttles it, up to 1 s and both again (its one retry).
    pub(crate) fn longest_send(&self) -> Duration {
        (self.max_queue_wait + self.timeout) * 2 + Duration::from_secs(1)
    }
}

impl Default for NexmoSettings {
    fn default() -> Self {
        NexmoSettings {
            api_key: String::new(),
            api_secret: Secret::default(),
            url: HttpUrl(url::Url::parse(NEXMO_URL).unwrap_or_else(|_| unreachable!("a URL"))),
            long_virtual_number: None,
            dry_run: false,
            timeout: Duration::from_secs(10),
            dlr_url: None,
            signature_secret: Secret::default(),
            signature_method: signature::Method::default(),
            receipt_ttl: Duration::from_secs(7 * 24 * 3600),
            max_receipts: NonZeroUsize::MIN.saturating_add(99_999),
            max_rps: NonZeroU32::MIN.saturating_add(29),
            max_queue_wait: Duration::from_secs(2),
        }
    }
}

const NEXMO_URL: &str = "https://rest.nexmo.com/sms/json";

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RedisSettings {
    /// May carry a password (`redis://:pw@host/0`), hence a `Secret`.
    #[serde(serialize_with = "values::write_redis_url")]
    pub(crate) url: Secret,
    /// Seed nodes of a Redis Cluster (`redis://host:port`, each may carry
    /// a password). When set, `url` is left at its default and unused.
    #[serde(serialize_with = "values::write_redis_urls")]
    pub(crate) cluster: Vec<Secret>,
    #[serde(
        deserialize_with = "values::timeout",
        serialize_with = "values::write_duration"
    )]
    pub(crate) timeout: Duration,
    pub(crate) pool_size: NonZeroUsize,
    /// What message endpoints do when Redis cannot decide (unless they say).
    pub(crate) on_error: Option<OnRedisError>,
    /// How many proxies share this Redis (divides `max` in `local` mode).
    pub(crate) expected_instances: NonZeroU32,
}

impl RedisSettings {
    /// Whether a limiter built for `self` can serve `other` (so counters
    /// survive a reload that changes only how failures are answered).
    pub(crate) fn same_store(&self, other: &RedisSettings) -> bool {
        self.url == other.url
            && self.cluster == other.cluster
            && self.timeout == other.timeout
            && self.pool_size == other.pool_size
    }
}

impl Default for RedisSettings {
    fn default() -> Self {
        RedisSettings {
            url: Secret::new("redis://127.0.0.1:6379/0"),
            cluster: Vec::new(),
            timeout: Duration::from_millis(250),
            pool_size: NonZeroUsize::MIN.saturating_add(7),
            on_error: None,
            expected_instances: NonZeroU32::MIN,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct LimitsSettings {
    /// HMAC key for numbers in limiter keys; empty: derived at start-up
    /// (see `state::Runtime::build`).
    pub(crate) key_secret: Secret,
    /// IPv6 clients are counted per this prefix length.
    pub(crate) ipv6_prefix: u8,
    /// Most counters the in-process store keeps (about 100 bytes each).
    pub(crate) max_keys: NonZeroUsize,
}

impl Default for LimitsSettings {
    fn default() -> Self {
        LimitsSettings {
            key_secret: Secret::default(),
            ipv6_prefix: 64,
            max_keys: NonZeroUsize::MIN.saturating_add(999_999),
        }
    }
}

/// What an endpoint does when the Redis limiter cannot decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum OnRedisError {
    /// 503 `service_unavailable`.
    Deny,
    /// Admit without counting.
    Allow,
    /// Count in-process, each `max` divided by `redis.expected_instances`.
    Local,
}

/// Which receivers a message endpoint may send to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DestinationPolicy {
    /// Empty: every country.
    pub(crate) allowed: Vec<Country>,
    pub(crate) denied: Vec<Country>,
    /// E.164 prefixes such as `+4915`.
    pub(crate) denied_prefixes: Vec<String>,
    pub(crate) number_types: Vec<NumberKind>,
    /// E.164 numbers that bypass limits (never the country rules).
    pub(crate) trusted: Vec<String>,
    /// Log and count refusals, do not refuse.
    pub(crate) shadow: bool,
}

/// SMS parts an endpoint may send per window, in all and per country.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Budget {
    pub(crate) max_parts: u64,
    pub(crate) window: Duration,
    pub(crate) per_country: BTreeMap<Country, u64>,
    pub(crate) shadow: bool,
}

impl Budget {
    /// The limiter key counting the parts of endpoint `path`, in all or to
    /// `country`. Kept as it was written, so counters survive upgrades.
    pub(crate) fn counter(&self, path: &str, country: Option<Country>) -> String {
        let of = country.map_or_else(|| "all".into(), |c| c.to_string());
        format!("nexmo-proxy:budget:{path}:{}:{of}", self.window.as_millis())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum GeoipSource {
    Bundled,
    File(PathBuf),
    Disabled,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct CountryPolicy {
    pub(crate) guess: bool,
    pub(crate) default: Country,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LimitRule {
    pub(crate) per: Per,
    /// For `Per::Prefix`: the trailing digits dropped from the number.
    pub(crate) digits: u32,
    pub(crate) max: u64,
    pub(crate) window: Duration,
    /// Counted across all endpoints (`scope = "global"`) instead of per path.
    pub(crate) global: bool,
    /// Evaluated and logged, never refuses.
    pub(crate) shadow: bool,
}

/// Which web pages may call an endpoint.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct WebAccess {
    /// Exact origins (`https://example.com`) answered with CORS headers; a
    /// request whose `Origin` is another site's is refused. Empty: no CORS
    /// and no `Origin` check (as the old proxy).
    pub(crate) cors_origins: Vec<String>,
    /// `cors_origins = ["*"]`: every origin.
    pub(crate) any_origin: bool,
    /// Whether `callback=` (JSONP) is answered.
    pub(crate) jsonp: bool,
    /// Exact origins a `Referer` must have when there is no `Origin`
    /// (a weak filter: any client can send any `Referer`). Empty: none.
    pub(crate) referers: Vec<String>,
}

impl WebAccess {
    pub(crate) fn cors(&self) -> bool {
        self.any_origin || !self.cors_origins.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EndpointSpec {
    pub(crate) path: String,
    /// Which pages may call it (CORS, JSONP, `Referer`).
    pub(crate) web: WebAccess,
    pub(crate) country: CountryPolicy,
    pub(crate) limits: Vec<LimitRule>,
    pub(crate) on_redis_error: OnRedisError,
    /// Message endpoints only.
    pub(crate) destinations: Option<DestinationPolicy>,
    pub(crate) budget: Option<Budget>,
    pub(crate) kind: EndpointKind,
}

impl EndpointSpec {
    /// Where its counters are kept together: in a Redis Cluster, the hash
    /// tag of every key it decides at once. Its path, or `*` when it has a
    /// global rule: a counter shared with other endpoints is decided with
    /// each one's own, so all of them must share one slot.
    pub(crate) fn shard(&self) -> &str {
        match self.limits.iter().any(|r| r.global) {
            true => "*",
            false => &self.path,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum EndpointKind {
    Validate,
    Message(MessageSpec),
    /// Nexmo's delivery receipts, at the path of `nexmo.dlr_url`.
    Receipts,
    /// `/message_status/`: a send's delivery state, for its page.
    Status,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MessageSpec {
    pub(crate) sender: String,
    /// Language variants (`de`, `en`, ...) and the fallback.
    pub(crate) variants: BTreeMap<String, Template>,
    pub(crate) default: Template,
    pub(crate) vars: BTreeMap<String, String>,
    pub(crate) params: Vec<(String, Pattern)>,
}
