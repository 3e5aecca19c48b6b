//! Delivery receipts end to end: the proxy sends through `fake-nexmo`,
//! which sends receipts back to the proxy's receipt path by each transport;
//! `/message_status/` answers the page. Also receipts made by hand: forged,
//! stale, malformed, duplicated and out of order.

use crate::common::{FakeNexmo, Redis, TestApp, API_KEY, DEADLINE};
use serde_json::Value;
use std::time::{Duration, Instant};

const DLR_PATH: &str = "/nexmo/receipts/";

/// Two GSM parts.
fn long_text() -> String {
    "x".repeat(200)
}

fn config(fake: &FakeNexmo, nexmo_extra: &str, redis: Option<&Redis>) -> String {
    let redis = redis
        .map(|r| format!("[redis]\nurl = \"{}\"\n", r.url()))
        .unwrap_or_default();
    format!(
        r#"
{}timeout = "2s"
dlr_url = "https://sms.example.com{DLR_PATH}"
{nexmo_extra}
{redis}
[defaults]
limits = []
[[endpoint]]
path = "/m/"
sender = "Acme"
message = "{}"
"#,
        crate::common::nexmo_table(fake),
        long_text()
    )
}

async fn send(app: &TestApp, to: &str) -> Vec<String> {
    let a = app.get(&format!("/m/?receiver=%2B{to}")).await.json();
    assert_eq!(a["status"], "ok", "{a}");
    a["message_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// Polls until the fake has sent `n` receipts for the parts `ids`.
async fn wait_for_receipts_of(fake: &FakeNexmo, ids: &[String], n: usize) {
    let start = Instant::now();
    loop {
        let sent = fake.receipts_sent().await;
        let of = sent
            .iter()
            .filter(|r| ids.iter().any(|id| r["messageId"] == id.as_str()))
            .count();
        if of >= n {
            return;
        }
        assert!(start.elapsed() < DEADLINE, "{of} of {n} receipts: {sent:?}");
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn status(app: &TestApp, id: &str) -> Value {
    let a = app.get(&format!("/message_status/?id={id}")).await;
    assert_eq!(a.header("cache-control"), Some("no-store"));
    a.json()
}

async fn wait_for_delivery(app: &TestApp, id: &str, want: &str) -> Value {
    let start = Instant::now();
    loop {
        let s = status(app, id).await;
        if s["delivery"] == want {
            return s;
        }
        assert!(start.elapsed() < DEADLINE, "{want}: still {s}");
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_web::test]
async fn receipts_by_each_transport_move_a_send_from_pending_to_delivered() {
    for transport in ["get", "form", "json"] {
        let fake = FakeNexmo::start_with(&["--dlr-method", transport, "--dlr-delay-ms", "250"]);
        let app = TestApp::spawn(&config(&fake, "", None));
        fake.route_callbacks_to(&app).await;
        let ids = send(&app, "4917612345678").await;
        assert_eq!(ids.len(), 2);
        let sent = fake.received().await;
        let p = &sent[0]["params"];
        assert_eq!(p["status-report-req"], "true");
        assert_eq!(p["callback"], format!("https://sms.example.com{DLR_PATH}"));
        assert_eq!(p["client-ref"], "/m/");
        // Four receipts 250 ms apart: nothing is final for a second.
        let first = status(&app, &ids[0]).await;
        assert_eq!(first["delivery"], "pending", "{transport}: {first}");
        assert_eq!(first["parts"], 2);
        let done = wait_for_delivery(&app, &ids[1], "delivered").await;
        assert_eq!(done["parts"], 2, "{done}");
        let updated = done["updated"].as_str().unwrap();
        assert!(updated.ends_with('Z') && updated.len() == 20, "{updated}");
        assert_eq!(status(&app, &ids[0]).await, done, "any id, one answer");
        let answers: Vec<Value> = fake
            .wait_for_receipts(4)
            .await
            .iter()
            .map(|r| r["answer"].clone())
            .collect();
        assert!(answers.iter().all(|a| a == 200), "{transport}: {answers:?}");
    }
}

#[actix_web::test]
async fn final_failures_win_and_late_receipts_change_nothing() {
    let fake = FakeNexmo::start_with(&["--dlr-delay-ms", "5"]);
    let app = TestApp::spawn(&config(&fake, "", None));
    fake.route_callbacks_to(&app).await;
    for (magic, want) in [
        ("80", "failed"),
        ("81", "expired"),
        ("82", "rejected"),
        ("83", "failed"),
    ] {
        let ids = send(&app, &format!("49176000000{magic}")).await;
        wait_for_delivery(&app, &ids[0], want).await;
    }
    // Delivered, a duplicate, then a late "accepted", for both parts.
    let ids = send(&app, "4917600000085").await;
    wait_for_receipts_of(&fake, &ids, 6).await;
    assert_eq!(status(&app, &ids[0]).await["delivery"], "delivered");
    // No receipts at all: pending for as long as it is kept.
    let ids = send(&app, "4917600000084").await;
    assert_eq!(status(&app, &ids[1]).await["delivery"], "pending");
}

/// A receipt for `id` as Nexmo's GET transport sends it, with `extra`.
fn receipt_query(id: &str, status: &str, extra: &[(&str, &str)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.extend_pairs([
        ("msisdn", "4917600000084"),
        ("to", "Acme"),
        ("network-code", "26202"),
        ("messageId", id),
        ("price", "0.03330000"),
        ("status", status),
        ("scts", "2001011400"),
        ("err-code", "0"),
        ("message-timestamp", "2020-01-01 12:00:00"),
    ]);
    q.extend_pairs(extra);
    q.finish()
}

#[actix_web::test]
async fn receipts_by_hand_duplicates_out_of_order_forged_and_malformed() {
    let fake = FakeNexmo::start();
    let app = TestApp::spawn(&config(&fake, "", None));
    // "84": the fake sends no receipts, so only ours arrive.
    let ids = send(&app, "4917600000084").await;
    let ours = [("api-key", API_KEY)];
    let post = |q: String| {
        let app = &app;
        async move { app.get(&format!("{DLR_PATH}?{q}")).await }
    };
    // The second part is delivered: a forged "delivered" for the first,
    // were it kept, would make the whole send delivered.
    let a = post(receipt_query(&ids[1], "delivered", &ours)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    // Without our api-key (no signature secret configured): 401, nothing kept.
    for key in ["", "otherkey"] {
        let q = receipt_query(&ids[0], "delivered", &[("api-key", key)]);
        let a = post(q).await;
        assert_eq!(a.status, 401, "{}", a.body);
        assert_eq!(a.json()["error"], "unauthorized");
    }
    // Never wrapped as JSONP (a 200), whatever the query says.
    let q = receipt_query(&ids[0], "delivered", &[("api-key", "otherkey")]);
    let a = post(format!("{q}&callback=cb")).await;
    assert_eq!(a.status, 401, "{}", a.body);
    assert_eq!(a.json()["error"], "unauthorized");
    assert_eq!(status(&app, &ids[0]).await["delivery"], "pending");
    // 1,000 malformed receipts: 400 each, never 5xx, nothing kept.
    let bad: [&[(&str, &str)]; 4] = [
        &[("status", "DELIVERED")],
        &[("err-code", "abc")],
        &[("price", "-3")],
        &[("messageId", "<script>")],
    ];
    for i in 0..1000 {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        let broken = bad[i % bad.len()];
        for (k, v) in [
            ("msisdn", "4917600000084"),
            ("messageId", ids[0].as_str()),
            ("status", "delivered"),
            ("api-key", API_KEY),
        ] {
            let v = broken
                .iter()
                .find(|(b, _)| *b == k)
                .map_or(v, |(_, bv)| *bv);
            q.append_pair(k, v);
        }
        for (k, v) in broken
            .iter()
            .filter(|(k, _)| *k == "err-code" || *k == "price")
        {
            q.append_pair(k, v);
        }
        let a = post(q.finish()).await;
        assert_eq!(a.status, 400, "{i}: {}", a.body);
        assert_eq!(a.json()["error"], "invalid_receipt");
    }
    assert_eq!(status(&app, &ids[0]).await["delivery"], "pending");
    // Out of order and duplicated: a final state stays.
    for (part, order) in [
        (0, ["delivered", "accepted", "buffered"]),
        (1, ["buffered", "delivered", "buffered"]),
    ] {
        for s in order {
            let a = post(receipt_query(&ids[part], s, &ours)).await;
            assert_eq!(a.status, 200, "{}", a.body);
        }
    }
    assert_eq!(status(&app, &ids[0]).await["delivery"], "delivered");
    // Receipts as POST form and JSON too.
    let form = receipt_query("0A0000001234567B", "accepted", &ours);
    let a = app
        .post(DLR_PATH, "application/x-www-form-urlencoded", &form)
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let json = serde_json::json!({"msisdn": "447700900000", "messageId": "0A0000001234567B",
        "status": "delivered", "api-key": API_KEY});
    let a = app
        .post(DLR_PATH, "application/json", &json.to_string())
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    // A receipt for a send not made here makes no send.
    assert_eq!(
        status(&app, "0A0000001234567B").await["delivery"],
        "unknown"
    );
}

#[actix_web::test]
async fn the_status_endpoint_answers_unknown_ids_and_refuses_bad_ones() {
    let fake = FakeNexmo::start();
    let app = TestApp::spawn(&config(&fake, "", None));
    let unknown = status(&app, "00000000-0000-4000-8000-000000000000").await;
    assert_eq!(
        unknown,
        serde_json::json!({"status": "ok", "delivery": "unknown"})
    );
    for bad in ["", "a%20b", "%3Cx%3E", &"a".repeat(65)] {
        let a = app.get(&format!("/message_status/?id={bad}")).await.json();
        assert_eq!(a["error"], "invalid_message_id", "{bad:?}");
    }
    let a = app
        .get("/message_status/?id=abc&callback=cb")
        .await
        .jsonp("cb");
    assert_eq!(a["delivery"], "unknown");
    // Without nexmo.dlr_url neither path is served.
    let plain = config(&fake, "", None).replace("dlr_url", "# dlr_url");
    let app = TestApp::spawn(&plain);
    assert_eq!(app.get("/message_status/?id=abc").await.status, 404);
    assert_eq!(app.get(DLR_PATH).await.status, 404);
    let sent = {
        let a = app.get("/m/?receiver=%2B4917612345678").await.json();
        assert_eq!(a["status"], "ok");
        fake.received().await
    };
    let p = &sent.last().unwrap()["params"];
    assert!(
        p.get("callback").is_none() && p.get("status-report-req").is_none(),
        "{p}"
    );
}

#[actix_web::test]
async fn signed_receipts_are_believed_and_forged_or_stale_ones_are_not() {
    let signing = "signature_secret = \"dlr-secret\"\nsignature_method = \"sha256\"";
    let fake = FakeNexmo::start_with(&[
        "--signature-secret",
        "dlr-secret",
        "--signature-method",
        "sha256",
        "--dlr-delay-ms",
        "5",
    ]);
    let app = TestApp::spawn(&config(&fake, signing, None));
    fake.route_callbacks_to(&app).await;
    let ids = send(&app, "4917612345678").await;
    wait_for_delivery(&app, &ids[0], "delivered").await;
    // Receipts made by hand for a send whose fake sends none ("84"):
    // forged or stale ones are refused, and nothing of them is kept.
    let other = FakeNexmo::start_with(&[
        "--signature-secret",
        "dlr-secret",
        "--signature-method",
        "sha256",
    ]);
    let app2 = TestApp::spawn(&config(&other, signing, None));
    let ids = send(&app2, "4917600000084").await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let sign = |fields: &[(&str, &str)], secret: &str| -> String {
        use hmac::Mac;
        let text = crate::common::signed_text(fields);
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(text.as_bytes());
        hex::encode_upper(mac.finalize().into_bytes())
    };
    let id = ids[0].as_str();
    let fresh = now.to_string();
    let stale = (now - 400).to_string();
    let base = |stamp: &str| -> Vec<(String, String)> {
        [
            ("msisdn", "4917600000084"),
            ("messageId", id),
            ("status", "delivered"),
            ("err-code", "0"),
            ("api-key", API_KEY),
            ("nonce", "ec11dd3e-1e7f-4db5-9467-82b02cd223b9"),
            ("timestamp", stamp),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    };
    let query = |fields: &[(String, String)], sig: Option<String>| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.extend_pairs(fields);
        if let Some(sig) = sig {
            q.append_pair("sig", &sig);
        }
        q.finish()
    };
    let pairs = |f: &[(String, String)]| -> Vec<(String, String)> { f.to_vec() };
    let signed_by = |f: &[(String, String)], secret: &str| {
        let refs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        sign(&refs, secret)
    };
    let good = base(&fresh);
    let mut tampered = pairs(&good);
    let sig_of_good = signed_by(&good, "dlr-secret");
    tampered[2].1 = "failed".into();
    let stale_fields = base(&stale);
    // The second part delivered by a good receipt first: a forged one for
    // the first part, were it kept, would make the send delivered.
    let second = base(&fresh)
        .into_iter()
        .map(|(k, v)| match k.as_str() {
            "messageId" => (k, ids[1].clone()),
            _ => (k, v),
        })
        .collect::<Vec<_>>();
    let q = query(&second, Some(signed_by(&second, "dlr-secret")));
    assert_eq!(app2.get(&format!("{DLR_PATH}?{q}")).await.status, 200);
    let cases = [
        ("tampered", query(&tampered, Some(sig_of_good.clone()))),
        (
            "wrong secret",
            query(&good, Some(signed_by(&good, "other"))),
        ),
        (
            "stale",
            query(&stale_fields, Some(signed_by(&stale_fields, "dlr-secret"))),
        ),
        ("no sig", query(&good, None)),
    ];
    for (what, q) in cases {
        let a = app2.get(&format!("{DLR_PATH}?{q}")).await;
        assert_eq!(a.status, 401, "{what}: {}", a.body);
        assert_eq!(status(&app2, id).await["delivery"], "pending", "{what}");
    }
    let a = app2
        .get(&format!("{DLR_PATH}?{}", query(&good, Some(sig_of_good))))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(status(&app2, id).await["delivery"], "delivered", "kept");
    assert!(!app2.logs().contains("dlr-secret"));
}

#[actix_web::test]
async fn a_second_instance_on_the_same_redis_answers_the_same_status() {
    let redis = Redis::start();
    let fake = FakeNexmo::start_with(&["--dlr-delay-ms", "5"]);
    let a = TestApp::spawn(&config(&fake, "", Some(&redis)));
    let b = TestApp::spawn(&config(&fake, "", Some(&redis)));
    fake.route_callbacks_to(&a).await;
    let ids = send(&a, "4917612345678").await;
    let on_a = wait_for_delivery(&a, &ids[0], "delivered").await;
    assert_eq!(status(&b, &ids[1]).await, on_a);
    // A failed part, through instance b's receipt path this time.
    fake.route_callbacks_to(&b).await;
    let ids = send(&a, "4917600000083").await;
    wait_for_delivery(&a, &ids[0], "failed").await;
    // Late intermediate receipts after a final one, applied in Redis.
    let ids = send(&a, "4917600000085").await;
    wait_for_receipts_of(&fake, &ids, 6).await;
    assert_eq!(status(&a, &ids[0]).await["delivery"], "delivered");
    let keys = redis.cli(&["--scan", "--pattern", "nexmo-proxy:dlr:*"]);
    for number in ["4917612345678", "4917600000083", "4917600000085"] {
        assert!(!keys.contains(number), "no numbers in keys: {keys}");
    }
}

#[actix_web::test]
async fn a_token_in_dlr_urls_query_must_come_back() {
    let fake = FakeNexmo::start_with(&["--dlr-delay-ms", "5"]);
    let toml = config(&fake, "", None).replace(
        &format!("{DLR_PATH}\""),
        &format!("{DLR_PATH}?token=t0k3n\""),
    );
    let app = TestApp::spawn(&toml);
    fake.route_callbacks_to(&app).await;
    let ids = send(&app, "4917612345678").await;
    wait_for_delivery(&app, &ids[0], "delivered").await;
    let ids = send(&app, "4917600000084").await;
    for token in [None, Some("wrong"), Some("t0k3n ")] {
        let mut extra = vec![("api-key", API_KEY)];
        extra.extend(token.map(|t| ("token", t)));
        let a = app
            .get(&format!(
                "{DLR_PATH}?{}",
                receipt_query(&ids[0], "failed", &extra)
            ))
            .await;
        assert_eq!(a.status, 401, "{token:?}: {}", a.body);
    }
    assert_eq!(status(&app, &ids[0]).await["delivery"], "pending");
}
