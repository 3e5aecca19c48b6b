//! The admin listener (`server.admin_listen`, loopback by default), apart
//! from the public one so a website's visitors never reach it: `/healthz`
//! (the process serves), `/readyz` (it can send, and what it runs on) and
//! `/metrics` (Prometheus). Nothing else is served there.

use crate::config::EndpointKind;
use crate::response::Reply;
use crate::state::AppState;
use actix_web::dev::Server;
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpResponse, HttpServer};
use std::net::TcpListener;
use std::sync::Arc;

pub(crate) fn serve(listener: TcpListener, state: Arc<AppState>) -> std::io::Result<Server> {
    let data = web::Data::from(state);
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(metrics))
            .default_service(web::to(|| async {
                Reply::error(crate::response::ErrorCode::NotFound).render(None)
            }))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run())
}

async fn healthz() -> HttpResponse {
    Reply::ok().render(None)
}

/// 503 when no message can be sent: no message endpoint, Redis down while
/// every message endpoint denies without it, or stopping.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let rt = state.snapshot();
    let settings = &rt.settings;
    let redis_up = rt.limiter.redis_up().await;
    let senders: Vec<_> = settings
        .endpoints
        .iter()
        .filter(|e| matches!(e.kind, EndpointKind::Message(_)))
        .collect();
    let all_deny = senders
        .iter()
        .all(|e| e.on_redis_error == crate::config::OnRedisError::Deny);
    let cannot_count = redis_up == Some(false) && all_deny;
    let stopping = state.stopping.load(std::sync::atomic::Ordering::Relaxed);
    let ready = !senders.is_empty() && !cannot_count && !stopping;
    let last_error = state
        .last_reload_error
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let paths: Vec<&str> = settings.all_endpoints().map(|e| e.path.as_str()).collect();
    let reply = Reply::ok()
        .field("ready", ready)
        .field("config_generation", rt.generation)
        .field(
            "loaded_at",
            humantime::format_rfc3339_seconds(rt.loaded_at).to_string(),
        )
        .field("last_reload_error", last_error)
        .field(
            "limiter",
            if redis_up.is_some() {
                "redis"
            } else {
                "memory"
            },
        )
        .field("redis", redis_up.map(|up| if up { "up" } else { "down" }))
        .field("dry_run", settings.nexmo.dry_run)
        .field("stopping", stopping)
        .field("endpoints", paths);
    match ready {
        true => reply.render(None),
        false => reply
            .with_http_status(StatusCode::SERVICE_UNAVAILABLE)
            .render(None),
    }
}

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let rt = state.snapshot();
    let m = &state.metrics;
    let (keys, evictions) = rt.limiter.memory_stats();
    m.limiter_keys.set(keys as i64);
    m.set_evictions(evictions);
    m.generation.set(rt.generation as i64);
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .insert_header(("cache-control", "no-store"))
        .body(m.render())
}
