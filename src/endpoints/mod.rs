//! Routing and request handling. One catch-all service looks the path up in
//! the current `Runtime`'s endpoint table (actix routes are fixed per
//! worker, ours change on reload), reads the parameters once, and hands the
//! request to the endpoint's handler. Every outcome goes back through
//! `response::Reply`.

mod admission;
mod message;
mod pages;
mod receipts;
mod validate;

use admission::Target;

use crate::client::{client_ip, counted_as};
use crate::config::{EndpointKind, EndpointSpec};
use crate::geo::{self, Hints};
use crate::inflight::RefusedAtAccept;
use crate::nexmo::NexmoClient;
use crate::params::{self, Params};
use crate::phone::Country;
use crate::response::{Callback, ErrorCode, Reply};
use crate::state::{AppState, DemoPage, Runtime};
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use std::net::IpAddr;
use std::sync::Arc;

/// What every handler gets: the snapshot it runs on, the endpoint, the
/// client, and the parameters.
struct Ctx<'a> {
    state: &'a AppState,
    rt: &'a Runtime,
    spec: &'a EndpointSpec,
    ip: IpAddr,
    params: &'a Params,
    accept_language: Option<&'a str>,
}

impl Ctx<'_> {
    /// The regions to read a national number in, asked lazily by
    /// `phone::parse`.
    fn candidate_regions(&self) -> Vec<Country> {
        let hints = Hints {
            param: self.params.get("country"),
            client_ip: self.ip,
            accept_language: self.accept_language,
        };
        geo::candidate_regions(&self.spec.country, &hints, &self.rt.geo)
    }
}

/// An address, or `-` when there is none.
struct Dash(Option<IpAddr>);

impl std::fmt::Display for Dash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(ip) => ip.fmt(f),
            None => f.write_str("-"),
        }
    }
}

/// Text without its spaces, written only when the access line is (no
/// allocation on the request path while the access log is off).
struct NoSpaces<'a>(&'a str);

impl std::fmt::Display for NoSpaces<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.split(' ').try_for_each(|part| f.write_str(part))
    }
}

/// The one service behind every path: answers, counts the answer by
/// endpoint and outcome, renders it.
pub(crate) async fn dispatch(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    nexmo: web::Data<NexmoClient>,
) -> HttpResponse {
    let started = std::time::Instant::now();
    let rt = state.snapshot();
    let spec = rt.routes.get(req.path()).cloned();
    // The label is a configured path, never what the client asked for.
    let endpoint = spec
        .as_ref()
        .map_or("other", |s| s.path.as_str())
        .to_string();
    let demo = rt
        .demo
        .as_ref()
        .filter(|_| spec.is_none() && req.path() == "/");
    let endpoint = if demo.is_some() { "/".into() } else { endpoint };
    let mut client = None;
    let (reply, callback, page) = match demo {
        // Already answered 429 at accept; the client was told to retry.
        _ if req.conn_data::<RefusedAtAccept>().is_some() => (
            Reply::error(ErrorCode::TooManyRequests).retry_after(1),
            None,
            None,
        ),
        Some(page) => demo_page(&req, page),
        None => {
            let (reply, callback) =
                answer(&req, payload, &state, &nexmo, &rt, spec, &mut client).await;
            (reply, callback, None)
        }
    };
    let stopping = state.stopping.load(std::sync::atomic::Ordering::Relaxed);
    // While stopping, keep-alive connections must not hold the drain open.
    let reply = if stopping { reply.closing() } else { reply };
    let code = reply.outcome().to_string();
    // One line per request under its own target, so `RUST_LOG` can
    // silence it: no query, no unknown path, the receiver masked.
    // Space-separated fields: the method from a fixed set (a client may
    // send any token), the receiver without its spaces.
    let method = match *req.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        _ => "OTHER",
    };
    crate::logging::access(format_args!(
        "{method} {endpoint} {code} {} {} {}ms",
        NoSpaces(reply.receiver().unwrap_or("-")),
        Dash(client),
        started.elapsed().as_millis()
    ));
    let labels = crate::metrics::Outcome { endpoint, code };
    state.metrics.requests.get_or_create(&labels).inc();
    match page {
        Some(page) => page.respond(stopping),
        None => reply.render(callback.as_ref()),
    }
}

/// `/` with `server.demo_page`: the page for `GET` and `HEAD` (the reply
/// then only names the outcome, for the log and the metrics).
fn demo_page(
    req: &HttpRequest,
    page: &Arc<DemoPage>,
) -> (Reply, Option<Callback>, Option<Arc<DemoPage>>) {
    match *req.method() {
        Method::GET | Method::HEAD => (Reply::ok(), None, Some(page.clone())),
        _ => {
            let reply = Reply::error(ErrorCode::MethodNotAllowed).allow("GET, HEAD");
            (reply, None, None)
        }
    }
}

async fn answer(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    nexmo: &NexmoClient,
    rt: &Runtime,
    spec: Option<Arc<EndpointSpec>>,
    client: &mut Option<IpAddr>,
) -> (Reply, Option<Callback>) {
    let query_callback = params::query_value(req.query_string(), "callback");
    let callback = Callback::parse(query_callback.as_deref());
    let Some(spec) = spec else {
        return match callback {
            Ok(callback) => (Reply::error(ErrorCode::NotFound), callback),
            Err(code) => (Reply::error(code), None),
        };
    };
    // Nexmo reads only the HTTP status of a receipt's answer (anything but
    // 200 is sent again): never wrapped into a 200.
    let callback = match spec.kind {
        EndpointKind::Receipts => Ok(None),
        _ => callback,
    };
    // Before anything is counted: a page of another site is refused.
    let jsonp = !matches!(callback, Ok(None));
    let cors = match pages::admit(&spec.web, req, jsonp) {
        Ok(cors @ crate::response::Cors::Preflight(_)) => return (Reply::ok().cors(cors), None),
        Ok(cors) => cors,
        Err((code, cors)) => return (Reply::error(code).cors(cors), callback.ok().flatten()),
    };
    let callback = match callback {
        Ok(callback) => callback,
        Err(code) => return (Reply::error(code).cors(cors), None),
    };
    let (reply, callback) = handle(req, payload, state, nexmo, rt, spec, client, callback).await;
    (reply.cors(cors), callback)
}

/// The request on its endpoint, once its page is admitted.
#[allow(clippy::too_many_arguments)]
async fn handle(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    nexmo: &NexmoClient,
    rt: &Runtime,
    spec: Arc<EndpointSpec>,
    client: &mut Option<IpAddr>,
    callback: Option<Callback>,
) -> (Reply, Option<Callback>) {
    let stopping = state.stopping.load(std::sync::atomic::Ordering::Relaxed);
    if stopping && matches!(spec.kind, EndpointKind::Message(_)) {
        // A send begun now could be cut off by the shutdown deadline after
        // Nexmo took it; another instance (or this one, restarted) sends it.
        return (
            Reply::error(ErrorCode::ServiceUnavailable).retry_after(1),
            callback,
        );
    }
    if req.method() != Method::GET && req.method() != Method::POST {
        let reply = Reply::error(ErrorCode::MethodNotAllowed).allow("GET, POST");
        return (reply, callback);
    }
    let peer = req
        .peer_addr()
        .map(|a| a.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let server = &rt.settings.server;
    let ip = client_ip(peer, req.headers(), |ip| server.is_trusted_proxy(ip));
    *client = Some(ip);
    // Before anything of the request is stored: a client with too many
    // requests open is refused (and its connection closed), and a body
    // that does not come in time is not waited for.
    let client = counted_as(ip, rt.settings.limits.ipv6_prefix);
    let max_open = server.max_connections_per_ip.get();
    let Some(_open) = state.in_flight.enter(client, max_open) else {
        return (
            Reply::error(ErrorCode::TooManyRequests).retry_after(1),
            callback,
        );
    };
    let read = Params::read(req, payload, server.max_body_bytes);
    let params = match actix_web::rt::time::timeout(server.client_timeout, read).await {
        Ok(Ok(p)) => p,
        Ok(Err(code)) => return (Reply::error(code), callback),
        Err(_) => return (Reply::error(ErrorCode::RequestTimeout), callback),
    };
    let ctx = Ctx {
        state,
        rt,
        spec: &spec,
        ip,
        params: &params,
        accept_language: req
            .headers()
            .get("accept-language")
            .and_then(|v| v.to_str().ok()),
    };
    if let Some(denied) = ctx.refused_early() {
        return (denied.into(), callback);
    }
    let reply = match &spec.kind {
        EndpointKind::Validate => validate::handle(&ctx).await,
        EndpointKind::Message(m) => message::handle(&ctx, m, nexmo).await,
        EndpointKind::Receipts => receipts::receive(&ctx).await,
        EndpointKind::Status => receipts::status(&ctx).await,
    };
    (reply, callback)
}
