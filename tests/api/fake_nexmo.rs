//! The `fake-nexmo` binary answers as the documented SMS API does
//! (README, "A fake Nexmo"), whichever way a client calls it.

use crate::common::{FakeNexmo, API_KEY, API_SECRET};
use serde_json::{json, Value};

async fn call(req: awc::ClientRequest, body: Option<(&str, String)>) -> (u16, String) {
    let mut resp = match body {
        Some((ctype, b)) => req
            .insert_header(("content-type", ctype))
            .send_body(b)
            .await
            .unwrap(),
        None => req.send().await.unwrap(),
    };
    let body = resp.body().await.unwrap();
    (
        resp.status().as_u16(),
        String::from_utf8_lossy(&body).into_owned(),
    )
}

fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

#[actix_web::test]
async fn answers_get_form_and_json_with_string_fields_and_uuid_ids() {
    let fake = FakeNexmo::start();
    let c = awc::Client::default();
    let ok = [
        ("api_key", API_KEY),
        ("api_secret", API_SECRET),
        ("from", "Acme"),
        ("to", "447700900000"),
        ("text", "hi"),
    ];
    let get = c.get(format!("{}?{}", fake.sms_url(), form(&ok)));
    let (s, b) = call(get, None).await;
    assert_eq!(s, 200);
    let v: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(v["message-count"], "1");
    let m = &v["messages"][0];
    for field in [
        "to",
        "message-id",
        "status",
        "remaining-balance",
        "message-price",
        "network",
    ] {
        assert!(m[field].is_string(), "{field} is not a string: {m}");
    }
    assert_eq!(m["status"], "0");
    assert_eq!(m["to"], "447700900000");
    assert!(uuid::Uuid::parse_str(m["message-id"].as_str().unwrap()).is_ok());

    let (_, b) = call(
        c.post(fake.sms_url()),
        Some(("application/x-www-form-urlencoded", form(&ok))),
    )
    .await;
    assert_eq!(
        serde_json::from_str::<Value>(&b).unwrap()["messages"][0]["status"],
        "0"
    );
    let body = json!({"api_key": API_KEY, "api_secret": API_SECRET, "from": "Acme", "to": "447700900000", "text": "hi", "status-report-req": 1});
    let (_, b) = call(
        c.post(fake.sms_url()),
        Some(("application/json", body.to_string())),
    )
    .await;
    assert_eq!(
        serde_json::from_str::<Value>(&b).unwrap()["messages"][0]["status"],
        "0"
    );
    // Basic auth instead of parameters.
    let basic = c.post(fake.sms_url()).basic_auth(API_KEY, API_SECRET);
    let (_, b) = call(
        basic,
        Some((
            "application/x-www-form-urlencoded",
            form(&[("from", "Acme"), ("to", "447700900000"), ("text", "hi")]),
        )),
    )
    .await;
    assert_eq!(
        serde_json::from_str::<Value>(&b).unwrap()["messages"][0]["status"],
        "0"
    );
    assert_eq!(fake.received().await.len(), 4);
}

#[actix_web::test]
async fn refuses_as_documented() {
    let fake = FakeNexmo::start();
    let c = awc::Client::default();
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: &[Case] = &[
        (
            &[
                ("api_secret", API_SECRET),
                ("from", "A"),
                ("to", "447700900000"),
                ("text", "x"),
            ],
            "2",
            "Missing api_key",
        ),
        (
            &[
                ("api_key", API_KEY),
                ("api_secret", "nope"),
                ("from", "A"),
                ("to", "447700900000"),
                ("text", "x"),
            ],
            "4",
            "Bad Credentials",
        ),
        (
            &[
                ("api_key", API_KEY),
                ("api_secret", API_SECRET),
                ("to", "447700900000"),
                ("text", "x"),
            ],
            "2",
            "Missing from param",
        ),
        (
            &[
                ("api_key", API_KEY),
                ("api_secret", API_SECRET),
                ("from", "A"),
                ("text", "x"),
            ],
            "2",
            "Missing to param",
        ),
        (
            &[
                ("api_key", API_KEY),
                ("api_secret", API_SECRET),
                ("from", "A"),
                ("to", "447700900000"),
            ],
            "2",
            "Missing Message Text",
        ),
        (
            &[
                ("api_key", API_KEY),
                ("api_secret", API_SECRET),
                ("from", "A"),
                ("to", "+44770"),
                ("text", "x"),
            ],
            "3",
            "Invalid Parameters",
        ),
        (
            &[
                ("api_key", API_KEY),
                ("api_secret", API_SECRET),
                ("from", "Acme"),
                ("to", "12125551234"),
                ("text", "x"),
            ],
            "15",
            "Illegal Sender Address - rejected",
        ),
        (
            &[
                ("api_key", API_KEY),
                ("api_secret", API_SECRET),
                ("from", "A"),
                ("to", "4917600000029"),
                ("text", "x"),
            ],
            "29",
            "Non White-listed Destination - rejected",
        ),
    ];
    for (params, status, text) in cases {
        let (s, b) = call(
            c.post(fake.sms_url()),
            Some(("application/x-www-form-urlencoded", form(params))),
        )
        .await;
        assert_eq!(s, 200, "errors come with HTTP 200");
        let v: Value = serde_json::from_str(&b).unwrap();
        assert_eq!(v["messages"][0]["status"], *status, "{params:?}: {v}");
        assert_eq!(v["messages"][0]["error-text"], *text, "{params:?}: {v}");
    }
}

#[actix_web::test]
async fn splits_long_texts_into_parts_by_encoding() {
    let fake = FakeNexmo::start();
    let c = awc::Client::default();
    let parts = |text: String, kind: &'static str| {
        let c = c.clone();
        let url = fake.sms_url();
        async move {
            let f = form(&[
                ("api_key", API_KEY),
                ("api_secret", API_SECRET),
                ("from", "A"),
                ("to", "447700900000"),
                ("text", &text),
                ("type", kind),
            ]);
            let mut r = c
                .post(url)
                .insert_header(("content-type", "application/x-www-form-urlencoded"))
                .send_body(f)
                .await
                .unwrap();
            let v: Value = r.json().await.unwrap();
            assert_eq!(
                v["message-count"]
                    .as_str()
                    .unwrap()
                    .parse::<usize>()
                    .unwrap(),
                v["messages"].as_array().unwrap().len()
            );
            v["messages"].as_array().unwrap().len()
        }
    };
    assert_eq!(parts("a".repeat(160), "text").await, 1);
    assert_eq!(parts("a".repeat(161), "text").await, 2);
    assert_eq!(parts("a".repeat(307), "text").await, 3);
    assert_eq!(parts("ж".repeat(70), "unicode").await, 1);
    assert_eq!(parts("ж".repeat(71), "unicode").await, 2);
    assert_eq!(
        parts("😀".repeat(35), "unicode").await,
        1,
        "emoji count two UTF-16 units"
    );
    assert_eq!(parts("😀".repeat(36), "unicode").await, 2);
}

/// Nexmo's `md5hash` signature, computed here apart from the proxy's code:
/// md5 of `&k=v...` (sorted, `&` and `=` in values made `_`) and the secret.
fn md5hash_sig(params: &[(&str, &str)], secret: &str) -> String {
    use md5::Digest;
    let text = crate::common::signed_text(params);
    hex::encode(md5::Md5::digest(format!("{text}{secret}").as_bytes()))
}

#[actix_web::test]
async fn checks_signed_requests_as_the_api_does() {
    let fake = FakeNexmo::start_with(&["--signature-secret", "s3cret"]);
    let c = awc::Client::default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let signed = |stamp: u64, secret: &str, extra: &[(&'static str, &'static str)]| {
        let stamp: &'static str = Box::leak(stamp.to_string().into_boxed_str());
        let mut p: Vec<(&str, &str)> = vec![
            ("api_key", API_KEY),
            ("from", "A"),
            ("to", "447700900000"),
            ("text", "a&b=c"),
            ("status-report-req", "true"),
            ("timestamp", stamp),
        ];
        p.extend_from_slice(extra);
        let sig: &'static str = Box::leak(md5hash_sig(&p, secret).into_boxed_str());
        p.push(("sig", sig));
        p
    };
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (signed(now, "s3cret", &[]), "0"),
        (signed(now, "wrong", &[]), "14"),
        (signed(now - 400, "s3cret", &[]), "14"),
        (signed(now, "s3cret", &[("api_secret", API_SECRET)]), "32"),
    ];
    for (params, status) in cases {
        let (_, b) = call(
            c.post(fake.sms_url()),
            Some(("application/x-www-form-urlencoded", form(&params))),
        )
        .await;
        let v: Value = serde_json::from_str(&b).unwrap();
        assert_eq!(v["messages"][0]["status"], status, "{params:?}: {v}");
    }
    // Without a signature secret, a signed request cannot be checked.
    let plain = FakeNexmo::start();
    let (_, b) = call(
        c.post(plain.sms_url()),
        Some((
            "application/x-www-form-urlencoded",
            form(&signed(now, "s3cret", &[])),
        )),
    )
    .await;
    let v: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(v["messages"][0]["status"], "14", "{v}");
}
