//! A faithful fake of the Nexmo SMS API (`/sms/json`), shipped as the
//! `fake-nexmo` binary for tests and staging. It answers as the documented
//! API does (README, "A fake Nexmo"): HTTP 200 with string-typed fields,
//! one `messages[]` entry per part, UUID message ids, the documented status
//! codes; and it records every request (`GET /_log`, `DELETE /_log`).
//!
//! Magic receivers force failures: `to` = `49176000000NN` answers status
//! `NN` (1..=34), and `4917600000090`.. `96` force the transport faults
//! listed in `MAGIC`.

mod sms;

use actix_web::http::StatusCode;
use actix_web::{web, App, HttpResponse, HttpServer};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::net::TcpListener;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;
use std::time::Duration;

/// Prefix of the magic receivers; two digits follow.
pub const MAGIC_PREFIX: &str = "49176000000";

/// The fault receivers, by their last two digits.
pub const MAGIC: &[(&str, &str)] = &[
    ("90", "always throttled (status 1, wait 200 ms)"),
    (
        "91",
        "throttled on the first request for this number, accepted after",
    ),
    ("92", "HTTP 500 with an empty body"),
    ("93", "HTTP 200 with a body that is not JSON"),
    ("94", "HTTP 200 JSON without a messages array"),
    ("95", "slow: answers after --slow-ms (default 3000 ms)"),
    ("96", "two parts: first accepted, second throttled"),
];

/// One request as the fake saw it, for `GET /_log`.
#[derive(Debug, Clone, Serialize)]
struct Received {
    method: String,
    path: String,
    query: String,
    content_type: String,
    /// Query, form and JSON parameters merged (body wins).
    params: BTreeMap<String, String>,
}

pub struct FakeNexmo {
    api_key: String,
    api_secret: String,
    /// Accepts signed requests made with this secret and method.
    signature: Option<(String, crate::signature::Method)>,
    slow: Duration,
    log: Mutex<Vec<Received>>,
    balance_micro: AtomicU64,
    throttled_once: Mutex<HashSet<String>>,
}

impl FakeNexmo {
    pub fn new(api_key: &str, api_secret: &str, slow: Duration) -> FakeNexmo {
        FakeNexmo {
            api_key: api_key.into(),
            api_secret: api_secret.into(),
            signature: None,
            slow,
            log: Mutex::new(Vec::new()),
            balance_micro: AtomicU64::new(100_000_000),
            throttled_once: Mutex::new(Default::default()),
        }
    }

    /// Also accepts requests signed with `secret` by `method` (`md5hash`,
    /// `md5`, `sha1`, `sha256`, `sha512`), as an account with signing
    /// enabled does.
    pub fn with_signature(mut self, secret: &str, method: &str) -> Result<FakeNexmo, String> {
        let method = crate::signature::Method::parse(method)
            .ok_or_else(|| format!("unknown signature method {method:?}"))?;
        self.signature = Some((secret.to_string(), method));
        Ok(self)
    }
}

async fn read_log(fake: web::Data<FakeNexmo>) -> HttpResponse {
    let log = fake.log.lock().unwrap_or_else(|e| e.into_inner()).clone();
    HttpResponse::Ok().json(log)
}

async fn clear_log(fake: web::Data<FakeNexmo>) -> HttpResponse {
    fake.log.lock().unwrap_or_else(|e| e.into_inner()).clear();
    HttpResponse::NoContent().finish()
}

/// Serves the fake on `listener` until the process ends.
pub fn serve(listener: TcpListener, fake: FakeNexmo) -> std::io::Result<actix_web::dev::Server> {
    let data = web::Data::new(fake);
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/sms/json", web::get().to(sms::sms))
            .route("/sms/json", web::post().to(sms::sms))
            .route("/_log", web::get().to(read_log))
            .route("/_log", web::delete().to(clear_log))
            .default_service(web::to(|| async {
                HttpResponse::build(StatusCode::NOT_FOUND).finish()
            }))
    })
    .workers(2)
    .listen(listener)?
    .run())
}
