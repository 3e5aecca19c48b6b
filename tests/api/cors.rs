//! Which pages may call an endpoint: CORS for `fetch` (preflight, `Vary`,
//! allowed and refused origins, refused before anything is counted or
//! sent), `jsonp = false`, and the `Referer` filter.

use crate::common::{nexmo_table, FakeNexmo, TestApp};

const SITE: &str = "https://shop.example";
const OTHER: &str = "https://evil.example";
const SEND: &str = "/m/?receiver=%2B4917612345678";

fn config(fake: &FakeNexmo, web: &str) -> String {
    format!(
        "{}[defaults]\n{web}\n[[endpoint]]\npath = \"/m/\"\nsender = \"Acme\"\nmessage = \"hi\"\n\
         limits = [{{ per = \"ip\", max = 1, window = \"1h\" }}]\n",
        nexmo_table(fake)
    )
}

#[actix_web::test]
async fn a_listed_origin_gets_cors_and_a_preflight() {
    let fake = FakeNexmo::start();
    let app = TestApp::spawn(&config(&fake, "cors_origins = [\"https://shop.example/\"]"));
    let pre = app
        .send(
            "OPTIONS",
            SEND,
            &[
                ("origin", SITE),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "content-type"),
            ],
        )
        .await;
    assert_eq!(pre.status, 204, "{}", pre.body);
    assert_eq!(pre.header("access-control-allow-origin"), Some(SITE));
    assert_eq!(
        pre.header("access-control-allow-methods"),
        Some("GET, POST")
    );
    assert_eq!(
        pre.header("access-control-allow-headers"),
        Some("Content-Type")
    );
    assert_eq!(pre.header("access-control-max-age"), Some("7200"));
    assert_eq!(pre.header("vary"), Some("Origin"));
    assert_eq!(pre.header("access-control-allow-credentials"), None);
    assert!(pre.body.is_empty());
    assert!(
        fake.received().await.is_empty(),
        "a preflight sends nothing"
    );

    let send = format!("{SEND}&platform=ios");
    let sent = app.get_with(&send, &[("origin", SITE)]).await;
    assert_eq!(sent.json()["status"], "ok", "{}", sent.body);
    assert_eq!(sent.header("access-control-allow-origin"), Some(SITE));
    assert_eq!(
        sent.header("access-control-expose-headers"),
        Some("Retry-After")
    );
    assert_eq!(sent.header("vary"), Some("Origin"));
    // A limit's retry time is readable by a script, in the body too.
    let limited = app.get_with(SEND, &[("origin", SITE)]).await;
    let body = limited.json();
    assert_eq!(body["error"], "limit_acceded");
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert_eq!(body["retry_after"], retry);
    // Without an Origin (curl, JSONP): answered, with Vary and no CORS.
    let plain = app.get("/validate_number/?number=%2B4917612345678").await;
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("vary"), Some("Origin"));
    assert_eq!(plain.header("access-control-allow-origin"), None);
}

#[actix_web::test]
async fn another_site_is_refused_before_anything_is_counted_or_sent() {
    let fake = FakeNexmo::start();
    let app = TestApp::spawn(&config(&fake, "cors_origins = [\"https://shop.example\"]"));
    for _ in 0..3 {
        let r = app.get_with(SEND, &[("origin", OTHER)]).await;
        assert_eq!(r.status, 403);
        assert_eq!(r.json()["error"], "origin_not_allowed");
        assert_eq!(r.header("vary"), Some("Origin"));
        // The refused page can read why; it is never allowed credentials.
        assert_eq!(r.header("access-control-allow-origin"), Some(OTHER));
        assert_eq!(r.header("access-control-allow-credentials"), None);
    }
    let pre = app
        .send(
            "OPTIONS",
            SEND,
            &[("origin", OTHER), ("access-control-request-method", "POST")],
        )
        .await;
    assert_eq!(pre.status, 403);
    assert!(fake.received().await.is_empty());
    // The per-IP limit of 1 was not touched by the refusals.
    let ok = app.get_with(SEND, &[("origin", SITE)]).await;
    assert_eq!(ok.json()["status"], "ok", "{}", ok.body);
    assert_eq!(fake.received().await.len(), 1);
}

#[actix_web::test]
async fn jsonp_can_be_refused_and_referers_filtered() {
    let fake = FakeNexmo::start();
    let web = "jsonp = false\nallowed_referers = [\"https://shop.example\"]";
    let app = TestApp::spawn(&config(&fake, web));
    let page = [("referer", "https://shop.example/download?x=1")];
    let r = app.get_with(&format!("{SEND}&callback=cb"), &page).await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(r.json()["error"], "jsonp_not_allowed");
    for refused in [
        vec![("referer", "https://evil.example/shop.example")],
        vec![],
        vec![("origin", OTHER)],
    ] {
        let r = app.get_with(SEND, &refused).await;
        assert_eq!(r.json()["error"], "origin_not_allowed", "{refused:?}");
    }
    assert!(fake.received().await.is_empty());
    assert_eq!(app.get_with(SEND, &page).await.json()["status"], "ok");
    // Without CORS configured, no CORS headers and no Vary.
    assert_eq!(app.get_with(SEND, &page).await.header("vary"), None);
}

#[actix_web::test]
async fn without_web_keys_every_page_may_call_as_before() {
    let fake = FakeNexmo::start();
    let app = TestApp::spawn(&config(&fake, ""));
    let r = app
        .get_with(&format!("{SEND}&callback=cb"), &[("origin", OTHER)])
        .await;
    assert_eq!(r.jsonp("cb")["status"], "ok");
    assert_eq!(r.header("vary"), None);
    assert_eq!(r.header("access-control-allow-origin"), None);
    assert_eq!(
        app.send("OPTIONS", SEND, &[("origin", OTHER)]).await.status,
        405
    );
}

/// `<img src>`, `<script src>` and links carry no `Origin`; browsers say
/// they are cross-site, and the page by its `Referer`.
#[actix_web::test]
async fn a_cross_site_get_without_origin_must_come_from_a_listed_page() {
    let fake = FakeNexmo::start();
    let app = TestApp::spawn(&config(&fake, "cors_origins = [\"https://shop.example\"]"));
    let validate = "/validate_number/?number=%2B4917612345678";
    for refused in [
        vec![
            ("sec-fetch-site", "cross-site"),
            ("referer", "https://evil.example/"),
        ],
        vec![("sec-fetch-site", "cross-site")],
        vec![
            ("sec-fetch-site", "same-site"),
            ("referer", "https://a.shop.example/"),
        ],
    ] {
        let r = app.get_with(&format!("{SEND}&callback=cb"), &refused).await;
        // JSONP is answered 200, or the page's script would never run.
        assert_eq!(r.status, 200, "{refused:?}");
        assert_eq!(r.jsonp("cb")["error"], "origin_not_allowed");
        assert_eq!(app.get_with(validate, &refused).await.status, 403);
    }
    assert!(fake.received().await.is_empty());
    // JSONP from a listed page, and a client that is not a browser.
    let page = [
        ("sec-fetch-site", "cross-site"),
        ("referer", "https://shop.example/dl"),
    ];
    let r = app
        .get_with(&format!("{validate}&callback=cb"), &page)
        .await;
    assert_eq!(r.jsonp("cb")["status"], "ok", "{}", r.body);
    assert_eq!(app.get(validate).await.status, 200);
    let own = [("sec-fetch-site", "same-origin")];
    assert_eq!(app.get_with(validate, &own).await.status, 200);
}

#[actix_web::test]
async fn every_answer_to_a_listed_origin_can_be_read_by_its_page() {
    let fake = FakeNexmo::start();
    let app = TestApp::spawn(&config(&fake, "cors_origins = [\"https://shop.example\"]"));
    let from_site = [("origin", SITE)];
    // fetch(url, {method: "POST", headers: {"Content-Type": "application/json"}, body})
    let post = app
        .post_with(
            "/m/",
            "application/json",
            r#"{"receiver": "+4917612345678"}"#,
            &from_site,
        )
        .await;
    assert_eq!(post.json()["status"], "ok", "{}", post.body);
    assert_eq!(post.header("access-control-allow-origin"), Some(SITE));
    for (method, path) in [
        ("PUT", "/m/"),
        ("GET", "/m/?receiver=%2B4917612345678&callback=1x"),
        ("GET", "/m/?receiver=%2B4917612345679"),
    ] {
        let r = app.send(method, path, &from_site).await;
        assert!(
            r.status >= 400 || r.json()["status"] == "error",
            "{method} {path}"
        );
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some(SITE),
            "{method} {path}"
        );
        assert_eq!(r.header("vary"), Some("Origin"), "{method} {path}");
    }
}

#[actix_web::test]
async fn any_origin_does_not_widen_allowed_referers() {
    let fake = FakeNexmo::start();
    let web = "cors_origins = [\"*\"]\nallowed_referers = [\"https://shop.example\"]";
    let app = TestApp::spawn(&config(&fake, web));
    let evil = [("referer", "https://evil.example/")];
    assert_eq!(app.get_with(SEND, &evil).await.status, 403);
    let page = [("referer", "https://shop.example/")];
    assert_eq!(app.get_with(SEND, &page).await.json()["status"], "ok");
    assert_eq!(fake.received().await.len(), 1);
}

#[actix_web::test]
async fn the_demo_page_is_served_at_the_root_only_when_asked() {
    let fake = FakeNexmo::start();
    let web = "cors_origins = [\"https://shop.example\"]";
    let app = TestApp::spawn(&format!(
        "[server]\ndemo_page = true\n{}[endpoint.params]\nplatform = \"ios|android\"\n",
        config(&fake, web)
    ));
    let page = app.get("/").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let csp = page.header("content-security-policy").unwrap_or("");
    assert!(
        csp.starts_with("default-src 'none'; script-src 'sha256-"),
        "{csp}"
    );
    // No script of this origin but those the page adds (JSONP).
    let scripts = csp.split(';').find(|d| d.trim().starts_with("script-src"));
    let scripts = scripts.unwrap_or("");
    assert!(scripts.ends_with(" 'strict-dynamic'"), "{csp}");
    assert!(!scripts.contains("'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    // Its configuration block is this proxy's: same origin, the first
    // endpoint and its declared parameter, no delivery line without dlr_url.
    // The default longest send, 2 x (2 s + 10 s) + 1 s, and a margin.
    let block = r#"{"proxy":"","send":"/m/","validate":"/validate_number/","status":null,"params":{},"ask":["platform"],"timeout":30}"#;
    assert!(page.body.contains(block), "{}", page.body);
    assert!(page.body.contains("IP Geolocation by DB-IP"));
    let head = app.send("HEAD", "/", &[]).await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    let post = app.send("POST", "/", &[]).await;
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    assert_eq!(post.json()["error"], "method_not_allowed");
    // The API answers as before beside it.
    let send = format!("{SEND}&platform=ios");
    let sent = app.get_with(&send, &[("origin", SITE)]).await;
    assert_eq!(sent.json()["status"], "ok", "{}", sent.body);

    let off = TestApp::spawn(&config(&fake, web));
    let none = off.get("/").await;
    assert_eq!(none.status, 404);
    assert_eq!(none.json()["error"], "not_found");
}
