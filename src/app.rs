//! Shared state and the HTTP server. What a reload may change (settings,
//! endpoint table, geo-IP database, limiter store) sits in one `Runtime`
//! behind an atomic swap; a handler loads one snapshot at its start and
//! uses only that, so a request never sees half of two configurations.

use crate::config::{EndpointSpec, GeoipSource, Settings, Sources};
use crate::endpoints;
use crate::geo::{GeoError, GeoIp};
use crate::limiter::{Limiter, LimiterError, RedisLimiter};
use crate::nexmo::NexmoClient;
use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use arc_swap::ArcSwap;
use std::collections::{BTreeMap, HashMap};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Geo(#[from] GeoError),
    #[error("limiter: {0}")]
    Limiter(#[from] LimiterError),
}

/// One generation of everything a reload can replace.
pub struct Runtime {
    pub generation: u64,
    /// HMAC key for numbers and prefixes in limiter keys.
    pub number_key: Arc<[u8]>,
    pub loaded_at: SystemTime,
    pub settings: Arc<Settings>,
    pub routes: HashMap<String, Arc<EndpointSpec>>,
    pub geo: Arc<GeoIp>,
    pub limiter: Limiter,
}

impl Runtime {
    /// Builds generation `generation` from `settings`, reusing from
    /// `previous` whatever did not change (so limit counters and the loaded
    /// geo-IP database survive a reload).
    pub fn build(
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
            Some(p) if p.settings.redis == settings.redis => p.limiter.clone(),
            _ => match &settings.redis {
                None => Limiter::in_process(),
                Some(r) => {
                    Limiter::Redis(RedisLimiter::new(r.url.expose(), r.pool_size, r.timeout)?)
                }
            },
        };
        let number_key = number_key(&settings, previous);
        let routes = settings
            .all_endpoints()
            .map(|e| (e.path.clone(), Arc::new(e.clone())))
            .collect();
        Ok(Runtime {
            generation,
            number_key,
            loaded_at: SystemTime::now(),
            settings: Arc::new(settings),
            routes,
            geo,
            limiter,
        })
    }
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
        Some(p)
            if p.settings.limits.key_secret.is_empty() && p.settings.redis == settings.redis =>
        {
            p.number_key.clone()
        }
        _ => {
            let key: [u8; 32] = rand::random();
            Arc::from(key.as_slice())
        }
    }
}

/// The outcome of the last reload attempt, for the ops endpoints.
#[derive(Debug, Clone, Default)]
pub struct ReloadStatus {
    pub last_error: Option<String>,
    pub last_attempt: Option<SystemTime>,
}

pub struct AppState {
    runtime: ArcSwap<Runtime>,
    /// Where the configuration came from; every reload reads the same.
    pub sources: Sources,
    pub reload: Mutex<ReloadStatus>,
    /// "Would refuse" counts of shadow rules, by endpoint and rule.
    pub shadow_refusals: Mutex<BTreeMap<String, u64>>,
    /// When each exhausted budget was last reported, so it is logged once per window.
    pub budget_alarms: Mutex<HashMap<String, Instant>>,
}

impl AppState {
    pub fn new(runtime: Runtime, sources: Sources) -> AppState {
        AppState {
            runtime: ArcSwap::from_pointee(runtime),
            sources,
            reload: Mutex::new(ReloadStatus::default()),
            shadow_refusals: Mutex::new(BTreeMap::new()),
            budget_alarms: Mutex::new(HashMap::new()),
        }
    }

    pub fn snapshot(&self) -> Arc<Runtime> {
        self.runtime.load_full()
    }

    pub fn swap(&self, runtime: Runtime) -> Arc<Runtime> {
        self.runtime.swap(Arc::new(runtime))
    }
}

/// Starts the HTTP server on `listener` with `workers` threads (0 = one per core).
pub fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    workers: usize,
) -> std::io::Result<Server> {
    let data = web::Data::from(state);
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            // awc's client is not Send: one per worker, made here.
            .app_data(web::Data::new(NexmoClient::new()))
            .default_service(web::to(endpoints::dispatch))
    })
    .listen(listener)?;
    if workers > 0 {
        server = server.workers(workers);
    }
    Ok(server.run())
}

/// What `--check` adds to `config::load`: the parts that are only known by
/// opening them (the geo-IP database, the Redis URL's shape).
pub fn check(settings: &Settings) -> Result<(), BuildError> {
    GeoIp::open(&settings.geoip)?;
    if let Some(r) = &settings.redis {
        RedisLimiter::new(r.url.expose(), r.pool_size, r.timeout)?;
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs the proxy until SIGINT/SIGTERM.
pub fn run(settings: Settings, sources: Sources) -> Result<(), RunError> {
    actix_web::rt::System::new().block_on(async move {
        let runtime = Runtime::build(settings, 1, None)?;
        // libphonenumber builds its metadata on first use (~35 ms); pay that
        // here rather than on the first visitor's request.
        let _ = crate::phone::parse("+4917612345678", || {
            runtime.settings.validation.country.default
        });
        let s = runtime.settings.clone();
        let listener = TcpListener::bind(s.server.listen).map_err(|source| RunError::Listen {
            addr: s.server.listen,
            source,
        })?;
        let addr = listener.local_addr()?;
        for w in &s.warnings {
            log::warn!("{w}");
        }
        log::info!("limiter: {}", runtime.limiter.describe());
        log::info!("geo-ip: {:?}", runtime.geo.source());
        for e in s.all_endpoints() {
            log::info!("serving {}", e.path);
        }
        let state = Arc::new(AppState::new(runtime, sources));
        crate::reload::spawn(state.clone());
        let server = serve(listener, state.clone(), s.server.workers)?;
        // Tests and scripts wait for this line to learn the port.
        log::info!("listening on http://{addr}");
        server.await?;
        log::info!("stopped");
        Ok(())
    })
}
