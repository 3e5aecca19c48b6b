//! The in-process receipt store: one entry per message id, at most
//! `capacity` (least recently used forgotten first), each living for the
//! receipt TTL. An entry holds its send's parts (shared by all of them) and
//! its own state, whichever arrives first.

use super::{aggregate, merged, PartState, Receipt, SendRecord, SendState, ORPHAN_TTL};
use lru::LruCache;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What is kept under one message id, each half with its own expiry, as
/// in Redis (a send key and a part key).
#[derive(Default)]
struct Entry {
    send: Option<(Arc<SendRecord>, Instant)>,
    part: Option<(PartState, Instant)>,
}

impl Entry {
    fn send(&self, now: Instant) -> Option<&Arc<SendRecord>> {
        self.send.as_ref().filter(|(_, t)| *t > now).map(|(s, _)| s)
    }

    fn part(&self, now: Instant) -> Option<PartState> {
        self.part.filter(|(_, t)| *t > now).map(|(p, _)| p)
    }
}

pub(crate) struct MemoryReceipts {
    entries: Mutex<LruCache<String, Entry>>,
}

impl MemoryReceipts {
    pub(crate) fn new(capacity: NonZeroUsize) -> MemoryReceipts {
        MemoryReceipts {
            entries: Mutex::new(LruCache::new(capacity)),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, LruCache<String, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn record_send(&self, send: SendRecord, ttl: Duration) {
        let now = Instant::now();
        let expires = now + ttl;
        let send = Arc::new(send);
        let mut entries = self.entries();
        for id in &send.ids {
            let entry = entries.get_or_insert_mut(id.clone(), Entry::default);
            entry.send = Some((send.clone(), expires));
            // A receipt that overtook its send is kept as long as the send.
            if let Some((_, t)) = entry.part.as_mut().filter(|(_, t)| *t > now) {
                *t = expires;
            }
        }
    }

    pub(crate) fn record(&self, receipt: &Receipt, ttl: Duration) {
        let now = Instant::now();
        let mut entries = self.entries();
        let entry = entries.get_or_insert_mut(receipt.message_id.clone(), Entry::default);
        let expires = match entry.send(now) {
            Some(_) => now + ttl,
            None => now + ttl.min(ORPHAN_TTL),
        };
        let before = entry.part(now);
        let after = merged(before, receipt.state);
        // A final state stays as it was, expiry included, as in Redis.
        if before != Some(after) {
            entry.part = Some((after, expires));
        }
    }

    pub(crate) fn status(&self, id: &str) -> Option<SendState> {
        let now = Instant::now();
        let entries = self.entries();
        let send = entries.peek(id)?.send(now)?.clone();
        let known: Vec<_> = send
            .ids
            .iter()
            .map(|id| entries.peek(id).and_then(|e| e.part(now)))
            .collect();
        Some(aggregate(send.parts, &known, send.sent_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Delivery, DlrStatus};
    use super::*;

    fn receipt(id: &str, status: DlrStatus) -> Receipt {
        Receipt {
            message_id: id.into(),
            state: PartState {
                status,
                err_code: 0,
                updated_ms: 10,
            },
        }
    }

    const TTL: Duration = Duration::from_secs(60);

    fn record(ids: &[&str]) -> SendRecord {
        SendRecord {
            ids: ids.iter().map(|s| s.to_string()).collect(),
            parts: ids.len(),
            sent_ms: 1,
        }
    }

    #[test]
    fn any_part_answers_for_the_whole_send_in_any_order() {
        let m = MemoryReceipts::new(NonZeroUsize::new(100).unwrap());
        // A receipt may come before the send is recorded.
        m.record(&receipt("b", DlrStatus::Delivered), TTL);
        m.record_send(record(&["a", "b"]), TTL);
        assert_eq!(m.status("a").unwrap().delivery, Delivery::Pending);
        m.record(&receipt("a", DlrStatus::Delivered), TTL);
        m.record(&receipt("a", DlrStatus::Buffered), TTL);
        for id in ["a", "b"] {
            let s = m.status(id).unwrap();
            assert_eq!((s.delivery, s.parts), (Delivery::Delivered, 2));
        }
        assert!(m.status("c").is_none(), "unknown");
        m.record(&receipt("c", DlrStatus::Delivered), TTL);
        assert!(m.status("c").is_none(), "a receipt alone is no send");
    }

    #[test]
    fn a_receipt_without_its_send_is_kept_briefly_unless_the_send_comes() {
        let m = MemoryReceipts::new(NonZeroUsize::new(100).unwrap());
        let day = Duration::from_secs(86_400);
        let expiry = |m: &MemoryReceipts, id: &str| m.entries().peek(id).unwrap().part.unwrap().1;
        m.record(&receipt("a", DlrStatus::Accepted), day);
        assert!(expiry(&m, "a") <= Instant::now() + ORPHAN_TTL);
        m.record_send(record(&["a"]), day);
        assert!(expiry(&m, "a") > Instant::now() + ORPHAN_TTL);
        m.record(&receipt("a", DlrStatus::Delivered), day);
        let kept = expiry(&m, "a");
        m.record(&receipt("a", DlrStatus::Delivered), day);
        assert_eq!(
            expiry(&m, "a"),
            kept,
            "a duplicate final receipt changes nothing"
        );
    }

    #[test]
    fn entries_expire_and_the_store_stays_bounded() {
        let m = MemoryReceipts::new(NonZeroUsize::new(4).unwrap());
        m.record_send(record(&["x"]), Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(5));
        assert!(m.status("x").is_none());
        for i in 0..10 {
            let id = format!("id{i}");
            m.record_send(record(&[&id]), TTL);
        }
        assert_eq!(m.entries().len(), 4);
        assert!(m.status("id9").is_some());
        assert!(m.status("id0").is_none());
    }
}
