//! Abuse and cost protection against a real Redis and the real
//! `fake-nexmo`: destination policy, layered limits under attack, budgets,
//! shadow mode, and the answer when Redis fails.

use crate::common::{leaks, FakeNexmo, Redis, TestApp, API_SECRET};
use futures_util::future::join_all;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn nexmo(fake: &FakeNexmo) -> String {
    crate::common::nexmo_table(fake)
}

fn redis_table(redis: &Redis, extra: &str) -> String {
    format!("[redis]\nurl = \"{}\"\n{extra}\n", redis.url())
}

async fn sent_to(fake: &FakeNexmo) -> Vec<String> {
    fake.received()
        .await
        .iter()
        .map(|r| r["params"]["to"].as_str().unwrap().to_string())
        .collect()
}

#[actix_web::test]
async fn destination_rules_refuse_or_admit_as_documented() {
    let fake = FakeNexmo::start();
    let toml = format!(
        r#"{}
[defaults]
allowed_countries = ["DE", "AT", "GB"]
denied_countries = ["AT"]
denied_prefixes = ["+49151"]
number_types = ["mobile"]
trusted_numbers = ["+4917699999999", "+33612345678"]
limits = [{{ per = "number", max = 1, window = "1h" }}]
[[endpoint]]
path = "/message/"
sender = "Acme"
message = "hi"
"#,
        nexmo(&fake)
    );
    let app = TestApp::spawn(&toml);
    let cases: &[(&str, Value)] = &[
        ("%2B4917612345678", json!({"status": "ok"})),
        ("%2B447400123456", json!({"status": "ok"})),
        (
            "%2B33612345678",
            json!({"error": "receiver_not_allowed", "reason": "country"}),
        ),
        (
            "%2B436641234567",
            json!({"error": "receiver_not_allowed", "reason": "country"}),
        ),
        (
            "%2B4915112345678",
            json!({"error": "receiver_not_allowed", "reason": "prefix"}),
        ),
        (
            "%2B493012345678",
            json!({"error": "receiver_not_allowed", "reason": "type"}),
        ),
        (
            "%2B499001234567",
            json!({"error": "receiver_not_allowed", "reason": "type"}),
        ),
        (
            "%2B498001234567",
            json!({"error": "receiver_not_allowed", "reason": "type"}),
        ),
    ];
    for (receiver, want) in cases {
        let a = app
            .get(&format!("/message/?receiver={receiver}&callback=cb"))
            .await
            .jsonp("cb");
        for (k, v) in want.as_object().unwrap() {
            assert_eq!(&a[k], v, "{receiver}: {a}");
        }
    }
    // A trusted number bypasses limits (max 1 per number) ...
    for _ in 0..3 {
        assert_eq!(
            app.get("/message/?receiver=%2B4917699999999").await.json()["status"],
            "ok"
        );
    }
    // ... while an untrusted one is held to them ...
    assert_eq!(
        app.get("/message/?receiver=%2B4917612345678").await.json()["error"],
        "limit_acceded"
    );
    // ... and a trusted number never bypasses the country rules.
    assert_eq!(
        app.get("/message/?receiver=%2B33612345678").await.json()["reason"],
        "country"
    );
    let sent = sent_to(&fake).await;
    assert_eq!(
        sent,
        [
            "4917612345678",
            "447400123456",
            "4917699999999",
            "4917699999999",
            "4917699999999"
        ]
    );
}

/// 500 requests at once, each from its own forwarded client address.
async fn attack(app: &TestApp, path: &str, number: impl Fn(usize) -> String) -> Vec<Value> {
    let requests = (0..500).map(|i| {
        let ip = format!("198.18.{}.{}", i / 250, i % 250 + 1);
        let url = format!("{path}?receiver={}", number(i));
        async move {
            app.get_with(&url, &[("x-forwarded-for", ip.as_str())])
                .await
                .json()
        }
    });
    join_all(requests).await
}

#[actix_web::test]
async fn an_attack_from_500_addresses_is_held_to_the_prefix_number_and_budget_limits() {
    let fake = FakeNexmo::start();
    let redis = Redis::start();
    let toml = format!(
        r#"{}{}
[server]
trusted_proxies = ["127.0.0.1"]
[defaults]
allowed_countries = ["DE"]
limits = [
  {{ per = "ip", max = 5, window = "1h" }},
  {{ per = "prefix", digits = 4, max = 5, window = "1h" }},
  {{ per = "number", max = 3, window = "1d" }},
]
[[endpoint]]
path = "/pump/"
sender = "Acme"
message = "hi"
[[endpoint]]
path = "/bomb/"
sender = "Acme"
message = "hi"
[[endpoint]]
path = "/spread/"
sender = "Acme"
message = "hi"
budget = {{ max_parts = 7, window = "1d" }}
"#,
        // 1,500 requests at once on a small machine: a generous timeout,
        // as this test is about the limits, not about a slow Redis.
        redis_table(&redis, "timeout = \"5s\""),
        nexmo(&fake)
    );
    let app = TestApp::spawn(&toml);
    // SMS pumping: one number range (+49 176 1234 xxxx), 500 addresses.
    let answers = attack(&app, "/pump/", |i| format!("%2B4917612340{i:03}")).await;
    let ok = answers.iter().filter(|a| a["status"] == "ok").count();
    assert_eq!(ok, 5, "prefix limit");
    assert!(answers
        .iter()
        .all(|a| a["status"] == "ok" || a["error"] == "limit_acceded"));
    // SMS bombing: one victim, 500 addresses.
    let answers = attack(&app, "/bomb/", |_| "%2B4917655555555".to_string()).await;
    assert_eq!(
        answers.iter().filter(|a| a["status"] == "ok").count(),
        3,
        "number limit"
    );
    // Spread over many ranges: only the budget (7 parts a day) holds it.
    let answers = attack(&app, "/spread/", |i| format!("%2B49176{i:04}5678")).await;
    assert_eq!(
        answers.iter().filter(|a| a["status"] == "ok").count(),
        7,
        "budget"
    );
    assert!(answers.iter().any(|a| a["error"] == "budget_exhausted"));
    assert_eq!(
        fake.received().await.len(),
        5 + 3 + 7,
        "exactly the configured maxima reached Nexmo"
    );
    // The exhausted budget is logged once per window, not once per request.
    assert!(app.wait_for_log("budget exhausted on /spread/"));
    assert_eq!(
        app.logs().matches("budget exhausted on /spread/").count(),
        1
    );
    // Redis keys hold hashes, never the numbers.
    let keys = redis.cli(&["--scan", "--pattern", "nexmo-proxy:*"]);
    assert!(keys.contains(":number:"), "{keys}");
    assert!(
        !keys.contains("4917655555555") && !keys.contains("491761234"),
        "{keys}"
    );
}

#[actix_web::test]
async fn budgets_count_parts_and_are_released_when_nexmo_refuses() {
    let fake = FakeNexmo::start();
    let long = "x".repeat(200); // two parts
    let toml = format!(
        r#"{}
[defaults]
limits = []
[[endpoint]]
path = "/long/"
sender = "Acme"
message = "{long}"
budget = {{ max_parts = 5, window = "1h" }}
[endpoint.country_budgets]
GB = 2
"#,
        nexmo(&fake)
    );
    let app = TestApp::spawn(&toml);
    // Nexmo refuses (magic number, status 9): nothing stays reserved.
    for _ in 0..4 {
        assert_eq!(
            app.get("/long/?receiver=%2B4917600000009").await.json()["error"],
            "nexmo_error"
        );
    }
    assert_eq!(
        app.get("/long/?receiver=%2B4917612345678").await.json()["parts"],
        2
    );
    assert_eq!(
        app.get("/long/?receiver=%2B4917612345678").await.json()["parts"],
        2
    );
    // 4 of 5 parts used: a 2-part message does not fit.
    assert_eq!(
        app.get("/long/?receiver=%2B4917612345678").await.json()["error"],
        "budget_exhausted"
    );
    let app2 = TestApp::spawn(&toml);
    assert_eq!(
        app2.get("/long/?receiver=%2B447400123456").await.json()["status"],
        "ok"
    );
    assert_eq!(
        app2.get("/long/?receiver=%2B447400123456").await.json()["error"],
        "budget_exhausted",
        "GB budget of 2 parts"
    );
    assert_eq!(
        app2.get("/long/?receiver=%2B4917612345678").await.json()["status"],
        "ok",
        "DE is not held by the GB budget"
    );
}

#[actix_web::test]
async fn ip_countries_limits_distinct_destination_countries_per_address() {
    let fake = FakeNexmo::start();
    let toml = format!(
        "{}\n[defaults]\nlimits = [{{ per = \"ip_countries\", max = 2, window = \"1h\" }}]\n[[endpoint]]\npath = \"/m/\"\nsender = \"A\"\nmessage = \"x\"\n",
        nexmo(&fake)
    );
    let app = TestApp::spawn(&toml);
    for r in ["%2B4917612345678", "%2B447400123456", "%2B4917611111111"] {
        assert_eq!(
            app.get(&format!("/m/?receiver={r}")).await.json()["status"],
            "ok",
            "{r}"
        );
    }
    assert_eq!(
        app.get("/m/?receiver=%2B33612345678").await.json()["error"],
        "limit_acceded",
        "a third country"
    );
}

#[actix_web::test]
async fn shadow_mode_admits_and_counts() {
    let fake = FakeNexmo::start();
    let toml = format!(
        r#"{}
[defaults]
allowed_countries = ["DE"]
destination_mode = "shadow"
limits = [{{ per = "ip", max = 1, window = "1h", mode = "shadow" }}]
[[endpoint]]
path = "/m/"
sender = "A"
message = "x"
budget = {{ max_parts = 1, window = "1h", mode = "shadow" }}
"#,
        nexmo(&fake)
    );
    // Each "would refuse" after the first of its kind is at debug level.
    let app = crate::common::Spawn::new(&toml)
        .env("RUST_LOG", "debug")
        .start()
        .unwrap();
    for _ in 0..3 {
        assert_eq!(
            app.get("/m/?receiver=%2B33612345678").await.json()["status"],
            "ok"
        );
    }
    assert_eq!(fake.received().await.len(), 3);
    // The lines are read from the proxy's stderr as it writes them.
    for (needle, n) in [
        ("shadow: would refuse on /m/ destination country", 3),
        ("shadow: would refuse on /m/ limit 1 per ip", 2),
        ("shadow: would refuse on /m/ budget", 2),
    ] {
        assert!(app.wait_for_logs(needle, n), "{needle}: {}", app.logs());
    }
    let logs = app.logs();
    assert_eq!(
        logs.matches("shadow: would refuse on /m/ destination country")
            .count(),
        3,
        "{logs}"
    );
    assert_eq!(
        logs.matches("shadow: would refuse on /m/ limit 1 per ip")
            .count(),
        2,
        "{logs}"
    );
    assert_eq!(
        logs.matches("shadow: would refuse on /m/ budget").count(),
        2,
        "{logs}"
    );
}

/// Sends `n` requests one after another; returns the answers and the slowest.
async fn run(app: &TestApp, path: &str, n: usize) -> (Vec<(u16, Value)>, Duration) {
    let mut out = Vec::new();
    let mut slowest = Duration::ZERO;
    for _ in 0..n {
        let t = Instant::now();
        let a = app.get(path).await;
        slowest = slowest.max(t.elapsed());
        out.push((a.status, a.json()));
    }
    (out, slowest)
}

async fn redis_failure(on_error: &str) {
    let fake = FakeNexmo::start();
    let mut redis = Redis::start();
    let toml = format!(
        "{}{}\n[defaults]\nlimits = [{{ per = \"ip\", max = 3, window = \"1h\" }}]\non_redis_error = \"{on_error}\"\n[[endpoint]]\npath = \"/m/\"\nsender = \"A\"\nmessage = \"x\"\n",
        redis_table(&redis, "timeout = \"250ms\""),
        nexmo(&fake)
    );
    let app = TestApp::spawn(&toml);
    let m = "/m/?receiver=%2B4917612345678";
    assert_eq!(app.get(m).await.json()["status"], "ok");
    redis.stop();
    // The timeout is 250 ms and a refused connection fails at once; the
    // margin is for a loaded machine, far below what a hang would take.
    let limit = Duration::from_secs(1);
    let (answers, slowest) = run(&app, m, 6).await;
    assert!(
        slowest < limit,
        "{on_error}: a request took {slowest:?} with Redis down"
    );
    let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
    let results: Vec<&str> = answers
        .iter()
        .map(|(_, j)| {
            j["error"]
                .as_str()
                .unwrap_or_else(|| j["status"].as_str().unwrap())
        })
        .collect();
    match on_error {
        "deny" => {
            assert_eq!(statuses, [503; 6]);
            assert_eq!(results, ["service_unavailable"; 6]);
        }
        "allow" => assert_eq!(results, ["ok"; 6]),
        "local" => assert_eq!(
            results,
            [
                "ok",
                "ok",
                "ok",
                "limit_acceded",
                "limit_acceded",
                "limit_acceded"
            ]
        ),
        _ => unreachable!(),
    }
    // Validation fails open by default.
    assert_eq!(
        app.get("/validate_number/?number=1").await.json()["status"],
        "ok"
    );
    assert!(app.wait_for_log("redis limiter failed"));
    assert_eq!(
        app.logs().matches("redis limiter failed").count(),
        1,
        "the change of state is logged once"
    );

    // Back soon after Redis comes back: one probe every 500 ms (README);
    // the margin is for a loaded machine.
    redis.restart();
    let back = Instant::now();
    loop {
        let a = app.get(m).await;
        let (status, j) = (a.status, a.json());
        if status == 200 && j["status"] == "ok" && app.logs().contains("redis limiter is back") {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(2),
            "{on_error}: not back after {:?}: {j}",
            back.elapsed()
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!app.logs().contains("500 Internal"));
}

#[actix_web::test]
async fn redis_down_with_on_error_deny_answers_503_fast_and_recovers() {
    redis_failure("deny").await;
}

#[actix_web::test]
async fn redis_down_with_on_error_allow_admits_and_recovers() {
    redis_failure("allow").await;
}

#[actix_web::test]
async fn redis_down_with_on_error_local_counts_in_process_and_recovers() {
    redis_failure("local").await;
}

#[actix_web::test]
async fn a_hanging_redis_is_cut_off_at_the_timeout() {
    let fake = FakeNexmo::start();
    let redis = Redis::start();
    let toml = format!(
        "{}{}\n[defaults]\nlimits = [{{ per = \"ip\", max = 100, window = \"1h\" }}]\n[[endpoint]]\npath = \"/m/\"\nsender = \"A\"\nmessage = \"x\"\n",
        redis_table(&redis, "timeout = \"250ms\""),
        nexmo(&fake)
    );
    let app = TestApp::spawn(&toml);
    assert_eq!(
        app.get("/m/?receiver=%2B4917612345678").await.json()["status"],
        "ok"
    );
    // Block the server for 3 s from another client.
    let port = redis.port.to_string();
    let sleeper = std::thread::spawn(move || {
        std::process::Command::new("redis-cli")
            .args(["-p", &port, "DEBUG", "SLEEP", "3"])
            .output()
    });
    let start = Instant::now();
    while redis.ping_within(Duration::from_millis(50)) {
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "DEBUG SLEEP never blocked redis"
        );
    }
    let (answers, slowest) = run(&app, "/m/?receiver=%2B4917612345678", 3).await;
    // Cut at the 250 ms timeout, not held for the 3 s sleep (the margin
    // is for a loaded machine).
    assert!(slowest < Duration::from_millis(1500), "{slowest:?}");
    assert!(
        answers
            .iter()
            .all(|(s, j)| *s == 503 && j["error"] == "service_unavailable"),
        "{answers:?}"
    );
    sleeper.join().unwrap().unwrap();
}

#[test]
fn the_log_check_catches_unmasked_numbers_and_secrets() {
    assert!(leaks("sent 1 part(s) to +49 176 ****5678 via /m/").is_empty());
    assert!(
        leaks("[2026-11-26T14:12:32.203Z INFO] listening on http://127.0.0.1:38459").is_empty()
    );
    assert_eq!(leaks("sent to +49 176 12345678").len(), 1);
    assert_eq!(leaks("to=4917612345678").len(), 1);
    assert_eq!(leaks(&format!("secret {API_SECRET}")).len(), 1);
}

#[actix_web::test]
async fn ipv6_clients_are_counted_per_64() {
    let app = TestApp::spawn(
        "[server]\ntrusted_proxies = [\"127.0.0.1\"]\n[validation]\nlimits = [{ per = \"ip\", max = 2, window = \"1h\" }]\n",
    );
    let app = &app;
    let from = |ip: &'static str| async move {
        app.get_with("/validate_number/?number=1", &[("x-forwarded-for", ip)])
            .await
    };
    assert_eq!(from("2001:db8:1:2::1").await.json()["status"], "ok");
    assert_eq!(
        from("2001:db8:1:2:ffff:ffff:ffff:ffff").await.json()["status"],
        "ok"
    );
    // A third address in the same /64 shares the budget ...
    assert_eq!(
        from("2001:db8:1:2::abcd").await.json()["error"],
        "limit_acceded"
    );
    // ... another /64 has its own.
    assert_eq!(from("2001:db8:1:3::1").await.json()["status"], "ok");
    // IPv4 is counted per address.
    assert_eq!(from("198.51.100.1").await.json()["status"], "ok");
    assert_eq!(from("198.51.100.2").await.json()["status"], "ok");
}

#[actix_web::test]
async fn a_partly_accepted_message_keeps_its_budget_reservation() {
    let fake = FakeNexmo::start();
    let toml = format!(
        "{}\n[defaults]\nlimits = []\n[[endpoint]]\npath = \"/m/\"\nsender = \"A\"\nmessage = \"x\"\nbudget = {{ max_parts = 2, window = \"1h\" }}\n",
        nexmo(&fake)
    );
    let app = TestApp::spawn(&toml);
    // `…96` answers one accepted part and one throttled part: billed, so the
    // reservation stays; a second such message exhausts the budget of 2.
    assert_eq!(
        app.get("/m/?receiver=%2B4917600000096").await.json()["error"],
        "nexmo_error"
    );
    assert_eq!(
        app.get("/m/?receiver=%2B4917600000096").await.json()["error"],
        "nexmo_error"
    );
    assert_eq!(
        app.get("/m/?receiver=%2B4917612345678").await.json()["error"],
        "budget_exhausted"
    );
}

#[actix_web::test]
async fn a_send_whose_outcome_is_unknown_keeps_its_budget_reservation() {
    // `…95` answers after 3 s, `…92` with HTTP 500: Nexmo may have sent
    // either, so neither gives its part back; a refusal with a status does.
    let fake = FakeNexmo::start_with(&["--slow-ms", "3000"]);
    let toml = format!(
        "{}timeout = \"300ms\"\n[defaults]\nlimits = []\n[[endpoint]]\npath = \"/m/\"\nsender = \"A\"\nmessage = \"x\"\nbudget = {{ max_parts = 2, window = \"1h\" }}\n",
        nexmo(&fake)
    );
    let app = TestApp::spawn(&toml);
    for refused in ["%2B4917600000009", "%2B4917600000004"] {
        let a = app.get(&format!("/m/?receiver={refused}")).await.json();
        assert!(a["nexmo_status"].is_string(), "{a}");
    }
    for unknown in ["%2B4917600000095", "%2B4917600000092"] {
        let a = app.get(&format!("/m/?receiver={unknown}")).await.json();
        assert_eq!(a["error"], "nexmo_error", "{a}");
        assert!(a.get("nexmo_status").is_none(), "{a}");
    }
    assert_eq!(
        app.get("/m/?receiver=%2B4917612345678").await.json()["error"],
        "budget_exhausted",
        "the two unknown outcomes hold the budget of 2"
    );
    assert_eq!(fake.received().await.len(), 4);
}

#[actix_web::test]
async fn a_half_open_breaker_lets_exactly_one_request_probe_redis() {
    let fake = FakeNexmo::start();
    let redis = Redis::start();
    let toml = format!(
        "{}{}\n[defaults]\nlimits = [{{ per = \"ip\", max = 100, window = \"1h\" }}]\n[[endpoint]]\npath = \"/m/\"\nsender = \"A\"\nmessage = \"x\"\n",
        redis_table(&redis, "timeout = \"1s\""),
        nexmo(&fake)
    );
    let app = TestApp::spawn(&toml);
    let m = "/m/?receiver=%2B4917612345678";
    assert_eq!(app.get(m).await.json()["status"], "ok");
    // Redis hangs for 4 s (the steps below take about 2.7 s): one request
    // times out and opens the breaker.
    let port = redis.port.to_string();
    let sleeper = std::thread::spawn(move || {
        std::process::Command::new("redis-cli")
            .args(["-p", &port, "DEBUG", "SLEEP", "4"])
            .output()
    });
    let start = Instant::now();
    while redis.ping_within(Duration::from_millis(50)) {
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "DEBUG SLEEP never blocked redis"
        );
    }
    assert_eq!(app.get(m).await.status, 503);
    // Past the 500 ms open interval, eight clients at once: one probes (and
    // waits the 1 s timeout), the other seven are answered at once.
    actix_web::rt::time::sleep(Duration::from_millis(600)).await;
    let timed = futures_util::future::join_all((0..8).map(|_| async {
        let t = Instant::now();
        let a = app.get(m).await;
        (a.status, t.elapsed())
    }))
    .await;
    assert!(timed.iter().all(|(s, _)| *s == 503), "{timed:?}");
    let waited = timed
        .iter()
        .filter(|(_, t)| *t >= Duration::from_millis(900))
        .count();
    assert_eq!(waited, 1, "{timed:?}");
    sleeper.join().unwrap().unwrap();
}

#[actix_web::test]
async fn a_flood_of_refused_requests_logs_a_line_per_interval_not_per_request() {
    // Bursts of 100 from one address: not held back by requests in progress.
    // The access log (a line per request by design) is silenced as an
    // operator would under a flood.
    let app = crate::common::Spawn::new(
        "[server]\nmax_connections_per_ip = 1000\n[validation]\nlimits = [{ per = \"ip\", max = 1, window = \"1h\" }]\n",
    )
    .env("RUST_LOG", "info,nexmo_proxy::access=off")
    .start()
    .unwrap();
    let mut refused = 0;
    for _ in 0..100 {
        let answers = join_all((0..100).map(|_| app.get("/validate_number/?number=1"))).await;
        refused += answers
            .iter()
            .filter(|a| a.json()["error"] == "limit_acceded")
            .count();
    }
    assert_eq!(refused, 9_999);
    let lines = app.logs().lines().count();
    let limit_lines = app
        .logs()
        .matches("limit reached on /validate_number/")
        .count();
    // One line per 10 s interval (and a summary per interval after it).
    assert!((1..=6).contains(&limit_lines), "{limit_lines} lines");
    assert!(lines < 40, "{lines} log lines for 10,000 requests");
}
