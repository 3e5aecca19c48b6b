//! Faults under load: Nexmo's reply lost in every way the fake can lose
//! it, Redis frozen (`SIGSTOP`) and restarted while requests run, and the
//! configuration file replaced by garbage while requests run. For each:
//! no 500, no request held past its documented bound, the documented
//! answer, never two SMS for one accepted request nor one for a refused
//! request (counted at `fake-nexmo`), and no budget given back for a send
//! whose outcome is unknown.

use crate::common::{nexmo_table, FakeNexmo, Redis, TestApp};
use futures_util::future::join_all;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The receivers `fake-nexmo` received, with how often each.
async fn sends_by_receiver(fake: &FakeNexmo) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for r in fake.received().await {
        let to = r["params"]["to"].as_str().unwrap_or("").to_string();
        *counts.entry(to).or_insert(0) += 1;
    }
    counts
}

/// `+49176123NNNNN`, a distinct valid number per `i`.
fn number(i: usize) -> String {
    format!("4917612{:06}", 300_000 + i)
}

#[actix_web::test]
async fn a_lost_reply_is_sent_once_and_keeps_its_budget() {
    // Nexmo may have sent each of these: slow past the timeout (95), HTTP
    // 500 (92), HTML (93), JSON without messages (94), JSON cut off (97),
    // the connection closed mid-reply (98).
    let fake = FakeNexmo::start_with(&["--slow-ms", "2000"]);
    let toml = format!(
        "{}timeout = \"500ms\"\n[defaults]\nlimits = []\n[[endpoint]]\npath = \"/m/\"\n\
         sender = \"A\"\nmessage = \"x\"\nbudget = {{ max_parts = 6, window = \"1h\" }}\n",
        nexmo_table(&fake)
    );
    let app = TestApp::spawn(&toml);
    let lost = ["95", "92", "93", "94", "97", "98"];
    for magic in lost {
        let started = Instant::now();
        let a = app
            .get(&format!("/m/?receiver=%2B49176000000{magic}"))
            .await;
        // One attempt (no retry of an unknown outcome), cut at the timeout.
        assert!(started.elapsed() < Duration::from_millis(1500), "{magic}");
        assert_eq!(a.status, 200, "{magic}: {}", a.body);
        let j = a.json();
        assert_eq!(j["error"], "nexmo_error", "{magic}: {j}");
        assert!(j.get("nexmo_status").is_none(), "{magic}: {j}");
    }
    let sends = sends_by_receiver(&fake).await;
    assert_eq!(sends.len(), lost.len(), "{sends:?}");
    assert!(sends.values().all(|n| *n == 1), "sent twice: {sends:?}");
    // Six unknown outcomes hold the whole budget of six.
    let a = app.get("/m/?receiver=%2B4917612345678").await.json();
    assert_eq!(a["error"], "budget_exhausted", "{a}\n{}", app.logs());
    assert_eq!(fake.received().await.len(), lost.len());
    assert!(!app.logs().contains("panicked"), "{}", app.logs());
}

fn redis_config(fake: &FakeNexmo, redis: &Redis) -> String {
    format!(
        "[redis]\nurl = \"{}\"\ntimeout = \"250ms\"\non_error = \"deny\"\n\
         [server]\nmax_connections_per_ip = 1000\n{}\n[defaults]\n\
         limits = [{{ per = \"number\", max = 5, window = \"1h\" }}]\n\
         [[endpoint]]\npath = \"/m/\"\nsender = \"A\"\nmessage = \"x\"\n",
        redis.url(),
        nexmo_table(fake)
    )
}

/// Sends to `n` distinct numbers from `first`, `width` at a time; each
/// answer with how long it took.
async fn load(
    app: &TestApp,
    first: usize,
    n: usize,
    width: usize,
) -> Vec<(String, u16, Value, Duration)> {
    let mut out = Vec::new();
    for chunk in (first..first + n).collect::<Vec<_>>().chunks(width) {
        let answers = join_all(chunk.iter().map(|i| async move {
            let to = number(*i);
            let t = Instant::now();
            let a = app.get(&format!("/m/?receiver=%2B{to}")).await;
            (to, a.status, a.json(), t.elapsed())
        }))
        .await;
        out.extend(answers);
    }
    out
}

/// Every answer is a send or a 503 `service_unavailable`, none slower than
/// `bound`, and `fake-nexmo` got exactly one SMS per send and none for a
/// refusal.
async fn sent_exactly_the_admitted(
    fake: &FakeNexmo,
    answers: &[(String, u16, Value, Duration)],
    bound: Duration,
) {
    let mut admitted = BTreeMap::new();
    for (to, status, j, took) in answers {
        assert!(*took < bound, "{to}: {took:?}");
        match (status, j["status"].as_str(), j["error"].as_str()) {
            (200, Some("ok"), _) => {
                admitted.insert(to.clone(), 1);
            }
            (503, _, Some("service_unavailable")) => {}
            other => panic!("{to}: {other:?} {j}"),
        }
    }
    assert_eq!(sends_by_receiver(fake).await, admitted);
}

#[actix_web::test]
async fn a_frozen_redis_is_cut_off_at_its_timeout_under_load() {
    let fake = FakeNexmo::start();
    let redis = Redis::start();
    let app = TestApp::spawn(&redis_config(&fake, &redis));
    let before = load(&app, 0, 10, 10).await;
    redis.pause();
    let frozen = load(&app, 100, 40, 20).await;
    redis.resume();
    // Back within the breaker's 500 ms probe interval (margin for a
    // loaded machine).
    let back = Instant::now();
    loop {
        let a = app.get("/m/?receiver=%2B4917612345678").await;
        if a.json()["status"] == "ok" {
            break;
        }
        assert!(back.elapsed() < Duration::from_secs(3), "{}", a.body);
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(before.iter().all(|a| a.2["status"] == "ok"));
    assert!(frozen.iter().all(|a| a.1 == 503), "{frozen:?}");
    let mut all = before;
    all.extend(frozen);
    all.push((
        "4917612345678".into(),
        200,
        serde_json::json!({"status": "ok"}),
        Duration::ZERO,
    ));
    // The timeout is 250 ms; nothing waits for the frozen server.
    sent_exactly_the_admitted(&fake, &all, Duration::from_millis(1500)).await;
}

#[actix_web::test]
async fn redis_restarted_mid_load_loses_and_doubles_nothing() {
    let fake = FakeNexmo::start();
    let mut redis = Redis::start();
    let app = TestApp::spawn(&redis_config(&fake, &redis));
    let port = redis.port;
    let restarted = std::cell::Cell::new(false);
    // Rounds of 8 sends until 5 rounds after the restart, however long
    // the restart takes.
    let running = async {
        let (mut answers, mut first, mut after) = (Vec::new(), 0, 0);
        while after < 5 {
            let done = restarted.get();
            answers.extend(load(&app, first, 8, 8).await);
            first += 8;
            after += usize::from(done);
            assert!(first < 10_000, "the restart never finished");
        }
        answers
    };
    let restart = async {
        actix_web::rt::time::sleep(Duration::from_millis(150)).await;
        redis.stop();
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
        redis.restart();
        assert_eq!(redis.port, port);
        restarted.set(true);
    };
    let (mut answers, ()) = tokio::join!(running, restart);
    let refused = answers.iter().filter(|a| a.1 == 503).count();
    assert!(refused > 0, "Redis was never found down");
    // And sends again once it is back (the breaker probes every 500 ms).
    let back = Instant::now();
    loop {
        let again = load(&app, 20_000 + answers.len(), 1, 1).await;
        let ok = again[0].2["status"] == "ok";
        answers.extend(again);
        if ok {
            break;
        }
        assert!(back.elapsed() < Duration::from_secs(3), "not back");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    sent_exactly_the_admitted(&fake, &answers, Duration::from_secs(2)).await;
    assert!(!app.logs().contains("panicked"), "{}", app.logs());
}

#[actix_web::test]
async fn a_configuration_replaced_by_garbage_under_load_keeps_serving() {
    let fake = FakeNexmo::start();
    let toml = format!(
        "{}\n[server]\nmax_connections_per_ip = 1000\n[defaults]\nlimits = []\n\
         [[endpoint]]\npath = \"/m/\"\nsender = \"A\"\nmessage = \"x\"\n",
        nexmo_table(&fake)
    );
    let app = TestApp::spawn(&toml);
    let garbage = [
        "[[endpoint\npath = ",
        "\u{0}\u{1}binary\u{ff}",
        "[nexmo]\napi_key = 12\n[[endpoint]]\npath = 5\n",
        "",
    ];
    let config = app.config.clone();
    let vandalised = std::cell::Cell::new(false);
    // Rounds of 8 sends from before the first write until after the last
    // has been read (the watcher waits 200 ms for writes to settle).
    let running = async {
        let (mut answers, mut first) = (Vec::new(), 0);
        while !vandalised.get() {
            answers.extend(load(&app, first, 8, 8).await);
            first += 8;
        }
        answers
    };
    let vandal = async {
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        for g in garbage {
            std::fs::write(&config, g).unwrap();
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
        actix_web::rt::time::sleep(Duration::from_millis(400)).await;
        vandalised.set(true);
    };
    let (answers, ()) = tokio::join!(running, vandal);
    for (to, status, j, _) in &answers {
        assert_eq!(
            (*status, j["status"].as_str()),
            (200, Some("ok")),
            "{to}: {j}"
        );
    }
    assert!(app.wait_for_log("keeping configuration generation 1"));
    assert!(!app.logs().contains("applied configuration generation 2"));
    sent_exactly_the_admitted(&fake, &answers, Duration::from_secs(5)).await;
}

#[actix_web::test]
async fn a_send_that_never_left_gives_its_budget_back() {
    // A closed port: the connection is refused, so nothing reached Nexmo.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let toml = format!(
        "[nexmo]\napi_key = \"k\"\napi_secret = \"s\"\nurl = \"http://127.0.0.1:{closed}/sms/json\"\n\
         [defaults]\nlimits = []\n[[endpoint]]\npath = \"/m/\"\nsender = \"A\"\nmessage = \"x\"\n\
         budget = {{ max_parts = 1, window = \"1h\" }}\n"
    );
    let app = TestApp::spawn(&toml);
    for _ in 0..3 {
        let a = app.get("/m/?receiver=%2B4917612345678").await.json();
        assert_eq!(
            a["error"], "nexmo_error",
            "a budget of one, given back: {a}"
        );
    }
}
