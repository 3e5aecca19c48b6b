//! Delivery receipts: what Nexmo reports for each SMS part, kept per part
//! beside the parts of each send, so a page can ask how its send went with
//! any of the send's message ids. In Redis when the limiter is (any
//! instance answers), else in process, bounded. Receipts come once per
//! part, possibly several times and out of order: a final state
//! (`delivered`, `expired`, `failed`, `rejected`) is never replaced, an
//! intermediate one (`accepted`, `buffered`, `unknown`) is replaced by
//! whatever comes next. Nothing about the receiver is kept.

mod memory;
mod redis;

pub(crate) use memory::MemoryReceipts;
pub(crate) use redis::RedisReceipts;

use std::sync::Arc;
use std::time::Duration;

/// A part's state as Nexmo names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DlrStatus {
    Accepted,
    Buffered,
    Unknown,
    Delivered,
    Expired,
    Failed,
    Rejected,
}

impl DlrStatus {
    pub(crate) fn parse(s: &str) -> Option<DlrStatus> {
        Some(match s {
            "accepted" => DlrStatus::Accepted,
            "buffered" => DlrStatus::Buffered,
            "unknown" => DlrStatus::Unknown,
            "delivered" => DlrStatus::Delivered,
            "expired" => DlrStatus::Expired,
            "failed" => DlrStatus::Failed,
            "rejected" => DlrStatus::Rejected,
            _ => return None,
        })
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DlrStatus::Accepted => "accepted",
            DlrStatus::Buffered => "buffered",
            DlrStatus::Unknown => "unknown",
            DlrStatus::Delivered => "delivered",
            DlrStatus::Expired => "expired",
            DlrStatus::Failed => "failed",
            DlrStatus::Rejected => "rejected",
        }
    }

    pub(crate) fn is_final(self) -> bool {
        matches!(
            self,
            DlrStatus::Delivered | DlrStatus::Expired | DlrStatus::Failed | DlrStatus::Rejected
        )
    }
}

/// What is kept of one part: its state, Nexmo's error code, and when the
/// proxy learned it (Unix ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PartState {
    pub(crate) status: DlrStatus,
    pub(crate) err_code: u16,
    pub(crate) updated_ms: u64,
}

/// The state after `new` arrives: a final state stays (duplicates and late
/// intermediate receipts change nothing); otherwise the newer wins.
pub(crate) fn merged(old: Option<PartState>, new: PartState) -> PartState {
    match old {
        Some(old) if old.status.is_final() => old,
        _ => new,
    }
}

/// How long a receipt for a send not (yet) recorded here is kept: long
/// enough for a receipt that overtook its send's record, short enough that
/// receipts for sends never made here cannot fill the store.
pub(crate) const ORPHAN_TTL: Duration = Duration::from_secs(10 * 60);

/// Longest message id accepted (Nexmo's are 16 hex digits or a UUID).
const MAX_ID_LEN: usize = 64;

/// A message id as Nexmo makes them: letters, digits and `-`.
pub(crate) fn plausible_id(id: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// One receipt, checked field by field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Receipt {
    pub(crate) message_id: String,
    pub(crate) state: PartState,
}

impl Receipt {
    /// The receipt in `get`'s parameters (query, form or JSON alike), or
    /// why it is not one. Optional fields are checked when present, so a
    /// malformed receipt is refused whole rather than half believed.
    pub(crate) fn parse<'a>(
        get: impl Fn(&str) -> Option<&'a str>,
        now_ms: u64,
    ) -> Result<Receipt, &'static str> {
        let message_id = get("messageId").ok_or("no messageId")?;
        if !plausible_id(message_id) {
            return Err("messageId is not a message id");
        }
        let status = get("status")
            .and_then(DlrStatus::parse)
            .ok_or("status is missing or not a receipt status")?;
        let digits = |s: &str, max: usize| {
            (1..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
        };
        if !get("msisdn").is_some_and(|m| digits(m, 15)) {
            return Err("msisdn is missing or not a number");
        }
        let err_code = match get("err-code") {
            None => 0,
            Some(e) => e.parse().map_err(|_| "err-code is not a number")?,
        };
        let ok = |name: &str, v: &str| match name {
            "network-code" => digits(v, 10),
            "scts" => digits(v, 14),
            "price" => v.parse::<f64>().is_ok_and(|p| p.is_finite() && p >= 0.0),
            _ => v.len() <= 32,
        };
        for name in ["network-code", "scts", "price", "message-timestamp"] {
            if get(name).is_some_and(|v| !ok(name, v)) {
                return Err("a field is malformed");
            }
        }
        if get("client-ref").is_some_and(|r| r.chars().count() > 100) {
            return Err("client-ref is too long");
        }
        Ok(Receipt {
            message_id: message_id.to_string(),
            state: PartState {
                status,
                err_code,
                updated_ms: now_ms,
            },
        })
    }
}

/// A send as its page sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    Delivered,
    Failed,
    Expired,
    Rejected,
    Pending,
}

impl Delivery {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Delivery::Delivered => "delivered",
            Delivery::Failed => "failed",
            Delivery::Expired => "expired",
            Delivery::Rejected => "rejected",
            Delivery::Pending => "pending",
        }
    }
}

/// What the proxy knows of a send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SendState {
    pub(crate) delivery: Delivery,
    pub(crate) parts: usize,
    /// When the proxy last learned something of it (Unix ms).
    pub(crate) updated_ms: u64,
}

/// A send's state from the states of its `parts` parts, of which `known`
/// have ids (a part Nexmo accepted without an id never gets a receipt):
/// delivered when every part is; else the final failure of any part
/// (failed before rejected before expired); else pending.
pub(crate) fn aggregate(parts: usize, known: &[Option<PartState>], sent_ms: u64) -> SendState {
    let states: Vec<PartState> = known.iter().flatten().copied().collect();
    let updated_ms = states.iter().map(|p| p.updated_ms).fold(sent_ms, u64::max);
    let any = |s: DlrStatus| states.iter().any(|p| p.status == s);
    let all_delivered = parts > 0
        && known.len() == parts
        && known
            .iter()
            .all(|p| p.is_some_and(|p| p.status == DlrStatus::Delivered));
    let delivery = if any(DlrStatus::Failed) {
        Delivery::Failed
    } else if any(DlrStatus::Rejected) {
        Delivery::Rejected
    } else if any(DlrStatus::Expired) {
        Delivery::Expired
    } else if all_delivered {
        Delivery::Delivered
    } else {
        Delivery::Pending
    };
    SendState {
        delivery,
        parts,
        updated_ms,
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    #[error("redis: {0}")]
    Redis(String),
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
}

/// One send as recorded: the ids of its parts, how many parts, when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SendRecord {
    pub(crate) ids: Vec<String>,
    pub(crate) parts: usize,
    pub(crate) sent_ms: u64,
}

/// Where part states live.
#[derive(Clone)]
pub(crate) enum ReceiptStore {
    Memory(Arc<MemoryReceipts>),
    Redis(RedisReceipts),
}

impl ReceiptStore {
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            ReceiptStore::Memory(_) => "in-process",
            ReceiptStore::Redis(_) => "redis",
        }
    }

    /// Remembers that `ids` (those that are plausible) are the parts of one
    /// send of `parts` parts made at `sent_ms`, for `ttl`; receipts already
    /// kept for them are kept as long.
    pub(crate) async fn record_send(
        &self,
        ids: &[String],
        parts: usize,
        sent_ms: u64,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let ids: Vec<String> = ids.iter().filter(|id| plausible_id(id)).cloned().collect();
        if ids.is_empty() {
            return Ok(());
        }
        let send = SendRecord {
            ids,
            parts: parts.max(1),
            sent_ms,
        };
        match self {
            ReceiptStore::Memory(m) => {
                m.record_send(send, ttl);
                Ok(())
            }
            ReceiptStore::Redis(r) => r.record_send(&send, ttl).await,
        }
    }

    /// Applies one receipt (see `merged`), kept for `ttl` when its send is
    /// known, else for `ORPHAN_TTL` at most.
    pub(crate) async fn record(&self, receipt: &Receipt, ttl: Duration) -> Result<(), StoreError> {
        match self {
            ReceiptStore::Memory(m) => {
                m.record(receipt, ttl);
                Ok(())
            }
            ReceiptStore::Redis(r) => r.record(receipt, ttl).await,
        }
    }

    /// The state of the send `id` belongs to; `None` when no such send is
    /// known (never made here, or forgotten).
    pub(crate) async fn status(&self, id: &str) -> Result<Option<SendState>, StoreError> {
        match self {
            ReceiptStore::Memory(m) => Ok(m.status(id)),
            ReceiptStore::Redis(r) => r.status(id).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(status: DlrStatus, at: u64) -> PartState {
        PartState {
            status,
            err_code: 0,
            updated_ms: at,
        }
    }

    #[test]
    fn a_final_state_is_never_replaced() {
        use DlrStatus::*;
        let delivered = merged(Some(part(Accepted, 1)), part(Delivered, 2));
        assert_eq!(delivered.status, Delivered);
        for late in [Accepted, Buffered, Unknown, Failed, Delivered] {
            assert_eq!(
                merged(Some(delivered), part(late, 3)),
                delivered,
                "{late:?}"
            );
        }
        assert_eq!(
            merged(Some(part(Buffered, 1)), part(Accepted, 2)).status,
            Accepted
        );
        assert_eq!(merged(None, part(Buffered, 1)).status, Buffered);
    }

    #[test]
    fn a_send_is_delivered_when_every_part_is_and_failed_when_any_part_failed() {
        use DlrStatus::*;
        let d = |s| Some(part(s, 5));
        let of = |known: &[Option<PartState>]| aggregate(known.len(), known, 1).delivery;
        assert_eq!(of(&[d(Delivered), d(Delivered)]), Delivery::Delivered);
        assert_eq!(of(&[d(Delivered), None]), Delivery::Pending);
        assert_eq!(of(&[d(Delivered), d(Accepted)]), Delivery::Pending);
        assert_eq!(of(&[d(Failed), d(Accepted)]), Delivery::Failed);
        assert_eq!(of(&[d(Expired), d(Rejected)]), Delivery::Rejected);
        assert_eq!(of(&[d(Delivered), d(Expired)]), Delivery::Expired);
        let s = aggregate(2, &[None, None], 7);
        assert_eq!(
            (s.delivery, s.parts, s.updated_ms),
            (Delivery::Pending, 2, 7)
        );
        assert_eq!(aggregate(1, &[d(Accepted)], 1).updated_ms, 5);
        // A part without an id never gets its receipt.
        let one_of_two = aggregate(2, &[d(Delivered)], 1);
        assert_eq!(
            (one_of_two.delivery, one_of_two.parts),
            (Delivery::Pending, 2)
        );
    }

    fn params<'a>(
        pairs: &'a [(&'static str, &'static str)],
    ) -> impl Fn(&str) -> Option<&'static str> + 'a {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| *v)
    }

    #[test]
    fn receipts_are_checked_field_by_field() {
        let good: &[(&str, &str)] = &[
            ("msisdn", "14845552121"),
            ("to", "16105553939"),
            ("network-code", "310004"),
            ("messageId", "14000000F9DBBBBB"),
            ("price", "0.00845000"),
            ("status", "delivered"),
            ("scts", "1234567890"),
            ("err-code", "0"),
            ("api-key", "a1234567"),
            ("client-ref", "my-ref"),
            ("message-timestamp", "2020-07-17 02:34:35"),
        ];
        let r = Receipt::parse(params(good), 9).unwrap();
        assert_eq!(r.message_id, "14000000F9DBBBBB");
        assert_eq!(r.state, part(DlrStatus::Delivered, 9));
        let minimal: &[(&str, &str)] = &[
            ("msisdn", "447700900000"),
            ("messageId", "0A0000001234567B"),
            ("status", "accepted"),
        ];
        assert!(Receipt::parse(params(minimal), 9).is_ok());
        let changed = |k: &'static str, v: &'static str| -> Vec<(&'static str, &'static str)> {
            let mut p: Vec<_> = good.iter().copied().filter(|(n, _)| *n != k).collect();
            if !v.is_empty() {
                p.push((k, v));
            }
            p
        };
        for (k, v) in [
            ("messageId", ""),
            ("messageId", "../../etc"),
            ("status", "DELIVERED"),
            ("status", "sent"),
            ("status", ""),
            ("msisdn", ""),
            ("msisdn", "+4917612345678"),
            ("err-code", "x"),
            ("err-code", "99999999"),
            ("price", "-1"),
            ("price", "NaN"),
            ("network-code", "abc"),
            ("scts", "20-01-01"),
        ] {
            let p = changed(k, v);
            assert!(Receipt::parse(params(&p), 9).is_err(), "{k}={v:?}");
        }
        let long_id: &'static str = Box::leak("A".repeat(65).into_boxed_str());
        let p = changed("messageId", long_id);
        assert!(Receipt::parse(params(&p), 9).is_err());
    }
}
