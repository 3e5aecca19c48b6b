//! Start-up: binds the listener, builds the first `Runtime`, starts the
//! reload watcher and the HTTP server, and runs until SIGINT/SIGTERM, then
//! lets requests in flight finish.
//! Nothing below imports this module.

use crate::client::peer_counted_as;
use crate::config::{Settings, Sources};
use crate::endpoints;
use crate::inflight::RefusedAtAccept;
use crate::nexmo::NexmoClient;
use crate::response::{ErrorCode, Reply};
use crate::state::{AppState, BuildError, Runtime};
use crate::watchdog::Watchdog;
use actix_web::dev::{Extensions, Server};
use actix_web::rt::net::TcpStream;
use actix_web::{web, App, HttpServer};
use std::net::{IpAddr, TcpListener};
use std::sync::Arc;

/// Starts the HTTP server on `listener` with `server.workers` threads (0 =
/// one per core) and its connection bounds.
fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    watchdog: Option<Arc<Watchdog>>,
) -> std::io::Result<Server> {
    let settings = state.snapshot().settings.server.clone();
    let counting = state.clone();
    let data = web::Data::from(state);
    let workers = match settings.workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let server = HttpServer::new(move || {
        // Called once on each worker's own loop.
        if let Some(dog) = &watchdog {
            dog.beat_here();
        }
        App::new()
            .app_data(data.clone())
            // awc's client is not Send: one per worker, made here.
            .app_data(web::Data::new(NexmoClient::new()))
            .default_service(web::to(endpoints::dispatch))
    })
    .on_connect(move |conn, ext| count_connection(&counting, conn, ext))
    .workers(workers)
    // actix counts per worker; the setting is for all of them.
    .max_connections(settings.max_connections.get().div_ceil(workers))
    // The head; `endpoints::dispatch` gives the body as long again.
    .client_request_timeout(settings.client_timeout)
    // Signals are ours (`stop_on_signals`): actix would stop at once on
    // SIGINT, cutting off sends in flight.
    .disable_signals()
    // Whole seconds for actix: rounded up, so a send is never given less.
    .shutdown_timeout(settings.shutdown_timeout.as_secs_f64().ceil().max(1.0) as u64)
    .listen(listener)?;
    Ok(server.run())
}

/// On SIGTERM or SIGINT: stop accepting, mark the state stopping (answers
/// close their connections, so keep-alive clients do not hold the drain
/// open, and new sends are refused with 503), let requests in flight
/// finish within `server.shutdown_timeout`, then let `run` return. A
/// second signal stops at once. The handlers are installed before the
/// proxy says it is ready.
fn stop_on_signals(
    servers: Vec<actix_web::dev::ServerHandle>,
    state: Arc<AppState>,
    timeout: std::time::Duration,
) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    actix_web::rt::spawn(async move {
        let which = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        log::info!(
            "{which}: finishing requests in flight (at most {timeout:?}), accepting no more"
        );
        state
            .stopping
            .store(true, std::sync::atomic::Ordering::Relaxed);
        crate::systemd::stopping();
        let graceful = futures_util::future::join_all(servers.iter().map(|s| s.stop(true)));
        tokio::select! {
            _ = graceful => {}
            _ = term.recv() => force(&servers, "SIGTERM").await,
            _ = int.recv() => force(&servers, "SIGINT").await,
        }
    });
    Ok(())
}

async fn force(servers: &[actix_web::dev::ServerHandle], which: &str) {
    log::warn!("{which} again: stopping at once");
    for s in servers {
        s.stop(false).await;
    }
}

/// Counts a new connection against its peer's cap (counted as the `ip`
/// rule counts a direct client; a trusted proxy carries many clients and
/// is not capped). The count lives in the connection's data, so it ends
/// with the connection, however it ends. Past the cap the connection is
/// answered and closed here, and marked so that a request already buffered
/// is never handled. Only plain TCP is counted: the one listener is HTTP/1
/// without TLS (a TLS listener would reach here after its handshake).
fn count_connection(state: &AppState, conn: &dyn std::any::Any, ext: &mut Extensions) {
    let Some(tcp) = conn.downcast_ref::<TcpStream>() else {
        return;
    };
    let Ok(peer) = tcp.peer_addr() else {
        return;
    };
    let rt = state.snapshot();
    let server = &rt.settings.server;
    if server.is_trusted_proxy(&peer.ip().to_canonical()) {
        return;
    }
    let prefix = rt.settings.limits.ipv6_prefix;
    let client = peer_counted_as(peer.ip(), prefix);
    let max = server.max_connections_per_ip.get();
    match state.connections.enter(client, max) {
        Some(open) => {
            ext.insert(open);
        }
        None => {
            ext.insert(RefusedAtAccept);
            refuse(tcp);
            let shown = match client {
                IpAddr::V6(_) => format!("{client}/{prefix}"),
                IpAddr::V4(_) => client.to_string(),
            };
            let line = format!("refused a connection from {shown}: it has {max} open");
            let kind = "connections over server.max_connections_per_ip";
            state.log_throttle.log(log::Level::Info, kind, &line);
        }
    }
}

/// Answers 429 and closes both ways. What the client already sent is read
/// and dropped, so actix finds the connection ended and parses nothing; what
/// arrives later the kernel answers with a reset.
fn refuse(tcp: &TcpStream) {
    // A fresh socket's send buffer is empty, so the short answer fits
    // (written directly: tokio does not yet know the socket is writable).
    let answer = Reply::error(ErrorCode::TooManyRequests).retry_after(1);
    let socket = socket2::SockRef::from(tcp);
    let _ = socket.send(&answer.render_raw());
    let _ = socket.shutdown(std::net::Shutdown::Both);
    let mut sink = [std::mem::MaybeUninit::<u8>::uninit(); 4096];
    while matches!(socket.recv(&mut sink), Ok(n) if n > 0) {}
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
    #[error("cannot listen on {addr} (server.admin_listen; one port per instance, \"\" for none): {source}")]
    AdminListen {
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
            [runtime.settings.validation.country.default]
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
        if runtime.settings.receipts.is_some() {
            log::info!("delivery states: {}", runtime.receipts.describe());
        }
        log::info!("geo-ip: {:?}", runtime.geo.source());
        for e in s.all_endpoints() {
            log::info!("serving {}", e.path);
        }
        if s.server.demo_page {
            log::info!("serving / (the demo page: http://{addr}/)");
        }
        let state = Arc::new(AppState::new(runtime, sources));
        state.metrics.generation.set(1);
        crate::reload::spawn(state.clone());
        let flushing = state.clone();
        actix_web::rt::spawn(async move {
            // The first summary one interval after start, not at once: a
            // summary says what the interval held back.
            let every = crate::throttle::INTERVAL;
            let first = actix_web::rt::time::Instant::now() + every;
            let mut tick = actix_web::rt::time::interval_at(first, every);
            loop {
                tick.tick().await;
                flushing.log_throttle.flush();
            }
        });
        let admin = match s.server.admin_listen {
            Some(a) => {
                let l = TcpListener::bind(a)
                    .map_err(|source| RunError::AdminListen { addr: a, source })?;
                let addr = l.local_addr()?;
                let server = crate::admin::serve(l, state.clone())?;
                log::info!("admin listening on http://{addr} (/healthz, /readyz, /metrics)");
                Some(server)
            }
            None => None,
        };
        let watchdog = Watchdog::from_env();
        let server = serve(listener, state.clone(), watchdog.clone())?;
        let handles = std::iter::once(server.handle()).chain(admin.iter().map(Server::handle));
        stop_on_signals(handles.collect(), state.clone(), s.server.shutdown_timeout)?;
        if let Some(admin) = admin {
            actix_web::rt::spawn(admin);
        }
        // Tests and scripts wait for this line to learn the port.
        log::info!("listening on http://{addr}");
        crate::systemd::ready();
        if let Some(dog) = watchdog {
            dog.keep_telling();
        }
        server.await?;
        // What the refusal summaries still hold back.
        state.log_throttle.flush();
        log::info!("stopped");
        Ok(())
    })
}
