//! Message endpoints end to end: the real proxy against the real
//! `fake-nexmo`, checking what each side sees.

use crate::common::{FakeNexmo, Spawn, TestApp, API_KEY, API_SECRET};
use serde_json::{json, Value};

fn config(fake: &FakeNexmo, extra: &str) -> String {
    format!(
        r#"
[nexmo]
api_key = "{API_KEY}"
api_secret = "{API_SECRET}"
url = "{}"
long_virtual_number = "15551230000"
timeout = "2s"
[defaults]
limits = []
number_types = ["mobile", "fixed_line_or_mobile"]
[[endpoint]]
path = "/message/"
sender = "Acme"
message = "Welcome to Example"
{extra}
"#,
        fake.sms_url()
    )
}

fn params(r: &Value) -> &serde_json::Map<String, Value> {
    r["params"].as_object().unwrap()
}

#[actix_web::test]
async fn a_message_is_sent_as_a_form_post_and_answered_with_its_ids() {
    let fake = FakeNexmo::start();
    let app = TestApp::spawn(&config(&fake, ""));
    let a = app.get("/message/?receiver=0176%2012345678").await;
    let body = a.json();
    assert_eq!(body["status"], "ok", "{body}");
    assert_eq!(body["message"], "Message sent");
    assert_eq!(body["number"], "+49 176 12345678");
    assert_eq!(body["parts"], 1);
    let ids = body["message_ids"].as_array().unwrap();
    assert_eq!(ids.len(), 1);
    assert_eq!(ids[0].as_str().unwrap().len(), 36, "a UUID");

    let got = fake.received().await;
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!(r["method"], "POST");
    assert_eq!(
        r["query"], "",
        "nothing, and so no secret, travels in the URL"
    );
    assert!(r["content_type"]
        .as_str()
        .unwrap()
        .starts_with("application/x-www-form-urlencoded"));
    let p = params(r);
    let want = json!({
        "api_key": API_KEY, "api_secret": API_SECRET, "from": "Acme",
        "to": "4917612345678", "text": "Welcome to Example", "type": "text",
        "client-ref": "/message/"
    });
    assert_eq!(Value::Object(p.clone()), want);
}

/// `config` with signing instead of the API secret.
fn signed_config(fake: &FakeNexmo, secret: &str, method: &str) -> String {
    config(fake, "").replace(
        &format!("api_secret = \"{API_SECRET}\"\n"),
        &format!("signature_secret = \"{secret}\"\nsignature_method = \"{method}\"\n"),
    )
}

#[actix_web::test]
async fn signed_sends_carry_no_api_secret_and_need_the_same_signature_secret() {
    for method in ["md5hash", "md5", "sha1", "sha256", "sha512"] {
        let fake = FakeNexmo::start_with(&[
            "--signature-secret",
            "sig-secret-1",
            "--signature-method",
            method,
        ]);
        let app = TestApp::spawn(&signed_config(&fake, "sig-secret-1", method));
        let a = app.get("/message/?receiver=%2B4917612345678").await.json();
        assert_eq!(a["status"], "ok", "{method}: {a}");
        let got = fake.received().await;
        let p = params(&got[0]);
        assert!(p.get("api_secret").is_none(), "{method}: {p:?}");
        assert!(p["sig"].as_str().unwrap().len() >= 32, "{p:?}");
        let stamp: u64 = p["timestamp"].as_str().unwrap().parse().unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(now.abs_diff(stamp) < 60, "{stamp}");
        assert!(!app.logs().contains("sig-secret-1"));
    }
    // Another secret, or another method, is refused by Nexmo with status 14.
    let fake = FakeNexmo::start_with(&[
        "--signature-secret",
        "sig-secret-1",
        "--signature-method",
        "sha256",
    ]);
    for (secret, method) in [("sig-secret-2", "sha256"), ("sig-secret-1", "sha512")] {
        let app = TestApp::spawn(&signed_config(&fake, secret, method));
        let a = app.get("/message/?receiver=%2B4917612345678").await.json();
        assert_eq!(a["error"], "nexmo_error", "{a}");
        assert_eq!(a["nexmo_status"], "14", "{a}");
        assert_eq!(a["nexmo_error_text"], "Invalid Signature");
    }
}

#[actix_web::test]
async fn the_text_type_follows_the_gsm_alphabet() {
    let fake = FakeNexmo::start();
    let extra = r#"
[[endpoint]]
path = "/umlaut/"
sender = "Acme"
message = "Grüße aus Köln"
[[endpoint]]
path = "/euro/"
sender = "Acme"
message = "Nur 5 € — heute"
[[endpoint]]
path = "/cyrillic/"
sender = "Acme"
message = "Привет"
[[endpoint]]
path = "/long/"
sender = "Acme"
message = "{text}"
vars = { text = "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789X" }
"#;
    let app = TestApp::spawn(&config(&fake, extra));
    for path in ["/umlaut/", "/euro/", "/cyrillic/", "/long/"] {
        let a = app.get(&format!("{path}?receiver=%2B4917612345678")).await;
        assert_eq!(a.json()["status"], "ok", "{path}: {}", a.body);
    }
    let got = fake.received().await;
    let types: Vec<&str> = got
        .iter()
        .map(|r| params(r)["type"].as_str().unwrap())
        .collect();
    // ü is in the GSM table; the em dash is not (so the € text needs unicode
    // only because of it); Cyrillic needs unicode.
    assert_eq!(types, ["text", "unicode", "unicode", "text"]);
    assert_eq!(params(&got[0])["text"], "Grüße aus Köln");
    let long = app.get("/long/?receiver=%2B4917612345678").await.json();
    assert_eq!(long["parts"], 2);
    assert_eq!(long["message_ids"].as_array().unwrap().len(), 2);
}

#[actix_web::test]
async fn euro_alone_stays_gsm() {
    let fake = FakeNexmo::start();
    let app = TestApp::spawn(&config(
        &fake,
        "[[endpoint]]\npath = \"/eur/\"\nsender = \"Acme\"\nmessage = \"Only 5 € today\"\n",
    ));
    app.get("/eur/?receiver=%2B4917612345678").await;
    assert_eq!(params(&fake.received().await[0])["type"], "text");
}

#[actix_web::test]
async fn north_american_receivers_get_the_long_virtual_number_as_sender() {
    let fake = FakeNexmo::start();
    let app = TestApp::spawn(&config(&fake, ""));
    let a = app.get("/message/?receiver=%2B12125551234").await;
    assert_eq!(a.json()["number"], "+1 212-555-1234");
    let a = app.get("/message/?receiver=%2B18765551234").await;
    assert_eq!(a.json()["status"], "ok");
    app.get("/message/?receiver=%2B447400123456").await;
    let froms: Vec<String> = fake
        .received()
        .await
        .iter()
        .map(|r| params(r)["from"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(froms, ["15551230000", "15551230000", "Acme"]);
}

#[actix_web::test]
async fn missing_and_invalid_receivers_never_reach_nexmo() {
    let fake = FakeNexmo::start();
    let app = TestApp::spawn(&config(&fake, ""));
    for (q, want) in [
        ("", json!({"status": "error", "error": "receiver_missing"})),
        (
            "receiver=",
            json!({"status": "error", "error": "receiver_missing"}),
        ),
        (
            "receiver=12",
            json!({"status": "error", "error": "receiver_validation"}),
        ),
        (
            "receiver=abc",
            json!({"status": "error", "error": "receiver_validation"}),
        ),
    ] {
        let a = app.get(&format!("/message/?{q}")).await;
        assert_eq!(a.status, 200);
        assert_eq!(a.json(), want, "{q}");
        let a = app.get(&format!("/message/?{q}&callback=cb")).await;
        assert_eq!(a.jsonp("cb"), want, "{q}");
    }
    assert!(fake.received().await.is_empty());
}

#[actix_web::test]
async fn every_nexmo_failure_is_a_nexmo_error_and_the_proxy_keeps_serving() {
    let fake = FakeNexmo::start_with(&["--slow-ms", "4000"]);
    let app = TestApp::spawn(&config(&fake, ""));
    let cases: &[(&str, Option<&str>)] = &[
        ("02", Some("2")),
        ("03", Some("3")),
        ("04", Some("4")),
        ("05", Some("5")),
        ("07", Some("7")),
        ("09", Some("9")),
        ("15", Some("15")),
        ("29", Some("29")),
        ("90", Some("1")), // throttled twice: one retry, then give up
        ("92", None),      // HTTP 500
        ("93", None),      // not JSON
        ("94", None),      // no messages array
        ("95", None),      // slower than the 2 s timeout
        ("96", Some("1")), // one part accepted, one throttled: not retried
    ];
    for (magic, status) in cases {
        let a = app
            .get(&format!(
                "/message/?receiver=%2B49176000000{magic}&callback=cb"
            ))
            .await;
        let body = a.jsonp("cb");
        assert_eq!(a.status, 200, "{magic}");
        assert_eq!(body["status"], "error", "{magic}: {body}");
        assert_eq!(body["error"], "nexmo_error", "{magic}");
        assert_eq!(body["message"], "Nexmo Service Error");
        assert_eq!(body["number"], format!("+49 176 000000{magic}"));
        assert_eq!(body["nexmo_status"].as_str(), *status, "{magic}: {body}");
        if status.is_some() {
            assert!(body["nexmo_error_text"].is_string(), "{magic}: {body}");
        }
    }
    // Still serving.
    assert_eq!(
        app.get("/message/?receiver=%2B4917612345678").await.json()["status"],
        "ok"
    );
    // Nothing was sent twice except the one throttled-everything retry.
    let got = fake.received().await;
    let count = |to: &str| got.iter().filter(|r| params(r)["to"] == to).count();
    assert_eq!(count("4917600000090"), 2);
    assert_eq!(count("4917600000096"), 1);
    assert_eq!(count("4917600000092"), 1);
    let logs = app.logs();
    assert!(
        !logs.contains(API_SECRET),
        "the secret leaked into the logs"
    );
}

#[actix_web::test]
async fn a_throttled_send_is_retried_once_and_succeeds() {
    let fake = FakeNexmo::start();
    let app = TestApp::spawn(&config(&fake, ""));
    let a = app.get("/message/?receiver=%2B4917600000091").await;
    assert_eq!(a.json()["status"], "ok", "{}", a.body);
    assert_eq!(fake.received().await.len(), 2);
}

#[actix_web::test]
async fn a_refused_connection_is_a_nexmo_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let toml = format!(
        "[nexmo]\napi_key = \"k\"\napi_secret = \"s\"\nurl = \"http://127.0.0.1:{port}/sms/json\"\n[[endpoint]]\npath = \"/m/\"\nsender = \"A\"\nmessage = \"x\"\n"
    );
    let app = TestApp::spawn(&toml);
    let a = app.get("/m/?receiver=%2B4917612345678").await;
    assert_eq!(a.json()["error"], "nexmo_error");
    assert!(a.json().get("nexmo_status").is_none());
}

#[actix_web::test]
async fn wrong_credentials_are_a_nexmo_error_with_status_4() {
    let fake = FakeNexmo::start_with(&["--api-secret", "other"]);
    let app = TestApp::spawn(&config(&fake, ""));
    let a = app.get("/message/?receiver=%2B4917612345678").await.json();
    assert_eq!(a["nexmo_status"], "4");
    assert_eq!(a["nexmo_error_text"], "Bad Credentials");
}

#[actix_web::test]
async fn templates_use_vars_declared_params_and_language_variants() {
    let fake = FakeNexmo::start();
    let extra = r#"
[[endpoint]]
path = "/app/"
sender = "Acme"
message.default = "Get {app} for {platform}, {number} ({country})"
message.de = "Hol dir {app} für {platform}"
[endpoint.vars]
app = "Example"
[endpoint.params]
platform = "ios|android"
"#;
    let app = TestApp::spawn(&config(&fake, extra));
    let a = app
        .get("/app/?receiver=%2B4917612345678&platform=ios")
        .await;
    assert_eq!(a.json()["status"], "ok");
    let a = app
        .get_with(
            "/app/?receiver=%2B4917612345678&platform=android",
            &[("accept-language", "de-AT, en;q=0.5")],
        )
        .await;
    assert_eq!(a.json()["status"], "ok");
    let a = app
        .get_with(
            "/app/?receiver=%2B4917612345678&platform=ios",
            &[("accept-language", "fr, it;q=0.5")],
        )
        .await;
    assert_eq!(a.json()["status"], "ok");
    for (q, param) in [
        ("platform=windows", "platform"),
        ("platform=ios%20x", "platform"),
        ("", "platform"),
        ("platform=iosandroid", "platform"),
    ] {
        let a = app
            .get(&format!("/app/?receiver=%2B4917612345678&{q}"))
            .await;
        assert_eq!(
            a.json(),
            json!({"status": "error", "error": "param_validation", "param": param}),
            "{q}"
        );
    }
    // Undeclared parameters never reach the text.
    app.get("/app/?receiver=%2B4917612345678&platform=ios&app=EVIL&text=EVIL")
        .await;
    let texts: Vec<String> = fake
        .received()
        .await
        .iter()
        .map(|r| params(r)["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        texts,
        [
            "Get Example for ios, +49 176 12345678 (DE)",
            "Hol dir Example für android",
            "Get Example for ios, +49 176 12345678 (DE)",
            "Get Example for ios, +49 176 12345678 (DE)",
        ]
    );
}

#[actix_web::test]
async fn dry_run_logs_instead_of_sending() {
    let fake = FakeNexmo::start();
    let toml = format!("{}\n", config(&fake, ""))
        .replace("timeout = \"2s\"", "timeout = \"2s\"\ndry_run = true");
    let app = TestApp::spawn(&toml);
    let a = app.get("/message/?receiver=%2B4917612345678").await.json();
    assert_eq!(a["status"], "ok");
    assert_eq!(a["dry_run"], true);
    assert_eq!(a["parts"], 1);
    assert!(fake.received().await.is_empty());
    assert!(app.wait_for_log("dry run: would send 1 part(s) from \"Acme\" to +49 176 ****5678"));
    assert!(!app.logs().contains("12345678\""));
}

#[actix_web::test]
async fn the_legacy_default_handler_serves_at_request_path() {
    let fake = FakeNexmo::start();
    let app = Spawn::new("[defaults]\nlimits = []\n")
        .env("MESSAGE", "Hallo von Example")
        .env("SENDER", "Example")
        .env("REQUEST_PATH", "/legacy/")
        .env("NEXMO_API_KEY", API_KEY)
        .env("NEXMO_API_SECRET", API_SECRET)
        .env("NEXMO_DOMAIN", fake.base.trim_start_matches("http://"))
        .env("NEXMO_SSL", "0")
        .start()
        .unwrap();
    let a = app.get("/legacy/?receiver=0176%2012345678").await.json();
    assert_eq!(a["status"], "ok", "{a}");
    assert_eq!(
        params(&fake.received().await[0])["text"],
        "Hallo von Example"
    );
}

#[actix_web::test]
async fn without_credentials_the_proxy_refuses_to_start_and_says_why() {
    let err = Spawn::new("[[endpoint]]\npath = \"/m/\"\nsender = \"A\"\nmessage = \"x\"\n")
        .start()
        .err()
        .unwrap();
    assert!(err.contains("nexmo.api_key: not set"), "{err}");
    assert!(err.contains("nexmo.api_secret: not set"), "{err}");
    let err = Spawn::new("[defaults]\n")
        .env("MESSAGE", "x")
        .start()
        .err()
        .unwrap();
    assert!(err.contains("SENDER (--sender) is missing"), "{err}");
}

#[actix_web::test]
async fn post_bodies_work_for_messages() {
    let fake = FakeNexmo::start();
    let app = TestApp::spawn(&config(&fake, ""));
    let a = app
        .post(
            "/message/",
            "application/json",
            r#"{"receiver": "+447400123456"}"#,
        )
        .await;
    assert_eq!(a.json()["number"], "+44 7400 123456");
    let a = app
        .post(
            "/message/",
            "application/x-www-form-urlencoded",
            "receiver=%2B33612345678",
        )
        .await;
    assert_eq!(a.json()["number"], "+33 6 12 34 56 78");
}

#[actix_web::test]
async fn every_message_answer_renders_as_jsonp_too() {
    let fake = FakeNexmo::start();
    let extra = "[[endpoint]]\npath = \"/p/\"\nsender = \"Acme\"\nmessage = \"{platform}\"\nlimits = [{ per = \"ip\", max = 4, window = \"1h\" }]\n[endpoint.params]\nplatform = \"ios|android\"\n";
    let app = TestApp::spawn(&config(&fake, extra));
    let cases = [
        ("receiver=%2B4917612345678&platform=ios", "ok", None),
        ("platform=ios", "error", Some("receiver_missing")),
        (
            "receiver=12&platform=ios",
            "error",
            Some("receiver_validation"),
        ),
        (
            "receiver=%2B4917612345678&platform=beos",
            "error",
            Some("param_validation"),
        ),
        (
            "receiver=%2B4917612345678&platform=ios",
            "error",
            Some("limit_acceded"),
        ),
    ];
    for (q, status, error) in cases {
        let a = app.get(&format!("/p/?{q}&callback=my.cb_1")).await;
        assert_eq!(
            a.header("content-type"),
            Some("application/javascript; charset=utf-8")
        );
        let j = a.jsonp("my.cb_1");
        assert_eq!(j["status"], status, "{q}: {j}");
        assert_eq!(j["error"].as_str(), error, "{q}: {j}");
    }
    let j = app
        .get("/message/?receiver=%2B4917600000007&callback=cb")
        .await
        .jsonp("cb");
    assert_eq!(j["error"], "nexmo_error");
    assert_eq!(j["nexmo_status"], "7");
}

#[actix_web::test]
async fn the_old_proxys_variables_send_to_us_numbers_and_refuse_landlines() {
    let fake = FakeNexmo::start();
    let domain = fake.base.trim_start_matches("http://").to_string();
    let app = Spawn::new("[server]\n")
        .env("MESSAGE", "Get the app")
        .env("SENDER", "Acme")
        .env("NEXMO_API_KEY", API_KEY)
        .env("NEXMO_API_SECRET", API_SECRET)
        .env("NEXMO_DOMAIN", &domain)
        .env("NEXMO_SSL", "false")
        .env("NEXMO_LONG_VIRTUAL_NUMBER", "15551230000")
        .start()
        .unwrap();
    let a = app.get("/message/?receiver=%2B12125551234").await.json();
    assert_eq!(a["status"], "ok", "{a}");
    let a = app.get("/message/?receiver=%2B493012345678").await.json();
    assert_eq!(a["error"], "receiver_not_allowed", "{a}");
    assert_eq!(a["reason"], "type");
    assert_eq!(fake.received().await.len(), 1);
}
