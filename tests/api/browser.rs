//! The example page in a real browser: headless Chromium, driven through
//! chromedriver (WebDriver), against the real proxy and `fake-nexmo`.
//! The page is used as a visitor uses it: typed into, clicked, read.
//!
//! Hosted by another site that the proxy lists (`cors_origins`), it checks
//! a national number from an English-language browser, sends, follows the
//! delivery line to "delivered" (a receipt from `fake-nexmo`), shows a
//! limit's retry time, a Nexmo failure and a refused parameter, by `fetch`
//! and again by JSONP. Hosted by a site not listed, it is refused before
//! anything is counted, by `fetch` and by JSONP. Served by the proxy
//! (`server.demo_page`, same origin) it sends too. Each step leaves a
//! screenshot under `target/tmp/browser/`; a failure names its own.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs
//! them); `CHROMIUM` and `CHROMEDRIVER` name other binaries.

use crate::common::{nexmo_table, FakeNexmo, TestApp, DEADLINE};
use actix_web::{web, App, HttpResponse, HttpServer};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PAGE: &str = include_str!("../../examples/download-link.html");
const DLR_PATH: &str = "/nexmo/receipts/";

fn binary(var: &str, default: &str) -> String {
    let path = std::env::var(var).unwrap_or_else(|_| default.to_string());
    assert!(
        std::path::Path::new(&path).exists(),
        "the browser test needs {path} (apt-get install chromium chromium-driver, as .ci/run does; \
         or set {var})"
    );
    path
}

/// chromedriver on a free port, and one browser session through it.
struct Browser {
    driver: Child,
    client: Option<Client>,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start() -> Browser {
        let chromium = binary("CHROMIUM", "/usr/bin/chromium");
        let chromedriver = binary("CHROMEDRIVER", "/usr/bin/chromedriver");
        let profile = tempfile::tempdir().unwrap();
        let log = profile.path().join("chromedriver.log");
        let (driver, url) = start_driver(&chromedriver, &log).await;
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                    "--disable-gpu", "--no-first-run", "--lang=en-US",
                    "--window-size=900,1000",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
                // The visitor's language, set rather than inherited from
                // the machine: an English browser reading a German number.
                "prefs": { "intl": { "accept_languages": "en-US,en" } },
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&url)
            .await
            .expect("chromedriver starts a Chromium session");
        Browser {
            driver,
            client: Some(client),
            _profile: profile,
        }
    }

    fn c(&self) -> &Client {
        self.client.as_ref().unwrap()
    }

    async fn open(&self, url: &str) -> Result<(), String> {
        self.c()
            .goto(url)
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        // The page is ready when its script has run.
        self.poll("the page's script to run", |b| async move {
            let v = b.c().execute("return typeof transport;", vec![]).await;
            Ok((v.ok() == Some(json!("string"))).then_some(()))
        })
        .await
    }

    async fn fill(&self, css: &str, text: &str) -> Result<(), String> {
        let e = self
            .c()
            .find(Locator::Css(css))
            .await
            .map_err(|e| format!("{css}: {e}"))?;
        e.clear().await.map_err(|e| format!("{css}: {e}"))?;
        e.send_keys(text).await.map_err(|e| format!("{css}: {e}"))
    }

    async fn click(&self, css: &str) -> Result<(), String> {
        let e = self
            .c()
            .find(Locator::Css(css))
            .await
            .map_err(|e| format!("{css}: {e}"))?;
        e.click().await.map_err(|e| format!("{css}: {e}"))
    }

    async fn text(&self, css: &str) -> Result<String, String> {
        let e = self
            .c()
            .find(Locator::Css(css))
            .await
            .map_err(|e| format!("{css}: {e}"))?;
        e.text().await.map_err(|e| format!("{css}: {e}"))
    }

    /// Polls `css`'s text until it contains `needle`; returns the text.
    async fn shows(&self, css: &str, needle: &str) -> Result<String, String> {
        let what = format!("{css} to show {needle:?}");
        self.poll(&what, |b| async move {
            let text = b.text(css).await?;
            Ok(text.contains(needle).then_some(text))
        })
        .await
    }

    /// Waits until the buttons are enabled again (a request has ended).
    async fn idle(&self) -> Result<(), String> {
        self.poll("the form to be idle", |b| async move {
            let v = b
                .c()
                .execute(
                    "return !document.getElementById('form').hasAttribute('aria-busy');",
                    vec![],
                )
                .await
                .map_err(|e| e.to_string())?;
            Ok((v == json!(true)).then_some(()))
        })
        .await
    }

    async fn poll<'a, T, F, Fut>(&'a self, what: &str, mut ready: F) -> Result<T, String>
    where
        F: FnMut(&'a Browser) -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>, String>>,
    {
        let start = Instant::now();
        let mut last = String::new();
        loop {
            match ready(self).await {
                Ok(Some(v)) => return Ok(v),
                Ok(None) => {}
                Err(e) => last = e,
            }
            if start.elapsed() > DEADLINE {
                let now = self.text("#result").await.unwrap_or_default();
                return Err(format!("waited for {what}; #result says {now:?}; {last}"));
            }
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// How the page has talked to the proxy at `base`: `fetch` or
    /// `script` (JSONP), in order.
    async fn transports(&self, base: &str) -> Vec<String> {
        let v = self
            .c()
            .execute(
                "return performance.getEntriesByType('resource')\
                   .filter(e => e.name.startsWith(arguments[0] + '/'))\
                   .map(e => e.initiatorType);",
                vec![json!(base)],
            )
            .await
            .unwrap_or(Value::Null);
        serde_json::from_value(v).unwrap_or_default()
    }

    /// A screenshot of the page as it is, under target/tmp/browser/.
    async fn screenshot(&self, name: &str) -> PathBuf {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
        let _ = std::fs::create_dir_all(&dir);
        let file: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let path = dir.join(format!("{file}.png"));
        if let Ok(png) = self.c().screenshot().await {
            let _ = std::fs::write(&path, png);
        }
        path
    }

    /// Runs one step and keeps a screenshot of how it ended (each run
    /// replaces the last run's); a failure names its screenshot.
    async fn step<F: std::future::Future<Output = Result<(), String>>>(&self, name: &str, f: F) {
        let outcome = f.await;
        let shot = self.screenshot(name).await;
        if let Err(e) = outcome {
            panic!(
                "step {name:?} failed: {e}\n(screenshot: {})",
                shot.display()
            );
        }
    }

    async fn close(mut self) {
        if let Some(c) = self.client.take() {
            let _ = c.close().await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        // After a failed step the session was never closed: end this
        // test's Chromium (found by its own profile) rather than leave it.
        let _ = Command::new("pkill")
            .args(["-f", &self._profile.path().display().to_string()])
            .status();
    }
}

/// chromedriver on a port that was free a moment ago (it cannot take port
/// 0 and say which it got), another when it was taken meanwhile.
async fn start_driver(chromedriver: &str, log: &std::path::Path) -> (Child, String) {
    for _ in 0..5 {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs");
        let url = format!("http://127.0.0.1:{port}");
        let client = awc::Client::default();
        let start = Instant::now();
        while start.elapsed() < DEADLINE {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            if let Ok(mut r) = client.get(format!("{url}/status")).send().await {
                let v: Value = r.json().await.unwrap_or(Value::Null);
                if v["value"]["ready"] == json!(true) {
                    return (child, url);
                }
            }
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    let said = std::fs::read_to_string(log).unwrap_or_default();
    panic!("chromedriver did not start; its log:\n{said}");
}

/// The example page as a site would host it, calling the proxy at `proxy`,
/// served from a second origin; returns that origin.
fn host_page(proxy: &str) -> String {
    let page = PAGE
        .replace("\"http://127.0.0.1:8888\"", &format!("{proxy:?}"))
        .replace("\"send\": \"/message/\"", "\"send\": \"/m/\"")
        .replace("\"status\": null", "\"status\": \"/message_status/\"")
        .replace("\"ask\": []", "\"ask\": [\"platform\"]");
    assert!(page.contains("\"send\": \"/m/\"") && page.contains("\"ask\": [\"platform\"]"));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let server = HttpServer::new(move || {
        let page = page.clone();
        App::new().default_service(web::to(move || {
            let page = page.clone();
            async move {
                HttpResponse::Ok()
                    .content_type("text/html; charset=utf-8")
                    .body(page)
            }
        }))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    origin
}

fn config(fake: &FakeNexmo, origins: &[&str]) -> String {
    format!(
        r#"[server]
demo_page = true
{}timeout = "2s"
dlr_url = "https://sms.example.com{DLR_PATH}"
[defaults]
default_country = "DE"
limits = []
cors_origins = {origins:?}
[[endpoint]]
path = "/m/"
sender = "Acme"
message = "Get the app for {{platform}}: https://example.com/app"
limits = [{{ per = "number", max = 1, window = "1h" }}]
[endpoint.params]
platform = "ios|android"
"#,
        nexmo_table(fake)
    )
}

/// Sends to `number` from the open page, for `platform`.
async fn send(b: &Browser, number: &str, platform: &str) -> Result<(), String> {
    b.fill("#receiver", number).await?;
    b.fill("#param-platform", platform).await?;
    b.click("#send").await?;
    b.idle().await
}

#[actix_web::test]
async fn the_example_page_in_a_real_browser() {
    let fake = FakeNexmo::start();
    // The origins are known once the proxy and the sites listen: listed by
    // a reload.
    let app = TestApp::spawn(&config(&fake, &[]));
    let listed = host_page(&app.base);
    let unlisted = host_page(&app.base);
    std::fs::write(&app.config, config(&fake, &[&app.base, &listed])).unwrap();
    assert!(
        app.wait_for_log("applied configuration generation 2"),
        "{}",
        app.logs()
    );
    fake.route_callbacks_to(&app).await;
    let b = Browser::start().await;

    a_listed_site_by_fetch(&b, &fake, &app.base, &listed).await;
    a_listed_site_by_jsonp(&b, &app.base, &listed).await;
    let sent_before = fake.received().await.len();
    a_site_not_listed(&b, &app.base, &unlisted).await;
    assert_eq!(
        fake.received().await.len(),
        sent_before,
        "an unlisted site sent"
    );
    the_demo_page(&b, &app.base).await;
    assert_eq!(fake.received().await.len(), sent_before + 1);
    b.close().await;
}

/// The page on a listed site: CORS.
async fn a_listed_site_by_fetch(b: &Browser, fake: &FakeNexmo, base: &str, listed: &str) {
    b.step(
        "01 another site, listed: a national number read in DE",
        async {
            b.open(&format!("{listed}/")).await?;
            let langs = b.c().execute("return navigator.languages;", vec![]).await;
            if langs.ok() != Some(json!(["en-US", "en"])) {
                return Err("the browser's languages are not en-US, en".into());
            }
            b.fill("#receiver", "0176 12345678").await?;
            b.click("#check").await?;
            b.shows("#result", "+49 176 12345678 (mobile, DE)")
                .await
                .map(drop)
        },
    )
    .await;
    b.step("02 another site, listed: send, then delivered", async {
        send(b, "0176 12345678", "ios").await?;
        b.shows("#result", "Sent to +49 176 12345678.").await?;
        b.shows("#delivery", "Delivered to your phone.").await?;
        let got = fake.received().await;
        let text = got.last().map(|r| r["params"]["text"].clone());
        match text {
            Some(t) if t == "Get the app for ios: https://example.com/app" => Ok(()),
            t => Err(format!("fake-nexmo got {t:?}")),
        }
    })
    .await;
    b.step(
        "03 another site, listed: a limit says when to retry",
        async {
            send(b, "0176 12345678", "ios").await?;
            b.shows(
                "#result",
                "Too many requests for now. Please try again in 1 hour.",
            )
            .await
            .map(drop)
        },
    )
    .await;
    b.step("04 another site, listed: Nexmo fails", async {
        send(b, "+49 176 00000092", "android").await?;
        b.shows("#result", "The message could not be sent.").await?;
        match b.text("#delivery").await?.as_str() {
            "" => Ok(()),
            other => Err(format!("a delivery line for a failed send: {other:?}")),
        }
    })
    .await;
    b.step(
        "05 another site, listed: a refused parameter is named",
        async {
            send(b, "0176 12345671", "windows").await?;
            b.shows(
                "#result",
                "Please check the field \u{201c}platform\u{201d}.",
            )
            .await?;
            let t = b.transports(base).await;
            match t.len() >= 5 && t.iter().all(|t| t == "fetch") {
                true => Ok(()),
                false => Err(format!("not all by fetch: {t:?}")),
            }
        },
    )
    .await;
}

/// The page on a listed site, by JSONP.
async fn a_listed_site_by_jsonp(b: &Browser, base: &str, listed: &str) {
    b.step("06 another site, listed: by JSONP", async {
        b.open(&format!("{listed}/?transport=jsonp")).await?;
        b.fill("#receiver", "0176 12345672").await?;
        b.click("#check").await?;
        b.shows("#result", "+49 176 12345672 (mobile, DE)").await?;
        send(b, "0176 12345672", "android").await?;
        b.shows("#result", "Sent to +49 176 12345672.").await?;
        b.shows("#delivery", "Delivered to your phone.").await?;
        send(b, "0176 12345672", "android").await?;
        b.shows("#result", "Please try again in 1 hour.").await?;
        let t = b.transports(base).await;
        match t.len() >= 4 && t.iter().all(|t| t == "script") {
            true => Ok(()),
            false => Err(format!("not all by JSONP: {t:?}")),
        }
    })
    .await;
}

/// The page on a site `cors_origins` does not list: refused.
async fn a_site_not_listed(b: &Browser, base: &str, unlisted: &str) {
    b.step(
        "07 another site, not listed: refused, by fetch and JSONP",
        async {
            b.open(&format!("{unlisted}/")).await?;
            send(b, "0176 12345673", "ios").await?;
            // The refusal is readable: the page says which origin to list.
            b.shows("#result", &format!("its address ({unlisted})"))
                .await?;
            b.open(&format!("{unlisted}/?transport=jsonp")).await?;
            send(b, "0176 12345673", "ios").await?;
            // A JSONP page reads the refusal (HTTP 200, or it would not run).
            b.shows("#result", "its address (").await?;
            b.shows("#result", "is not among the proxy's cors_origins")
                .await?;
            let jsonp = b.transports(base).await;
            match jsonp == ["script"] {
                true => Ok(()),
                false => Err(format!("{jsonp:?}")),
            }
        },
    )
    .await;
}

/// The page the proxy serves (`server.demo_page`).
async fn the_demo_page(b: &Browser, base: &str) {
    b.step("08 the demo page, same origin", async {
        b.open(&format!("{}/", base)).await?;
        b.fill("#receiver", "0176 12345673").await?;
        b.click("#check").await?;
        b.shows("#result", "+49 176 12345673 (mobile, DE)").await?;
        // The number the unlisted site tried: nothing was counted for it.
        send(b, "0176 12345673", "ios").await?;
        b.shows("#result", "Sent to +49 176 12345673.").await?;
        b.shows("#delivery", "Delivered to your phone.").await?;
        // Its policy lets its own style apply (by hash)...
        let blue = b
            .c()
            .execute(
                "return getComputedStyle(document.getElementById('send')).backgroundColor;",
                vec![],
            )
            .await
            .map_err(|e| e.to_string())?;
        if blue != json!("rgb(29, 78, 216)") {
            return Err(format!("the page's style did not apply: {blue}"));
        }
        Ok(())
    })
    .await;
    b.step("09 the demo page by JSONP, under its policy", async {
        // ...and the scripts its own script adds (JSONP), by 'strict-dynamic'.
        b.open(&format!("{}/?transport=jsonp", base)).await?;
        b.fill("#receiver", "0176 12345674").await?;
        b.click("#check").await?;
        b.shows("#result", "+49 176 12345674 (mobile, DE)")
            .await
            .map(drop)
    })
    .await;
}
