//! Limits hold exactly: in-process, through a private Redis, and across
//! three proxy instances sharing that Redis (limits and budgets).

use crate::common::{FakeNexmo, Redis, TestApp, API_KEY, API_SECRET};
use futures_util::future::join_all;
use std::time::{Duration, Instant};

fn toml(fake: &FakeNexmo, redis: Option<&Redis>, limits: &str) -> String {
    // A generous timeout: these tests count admissions under bursts on a
    // small machine, not how a slow Redis is answered.
    let redis = redis
        .map(|r| format!("[redis]\nurl = \"{}\"\ntimeout = \"5s\"\n", r.url()))
        .unwrap_or_default();
    format!(
        r#"
{redis}
# Bursts from one address: not held back by requests in progress.
[server]
max_connections_per_ip = 1000
[nexmo]
api_key = "{API_KEY}"
api_secret = "{API_SECRET}"
url = "{}"
[validation]
limits = {limits}
[[endpoint]]
path = "/message/"
sender = "Acme"
message = "hi"
limits = {limits}
[[endpoint]]
path = "/other/"
sender = "Acme"
message = "hi"
limits = {limits}
"#,
        fake.sms_url()
    )
}

/// Fires `n` requests at once and counts the answers that were not limited.
async fn burst(app: &TestApp, path: &str, n: usize) -> usize {
    let answers = join_all((0..n).map(|_| app.get(path))).await;
    answers
        .iter()
        .filter(|a| {
            let j = a.json();
            assert_eq!(a.status, 200, "{}", a.body);
            j["error"] != "limit_acceded"
        })
        .count()
}

const TEN_PER_HOUR: &str = r#"[{ per = "ip", max = 10, window = "1h" }]"#;

#[actix_web::test]
async fn two_hundred_concurrent_requests_admit_exactly_ten_in_process() {
    let fake = FakeNexmo::start();
    let app = TestApp::spawn(&toml(&fake, None, TEN_PER_HOUR));
    assert!(app.logs().contains("limiter: in-process"));
    assert_eq!(burst(&app, "/validate_number/?number=1", 200).await, 10);
    assert_eq!(
        burst(&app, "/message/?receiver=%2B4917612345678", 200).await,
        10
    );
    assert_eq!(fake.received().await.len(), 10);
}

#[actix_web::test]
async fn two_hundred_concurrent_requests_admit_exactly_ten_through_redis() {
    let fake = FakeNexmo::start();
    let redis = Redis::start();
    let app = TestApp::spawn(&toml(&fake, Some(&redis), TEN_PER_HOUR));
    assert!(app.logs().contains("limiter: redis"));
    assert_eq!(
        burst(&app, "/message/?receiver=%2B4917612345678", 200).await,
        10
    );
    assert_eq!(fake.received().await.len(), 10);
    // Every key carries a TTL.
    let keys = redis.cli(&["--scan", "--pattern", "nexmo-proxy:*"]);
    assert!(!keys.is_empty());
    for key in keys.lines() {
        let ttl: i64 = redis.cli(&["PTTL", key]).parse().unwrap();
        assert!(ttl > 0, "{key} has no TTL ({ttl})");
    }
}

#[actix_web::test]
async fn a_redis_that_lost_its_scripts_is_sent_them_by_eval() {
    let fake = FakeNexmo::start();
    let redis = Redis::start();
    let app = TestApp::spawn(&toml(&fake, Some(&redis), TEN_PER_HOUR));
    let send = "/message/?receiver=%2B4917612345678";
    assert_eq!(app.get(send).await.json()["status"], "ok");
    // A restart, a flush or a promoted replica: the scripts are gone.
    redis.cli(&["SCRIPT", "FLUSH"]);
    redis.cli(&["CONFIG", "RESETSTAT"]);
    assert_eq!(app.get(send).await.json()["status"], "ok");
    let stats = redis.cli(&["INFO", "commandstats"]);
    // NOSCRIPT answered by the script itself (the limit's and the send
    // slot's), never by SCRIPT LOAD (which a cluster sends to every node).
    assert!(stats.contains("cmdstat_eval:calls=2,"), "{stats}");
    assert!(!stats.contains("cmdstat_script"), "{stats}");
    // And by its hash again after.
    assert_eq!(app.get(send).await.json()["status"], "ok");
    let stats = redis.cli(&["INFO", "commandstats"]);
    assert!(stats.contains("cmdstat_eval:calls=2,"), "{stats}");
    assert!(stats.contains("cmdstat_evalsha:calls=4,"), "{stats}");
}

#[actix_web::test]
async fn three_instances_sharing_redis_enforce_one_limit() {
    let fake = FakeNexmo::start();
    let redis = Redis::start();
    let config = toml(&fake, Some(&redis), TEN_PER_HOUR);
    let apps = [
        TestApp::spawn(&config),
        TestApp::spawn(&config),
        TestApp::spawn(&config),
    ];
    let path = "/message/?receiver=%2B4917612345678";
    // Round-robin, as a load balancer spreads them, all at once.
    let answers = join_all((0..300).map(|i| apps[i % 3].get(path))).await;
    let admitted = answers
        .iter()
        .filter(|x| x.json()["status"] == "ok")
        .count();
    assert_eq!(admitted, 10);
    assert_eq!(fake.received().await.len(), 10);
}

#[actix_web::test]
async fn three_instances_sharing_redis_spend_one_budget() {
    let fake = FakeNexmo::start();
    let redis = Redis::start();
    let config = toml(&fake, Some(&redis), "[]").replace(
        "path = \"/message/\"\n",
        "path = \"/message/\"\nbudget = { max_parts = 20, window = \"1h\" }\n",
    );
    assert!(config.contains("max_parts = 20"));
    let apps = [
        TestApp::spawn(&config),
        TestApp::spawn(&config),
        TestApp::spawn(&config),
    ];
    // 90 distinct receivers: only the budget stands in their way.
    let answers = join_all((0..90).map(|i| {
        let app = &apps[i % 3];
        async move {
            app.get(&format!("/message/?receiver=%2B4917612{:06}", 400_000 + i))
                .await
        }
    }))
    .await;
    let outcome = |a: &crate::common::Answer| {
        let j = a.json();
        j["error"].as_str().unwrap_or("ok").to_string()
    };
    let sent = answers.iter().filter(|a| outcome(a) == "ok").count();
    let exhausted = answers
        .iter()
        .filter(|a| outcome(a) == "budget_exhausted")
        .count();
    assert_eq!((sent, exhausted), (20, 70));
    assert_eq!(fake.received().await.len(), 20);
}

#[actix_web::test]
async fn endpoints_count_separately_unless_a_rule_is_global() {
    let fake = FakeNexmo::start();
    let app = TestApp::spawn(&toml(
        &fake,
        None,
        r#"[{ per = "ip", max = 2, window = "1h" }]"#,
    ));
    assert_eq!(
        burst(&app, "/message/?receiver=%2B4917612345678", 5).await,
        2
    );
    assert_eq!(burst(&app, "/other/?receiver=%2B4917612345678", 5).await, 2);
    let global = r#"[{ per = "ip", max = 3, window = "1h", scope = "global" }]"#;
    let app = TestApp::spawn(&toml(&fake, None, global));
    assert_eq!(
        burst(&app, "/message/?receiver=%2B4917612345678", 2).await,
        2
    );
    assert_eq!(burst(&app, "/other/?receiver=%2B4917612345678", 5).await, 1);
}

async fn number_rule_counts_only_sends(redis: Option<&Redis>) {
    let fake = FakeNexmo::start();
    let limits =
        r#"[{ per = "ip", max = 100, window = "1h" }, { per = "number", max = 2, window = "1h" }]"#;
    let app = TestApp::spawn(&toml(&fake, redis, limits));
    // Invalid receivers count against the ip rule but not against a number.
    for _ in 0..5 {
        assert_eq!(
            app.get("/message/?receiver=123").await.json()["error"],
            "receiver_validation"
        );
    }
    let ok = |a: &crate::common::Answer| a.json()["status"] == "ok";
    assert!(ok(&app.get("/message/?receiver=%2B4917612345678").await));
    assert!(
        ok(&app.get("/message/?receiver=0176%2012345678").await),
        "same number, other spelling"
    );
    let a = app.get("/message/?receiver=%2B49%20176%2012345678").await;
    assert_eq!(a.json()["error"], "limit_acceded");
    assert!(a.header("retry-after").is_some());
    // Another number has its own budget.
    assert!(ok(&app.get("/message/?receiver=%2B447400123456").await));
    assert_eq!(fake.received().await.len(), 3);
}

#[actix_web::test]
async fn number_rules_count_only_requests_that_reach_nexmo() {
    number_rule_counts_only_sends(None).await;
    let redis = Redis::start();
    number_rule_counts_only_sends(Some(&redis)).await;
}

async fn window_expires(redis: Option<&Redis>) {
    let fake = FakeNexmo::start();
    let app = TestApp::spawn(&toml(
        &fake,
        redis,
        r#"[{ per = "ip", max = 2, window = "700ms" }]"#,
    ));
    let start = Instant::now();
    assert_eq!(burst(&app, "/validate_number/?number=1", 5).await, 2);
    let a = app.get("/validate_number/?number=1").await;
    assert_eq!(a.header("retry-after"), Some("1"));
    // Poll until the window is over; it must open within its length.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if app.get("/validate_number/?number=1").await.json()["status"] == "ok" {
            break;
        }
        assert!(Instant::now() < deadline, "window never expired");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        start.elapsed() >= Duration::from_millis(650),
        "opened early: {:?}",
        start.elapsed()
    );
}

#[actix_web::test]
async fn a_window_expires_after_its_length() {
    window_expires(None).await;
    let redis = Redis::start();
    window_expires(Some(&redis)).await;
}

#[actix_web::test]
async fn legacy_redis_variables_select_the_redis_limiter() {
    let fake = FakeNexmo::start();
    let redis = Redis::start();
    let app = crate::common::Spawn::new(&toml(&fake, None, TEN_PER_HOUR))
        .env("REDIS_HOST", "127.0.0.1")
        .env("REDIS_PORT", &redis.port.to_string())
        .start()
        .unwrap();
    assert!(app.logs().contains("limiter: redis"));
    assert_eq!(burst(&app, "/validate_number/?number=1", 20).await, 10);
    assert!(!redis
        .cli(&["--scan", "--pattern", "nexmo-proxy:*"])
        .is_empty());
}

#[actix_web::test]
async fn a_shadow_rule_beside_an_enforcing_twin_has_its_own_counter_in_both_stores() {
    // Same per, window and scope: the README's "start new rules in shadow
    // mode" must not halve the enforcing rule.
    let rules = r#"[{ per = "ip", max = 3, window = "10m" }, { per = "ip", max = 1, window = "10m", mode = "shadow" }]"#;
    let fake = FakeNexmo::start();
    let redis = Redis::start();
    for store in [None, Some(&redis)] {
        let app = TestApp::spawn(&toml(&fake, store, rules));
        let mut answers = Vec::new();
        for _ in 0..4 {
            answers.push(app.get("/validate_number/?number=1").await.json());
        }
        let ok = answers.iter().filter(|a| a["status"] == "ok").count();
        assert_eq!(ok, 3, "redis: {}: {answers:?}", store.is_some());
        assert_eq!(answers[3]["error"], "limit_acceded");
        assert!(app.wait_for_log("shadow: would refuse on /validate_number/ limit 1 per ip"));
    }
}

#[actix_web::test]
async fn a_client_over_its_limit_is_refused_before_its_request_is_read() {
    let fake = FakeNexmo::start();
    let config = |max: u32| {
        format!(
            "{}[defaults]\nlimits = [{{ per = \"ip\", max = {max}, window = \"1h\" }}]\n\
             [[endpoint]]\npath = \"/m/\"\nsender = \"A\"\nmessage = \"x\"\n",
            crate::common::nexmo_table(&fake)
        )
    };
    let app = TestApp::spawn(&config(1));
    let m = "/m/?receiver=%2B4917612345678";
    assert_eq!(app.get(m).await.json()["status"], "ok");
    // Refused by the full decision (the receiver was read: the access line
    // names it), then remembered: refused before anything is read, with
    // the same answer, even for input that would not parse.
    for path in [m, m, "/m/?receiver=nonsense"] {
        let a = app.get(path).await;
        let j = a.json();
        assert_eq!(j["error"], "limit_acceded", "{j}");
        let retry: u64 = a.header("retry-after").unwrap().parse().unwrap();
        assert!((3590..=3600).contains(&retry), "{retry}");
        assert_eq!(j["retry_after"], retry);
    }
    assert!(app.wait_for_logs("nexmo_proxy::access]", 4));
    let access: Vec<String> = app
        .logs()
        .lines()
        .filter(|l| l.contains("nexmo_proxy::access]"))
        .map(str::to_string)
        .collect();
    assert!(
        access[1].contains("limit_acceded +49176****5678 "),
        "{access:?}"
    );
    assert!(access[2].contains("limit_acceded - "), "{access:?}");
    assert!(access[3].contains("limit_acceded - "), "{access:?}");
    assert_eq!(fake.received().await.len(), 1);
    // A reload that raises the max forgets what was remembered under the
    // old one; the counter itself carries on (1 of 3 used).
    std::fs::write(&app.config, config(3)).unwrap();
    assert!(app.wait_for_log("applied configuration generation 2"));
    assert_eq!(app.get(m).await.json()["status"], "ok");
    assert_eq!(app.get(m).await.json()["status"], "ok");
    assert_eq!(app.get(m).await.json()["error"], "limit_acceded");
    assert_eq!(fake.received().await.len(), 3);
}

#[actix_web::test]
async fn a_trusted_number_is_read_even_from_a_client_over_its_limit() {
    let fake = FakeNexmo::start();
    let app = TestApp::spawn(&format!(
        "{}[defaults]\nlimits = [{{ per = \"ip\", max = 1, window = \"1h\" }}]\n\
         trusted_numbers = [\"+4917699999999\"]\n\
         [[endpoint]]\npath = \"/m/\"\nsender = \"A\"\nmessage = \"x\"\n",
        crate::common::nexmo_table(&fake)
    ));
    let m = "/m/?receiver=%2B4917612345678";
    assert_eq!(app.get(m).await.json()["status"], "ok");
    assert_eq!(app.get(m).await.json()["error"], "limit_acceded");
    assert_eq!(app.get(m).await.json()["error"], "limit_acceded");
    let trusted = app.get("/m/?receiver=%2B4917699999999").await.json();
    assert_eq!(trusted["status"], "ok", "{trusted}");
}

/// A remembered refusal lasts as long as its own counter, not the longest
/// of the rules that refused beside it; and a global counter remembered
/// under one endpoint's `max` does not refuse another endpoint's larger one.
async fn remembered_refusals_are_the_counters_own(redis: Option<&Redis>) {
    let fake = FakeNexmo::start();
    let redis = redis
        .map(|r| format!("[redis]\nurl = \"{}\"\ntimeout = \"5s\"\n", r.url()))
        .unwrap_or_default();
    let app = TestApp::spawn(&format!(
        "{redis}{}[defaults]\nlimits = []\n\
         [[endpoint]]\npath = \"/m/\"\nsender = \"A\"\nmessage = \"x\"\n\
         limits = [{{ per = \"ip\", max = 1, window = \"1s\" }}, {{ per = \"number\", max = 1, window = \"1h\" }}]\n\
         [[endpoint]]\npath = \"/a/\"\nsender = \"A\"\nmessage = \"x\"\n\
         limits = [{{ per = \"ip\", max = 1, window = \"1h\", scope = \"global\" }}]\n\
         [[endpoint]]\npath = \"/b/\"\nsender = \"A\"\nmessage = \"x\"\n\
         limits = [{{ per = \"ip\", max = 5, window = \"1h\", scope = \"global\" }}]\n",
        crate::common::nexmo_table(&fake)
    ));
    let to = |n: u32| format!("/m/?receiver=%2B49176123456{n:02}");
    assert_eq!(app.get(&to(1)).await.json()["status"], "ok");
    // Both rules refuse: the answer waits for the longer (the number's
    // hour), the client's own counter ends within the second.
    let a = app.get(&to(1)).await.json();
    assert_eq!(a["error"], "limit_acceded");
    assert!(a["retry_after"].as_u64().unwrap() > 3000, "{a}");
    let start = std::time::Instant::now();
    loop {
        let a = app.get(&to(2)).await.json();
        if a["status"] == "ok" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "still refused: {a}"
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    // One global counter, two maxima: refused at 1 on /a/, admitted on /b/.
    assert_eq!(
        app.get("/a/?receiver=%2B4917612345603").await.json()["status"],
        "ok"
    );
    for _ in 0..2 {
        let a = app.get("/a/?receiver=%2B4917612345604").await.json();
        assert_eq!(a["error"], "limit_acceded", "{a}");
    }
    let b = app.get("/b/?receiver=%2B4917612345605").await.json();
    assert_eq!(b["status"], "ok", "{b}");
}

#[actix_web::test]
async fn remembered_refusals_are_the_counters_own_in_process() {
    remembered_refusals_are_the_counters_own(None).await;
}

#[actix_web::test]
async fn remembered_refusals_are_the_counters_own_through_redis() {
    let redis = Redis::start();
    remembered_refusals_are_the_counters_own(Some(&redis)).await;
}
