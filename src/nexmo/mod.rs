//! The Nexmo SMS API client: one form `POST` per message (the secret never
//! goes in a URL), keep-alive, a timeout, and a strict reading of the reply.
//! Success only when every part has status `"0"`; anything else is a
//! `NexmoError`, never a panic. Only a throttled reply with no accepted
//! part is retried, once, so a message is never sent twice.

mod shaping;

pub(crate) use shaping::Shaper;

use crate::config::NexmoSettings;
use crate::gsm;
use crate::phone::PhoneNumber;
use crate::signature;
use serde_json::Value;
use std::sync::Once;
use std::time::Duration;

/// Longest wait honoured for a throttled reply before the one retry.
const MAX_THROTTLE_WAIT: Duration = Duration::from_secs(1);

/// One message to send.
pub(crate) struct Sms<'a> {
    pub(crate) from: &'a str,
    pub(crate) to: &'a PhoneNumber,
    pub(crate) text: &'a str,
    /// Echoed in delivery receipts: the endpoint's path.
    pub(crate) client_ref: &'a str,
}

/// Nexmo's `client-ref` is at most 40 characters: longer paths keep their
/// first 40, so the same path always gives the same reference.
pub(crate) fn client_ref(path: &str) -> &str {
    match path.char_indices().nth(40) {
        Some((cut, _)) => &path[..cut],
        None => path,
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sent {
    pub(crate) message_ids: Vec<String>,
    pub(crate) parts: usize,
}

/// Why a send failed. `status` and `error_text` are Nexmo's, when it gave them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub(crate) struct NexmoError {
    pub(crate) status: Option<String>,
    pub(crate) error_text: Option<String>,
    detail: String,
    /// Parts Nexmo accepted (and bills) although the message as a whole failed.
    pub(crate) accepted_parts: usize,
    /// Known not to be billed beyond `accepted_parts`: Nexmo answered with
    /// statuses, or the request never left. Otherwise (a timeout, an HTTP
    /// error, an unreadable reply) Nexmo may have sent it.
    pub(crate) refused: bool,
    /// Never sent: no slot within `max_queue_wait` (a flood, not a fault).
    pub(crate) shaped: bool,
}

impl NexmoError {
    /// No request slot within `max_queue_wait`: answered as Nexmo answers
    /// a throttled request, and never sent.
    fn no_slot(settings: &NexmoSettings) -> Self {
        let text = "Throughput Rate Exceeded - no send slot within nexmo.max_queue_wait";
        NexmoError {
            status: Some("1".into()),
            error_text: Some(text.into()),
            detail: format!(
                "shaping: more than {} requests a second, none free within {:?}",
                settings.max_rps, settings.max_queue_wait
            ),
            accepted_parts: 0,
            refused: true,
            shaped: true,
        }
    }

    fn transport(detail: impl Into<String>) -> Self {
        NexmoError {
            status: None,
            error_text: None,
            detail: detail.into(),
            accepted_parts: 0,
            refused: false,
            shaped: false,
        }
    }
}

/// One per worker (awc's client is not `Send`). Settings come with every
/// call, so a reload changes credentials and URL without a new client.
pub(crate) struct NexmoClient {
    client: awc::Client,
}

static CRYPTO: Once = Once::new();

impl NexmoClient {
    pub(crate) fn new() -> Self {
        // actix-tls builds rustls without a process-wide crypto provider.
        CRYPTO.call_once(|| {
            let _ = rustls::crypto::ring::default_provider().install_default();
        });
        let client = awc::Client::builder()
            .disable_redirects()
            .add_default_header((
                "User-Agent",
                concat!("nexmo-proxy/", env!("CARGO_PKG_VERSION")),
            ))
            .finish();
        NexmoClient { client }
    }

    /// The form Nexmo receives, in a fixed order. With a signature secret
    /// it is signed and carries no API secret (Nexmo refuses both).
    fn form(settings: &NexmoSettings, sms: &Sms<'_>, now: u64) -> Vec<(&'static str, String)> {
        let from = match &settings.long_virtual_number {
            Some(lvn) if sms.to.e164().starts_with("+1") => lvn.as_str(),
            _ => sms.from,
        };
        let kind = if gsm::is_gsm(sms.text) {
            "text"
        } else {
            "unicode"
        };
        let mut form = vec![("api_key", settings.api_key.clone())];
        if settings.signature_secret.is_empty() {
            form.push(("api_secret", settings.api_secret.expose().to_string()));
        }
        form.extend([
            ("from", from.to_string()),
            ("to", sms.to.e164_digits().to_string()),
            ("text", sms.text.to_string()),
            ("type", kind.to_string()),
            ("client-ref", client_ref(sms.client_ref).to_string()),
        ]);
        if let Some(url) = &settings.dlr_url {
            form.push(("status-report-req", "true".to_string()));
            form.push(("callback", url.clone()));
        }
        if !settings.signature_secret.is_empty() {
            form.push(("timestamp", now.to_string()));
            let sig = signature::sign(
                form.iter().map(|(k, v)| (*k, v.as_str())),
                settings.signature_secret.expose(),
                settings.signature_method,
            );
            form.push(("sig", sig));
        }
        form
    }

    /// Sends `sms`, each request to Nexmo in a slot of `shaper`'s.
    pub(crate) async fn send(
        &self,
        settings: &NexmoSettings,
        sms: &Sms<'_>,
        shaper: &Shaper,
    ) -> Result<Sent, NexmoError> {
        let form = Self::form(settings, sms, unix_now());
        // One wait for slots in all, the retry's included.
        let deadline = std::time::Instant::now() + settings.max_queue_wait;
        let slot = || {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            shaper.take(settings.max_rps.get(), left)
        };
        if !slot().await {
            return Err(NexmoError::no_slot(settings));
        }
        match self.send_once(settings, &form).await {
            Err(Attempt::Throttled { wait, error }) => {
                log::warn!(
                    "nexmo throttled the message to {}; retrying once in {wait:?}",
                    sms.to.masked()
                );
                actix_web::rt::time::sleep(wait).await;
                if !slot().await {
                    return Err(error);
                }
                self.send_once(settings, &form)
                    .await
                    .map_err(|a| a.into_error())
            }
            other => other.map_err(|a| a.into_error()),
        }
    }

    async fn send_once(
        &self,
        settings: &NexmoSettings,
        form: &[(&str, String)],
    ) -> Result<Sent, Attempt> {
        let mut resp = self
            .client
            .post(settings.url.as_str())
            .timeout(settings.timeout)
            .send_form(&form)
            .await
            .map_err(|e| {
                use awc::error::{ConnectError as C, SendRequestError as E};
                // Only failures before a connection existed. awc also
                // reports a connection closed before the reply's head as
                // `Disconnected`, after the request went out; an HTTP/2
                // error may come after it too: Nexmo may have sent those.
                let never_sent = matches!(
                    e,
                    E::Url(_)
                        | E::Connect(
                            C::Resolver(_)
                                | C::NoRecords
                                | C::Unresolved
                                | C::Timeout
                                | C::Io(_)
                                | C::SslIsNotSupported
                        )
                );
                let error = NexmoError::transport(format!("request failed: {e}"));
                Attempt::Failed(NexmoError {
                    refused: never_sent,
                    ..error
                })
            })?;
        let status = resp.status();
        let body = resp.body().limit(256 * 1024).await.map_err(|e| {
            Attempt::Failed(NexmoError::transport(format!(
                "reading the reply failed: {e}"
            )))
        })?;
        if !status.is_success() {
            return Err(Attempt::Failed(NexmoError::transport(format!(
                "HTTP {status}"
            ))));
        }
        read_reply(&body)
    }
}

enum Attempt {
    Failed(NexmoError),
    /// Every part was throttled; nothing was accepted, so one retry is safe.
    Throttled {
        wait: Duration,
        error: NexmoError,
    },
}

impl Attempt {
    fn into_error(self) -> NexmoError {
        match self {
            Attempt::Failed(e) | Attempt::Throttled { error: e, .. } => e,
        }
    }
}

fn field(v: &Value, name: &str) -> Option<String> {
    match v.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn read_reply(body: &[u8]) -> Result<Sent, Attempt> {
    let bad =
        |what: &str| Attempt::Failed(NexmoError::transport(format!("unexpected reply: {what}")));
    let json: Value = serde_json::from_slice(body).map_err(|_| bad("not JSON"))?;
    let messages = json
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no messages array"))?;
    if messages.is_empty() {
        return Err(bad("empty messages array"));
    }
    let mut ids = Vec::new();
    let mut accepted = 0;
    let mut first_failure: Option<NexmoError> = None;
    let mut all_throttled = true;
    for m in messages {
        let status = field(m, "status").ok_or_else(|| bad("a message without status"))?;
        if status == "0" {
            all_throttled = false;
            accepted += 1;
            // A part without an id is counted, never reported as "".
            ids.extend(field(m, "message-id").filter(|id| !id.is_empty()));
        } else {
            all_throttled &= status == "1";
            if first_failure.is_none() {
                let text = field(m, "error-text");
                first_failure = Some(NexmoError {
                    detail: format!(
                        "status {status}: {}",
                        text.as_deref().unwrap_or("(no error-text)")
                    ),
                    status: Some(status),
                    error_text: text,
                    accepted_parts: 0,
                    refused: true,
                    shaped: false,
                });
            }
        }
    }
    match first_failure {
        None => Ok(Sent {
            parts: accepted,
            message_ids: ids,
        }),
        Some(error) if all_throttled => {
            let wait = throttle_wait(error.error_text.as_deref().unwrap_or(""));
            Err(Attempt::Throttled { wait, error })
        }
        Some(error) => Err(Attempt::Failed(NexmoError {
            accepted_parts: accepted,
            ..error
        })),
    }
}

/// "Throughput Rate Exceeded - please wait [ 702 ] and retry" → 702 ms,
/// capped; a text without a number waits the cap.
fn throttle_wait(text: &str) -> Duration {
    let ms = text
        .split('[')
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .and_then(|n| n.trim().parse::<u64>().ok());
    ms.map(Duration::from_millis)
        .unwrap_or(MAX_THROTTLE_WAIT)
        .min(MAX_THROTTLE_WAIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_throttle_wait() {
        assert_eq!(
            throttle_wait("Throughput Rate Exceeded - please wait [ 702 ] and retry"),
            Duration::from_millis(702)
        );
        assert_eq!(
            throttle_wait("Throughput Rate Exceeded - please wait [ 5000 ] and retry"),
            MAX_THROTTLE_WAIT
        );
        assert_eq!(throttle_wait("Throttled"), MAX_THROTTLE_WAIT);
    }

    #[test]
    fn a_partly_accepted_reply_is_a_failure_that_is_not_retried() {
        let body = br#"{"message-count":"2","messages":[{"status":"0","message-id":"a"},{"status":"1","error-text":"Throttled"}]}"#;
        assert!(
            matches!(read_reply(body), Err(Attempt::Failed(e)) if e.status.as_deref() == Some("1"))
        );
    }

    #[test]
    fn a_part_without_an_id_is_counted_but_not_listed() {
        let body =
            br#"{"message-count":"2","messages":[{"status":"0","message-id":"a"},{"status":"0"}]}"#;
        let Ok(sent) = read_reply(body) else {
            panic!("accepted")
        };
        assert_eq!(sent.parts, 2);
        assert_eq!(sent.message_ids, ["a"]);
    }

    #[test]
    fn client_refs_keep_the_first_40_characters() {
        assert_eq!(client_ref("/m/"), "/m/");
        let long = format!("/{}", "ä".repeat(50));
        let cut = client_ref(&long);
        assert_eq!(cut.chars().count(), 40);
        assert!(long.starts_with(cut));
        assert_eq!(client_ref(&long), cut, "the same path, the same reference");
    }

    #[test]
    fn odd_replies_are_errors() {
        for body in [
            &b"<html>"[..],
            b"{}",
            br#"{"messages":[]}"#,
            br#"{"messages":[{"to":"1"}]}"#,
            b"[]",
        ] {
            assert!(
                matches!(read_reply(body), Err(Attempt::Failed(_))),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
