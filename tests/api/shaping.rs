//! Throughput shaping: sends from several instances share `nexmo.max_rps`
//! through Redis, so an account limited to 30 requests a second is never
//! made to answer status 1.

use crate::common::{nexmo_table, FakeNexmo, Redis, TestApp, ONE_ENDPOINT};
use futures_util::future::join_all;

const SHAPING_TEXT: &str = "Throughput Rate Exceeded - no send slot within nexmo.max_queue_wait";

fn config(fake: &FakeNexmo, redis: &Redis) -> String {
    format!(
        "[server]\nmax_connections_per_ip = 1000\n{}max_rps = 30\nmax_queue_wait = \"2s\"\n\
         [redis]\nurl = \"{}\"\nexpected_instances = 2\n{ONE_ENDPOINT}",
        nexmo_table(fake),
        redis.url()
    )
}

#[actix_web::test]
async fn a_burst_over_two_instances_never_meets_nexmos_throughput_limit() {
    let redis = Redis::start();
    let fake = FakeNexmo::start_with(&["--max-rps", "30"]);
    let a = TestApp::spawn(&config(&fake, &redis));
    let b = TestApp::spawn(&config(&fake, &redis));
    let started = std::time::Instant::now();
    let answers = join_all((0..200).map(|i| {
        let app = if i % 2 == 0 { &a } else { &b };
        async move { app.get("/m/?receiver=%2B4917612345678").await.json() }
    }))
    .await;
    let elapsed = started.elapsed();
    let ok = answers.iter().filter(|j| j["status"] == "ok").count();
    let shaped = answers
        .iter()
        .filter(|j| j["nexmo_status"] == "1" && j["nexmo_error_text"] == SHAPING_TEXT)
        .count();
    assert_eq!(ok + shaped, 200, "only sent or shaped: {answers:?}");
    // Every request that reached the fake was accepted: none was throttled
    // (a throttled one would be retried, so it would show twice).
    assert_eq!(fake.received().await.len(), ok);
    eprintln!("{ok} of 200 sent, {shaped} shaped, in {elapsed:?}");
    // About 29 a second for the 2 s a send may wait, and the first at once.
    assert!((40..=80).contains(&ok), "{ok} sent in {elapsed:?}");
    assert!(elapsed.as_secs_f64() < 4.0, "{elapsed:?}");
}

#[actix_web::test]
async fn without_shaping_the_same_burst_is_throttled_by_the_fake() {
    // The control: the fake's limit does bite when the proxy lets the
    // burst through (max_rps far above it).
    let redis = Redis::start();
    let fake = FakeNexmo::start_with(&["--max-rps", "30"]);
    let toml = config(&fake, &redis).replace("max_rps = 30", "max_rps = 10000");
    let a = TestApp::spawn(&toml);
    let answers = join_all((0..100).map(|_| a.get("/m/?receiver=%2B4917612345678"))).await;
    let throttled = answers
        .iter()
        .map(|r| r.json())
        .filter(|j| j["nexmo_status"] == "1" && j["nexmo_error_text"] != SHAPING_TEXT)
        .count();
    assert!(throttled > 0, "the fake never throttled");
}
