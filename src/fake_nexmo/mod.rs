//! A faithful fake of the Nexmo SMS API (`/sms/json`), shipped as the
//! `fake-nexmo` binary for tests and staging. It answers as the documented
//! API does (README, "A fake Nexmo"): HTTP 200 with string-typed fields,
//! one `messages[]` entry per part, UUID message ids, the documented status
//! codes; and it records every request (`GET /_log`, `DELETE /_log`).
//!
//! Magic receivers force failures: `to` = `49176000000NN` answers status
//! `NN` (1..=34), and `4917600000090`.. `98` force the transport faults
//! listed in `MAGIC`.

mod dlr;
mod sms;

pub use dlr::{Transport, DLR_MAGIC};

use actix_web::http::StatusCode;
use actix_web::{web, App, HttpResponse, HttpServer};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet, VecDeque};
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
    (
        "97",
        "accepted and billed, but the JSON reply is cut off halfway",
    ),
    (
        "98",
        "accepted and billed, then the connection closes before the reply is complete",
    ),
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
    dlr_delay: Duration,
    dlr_transport: Transport,
    /// Where callbacks really go (`PUT /_callback_origin`): a callback's
    /// scheme, host and port are replaced by this origin, as DNS and a
    /// front proxy would route a public URL to a local listener.
    callback_origin: Mutex<Option<String>>,
    /// Receipts sent, with the answer each got, for `GET /_receipts`.
    receipts: Mutex<Vec<serde_json::Value>>,
    /// Requests it takes in any one second before answering status 1, and
    /// when it took the last ones (a sliding window: the strictest reading
    /// of "30 requests per second").
    max_rps: Option<(usize, Mutex<VecDeque<std::time::Instant>>)>,
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
            dlr_delay: Duration::from_millis(50),
            dlr_transport: Transport::Get,
            callback_origin: Mutex::new(None),
            receipts: Mutex::new(Vec::new()),
            max_rps: None,
        }
    }

    /// Receipts go by `transport`, each `delay` after the one before.
    pub fn with_receipts(mut self, transport: Transport, delay: Duration) -> FakeNexmo {
        self.dlr_transport = transport;
        self.dlr_delay = delay;
        self
    }

    /// Takes at most `rps` requests in any one second, and answers status 1
    /// beyond, as an account's throughput limit does.
    pub fn with_max_rps(mut self, rps: u32) -> FakeNexmo {
        self.max_rps = Some((rps.max(1) as usize, Mutex::new(VecDeque::new())));
        self
    }

    /// Takes a place in the window, or says how many ms until there is one.
    fn take_token(&self) -> Result<(), u64> {
        let Some((max, window)) = &self.max_rps else {
            return Ok(());
        };
        let second = Duration::from_secs(1);
        let mut taken = window.lock().unwrap_or_else(|e| e.into_inner());
        let now = std::time::Instant::now();
        while taken
            .front()
            .is_some_and(|t| now.duration_since(*t) >= second)
        {
            taken.pop_front();
        }
        if taken.len() < *max {
            taken.push_back(now);
            return Ok(());
        }
        let oldest = taken.front().copied().unwrap_or(now);
        Err((second.saturating_sub(now.duration_since(oldest))).as_millis() as u64 + 1)
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

async fn read_receipts(fake: web::Data<FakeNexmo>) -> HttpResponse {
    let sent = fake
        .receipts
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    HttpResponse::Ok().json(sent)
}

async fn set_callback_origin(fake: web::Data<FakeNexmo>, body: String) -> HttpResponse {
    match url::Url::parse(body.trim()) {
        Ok(u) if u.host().is_some() => {
            let origin = u.origin().ascii_serialization();
            *fake
                .callback_origin
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some(origin);
            HttpResponse::NoContent().finish()
        }
        _ => HttpResponse::BadRequest().body("an origin such as http://127.0.0.1:8888"),
    }
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
            .route("/_receipts", web::get().to(read_receipts))
            .route("/_callback_origin", web::put().to(set_callback_origin))
            .default_service(web::to(|| async {
                HttpResponse::build(StatusCode::NOT_FOUND).finish()
            }))
    })
    .workers(2)
    .listen(listener)?
    .run())
}
