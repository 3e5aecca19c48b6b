//! `/validate_number/` end to end, through the real binary.

use crate::common::TestApp;
use serde_json::json;

const TOML: &str = r#"
[server]
trusted_proxies = ["127.0.0.0/8"]
[defaults]
default_country = "DE"
[validation]
limits = [{ per = "ip", max = 1000, window = "1h" }]
"#;

const UNTRUSTED: &str = r#"
[validation]
limits = [{ per = "ip", max = 3, window = "1h" }]
"#;

#[actix_web::test]
async fn a_valid_number_answers_its_display_form_e164_country_and_type() {
    let app = TestApp::spawn(TOML);
    let a = app.get("/validate_number/?number=0176%2012345678").await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(a.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        a.json(),
        json!({"status": "ok", "number": "+49 176 12345678", "e164": "+4917612345678", "country": "DE", "type": "mobile", "read_in": "DE"})
    );
}

#[actix_web::test]
async fn every_outcome_in_json_and_jsonp() {
    let app = TestApp::spawn(TOML);
    let cases = [
        (
            "number=%2B4917612345678",
            json!({"status": "ok", "number": "+49 176 12345678", "e164": "+4917612345678", "country": "DE", "type": "mobile"}),
        ),
        (
            "number=%2B12125551234",
            json!({"status": "ok", "number": "+1 212-555-1234", "e164": "+12125551234", "country": "US", "type": "fixed_line_or_mobile"}),
        ),
        (
            "number=abcdefg",
            json!({"status": "ok", "number": false, "reason": "not_a_number"}),
        ),
        (
            "number=%2B491",
            json!({"status": "ok", "number": false, "reason": "too_short"}),
        ),
        (
            "number=%2B4912",
            json!({"status": "ok", "number": false, "reason": "invalid"}),
        ),
        (
            "number=%2B999123456",
            json!({"status": "ok", "number": false, "reason": "invalid_country"}),
        ),
        (
            "number=123456789012345678901",
            json!({"status": "ok", "number": false, "reason": "too_long"}),
        ),
        (
            "number=",
            json!({"status": "error", "error": "number_missing"}),
        ),
        (
            "number=%20%20",
            json!({"status": "error", "error": "number_missing"}),
        ),
        ("", json!({"status": "error", "error": "number_missing"})),
    ];
    for (query, want) in &cases {
        let a = app.get(&format!("/validate_number/?{query}")).await;
        assert_eq!(a.status, 200, "{query}");
        assert_eq!(&a.json(), want, "{query}");
        let a = app
            .get(&format!("/validate_number/?{query}&callback=jQuery123_456"))
            .await;
        assert_eq!(a.status, 200, "{query}");
        assert_eq!(
            a.header("content-type"),
            Some("application/javascript; charset=utf-8")
        );
        assert_eq!(a.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(&a.jsonp("jQuery123_456"), want, "{query}");
    }
}

#[actix_web::test]
async fn an_unencoded_plus_is_recognised() {
    let app = TestApp::spawn(TOML);
    let a = app.get("/validate_number/?number=+4917612345678").await;
    assert_eq!(a.json()["number"], "+49 176 12345678");
    // The old proxy read this as a national German number +49 491 ...
    let a = app.get("/validate_number/?number=+447400123456").await;
    assert_eq!(a.json()["number"], "+44 7400 123456");
}

#[actix_web::test]
async fn a_bad_callback_is_refused_with_plain_json() {
    let app = TestApp::spawn(TOML);
    for cb in [
        "alert(document.domain)//",
        "a%0Ab",
        "%3Cscript%3E",
        "1x",
        "a..b",
    ] {
        let a = app
            .get(&format!("/validate_number/?number=1&callback={cb}"))
            .await;
        assert_eq!(a.status, 400, "{cb}");
        assert_eq!(
            a.header("content-type"),
            Some("application/json; charset=utf-8")
        );
        assert_eq!(
            a.json(),
            json!({"status": "error", "error": "invalid_callback"}),
            "{cb}"
        );
    }
    let long = "a".repeat(129);
    assert_eq!(
        app.get(&format!("/validate_number/?number=1&callback={long}"))
            .await
            .status,
        400
    );
    // An empty callback is plain JSON, as before.
    let a = app.get("/validate_number/?number=1&callback=").await;
    assert_eq!(
        a.header("content-type"),
        Some("application/json; charset=utf-8")
    );
}

#[actix_web::test]
async fn post_form_and_json_bodies_work_like_get() {
    let app = TestApp::spawn(TOML);
    let a = app
        .post(
            "/validate_number/",
            "application/x-www-form-urlencoded",
            "number=%2B4917612345678",
        )
        .await;
    assert_eq!(a.json()["e164"], "+4917612345678");
    let a = app
        .post(
            "/validate_number/",
            "application/json",
            r#"{"number": "+44 7400 123456"}"#,
        )
        .await;
    assert_eq!(a.json()["e164"], "+447400123456");
    let a = app
        .post("/validate_number/", "application/json", r#"{"number": "#)
        .await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.json(),
        json!({"status": "error", "error": "invalid_json"})
    );
    let a = app.post("/validate_number/", "text/xml", "<number/>").await;
    assert_eq!(a.status, 415);
    let big = format!("number={}", "1".repeat(20_000));
    let a = app
        .post(
            "/validate_number/",
            "application/x-www-form-urlencoded",
            &big,
        )
        .await;
    assert_eq!(a.status, 413);
    assert_eq!(a.json()["error"], "payload_too_large");
}

#[actix_web::test]
async fn unknown_paths_and_methods_answer_json() {
    let app = TestApp::spawn(TOML);
    let a = app.get("/nope/").await;
    assert_eq!(a.status, 404);
    assert_eq!(a.json(), json!({"status": "error", "error": "not_found"}));
    // The trailing slash is part of the path, as before.
    assert_eq!(app.get("/validate_number?number=1").await.status, 404);
    let a = app
        .request("DELETE", "/validate_number/", "text/plain", "")
        .await;
    assert_eq!(a.status, 405);
    assert_eq!(a.header("allow"), Some("GET, POST"));
    assert_eq!(
        a.json(),
        json!({"status": "error", "error": "method_not_allowed"})
    );
    let a = app.get("/nope/?callback=cb").await;
    assert_eq!(
        a.jsonp("cb"),
        json!({"status": "error", "error": "not_found"})
    );
}

#[actix_web::test]
async fn country_is_guessed_from_parameter_geoip_and_language() {
    let app = TestApp::spawn(TOML);
    let n = "/validate_number/?number=07400123456";
    // Default DE: the digits read as a German fixed-line number.
    assert_eq!(app.get(n).await.json()["country"], "DE");
    // The country parameter.
    assert_eq!(
        app.get(&format!("{n}&country=gb")).await.json()["country"],
        "GB"
    );
    // An unknown country parameter is ignored.
    assert_eq!(
        app.get(&format!("{n}&country=XX")).await.json()["country"],
        "DE"
    );
    // Accept-Language (the peer is loopback: no geo-IP country).
    let a = app
        .get_with(n, &[("accept-language", "fr;q=0.5, en-GB;q=0.9")])
        .await;
    assert_eq!(a.json()["country"], "GB");
    // Geo-IP of a forwarded client (127.0.0.0/8 is trusted here): 81.2.69.160 is in GB.
    let a = app
        .get_with(
            n,
            &[
                ("x-forwarded-for", "81.2.69.160"),
                ("accept-language", "de-DE"),
            ],
        )
        .await;
    assert_eq!(a.json()["country"], "GB");
    // Geo-IP outranks Accept-Language: a German address reads a German number.
    let a = app
        .get_with(
            "/validate_number/?number=017612345678",
            &[("x-real-ip", "193.99.144.80"), ("accept-language", "en-US")],
        )
        .await;
    assert_eq!(a.json()["country"], "DE");
}

#[actix_web::test]
async fn guessing_off_uses_only_the_default_country() {
    let app = TestApp::spawn("[defaults]\nguess_country = false\ndefault_country = \"AT\"\n");
    let a = app
        .get_with(
            "/validate_number/?number=0664%201234567&country=GB",
            &[("accept-language", "en-GB")],
        )
        .await;
    assert_eq!(a.json()["number"], "+43 664 1234567");
}

#[actix_web::test]
async fn the_limit_answers_limit_acceded_with_retry_after() {
    let app = TestApp::spawn(UNTRUSTED);
    for _ in 0..3 {
        assert_eq!(
            app.get("/validate_number/?number=1").await.json()["status"],
            "ok"
        );
    }
    let a = app
        .get("/validate_number/?number=%2B4917612345678&callback=cb")
        .await;
    assert_eq!(a.status, 200);
    let body = a.jsonp("cb");
    let retry: u64 = a.header("retry-after").unwrap().parse().unwrap();
    assert_eq!(
        body,
        json!({"status": "error", "error": "limit_acceded", "retry_after": retry})
    );
    assert!((3500..=3600).contains(&retry), "{retry}");
}

#[actix_web::test]
async fn a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = TestApp::spawn(UNTRUSTED);
    // A GB address claimed from an untrusted peer does not change the
    // geo-IP country: a UK national number still reads as German.
    let a = app
        .get_with(
            "/validate_number/?number=07400123456",
            &[("x-forwarded-for", "81.2.69.160")],
        )
        .await;
    assert_eq!(a.json()["country"], "DE");
    // Each request claims a new address; all count against the real peer.
    for i in 1..3 {
        let h = [
            ("x-forwarded-for", format!("203.0.113.{i}")),
            ("x-real-ip", format!("198.51.100.{i}")),
        ];
        let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(
            app.get_with("/validate_number/?number=1", &h).await.json()["status"],
            "ok"
        );
    }
    let a = app
        .get_with(
            "/validate_number/?number=1",
            &[("x-forwarded-for", "203.0.113.99")],
        )
        .await;
    assert_eq!(a.json()["error"], "limit_acceded");
}

#[actix_web::test]
async fn a_trusted_proxy_gives_each_forwarded_client_its_own_budget() {
    let app = TestApp::spawn("[server]\ntrusted_proxies = [\"127.0.0.1\"]\n[validation]\nlimits = [{ per = \"ip\", max = 1, window = \"1h\" }]\n");
    for i in 0..5 {
        let ip = format!("203.0.113.{i}");
        let a = app
            .get_with(
                "/validate_number/?number=1",
                &[("x-forwarded-for", ip.as_str())],
            )
            .await;
        assert_eq!(a.json()["status"], "ok", "{ip}");
    }
    let a = app
        .get_with(
            "/validate_number/?number=1",
            &[("x-forwarded-for", "203.0.113.0")],
        )
        .await;
    assert_eq!(a.json()["error"], "limit_acceded");
}

#[actix_web::test]
async fn clients_behind_a_nat64_translator_are_counted_by_their_ipv4_address() {
    let app = TestApp::spawn("[server]\ntrusted_proxies = [\"127.0.0.1\"]\n[validation]\nlimits = [{ per = \"ip\", max = 1, window = \"1h\" }]\n");
    let from = |client: &'static str| {
        let app = &app;
        async move {
            app.get_with("/validate_number/?number=1", &[("x-forwarded-for", client)])
                .await
                .json()
        }
    };
    // Two IPv4 clients in one NAT64 /64: each has its own counter.
    assert_eq!(from("64:ff9b::cb00:7101").await["status"], "ok");
    assert_eq!(from("64:ff9b::cb00:7102").await["status"], "ok");
    // The first again, by its plain IPv4 address: the same counter.
    assert_eq!(from("203.0.113.1").await["error"], "limit_acceded");
}

#[actix_web::test]
async fn a_national_number_is_read_where_it_is_valid_and_says_where() {
    let app = TestApp::spawn(TOML);
    // An English-language browser, an address with no geo-IP answer, and
    // the page's own placeholder: not a US number, but a German one.
    let en = [("accept-language", "en-US,en;q=0.9")];
    let a = app
        .get_with("/validate_number/?number=0176%2012345678", &en)
        .await;
    assert_eq!(
        a.json(),
        json!({"status": "ok", "number": "+49 176 12345678", "e164": "+4917612345678",
               "country": "DE", "type": "mobile", "read_in": "DE"})
    );
    // Valid in the first region: read there.
    let us = app
        .get_with("/validate_number/?number=(201)%20555-0123", &en)
        .await;
    assert_eq!(us.json()["read_in"], "US", "{}", us.body);
    // An explicit country is the only region tried.
    let only = app
        .get_with("/validate_number/?number=0176%2012345678&country=US", &en)
        .await;
    assert_eq!(only.json()["number"], false, "{}", only.body);
    // International input names no region.
    let intl = app.get("/validate_number/?number=%2B4917612345678").await;
    assert_eq!(intl.json().get("read_in"), None);
}
