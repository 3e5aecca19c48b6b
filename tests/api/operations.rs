//! The admin listener: health and readiness for the service manager and
//! the load balancer, Prometheus metrics that move by exactly what
//! happened, and none of it on the public listener.

use crate::common::{FakeNexmo, Redis, Spawn, TestApp, API_KEY};
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, Instant};

fn config(fake: &FakeNexmo, extra: &str) -> String {
    format!(
        r#"
{}dlr_url = "https://sms.example.com/dlr/"
{extra}
[validation]
limits = []
[defaults]
limits = [{{ per = "ip", max = 2, window = "1h" }}, {{ per = "ip", max = 1, window = "1h", mode = "shadow" }}]
[[endpoint]]
path = "/m/"
sender = "Acme"
message = "hi"
budget = {{ max_parts = 100, window = "1d" }}
country_budgets = {{ DE = 50 }}
"#,
        crate::common::nexmo_table(fake)
    )
}

#[actix_web::test]
async fn health_and_readiness_are_on_the_admin_listener_only() {
    let fake = FakeNexmo::start();
    let app = TestApp::spawn(&config(&fake, ""));
    assert_eq!(app.admin_get("/healthz").await.0, 200);
    let (status, body) = app.admin_get("/readyz").await;
    assert_eq!(status, 200, "{body}");
    let r: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(r["ready"], true);
    assert_eq!(r["config_generation"], 1);
    assert_eq!(r["limiter"], "memory");
    assert_eq!(r["redis"], Value::Null);
    assert_eq!(r["dry_run"], false);
    assert_eq!(r["last_reload_error"], Value::Null);
    assert!(r["loaded_at"].as_str().unwrap().ends_with('Z'));
    let paths = r["endpoints"].as_array().unwrap();
    assert!(
        paths.contains(&"/m/".into()) && paths.contains(&"/dlr/".into()),
        "{r}"
    );
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(
            app.get(path).await.status,
            404,
            "{path} on the public listener"
        );
    }
    assert_eq!(app.admin_get("/m/?receiver=1").await.0, 404);
    // A rejected reload shows until the next good one.
    std::fs::write(&app.config, "[server\n").unwrap();
    let start = Instant::now();
    loop {
        let r: Value = serde_json::from_str(&app.admin_get("/readyz").await.1).unwrap();
        if r["last_reload_error"].is_string() {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{r}");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    // With no message endpoint there is nothing to be ready for.
    let none = Spawn::new("[validation]\nlimits = []\n").start().unwrap();
    assert_eq!(none.admin_get("/readyz").await.0, 503);
}

/// `/readyz`'s HTTP status and what it says of Redis.
async fn ready(app: &TestApp) -> (u16, String) {
    let (status, body) = app.admin_get("/readyz").await;
    let r: Value = serde_json::from_str(&body).unwrap();
    (status, r["redis"].as_str().unwrap_or("").to_string())
}

#[actix_web::test]
async fn readiness_follows_redis() {
    let mut redis = Redis::start();
    let fake = FakeNexmo::start();
    let extra = format!("[redis]\nurl = \"{}\"\ntimeout = \"200ms\"", redis.url());
    let app = TestApp::spawn(&config(&fake, &extra));
    assert_eq!(ready(&app).await, (200, "up".into()));
    let send = "/m/?receiver=%2B4917612345678";
    assert_eq!(app.get(send).await.json()["status"], "ok");
    let metrics = || async { scrape(&app.admin_get("/metrics").await.1) };
    let m = metrics().await;
    let used = "nexmo_proxy_budget_used_parts{country=all,endpoint=/m/}";
    assert_eq!(m.get(used), Some(&1.0), "read from Redis: {m:?}");
    assert_eq!(m.get("nexmo_proxy_redis_degraded{}"), Some(&0.0));
    redis.stop();
    let start = Instant::now();
    while ready(&app).await != (503, "down".to_string()) {
        assert!(start.elapsed() < Duration::from_secs(10), "never unready");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    // A request Redis cannot decide starts the degraded time.
    assert_eq!(app.get(send).await.status, 503);
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    let m = metrics().await;
    assert_eq!(m.get("nexmo_proxy_redis_degraded{}"), Some(&1.0));
    let down_for = m["nexmo_proxy_redis_degraded_seconds_total{}"];
    assert!(down_for >= 0.3, "{down_for}");
    assert_eq!(m.get(used), None, "no stale budget while Redis is down");
    redis.restart();
    let start = Instant::now();
    while ready(&app).await != (200, "up".to_string()) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "never ready again"
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    // The next request past the breaker's wait ends the outage.
    let start = Instant::now();
    while app.get(send).await.status != 200 {
        assert!(start.elapsed() < Duration::from_secs(10), "never sends");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    let m = metrics().await;
    assert_eq!(m.get("nexmo_proxy_redis_degraded{}"), Some(&0.0));
    assert!(m["nexmo_proxy_redis_degraded_seconds_total{}"] > down_for);
}

/// Every sample of the scrape, by metric name and labels.
fn scrape(text: &str) -> HashMap<String, f64> {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let parsed = prometheus_parse::Scrape::parse(lines).expect("Prometheus text");
    let mut out = HashMap::new();
    for s in parsed.samples {
        let value = match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => continue,
        };
        let mut labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        labels.sort();
        out.insert(format!("{}{{{}}}", s.metric, labels.join(",")), value);
    }
    out
}

#[actix_web::test]
async fn metrics_move_by_exactly_what_happened() {
    let fake = FakeNexmo::start();
    let app = TestApp::spawn(&config(&fake, ""));
    let before = scrape(&app.admin_get("/metrics").await.1);
    let get = |k: &str, m: &HashMap<String, f64>| m.get(k).copied().unwrap_or(0.0);
    // Two sends (the second past the shadow rule), one refused by the
    // enforcing rule; a believed receipt; a refused one; an unknown path;
    // a reload.
    let a = app.get("/m/?receiver=%2B4917612345678").await.json();
    assert_eq!(a["status"], "ok");
    let ids: Vec<String> = a["message_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().into())
        .collect();
    assert_eq!(
        app.get("/m/?receiver=%2B4917612345679").await.json()["status"],
        "ok"
    );
    assert_eq!(
        app.get("/m/?receiver=%2B4917612345670").await.json()["error"],
        "limit_acceded"
    );
    let receipt = format!(
        "/dlr/?msisdn=4917612345678&messageId={}&status=delivered&api-key={API_KEY}",
        ids[0]
    );
    assert_eq!(app.get(&receipt).await.status, 200);
    assert_eq!(
        app.get("/dlr/?msisdn=1&messageId=x&status=sent")
            .await
            .status,
        401
    );
    assert_eq!(app.get("/nowhere/12345678").await.status, 404);
    let toml = std::fs::read_to_string(&app.config).unwrap();
    std::fs::write(&app.config, format!("{toml}\n[limits]\nipv6_prefix = 56\n")).unwrap();
    assert!(app.wait_for_log("applied configuration generation 2"));
    let (_, text) = app.admin_get("/metrics").await;
    let after = scrape(&text);
    let moved = |k: &str| get(k, &after) - get(k, &before);
    assert_eq!(
        moved("nexmo_proxy_requests_total{code=ok,endpoint=/m/}"),
        2.0,
        "{text}"
    );
    assert_eq!(
        moved("nexmo_proxy_requests_total{code=limit_acceded,endpoint=/m/}"),
        1.0
    );
    assert_eq!(
        moved("nexmo_proxy_requests_total{code=ok,endpoint=/dlr/}"),
        1.0
    );
    assert_eq!(
        moved("nexmo_proxy_requests_total{code=unauthorized,endpoint=/dlr/}"),
        1.0
    );
    assert_eq!(
        moved("nexmo_proxy_requests_total{code=not_found,endpoint=other}"),
        1.0
    );
    assert_eq!(
        moved("nexmo_proxy_sms_parts_total{country=DE,endpoint=/m/}"),
        2.0
    );
    assert_eq!(moved("nexmo_proxy_nexmo_replies_total{status=0}"), 2.0);
    let shadow =
        "nexmo_proxy_limit_refusals_total{endpoint=/m/,mode=shadow,rule=limit 1 per ip per 3600s}";
    let enforce =
        "nexmo_proxy_limit_refusals_total{endpoint=/m/,mode=enforce,rule=limit 2 per ip per 3600s}";
    assert_eq!(moved(shadow), 1.0, "{text}");
    assert_eq!(moved(enforce), 1.0, "{text}");
    assert_eq!(
        moved("nexmo_proxy_receipts_total{country=DE,status=delivered}"),
        1.0
    );
    assert_eq!(moved("nexmo_proxy_reloads_total{result=applied}"), 1.0);
    assert_eq!(get("nexmo_proxy_config_generation{}", &after), 2.0);
    assert_eq!(get("nexmo_proxy_build_info{version=0.1.0}", &after), 1.0);
    assert!(get("nexmo_proxy_limiter_keys{}", &after) >= 2.0);
    for (country, used, left) in [("all", 2.0, 98.0), ("DE", 2.0, 48.0)] {
        let labels = format!("{{country={country},endpoint=/m/}}");
        assert_eq!(
            get(&format!("nexmo_proxy_budget_used_parts{labels}"), &after),
            used
        );
        let remaining = format!("nexmo_proxy_budget_remaining_parts{labels}");
        assert_eq!(get(&remaining, &after), left, "{text}");
    }
    // No label carries a number or an address: no run of 5 digits, no
    // client address, no masked number.
    for key in after.keys() {
        for bad in ["127.0.0.1", "+49", "****"] {
            assert!(!key.contains(bad), "{key}");
        }
        let longest = key
            .split(|c: char| !c.is_ascii_digit())
            .map(str::len)
            .max()
            .unwrap_or(0);
        assert!(longest <= 4, "{key}");
    }
}

#[actix_web::test]
async fn the_access_log_has_a_line_per_request_with_the_receiver_masked() {
    let fake = FakeNexmo::start();
    let app = TestApp::spawn(&config(&fake, ""));
    assert_eq!(
        app.get("/m/?receiver=%2B4917612345678").await.json()["status"],
        "ok"
    );
    let a = app
        .get_with(
            "/validate_number/?number=x",
            &[("x-forwarded-for", "203.0.113.9")],
        )
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(
        app.get("/nowhere/?receiver=%2B4917612345678").await.status,
        404
    );
    assert!(app.wait_for_logs("nexmo_proxy::access]", 3));
    let logs = app.logs();
    let access: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("nexmo_proxy::access]"))
        .collect();
    assert_eq!(access.len(), 3, "{access:?}");
    assert!(
        access[0].contains("GET /m/ ok +49176****5678 127.0.0.1 "),
        "{}",
        access[0]
    );
    // Not from a trusted proxy: the header is not believed.
    assert!(
        access[1].contains("GET /validate_number/ ok - 127.0.0.1 "),
        "{}",
        access[1]
    );
    assert!(
        access[2].contains("GET other not_found - - "),
        "{}",
        access[2]
    );
    assert!(!logs.contains("12345678"));
}
