//! Redis Cluster (`redis.cluster`): a private cluster of three masters,
//! each with a replica. Limits, global rules, budgets and delivery states
//! hold across proxy instances as on one server, each endpoint's counters
//! in one slot; a master stopped under load fails over with nothing lost
//! or sent twice.

use crate::common::{nexmo_table, FakeNexmo, RedisCluster, TestApp, DEADLINE};
use futures_util::future::join_all;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// `/a/`: 10 an hour per address; `/b/` and `/c/`: a global rule (two
/// messages per number across both) and a budget of 5 parts on `/b/`;
/// `/long/`: two-part texts with receipts.
fn config(fake: &FakeNexmo, cluster: &RedisCluster) -> String {
    format!(
        r#"{}timeout = "5s"
on_error = "deny"
[server]
max_connections_per_ip = 1000
{}dlr_url = "https://sms.example.com/dlr/"
[validation]
limits = []
[defaults]
limits = []
[[endpoint]]
path = "/a/"
sender = "Acme"
message = "hi"
limits = [{{ per = "ip", max = 10, window = "1h" }}, {{ per = "number", max = 1000, window = "1h" }}]
[[endpoint]]
path = "/b/"
sender = "Acme"
message = "hi"
limits = [{{ per = "number", max = 2, window = "1h", scope = "global" }}]
budget = {{ max_parts = 5, window = "1h" }}
[[endpoint]]
path = "/c/"
sender = "Acme"
message = "hi"
limits = [{{ per = "number", max = 2, window = "1h", scope = "global" }}]
[[endpoint]]
path = "/long/"
sender = "Acme"
message = "{}"
"#,
        cluster.toml(),
        nexmo_table(fake),
        "x".repeat(200)
    )
}

fn outcome(a: &crate::common::Answer) -> String {
    let j = a.json();
    j["error"].as_str().unwrap_or("ok").to_string()
}

#[actix_web::test]
async fn limits_budgets_and_receipts_hold_across_instances_on_a_cluster() {
    let fake = FakeNexmo::start_with(&["--dlr-delay-ms", "5"]);
    let cluster = RedisCluster::start(3, 5000);
    let config = config(&fake, &cluster);
    let apps = [
        TestApp::spawn(&config),
        TestApp::spawn(&config),
        TestApp::spawn(&config),
    ];
    // 300 at once from one address, round-robin: exactly the limit.
    let a = "/a/?receiver=%2B4917612345678";
    let answers = join_all((0..300).map(|i| apps[i % 3].get(a))).await;
    let admitted = answers.iter().filter(|x| outcome(x) == "ok").count();
    assert_eq!(admitted, 10, "{}", apps[0].logs());
    assert!(answers.iter().all(|x| x.status == 200 || x.status == 429));
    assert_eq!(fake.received().await.len(), 10);

    // A global counter shared by /b/ and /c/, through any instance.
    let n = "%2B4917612000001";
    let tries = [("/b/", 0), ("/c/", 1), ("/c/", 2), ("/b/", 0)];
    let mut got = Vec::new();
    for (path, app) in tries {
        got.push(outcome(
            &apps[app].get(&format!("{path}?receiver={n}")).await,
        ));
    }
    assert_eq!(got, ["ok", "ok", "limit_acceded", "limit_acceded"]);
    // A budget of 5 parts on /b/, spent once across the instances.
    let spend = join_all((0..12).map(|i| {
        let app = &apps[i % 3];
        async move { outcome(&app.get(&format!("/b/?receiver=%2B49176123{i:05}")).await) }
    }))
    .await;
    let sent = spend.iter().filter(|o| *o == "ok").count();
    assert_eq!(
        sent, 4,
        "one part of five went to the global test: {spend:?}"
    );
    assert!(spend.iter().all(|o| o == "ok" || o == "budget_exhausted"));
    // The budget as every instance's metrics read it (one MGET per slot).
    for app in &apps {
        let m = app.admin_get("/metrics").await.1;
        let used = "nexmo_proxy_budget_used_parts{endpoint=\"/b/\",country=\"all\"} 5";
        assert!(m.contains(used), "{m}");
    }

    // Each endpoint's counters in one slot, behind its hash tag; the
    // endpoints with a global rule share one.
    let keys = cluster.keys();
    let tagged = |tag: &str| -> Vec<&(u16, String)> {
        keys.iter().filter(|(_, k)| k.starts_with(tag)).collect()
    };
    for (_, k) in &keys {
        let Some((tag, rest)) = k.strip_prefix('{').and_then(|k| k.split_once('}')) else {
            let single = ["nexmo-proxy:dlr:{", "nexmo-proxy:shaping:"];
            assert!(single.iter().any(|p| k.starts_with(p)), "untagged: {k}");
            continue;
        };
        let scope = ["nexmo-proxy:limit:", "nexmo-proxy:budget:"]
            .iter()
            .find_map(|p| rest.strip_prefix(p))
            .and_then(|r| r.split(':').next())
            .unwrap_or_else(|| panic!("{k}"));
        assert!(tag == scope || tag == "*", "{k}");
    }
    let a_keys = tagged("{/a/}");
    assert_eq!(a_keys.len(), 2, "its ip and number counters: {keys:?}");
    let shared = tagged("{*}");
    assert!(shared.iter().any(|(_, k)| k.contains(":budget:/b/:")));
    assert!(shared.iter().any(|(_, k)| k.contains(":limit:*:number:")));

    // Delivery states of a two-part send, whose parts live in two slots,
    // read through another instance.
    fake.route_callbacks_to(&apps[0]).await;
    let sent = apps[0].get("/long/?receiver=%2B4917600000085").await.json();
    let ids: Vec<String> = sent["message_ids"]
        .as_array()
        .unwrap_or_else(|| panic!("{sent}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 2);
    let start = Instant::now();
    loop {
        let s = apps[1]
            .get(&format!("/message_status/?id={}", ids[1]))
            .await
            .json();
        if s["delivery"] == "delivered" {
            assert_eq!(s["parts"], 2, "{s}");
            break;
        }
        assert!(start.elapsed() < DEADLINE, "{s}\n{}", apps[0].logs());
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    // A global rule added to /a/ moves its counters to {*}: said on reload.
    let global = config.replace(
        "{ per = \"number\", max = 1000, window = \"1h\" }]",
        "{ per = \"number\", max = 1000, window = \"1h\", scope = \"global\" }]",
    );
    assert_ne!(global, config);
    std::fs::write(&apps[0].config, &global).unwrap();
    assert!(
        apps[0].wait_for_log("the counters of /a/ move from {/a/} to {*}"),
        "{}",
        apps[0].logs()
    );
    for app in &apps {
        assert!(!app.logs().contains("panicked"), "{}", app.logs());
    }
}

/// `+49176124NNNNN`, a distinct valid number per `i`.
fn number(i: usize) -> String {
    format!("4917612{:06}", 400_000 + i)
}

type Answers = Vec<(String, String, u16, Value, Duration)>;

/// One request per `(path, number)` at once: each answer with how long it
/// took.
async fn round(app: &TestApp, requests: &[(&str, String)]) -> Answers {
    join_all(requests.iter().map(|(path, to)| async move {
        let t = Instant::now();
        let a = app.get(&format!("{path}?receiver=%2B{to}")).await;
        (
            path.to_string(),
            to.clone(),
            a.status,
            a.json(),
            t.elapsed(),
        )
    }))
    .await
}

#[actix_web::test]
async fn a_master_stopped_under_load_fails_over_losing_and_doubling_nothing() {
    let fake = FakeNexmo::start();
    let mut cluster = RedisCluster::start(3, 1000);
    // /m/ on the master to stop; another endpoint whose counters live on
    // another master, which must go on deciding meanwhile.
    let victim = cluster.master_of("{/m/}");
    let other = (0..)
        .map(|i| format!("/n{i}/"))
        .find(|p| cluster.master_of(&format!("{{{p}}}")) != victim)
        .unwrap();
    let endpoint = |path: &str| {
        format!(
            "[[endpoint]]\npath = \"{path}\"\nsender = \"A\"\nmessage = \"x\"\n\
             limits = [{{ per = \"number\", max = 1, window = \"1h\" }}, \
                       {{ per = \"ip\", max = 100000, window = \"1h\" }}]\n"
        )
    };
    let toml = format!(
        "{}timeout = \"250ms\"\non_error = \"deny\"\n\
         [server]\nmax_connections_per_ip = 1000\n{}\n[defaults]\nlimits = []\n{}{}",
        cluster.toml(),
        nexmo_table(&fake),
        endpoint("/m/"),
        endpoint(&other)
    );
    let app = TestApp::spawn(&toml);
    // Rounds of 8 sends to /m/ and 4 to the other, each to a new number,
    // until 5 rounds after /m/ has been seen to send again.
    let mut answers: Answers = Vec::new();
    let (mut first, mut stopped_at, mut back_at) = (0, None, None);
    let mut during = Vec::new();
    while back_at.is_none_or(|round| first < round + 5 * 12) {
        if first == 24 {
            cluster.nodes[victim].stop();
            stopped_at = Some(Instant::now());
        }
        let requests: Vec<(&str, String)> = (first..first + 12)
            .map(|i| (if i % 3 == 2 { other.as_str() } else { "/m/" }, number(i)))
            .collect();
        let got = round(&app, &requests).await;
        let m_ok = got.iter().any(|a| a.0 == "/m/" && a.3["status"] == "ok");
        if stopped_at.is_some() && back_at.is_none() {
            if m_ok {
                back_at = Some(first);
            } else {
                during.extend(got.iter().filter(|a| a.0 == other).cloned());
            }
        }
        answers.extend(got);
        first += 12;
        let waited = stopped_at.map_or(Duration::ZERO, |t| t.elapsed());
        assert!(
            waited < Duration::from_secs(20),
            "no failover\n{}",
            app.logs()
        );
        if back_at.is_none() && stopped_at.is_some() {
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert!(
        answers.iter().any(|a| a.2 == 503),
        "the master was never found gone"
    );
    // The other master's endpoint went on sending while /m/ could not.
    assert!(!during.is_empty());
    assert!(
        during.iter().all(|a| a.3["status"] == "ok"),
        "{other} stopped too: {:?}\n{}",
        during.iter().map(|a| (a.2, a.4)).collect::<Vec<_>>(),
        app.logs()
            .lines()
            .filter(|l| l.contains("redis"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let mut admitted = BTreeMap::new();
    for (path, to, status, j, took) in &answers {
        // The timeout is 250 ms: nothing waits on the stopped master.
        assert!(*took < Duration::from_millis(1500), "{path} {to}: {took:?}");
        match (status, j["status"].as_str(), j["error"].as_str()) {
            (200, Some("ok"), _) => {
                admitted.insert(to.clone(), 1);
            }
            (503, _, Some("service_unavailable")) => {}
            other => panic!("{path} {to}: {other:?} {j}"),
        }
    }
    let mut sent = BTreeMap::new();
    for r in fake.received().await {
        let to = r["params"]["to"].as_str().unwrap_or("").to_string();
        *sent.entry(to).or_insert(0) += 1;
    }
    assert_eq!(sent, admitted);
    // The counters written before the stop were replicated and survived
    // the failover: each of those numbers (one a path per number) is
    // refused now.
    let again: Vec<(&str, String)> = (0..24)
        .map(|i| (if i % 3 == 2 { other.as_str() } else { "/m/" }, number(i)))
        .collect();
    for a in round(&app, &again).await {
        assert_eq!(a.3["error"], "limit_acceded", "{} {}: {}", a.0, a.1, a.3);
    }
    // The replica took over the slot, and the instance is ready again.
    assert_ne!(cluster.master_of("{/m/}"), victim);
    let start = Instant::now();
    loop {
        let (status, body) = app.admin_get("/readyz").await;
        if status == 200 {
            break;
        }
        assert!(start.elapsed() < DEADLINE, "{body}");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    let logs = app.logs();
    assert!(!logs.contains("panicked"), "{logs}");
    assert!(
        logs.contains("redis limiter is back for the counters of /m/"),
        "{logs}"
    );
}

#[actix_web::test]
async fn frozen_nodes_hold_up_only_their_own_shard_and_never_past_the_timeout() {
    let fake = FakeNexmo::start();
    let cluster = RedisCluster::start(3, 5000);
    let victim = cluster.master_of("{/m/}");
    let other = (0..)
        .map(|i| format!("/n{i}/"))
        .find(|p| cluster.master_of(&format!("{{{p}}}")) != victim)
        .unwrap();
    let toml = format!(
        "{}timeout = \"250ms\"\non_error = \"deny\"\n\
         [server]\nmax_connections_per_ip = 1000\n{}\n[defaults]\n\
         limits = [{{ per = \"number\", max = 1, window = \"1h\" }}]\n\
         [[endpoint]]\npath = \"/m/\"\nsender = \"A\"\nmessage = \"x\"\n\
         [[endpoint]]\npath = \"{other}\"\nsender = \"A\"\nmessage = \"x\"\n",
        cluster.toml(),
        nexmo_table(&fake)
    );
    let app = TestApp::spawn(&toml);
    let requests = |from: usize| -> Vec<(&str, String)> {
        (from..from + 12)
            .map(|i| (if i % 2 == 0 { other.as_str() } else { "/m/" }, number(i)))
            .collect()
    };
    let mut answers = round(&app, &requests(0)).await;
    assert!(answers.iter().all(|a| a.3["status"] == "ok"), "{answers:?}");
    // A replica frozen: nothing is asked of it.
    let replica = (0..cluster.nodes.len())
        .find(|&i| {
            cluster.nodes[i]
                .cli(&["INFO", "replication"])
                .contains("role:slave")
        })
        .unwrap();
    cluster.nodes[replica].pause();
    let got = round(&app, &requests(100)).await;
    assert!(got.iter().all(|a| a.3["status"] == "ok"), "{got:?}");
    answers.extend(got);
    // /m/'s master frozen: /m/ is answered per on_redis_error within the
    // timeout, the other shard as before.
    cluster.nodes[victim].pause();
    let got = round(&app, &requests(200)).await;
    cluster.nodes[victim].resume();
    cluster.nodes[replica].resume();
    for a in &got {
        let want = if a.0 == "/m/" {
            "service_unavailable"
        } else {
            "ok"
        };
        let said = a.3["error"].as_str().or(a.3["status"].as_str());
        assert_eq!(said, Some(want), "{a:?}");
    }
    answers.extend(got);
    // Back on /m/ within the breaker's probe interval.
    let start = Instant::now();
    let mut i = 300;
    loop {
        let a = round(&app, &[("/m/", number(i))]).await.remove(0);
        let ok = a.3["status"] == "ok";
        answers.push(a);
        if ok {
            break;
        }
        assert!(start.elapsed() < DEADLINE, "{}", app.logs());
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        i += 1;
    }
    let mut sent = BTreeMap::new();
    for r in fake.received().await {
        let to = r["params"]["to"].as_str().unwrap_or("").to_string();
        *sent.entry(to).or_insert(0) += 1;
    }
    let admitted: BTreeMap<String, i32> = answers
        .iter()
        .filter(|a| a.3["status"] == "ok")
        .map(|a| (a.1.clone(), 1))
        .collect();
    assert_eq!(sent, admitted);
    assert!(
        answers.iter().all(|a| a.4 < Duration::from_millis(1500)),
        "{answers:?}"
    );
}
