//! A faithful fake of the Nexmo SMS API (`/sms/json`), shipped as the
//! `fake-nexmo` binary for tests and staging. It answers as the documented
//! API does (README, "A fake Nexmo"): HTTP 200 with string-typed fields,
//! one `messages[]` entry per part, UUID message ids, the documented status
//! codes; and it records every request (`GET /_log`, `DELETE /_log`).
//!
//! Magic receivers force failures: `to` = `49176000000NN` answers status
//! `NN` (1..=34), and `4917600000090`.. `96` force the transport faults
//! listed in `MAGIC`.

use crate::nexmo::gsm;
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::Engine as _;
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
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

#[derive(Debug, Clone, Serialize)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: String,
    /// Query, form and JSON parameters merged (body wins).
    pub params: BTreeMap<String, String>,
}

pub struct FakeNexmo {
    pub api_key: String,
    pub api_secret: String,
    pub slow: Duration,
    log: Mutex<Vec<Received>>,
    balance_micro: AtomicU64,
    throttled_once: Mutex<std::collections::HashSet<String>>,
}

impl FakeNexmo {
    pub fn new(api_key: &str, api_secret: &str, slow: Duration) -> FakeNexmo {
        FakeNexmo {
            api_key: api_key.into(),
            api_secret: api_secret.into(),
            slow,
            log: Mutex::new(Vec::new()),
            balance_micro: AtomicU64::new(100_000_000),
            throttled_once: Mutex::new(Default::default()),
        }
    }
}

fn status_text(code: u32) -> &'static str {
    match code {
        1 => "Throughput Rate Exceeded - please wait [ 200 ] and retry",
        2 => "Missing Parameters",
        3 => "Invalid Parameters",
        4 => "Bad Credentials",
        5 => "Server Error",
        6 => "Invalid Message",
        7 => "Number barred.",
        8 => "Partner Account Barred",
        9 => "Quota Exceeded - rejected",
        10 => "Too Many Existing Binds",
        11 => "Account Not Enabled For HTTP",
        12 => "Message Too Long",
        13 => "Communication Failed",
        14 => "Invalid Signature",
        15 => "Illegal Sender Address - rejected",
        16 => "Invalid TTL",
        19 => "Facility Not Allowed",
        20 => "Invalid Message Class",
        22 => "Invalid Network Code",
        23 => "Invalid Callback Url",
        29 => "Non White-listed Destination - rejected",
        32 => "Signature And API Secret Disallowed",
        33 => "Number De-activated",
        34 => "Invalid or Missing Msisdn Param",
        _ => "Unknown Error",
    }
}

fn error_body(code: u32, text: &str, to: Option<&str>) -> Value {
    let mut m = Map::new();
    if let Some(to) = to {
        m.insert("to".into(), to.into());
    }
    m.insert("status".into(), code.to_string().into());
    m.insert("error-text".into(), text.into());
    json!({"message-count": "1", "messages": [Value::Object(m)]})
}

/// Parts as Nexmo counts them for the declared `type`.
fn count_parts(text: &str, kind: &str) -> usize {
    if kind == "unicode" {
        let units: usize = text.chars().map(char::len_utf16).sum();
        if units <= 70 {
            1
        } else {
            units.div_ceil(67)
        }
    } else {
        gsm::parts(text)
    }
}

async fn read_params(
    req: &HttpRequest,
    mut payload: web::Payload,
) -> Result<BTreeMap<String, String>, HttpResponse> {
    let mut params: BTreeMap<String, String> =
        url::form_urlencoded::parse(req.query_string().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        match chunk {
            Ok(c) => body.extend_from_slice(&c),
            Err(_) => return Err(HttpResponse::BadRequest().finish()),
        }
    }
    let ctype = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if body.is_empty() {
        return Ok(params);
    }
    if ctype.contains("json") || ctype.contains("javascript") {
        let v: Value =
            serde_json::from_slice(&body).map_err(|_| HttpResponse::BadRequest().finish())?;
        if let Value::Object(o) = v {
            for (k, v) in o {
                let s = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                params.insert(k, s);
            }
        }
    } else {
        params.extend(
            url::form_urlencoded::parse(&body).map(|(k, v)| (k.into_owned(), v.into_owned())),
        );
    }
    Ok(params)
}

fn basic_auth(req: &HttpRequest) -> Option<(String, String)> {
    let h = req.headers().get("authorization")?.to_str().ok()?;
    let b64 = h.strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (k, v) = s.split_once(':')?;
    Some((k.into(), v.into()))
}

async fn sms(req: HttpRequest, payload: web::Payload, fake: web::Data<FakeNexmo>) -> HttpResponse {
    let params = match read_params(&req, payload).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    fake.log
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Received {
            method: req.method().to_string(),
            path: req.path().to_string(),
            query: req.query_string().to_string(),
            content_type: req
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string(),
            params: params.clone(),
        });
    let ok = |v: Value| {
        HttpResponse::Ok()
            .content_type("application/json;charset=ISO-8859-1")
            .body(v.to_string())
    };
    let get = |k: &str| params.get(k).map(String::as_str).filter(|s| !s.is_empty());

    let (key, secret) = match basic_auth(&req) {
        Some((k, s)) => (Some(k), Some(s)),
        None => (
            get("api_key").map(String::from),
            get("api_secret").map(String::from),
        ),
    };
    let Some(key) = key else {
        return ok(error_body(2, "Missing api_key", None));
    };
    let Some(secret) = secret else {
        return ok(error_body(2, "Missing api_secret", None));
    };
    if key != fake.api_key || secret != fake.api_secret {
        return ok(error_body(4, "Bad Credentials", None));
    }
    let Some(from) = get("from") else {
        return ok(error_body(2, "Missing from param", None));
    };
    let Some(to) = get("to") else {
        return ok(error_body(2, "Missing to param", None));
    };
    let kind = get("type").unwrap_or("text");
    let Some(text) = get("text") else {
        return ok(error_body(2, "Missing Message Text", Some(to)));
    };
    if !(7..=15).contains(&to.len()) || !to.chars().all(|c| c.is_ascii_digit()) {
        return ok(error_body(3, "Invalid Parameters", None));
    }
    if !["text", "unicode", "binary"].contains(&kind) {
        return ok(error_body(3, "Invalid Parameters", Some(to)));
    }
    if text.chars().count() > 3200 {
        return ok(error_body(12, status_text(12), Some(to)));
    }
    let nanp = to.len() == 11 && to.starts_with('1') && !to[1..2].starts_with(['0', '1']);
    if nanp && !from.chars().all(|c| c.is_ascii_digit()) {
        return ok(error_body(15, status_text(15), Some(to)));
    }
    if let Some(magic) = to.strip_prefix(MAGIC_PREFIX) {
        match magic {
            "90" => return ok(error_body(1, status_text(1), Some(to))),
            "91" => {
                let first = fake
                    .throttled_once
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(to.to_string());
                if first {
                    return ok(error_body(1, status_text(1), Some(to)));
                }
            }
            "92" => return HttpResponse::InternalServerError().finish(),
            "93" => {
                return HttpResponse::Ok()
                    .content_type("text/html")
                    .body("<html><body>Service Unavailable</body></html>")
            }
            "94" => return ok(json!({"error-code": "500", "error-code-label": "internal error"})),
            "95" => actix_web::rt::time::sleep(fake.slow).await,
            "96" => {
                return ok(json!({"message-count": "2", "messages": [
                    part(&fake, to),
                    {"status": "1", "error-text": "Throttled"}
                ]}))
            }
            code => {
                if let Ok(n) = code.parse::<u32>() {
                    if (1..=34).contains(&n) {
                        return ok(error_body(n, status_text(n), Some(to)));
                    }
                }
            }
        }
    }
    let n = count_parts(text, kind);
    let messages: Vec<Value> = (0..n).map(|_| part(&fake, to)).collect();
    ok(json!({"message-count": n.to_string(), "messages": messages}))
}

fn part(fake: &FakeNexmo, to: &str) -> Value {
    let price = 33_300u64; // micro-euro, as 0.03330000
    let left = fake
        .balance_micro
        .fetch_sub(price, Ordering::Relaxed)
        .saturating_sub(price);
    json!({
        "to": to,
        "message-id": uuid::Uuid::new_v4().to_string(),
        "status": "0",
        "remaining-balance": format!("{}.{:06}00", left / 1_000_000, left % 1_000_000),
        "message-price": format!("0.{:06}00", price),
        "network": "26202",
    })
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
            .route("/sms/json", web::get().to(sms))
            .route("/sms/json", web::post().to(sms))
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
