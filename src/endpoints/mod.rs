//! Routing and request handling. One catch-all service looks the path up in
//! the current `Runtime`'s endpoint table (actix routes are fixed per
//! worker, ours change on reload), reads the parameters once, and hands the
//! request to the endpoint's handler. Every outcome goes back through
//! `response::Reply`.

mod admission;
mod message;
mod params;
pub mod template;
mod validate;

pub use admission::{Admitted, Target};
pub use params::Params;

use crate::app::{AppState, Runtime};
use crate::client::client_ip;
use crate::config::{EndpointKind, EndpointSpec};
use crate::geo::{self, Hints};
use crate::nexmo::NexmoClient;
use crate::phone::Country;
use crate::response::{Callback, Reply};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use std::net::IpAddr;

/// What every handler gets: the snapshot it runs on, the endpoint, the
/// client, and the parameters.
pub struct Ctx<'a> {
    pub state: &'a AppState,
    pub rt: &'a Runtime,
    pub spec: &'a EndpointSpec,
    pub ip: IpAddr,
    pub params: &'a Params,
    pub accept_language: Option<&'a str>,
}

impl Ctx<'_> {
    /// The region for a national number, asked lazily by `phone::parse`.
    pub fn guess_country(&self) -> Country {
        let hints = Hints {
            param: self.params.get("country"),
            client_ip: self.ip,
            accept_language: self.accept_language,
        };
        geo::guess_country(&self.spec.country, &hints, &self.rt.geo)
    }
}

/// The one service behind every path.
pub async fn dispatch(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    nexmo: web::Data<NexmoClient>,
) -> HttpResponse {
    let rt = state.snapshot();
    let query_callback = params::query_value(req.query_string(), "callback");
    let callback = match Callback::parse(query_callback.as_deref()) {
        Ok(c) => c,
        Err(reply) => return reply.render(None),
    };
    let Some(spec) = rt.routes.get(req.path()).cloned() else {
        return Reply::error(StatusCode::NOT_FOUND, "not_found").render(callback.as_ref());
    };
    if req.method() != Method::GET && req.method() != Method::POST {
        return Reply::error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
            .allow("GET, POST")
            .render(callback.as_ref());
    }
    let params = match Params::read(&req, payload, rt.settings.server.max_body_bytes).await {
        Ok(p) => p,
        Err(reply) => return reply.render(callback.as_ref()),
    };
    let peer = req
        .peer_addr()
        .map(|a| a.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let ctx = Ctx {
        state: &state,
        rt: &rt,
        spec: &spec,
        ip: client_ip(peer, req.headers(), &rt.settings.server.trusted_proxies),
        params: &params,
        accept_language: req
            .headers()
            .get("accept-language")
            .and_then(|v| v.to_str().ok()),
    };
    let reply = match &spec.kind {
        EndpointKind::Validate => validate::handle(&ctx).await,
        EndpointKind::Message(m) => message::handle(&ctx, m, &nexmo).await,
    };
    reply.render(callback.as_ref())
}
