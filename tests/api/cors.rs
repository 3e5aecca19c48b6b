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

    let sent = app.get_with(SEND, &[("origin", SITE)]).await;
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
        assert_eq!(r.header("access-control-allow-origin"), None);
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
    // A page the proxy serves itself is its own origin.
    let host = app.url("").trim_end_matches('/').to_string();
    let same = app
        .get_with(
            "/validate_number/?number=%2B4917612345678",
            &[("origin", &host)],
        )
        .await;
    assert_eq!(same.status, 200, "{host}: {}", same.body);
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
