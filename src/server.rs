//! Start-up: binds the listener, builds the first `Runtime`, starts the
//! reload watcher and the HTTP server, and runs until SIGINT/SIGTERM.
//! Nothing below imports this module.

use crate::config::{Settings, Sources};
use crate::endpoints;
use crate::nexmo::NexmoClient;
use crate::state::{AppState, BuildError, Runtime};
use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use std::net::TcpListener;
use std::sync::Arc;

/// Starts the HTTP server on `listener` with `server.workers` threads (0 =
/// one per core) and its connection bounds.
fn serve(listener: TcpListener, state: Arc<AppState>) -> std::io::Result<Server> {
    let settings = state.snapshot().settings.server.clone();
    let data = web::Data::from(state);
    let workers = match settings.workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            // awc's client is not Send: one per worker, made here.
            .app_data(web::Data::new(NexmoClient::new()))
            .default_service(web::to(endpoints::dispatch))
    })
    .workers(workers)
    // actix counts per worker; the setting is for all of them.
    .max_connections(settings.max_connections.get().div_ceil(workers))
    // The head; `endpoints::dispatch` gives the body as long again.
    .client_request_timeout(settings.client_timeout)
    .listen(listener)?;
    Ok(server.run())
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
        let flushing = state.clone();
        actix_web::rt::spawn(async move {
            let mut tick = actix_web::rt::time::interval(crate::throttle::INTERVAL);
            loop {
                tick.tick().await;
                flushing.log_throttle.flush();
            }
        });
        let server = serve(listener, state.clone())?;
        // Tests and scripts wait for this line to learn the port.
        log::info!("listening on http://{addr}");
        server.await?;
        log::info!("stopped");
        Ok(())
    })
}
