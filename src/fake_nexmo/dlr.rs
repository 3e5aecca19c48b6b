//! Delivery receipts as Nexmo sends them: for each accepted part, to the
//! message's `callback` (when `status-report-req` is not false), by the
//! configured transport (GET query, POST form or POST JSON), signed when
//! the fake has a signature secret. What happens to a receiver is chosen
//! by magic receivers (`DLR_MAGIC`); each receipt sent, and the HTTP status
//! it got, is listed at `GET /_receipts`.

use super::{FakeNexmo, MAGIC_PREFIX};
use crate::signature;
use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Receivers whose receipts differ from "accepted, then delivered".
pub const DLR_MAGIC: &[(&str, &str)] = &[
    ("80", "receipts: accepted, then failed (err-code 6)"),
    ("81", "receipts: expired"),
    ("82", "receipts: rejected (err-code 11)"),
    (
        "83",
        "receipts: the first part delivered, the others failed",
    ),
    ("84", "no receipts at all"),
    (
        "85",
        "receipts: delivered, a duplicate delivered, then a late accepted",
    ),
];

/// How receipts travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Get,
    Form,
    Json,
}

impl Transport {
    pub fn parse(s: &str) -> Option<Transport> {
        match s {
            "get" => Some(Transport::Get),
            "form" => Some(Transport::Form),
            "json" => Some(Transport::Json),
            _ => None,
        }
    }
}

/// The receipts, in order, for part `i` of a message to `to`.
fn script(to: &str, i: usize) -> Vec<(&'static str, &'static str)> {
    let magic = to.strip_prefix(MAGIC_PREFIX).unwrap_or("");
    match (magic, i) {
        ("80", _) => vec![("accepted", "0"), ("failed", "6")],
        ("81", _) => vec![("expired", "1")],
        ("82", _) => vec![("rejected", "11")],
        ("83", 0) => vec![("delivered", "0")],
        ("83", _) => vec![("failed", "2")],
        ("84", _) => vec![],
        ("85", _) => vec![("delivered", "0"), ("delivered", "0"), ("accepted", "0")],
        _ => vec![("accepted", "0"), ("delivered", "0")],
    }
}

/// One message's accepted parts, as the send answered them.
pub(super) struct Sent {
    pub(super) callback: String,
    pub(super) from: String,
    pub(super) to: String,
    pub(super) client_ref: Option<String>,
    pub(super) message_ids: Vec<String>,
}

/// `callback` with its origin replaced by the configured one, if any.
fn routed(fake: &FakeNexmo, callback: &str) -> String {
    let origin = fake
        .callback_origin
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    match (origin, url::Url::parse(callback)) {
        (Some(origin), Ok(u)) => {
            let query = u.query().map(|q| format!("?{q}")).unwrap_or_default();
            format!("{origin}{}{query}", u.path())
        }
        _ => callback.to_string(),
    }
}

/// Sends the receipts of `sent` in the background, `fake.dlr_delay` apart.
pub(super) fn spawn(fake: actix_web::web::Data<FakeNexmo>, mut sent: Sent) {
    sent.callback = routed(&fake, &sent.callback);
    actix_web::rt::spawn(async move {
        let client = awc::Client::builder()
            .timeout(Duration::from_secs(15))
            .finish();
        for (i, id) in sent.message_ids.iter().enumerate() {
            for (status, err) in script(&sent.to, i) {
                actix_web::rt::time::sleep(fake.dlr_delay).await;
                let fields = receipt(&fake, &sent, id, status, err);
                let answer = deliver(&client, fake.dlr_transport, &sent.callback, &fields).await;
                let mut log = fake.receipts.lock().unwrap_or_else(|e| e.into_inner());
                log.push(json!({"messageId": id, "status": status, "answer": answer}));
            }
        }
    });
}

fn receipt(
    fake: &FakeNexmo,
    sent: &Sent,
    id: &str,
    status: &str,
    err: &str,
) -> Vec<(String, String)> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut fields: Vec<(String, String)> = [
        ("msisdn", sent.to.as_str()),
        ("to", sent.from.as_str()),
        ("network-code", "26202"),
        ("messageId", id),
        ("price", "0.03330000"),
        ("status", status),
        ("scts", "2001011400"),
        ("err-code", err),
        ("api-key", fake.api_key.as_str()),
        ("message-timestamp", "2020-01-01 12:00:00"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    if let Some(r) = &sent.client_ref {
        fields.push(("client-ref".into(), r.clone()));
    }
    if let Some((secret, method)) = &fake.signature {
        fields.push(("timestamp".into(), now.as_secs().to_string()));
        fields.push(("nonce".into(), uuid::Uuid::new_v4().to_string()));
        let pairs = fields.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        let sig = signature::sign(pairs, secret, *method);
        fields.push(("sig".into(), sig));
    }
    fields
}

/// Sends one receipt; the HTTP status it got, or 0 when none.
async fn deliver(
    client: &awc::Client,
    transport: Transport,
    callback: &str,
    fields: &[(String, String)],
) -> u16 {
    let result = match transport {
        Transport::Get => {
            let query = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(fields)
                .finish();
            let sep = if callback.contains('?') { '&' } else { '?' };
            client.get(format!("{callback}{sep}{query}")).send().await
        }
        Transport::Form => client.post(callback).send_form(&fields).await,
        Transport::Json => {
            let object: serde_json::Map<String, Value> = fields
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            client.post(callback).send_json(&object).await
        }
    };
    result.map_or(0, |r| r.status().as_u16())
}
