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
    if let Some((degraded, total)) = rt.limiter.redis_degraded() {
        m.set_degraded(degraded, total);
    }
    budgets(&rt, m).await;
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .insert_header(("cache-control", "no-store"))
        .body(m.render())
}

/// The budgets' counters, read (never counted) from the limiter's store;
/// none shown while it cannot be read, rather than stale ones.
async fn budgets(rt: &crate::state::Runtime, m: &crate::metrics::Metrics) {
    let mut series = Vec::new();
    for e in &rt.settings.endpoints {
        let Some(b) = &e.budget else { continue };
        let all = std::iter::once((None, b.max_parts));
        let countries = b.per_country.iter().map(|(c, max)| (Some(*c), *max));
        for (country, max) in all.chain(countries) {
            let labels = crate::metrics::Destination {
                endpoint: e.path.clone(),
                country: country.map_or_else(|| "all".into(), |c| c.to_string()),
            };
            series.push((labels, (e.shard(), b.counter(&e.path, country)), max));
        }
    }
    // While requests already find Redis down, a scrape need not wait for
    // it too.
    let degraded = rt.limiter.redis_degraded().is_some_and(|(now, _)| now);
    let keys: Vec<(&str, String)> = series.iter().map(|s| s.1.clone()).collect();
    let counts = match series.is_empty() || degraded {
        true => None,
        false => rt.limiter.peek_pinned(&keys).await.ok(),
    };
    // Cleared and set with no wait between, so a scrape at the same time
    // sees all the series or none.
    m.budget_used.clear();
    m.budget_remaining.clear();
    let Some(counts) = counts else { return };
    for ((labels, _, max), used) in series.into_iter().zip(counts) {
        let to_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        m.budget_used.get_or_create(&labels).set(to_i64(used));
        m.budget_remaining
            .get_or_create(&labels)
            .set(to_i64(max.saturating_sub(used)));
    }
}
