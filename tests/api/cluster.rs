//! Redis Cluster (`redis.cluster`): a private cluster of three masters,
//! each with a replica. Limits, global rules, budgets and delivery states
//! hold across proxy instances as on one server, each endpoint's counters
//! in one slot; a master stopped under load fails over with nothing lost
//! or sent twice.

use crate::common::{nexmo_table, FakeNexmo, RedisCluster, TestApp, DEADLINE};
use futures_util::future::join_all;
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
limits = [{{ per = "ip", max = 10, window = "1h" }}]
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
    let cluster = RedisCluster::start(3);
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
    assert_eq!(a_keys.len(), 1, "{keys:?}");
    let shared = tagged("{*}");
    assert!(shared.iter().any(|(_, k)| k.contains(":budget:/b/:")));
    assert!(shared.iter().any(|(_, k)| k.contains(":limit:*:number:")));
    let ports: std::collections::BTreeSet<u16> = shared.iter().map(|(p, _)| *p).collect();
    assert_eq!(ports.len(), 1, "one slot, one master: {shared:?}");

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
    for app in &apps {
        assert!(!app.logs().contains("panicked"), "{}", app.logs());
    }
}

/// `+49176124NNNNN`, a distinct valid number per `i`.
fn number(i: usize) -> String {
    format!("4917612{:06}", 400_000 + i)
}

#[actix_web::test]
async fn a_master_stopped_under_load_fails_over_losing_and_doubling_nothing() {
    let fake = FakeNexmo::start();
    let mut cluster = RedisCluster::start(3);
    let toml = format!(
        "{}timeout = \"250ms\"\non_error = \"deny\"\n\
         [server]\nmax_connections_per_ip = 1000\n{}\n[defaults]\n\
         limits = [{{ per = \"number\", max = 5, window = \"1h\" }}]\n\
         [[endpoint]]\npath = \"/m/\"\nsender = \"A\"\nmessage = \"x\"\n",
        cluster.toml(),
        nexmo_table(&fake)
    );
    let app = TestApp::spawn(&toml);
    let victim = cluster.master_of("{/m/}");
    // Rounds of 8 sends to new numbers, until 5 rounds after the failover
    // has been seen to serve a request again.
    let mut answers = Vec::new();
    let (mut first, mut stopped_at, mut back_at) = (0, None, None);
    while back_at.is_none_or(|round| first < round + 40) {
        if first == 16 {
            cluster.nodes[victim].stop();
            stopped_at = Some(Instant::now());
        }
        let round = join_all((first..first + 8).map(|i| {
            let app = &app;
            async move {
                let to = number(i);
                let t = Instant::now();
                let a = app.get(&format!("/m/?receiver=%2B{to}")).await;
                (to, a.status, a.json(), t.elapsed())
            }
        }))
        .await;
        let ok = round.iter().any(|a| a.2["status"] == "ok");
        if stopped_at.is_some() && back_at.is_none() && ok {
            back_at = Some(first);
        }
        answers.extend(round);
        first += 8;
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
    let refused = answers.iter().filter(|a| a.1 == 503).count();
    assert!(refused > 0, "the master was never found gone");
    let mut admitted = BTreeMap::new();
    for (to, status, j, took) in &answers {
        // The timeout is 250 ms: nothing waits on the stopped master.
        assert!(*took < Duration::from_secs(2), "{to}: {took:?}");
        match (status, j["status"].as_str(), j["error"].as_str()) {
            (200, Some("ok"), _) => {
                admitted.insert(to.clone(), 1);
            }
            (503, _, Some("service_unavailable")) => {}
            other => panic!("{to}: {other:?} {j}"),
        }
    }
    let mut sent = BTreeMap::new();
    for r in fake.received().await {
        let to = r["params"]["to"].as_str().unwrap_or("").to_string();
        *sent.entry(to).or_insert(0) += 1;
    }
    assert_eq!(sent, admitted);
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
    assert!(logs.contains("redis limiter is back"), "{logs}");
}
