//! Shared state: what a reload may change (settings, endpoint table,
//! geo-IP database, limiter store) sits in one `Runtime` behind an atomic
//! swap; a handler loads one snapshot at its start and uses only that, so a
//! request never sees half of two configurations. Start-up and reload build
//! runtimes here; handlers only read them.

use crate::config::{EndpointKind, EndpointSpec, GeoipSource, Settings, Sources};
pub(crate) use crate::demo::DemoPage;
use crate::demo::PageConfig;
use crate::geo::{GeoError, GeoIp};
use crate::inflight::InFlight;
use crate::limiter::{Limiter, LimiterError, RedisLimiter, RefusalMemo};
use crate::metrics::Metrics;
use crate::nexmo::Shaper;
use crate::receipts::{MemoryReceipts, ReceiptStore, RedisReceipts};
use crate::redis_pool::{RedisPool, Target};
use crate::throttle::LogThrottle;
use arc_swap::ArcSwap;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Geo(#[from] GeoError),
    #[error("limiter: {0}")]
    Limiter(#[from] LimiterError),
}

/// One generation of everything a reload can replace.
pub(crate) struct Runtime {
    pub(crate) generation: u64,
    /// When this generation was built.
    pub(crate) loaded_at: std::time::SystemTime,
    /// HMAC key for numbers and prefixes in limiter keys.
    pub(crate) number_key: Arc<[u8]>,
    pub(crate) settings: Arc<Settings>,
    pub(crate) routes: HashMap<String, Arc<EndpointSpec>>,
    pub(crate) geo: Arc<GeoIp>,
    pub(crate) limiter: Limiter,
    /// Delivery states, where the limiter counts.
    pub(crate) receipts: ReceiptStore,
    /// Request slots towards Nexmo, where the limiter counts.
    pub(crate) shaper: Shaper,
    /// The page served at `/` with `server.demo_page`.
    pub(crate) demo: Option<Arc<DemoPage>>,
    /// Clients refused by a request-keyed rule, until its window ends (per
    /// generation: a reload may change a rule's `max`).
    pub(crate) refused: Arc<RefusalMemo>,
}

impl Runtime {
    /// Builds generation `generation` from `settings`, reusing from
    /// `previous` whatever did not change (so limit counters and the loaded
    /// geo-IP database survive a reload).
    pub(crate) fn build(
        settings: Settings,
        generation: u64,
        previous: Option<&Runtime>,
    ) -> Result<Runtime, BuildError> {
        // A configured file is read again on every reload, so replacing the
        // database at the same path (a monthly update) takes effect with a
        // SIGHUP; the bundled one never changes.
        let geo = match previous {
            Some(p)
                if p.settings.geoip == settings.geoip
                    && !matches!(settings.geoip, GeoipSource::File(_)) =>
            {
                p.geo.clone()
            }
            _ => Arc::new(GeoIp::open(&settings.geoip)?),
        };
        let limiter = match previous {
            Some(p) if same_store(&p.settings, &settings) => p.limiter.clone(),
            _ => limiter(&settings)?,
        };
        let receipts = match previous {
            Some(p) if same_receipts(&p.settings, &settings) => p.receipts.clone(),
            _ => receipt_store(&settings, &limiter),
        };
        let shaper = match previous {
            Some(p) if same_shaping(&p.settings, &settings) => p.shaper.clone(),
            _ => shaper(&settings, &limiter),
        };
        let number_key = number_key(&settings, previous);
        let routes = settings
            .all_endpoints()
            .map(|e| (e.path.clone(), Arc::new(e.clone())))
            .collect();
        let demo = settings
            .server
            .demo_page
            .then(|| Arc::new(demo_page(&settings)));
        Ok(Runtime {
            generation,
            loaded_at: std::time::SystemTime::now(),
            number_key,
            settings: Arc::new(settings),
            routes,
            geo,
            limiter,
            receipts,
            shaper,
            demo,
            refused: Arc::default(),
        })
    }
}

/// The demo form for the first message endpoint, with the check and the
/// delivery line of this configuration.
fn demo_page(settings: &Settings) -> DemoPage {
    let send = settings.endpoints.iter().find_map(|e| match &e.kind {
        EndpointKind::Message(m) => Some((
            e.path.as_str(),
            m.params.iter().map(|(name, _)| name.as_str()).collect(),
        )),
        _ => None,
    });
    let status = settings.message_status.as_ref().map(|e| e.path.as_str());
    DemoPage::new(&PageConfig::new(
        send,
        &settings.validation.path,
        status,
        settings.nexmo.longest_send(),
    ))
}

/// Whether delivery states kept for `a` serve `b` (a reload that changes
/// other settings keeps them).
fn same_receipts(a: &Settings, b: &Settings) -> bool {
    match (&a.redis, &b.redis) {
        (Some(a), Some(b)) => a.same_store(b),
        (None, None) => a.nexmo.max_receipts == b.nexmo.max_receipts,
        _ => false,
    }
}

/// Whether `a`'s send slots serve `b`: a new shaper would grant slots the
/// old one already promised.
fn same_shaping(a: &Settings, b: &Settings) -> bool {
    match (&a.redis, &b.redis) {
        (Some(r), Some(s)) => {
            r.same_store(s)
                && r.expected_instances == s.expected_instances
                && a.nexmo.api_key == b.nexmo.api_key
        }
        (None, None) => true,
        _ => false,
    }
}

/// Slots are shared in the limiter's Redis, per API key (by a digest: the
/// key itself stays out of Redis), or kept in process.
fn shaper(settings: &Settings, limiter: &Limiter) -> Shaper {
    match (limiter, &settings.redis) {
        (Limiter::Redis(r), Some(redis)) => {
            use sha2::Digest;
            let (pool, timeout) = r.pool();
            let digest = sha2::Sha256::digest(settings.nexmo.api_key.as_bytes());
            let key_id = hex::encode(&digest[..8]);
            Shaper::redis(pool, timeout, &key_id, redis.expected_instances.get())
        }
        _ => Shaper::in_process(),
    }
}

/// Receipts live in the limiter's Redis, or in process beside it.
fn receipt_store(settings: &Settings, limiter: &Limiter) -> ReceiptStore {
    match limiter {
        Limiter::Redis(r) => {
            let (pool, timeout) = r.pool();
            ReceiptStore::Redis(RedisReceipts::new(pool, timeout))
        }
        Limiter::Memory(_) => {
            ReceiptStore::Memory(Arc::new(MemoryReceipts::new(settings.nexmo.max_receipts)))
        }
    }
}

/// The limiter `settings` ask for.
pub(crate) fn limiter(settings: &Settings) -> Result<Limiter, LimiterError> {
    let capacity = settings.limits.max_keys.get();
    Ok(match &settings.redis {
        None => Limiter::in_process(capacity),
        Some(r) => {
            let seeds: Vec<&str> = r.cluster.iter().map(|u| u.expose()).collect();
            let target = match seeds.is_empty() {
                true => Target::Node(r.url.expose()),
                false => Target::Cluster(&seeds),
            };
            let pool = RedisPool::new(&target, r.pool_size.get(), r.timeout)
                .map_err(LimiterError::Redis)?;
            Limiter::Redis(RedisLimiter::new(pool, r.timeout, capacity))
        }
    })
}

/// Whether a limiter built for `a` counts in the same place as one for `b`.
fn same_store(a: &Settings, b: &Settings) -> bool {
    let same_redis = match (&a.redis, &b.redis) {
        (Some(a), Some(b)) => a.same_store(b),
        (None, None) => true,
        _ => false,
    };
    same_redis && a.limits.max_keys == b.limits.max_keys
}

/// The key that hashes numbers in limiter keys: `limits.key_secret`; else,
/// with Redis, one derived from the Nexmo secret (the same for every
/// instance of one account); else random, kept across reloads so in-process
/// counters survive them.
fn number_key(settings: &Settings, previous: Option<&Runtime>) -> Arc<[u8]> {
    use hmac::Mac;
    let configured = &settings.limits.key_secret;
    if !configured.is_empty() {
        return Arc::from(configured.expose().as_bytes());
    }
    if settings.redis.is_some() && !settings.nexmo.api_secret.is_empty() {
        if let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(
            settings.nexmo.api_secret.expose().as_bytes(),
        ) {
            mac.update(b"nexmo-proxy limiter keys");
            return Arc::from(mac.finalize().into_bytes().as_slice());
        }
    }
    match previous {
        Some(p) if p.settings.limits.key_secret.is_empty() && same_store(&p.settings, settings) => {
            p.number_key.clone()
        }
        _ => {
            let key: [u8; 32] = rand::random();
            Arc::from(key.as_slice())
        }
    }
}

pub(crate) struct AppState {
    runtime: ArcSwap<Runtime>,
    /// Where the configuration came from; every reload reads the same.
    pub(crate) sources: Sources,
    /// "Would refuse" counts of shadow rules, by endpoint and rule.
    pub(crate) shadow_refusals: Mutex<BTreeMap<String, u64>>,
    /// When each exhausted budget was last reported, so it is logged once per window.
    pub(crate) budget_alarms: Mutex<HashMap<String, Instant>>,
    /// Refusal lines, summarised so a flood is not a log flood.
    pub(crate) log_throttle: LogThrottle,
    /// Requests in progress per client (behind trusted proxies too).
    pub(crate) in_flight: Arc<InFlight>,
    /// Open connections per peer address (idle ones too).
    pub(crate) connections: Arc<InFlight>,
    pub(crate) metrics: Metrics,
    /// Why the last reload was refused, until one is applied.
    pub(crate) last_reload_error: Mutex<Option<String>>,
    /// Set on SIGTERM/SIGINT: answers close their connections, new sends
    /// are refused, readiness says no.
    pub(crate) stopping: std::sync::atomic::AtomicBool,
}

impl AppState {
    pub(crate) fn new(runtime: Runtime, sources: Sources) -> AppState {
        AppState {
            runtime: ArcSwap::from_pointee(runtime),
            sources,
            shadow_refusals: Mutex::new(BTreeMap::new()),
            budget_alarms: Mutex::new(HashMap::new()),
            log_throttle: LogThrottle::default(),
            in_flight: Arc::default(),
            connections: Arc::default(),
            metrics: Metrics::new(),
            last_reload_error: Mutex::new(None),
            stopping: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub(crate) fn snapshot(&self) -> Arc<Runtime> {
        self.runtime.load_full()
    }

    pub(crate) fn swap(&self, runtime: Runtime) {
        self.runtime.store(Arc::new(runtime));
    }
}
