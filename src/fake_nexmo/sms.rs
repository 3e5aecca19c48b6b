//! `/sms/json` as the documented API answers it: credentials (parameters
//! or HTTP Basic), the required fields, the documented refusals, the magic
//! receivers, and one `messages[]` entry per part. Parameters and parts are
//! read with the proxy's own `params` and `gsm`, so the fake and the proxy
//! agree on what a request said and what it costs.

use super::{dlr, FakeNexmo, Received, MAGIC_PREFIX};
use crate::gsm::{self, Encoding};
use crate::params::Params;
use crate::signature;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine as _;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::atomic::Ordering;

/// Larger than any real request (3200 characters, URL-encoded).
const MAX_BODY_BYTES: usize = 64 * 1024;

/// The answer, as the real API gives it: HTTP 200 with a JSON body, also
/// for refusals.
fn ok(v: Value) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json;charset=ISO-8859-1")
        .body(v.to_string())
}

pub(super) async fn sms(
    req: HttpRequest,
    payload: web::Payload,
    fake: web::Data<FakeNexmo>,
) -> HttpResponse {
    let Ok(params) = Params::read(&req, payload, MAX_BODY_BYTES).await else {
        return HttpResponse::BadRequest().finish();
    };
    let params = params.into_inner();
    record(&fake, &req, &params);
    if let Err(refusal) = authenticate(&fake, &req, &params) {
        return ok(refusal);
    }
    let get = |k: &str| params.get(k).map(String::as_str).filter(|s| !s.is_empty());
    let sms = match Sms::read(&get) {
        Ok(sms) => sms,
        Err(refusal) => return ok(refusal),
    };
    if let Some(magic) = sms.to.strip_prefix(MAGIC_PREFIX) {
        if let Some(answer) = magic_answer(&fake, magic, sms.to).await {
            return answer;
        }
    }
    if let Err(wait) = fake.take_token() {
        let text = format!("Throughput Rate Exceeded - please wait [ {wait} ] and retry");
        return ok(error_body(1, &text, Some(sms.to)));
    }
    let n = gsm::parts_as(sms.text, sms.encoding);
    let messages: Vec<Value> = (0..n).map(|_| part(&fake, sms.to)).collect();
    let wants_receipts = !matches!(get("status-report-req"), Some("0" | "false"));
    if let (Some(callback), true) = (get("callback"), wants_receipts) {
        let sent = dlr::Sent {
            callback: callback.to_string(),
            from: sms.from.to_string(),
            to: sms.to.to_string(),
            client_ref: get("client-ref").map(String::from),
            message_ids: messages
                .iter()
                .filter_map(|m| m["message-id"].as_str().map(String::from))
                .collect(),
        };
        dlr::spawn(fake.clone(), sent);
    }
    ok(json!({"message-count": n.to_string(), "messages": messages}))
}

fn record(fake: &FakeNexmo, req: &HttpRequest, params: &HashMap<String, String>) {
    let received = Received {
        method: req.method().to_string(),
        path: req.path().to_string(),
        query: req.query_string().to_string(),
        content_type: req
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string(),
        params: params.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
    };
    fake.log
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(received);
}

/// Credentials as the API checks them: a key and either its secret
/// (parameters or HTTP Basic) or a signature made with the signature
/// secret, never both.
fn authenticate(
    fake: &FakeNexmo,
    req: &HttpRequest,
    params: &HashMap<String, String>,
) -> Result<(), Value> {
    let get = |k: &str| params.get(k).map(String::as_str).filter(|s| !s.is_empty());
    let (key, secret) = match basic_auth(req) {
        Some((k, s)) => (Some(k), Some(s)),
        None => (
            get("api_key").map(String::from),
            get("api_secret").map(String::from),
        ),
    };
    let Some(key) = key else {
        return Err(error_body(2, "Missing api_key", None));
    };
    if get("sig").is_some() {
        if secret.is_some() {
            return Err(error_body(32, status_text(32), None));
        }
        let Some((sig_secret, method)) = &fake.signature else {
            return Err(error_body(14, status_text(14), None));
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let all = params.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        if key != fake.api_key || signature::verify(all, sig_secret, *method, now).is_err() {
            return Err(error_body(14, status_text(14), None));
        }
        return Ok(());
    }
    let Some(secret) = secret else {
        return Err(error_body(2, "Missing api_secret", None));
    };
    if key != fake.api_key || secret != fake.api_secret {
        return Err(error_body(4, "Bad Credentials", None));
    }
    Ok(())
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

/// The fields of a message the API checks, in the order it checks them.
struct Sms<'a> {
    from: &'a str,
    to: &'a str,
    text: &'a str,
    encoding: Encoding,
}

impl<'a> Sms<'a> {
    fn read(get: &impl Fn(&str) -> Option<&'a str>) -> Result<Sms<'a>, Value> {
        let Some(from) = get("from") else {
            return Err(error_body(2, "Missing from param", None));
        };
        let Some(to) = get("to") else {
            return Err(error_body(2, "Missing to param", None));
        };
        let kind = get("type").unwrap_or("text");
        let Some(text) = get("text") else {
            return Err(error_body(2, "Missing Message Text", Some(to)));
        };
        if !(7..=15).contains(&to.len()) || !to.chars().all(|c| c.is_ascii_digit()) {
            return Err(error_body(3, "Invalid Parameters", None));
        }
        let encoding = match kind {
            "unicode" => Encoding::Ucs2,
            "text" | "binary" => Encoding::Gsm7,
            _ => return Err(error_body(3, "Invalid Parameters", Some(to))),
        };
        if text.chars().count() > 3200 {
            return Err(error_body(12, status_text(12), Some(to)));
        }
        // North American numbers take only numeric senders.
        let nanp = to.len() == 11 && to.starts_with('1') && !to[1..2].starts_with(['0', '1']);
        if nanp && !from.chars().all(|c| c.is_ascii_digit()) {
            return Err(error_body(15, status_text(15), Some(to)));
        }
        Ok(Sms {
            from,
            to,
            text,
            encoding,
        })
    }
}

/// The forced answer of a magic receiver, or `None` to answer normally
/// (after the slow one's wait, or the throttled-once one's second try).
async fn magic_answer(fake: &FakeNexmo, magic: &str, to: &str) -> Option<HttpResponse> {
    match magic {
        "90" => Some(ok(error_body(1, status_text(1), Some(to)))),
        "91" => {
            let first = fake
                .throttled_once
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(to.to_string());
            first.then(|| ok(error_body(1, status_text(1), Some(to))))
        }
        "92" => Some(HttpResponse::InternalServerError().finish()),
        "93" => Some(
            HttpResponse::Ok()
                .content_type("text/html")
                .body("<html><body>Service Unavailable</body></html>"),
        ),
        "94" => Some(ok(
            json!({"error-code": "500", "error-code-label": "internal error"}),
        )),
        "95" => {
            actix_web::rt::time::sleep(fake.slow).await;
            None
        }
        "96" => Some(ok(json!({"message-count": "2", "messages": [
            part(fake, to),
            {"status": "1", "error-text": "Throttled"}
        ]}))),
        // Nexmo took (and bills) these: the reply is lost on the way.
        "97" => {
            let whole = json!({"message-count": "1", "messages": [part(fake, to)]}).to_string();
            let cut = whole.len() / 2;
            Some(
                HttpResponse::Ok()
                    .content_type("application/json")
                    .body(whole[..cut].to_string()),
            )
        }
        "98" => {
            let whole = json!({"message-count": "1", "messages": [part(fake, to)]}).to_string();
            let head = web::Bytes::from(whole[..whole.len() / 2].to_string());
            let broken = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "cut off");
            let body = futures_util::stream::iter([Ok(head), Err(broken)]);
            Some(
                HttpResponse::Ok()
                    .content_type("application/json")
                    .streaming(body),
            )
        }
        code => match code.parse::<u32>() {
            Ok(n) if (1..=34).contains(&n) => Some(ok(error_body(n, status_text(n), Some(to)))),
            _ => None,
        },
    }
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

fn error_body(code: u32, text: &str, to: Option<&str>) -> Value {
    let mut m = Map::new();
    if let Some(to) = to {
        m.insert("to".into(), to.into());
    }
    m.insert("status".into(), code.to_string().into());
    m.insert("error-text".into(), text.into());
    json!({"message-count": "1", "messages": [Value::Object(m)]})
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
