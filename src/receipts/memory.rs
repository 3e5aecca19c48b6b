//! The in-process receipt store: one entry per message id, at most
//! `capacity` (least recently used forgotten first), each living for the
//! receipt TTL. An entry holds its send's parts (shared by all of them) and
//! its own state, whichever arrives first.

use super::{aggregate, merged, Receipt, SendState};
use lru::LruCache;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Send {
    ids: Vec<String>,
    sent_ms: u64,
}

struct Entry {
    send: Option<Arc<Send>>,
    part: Option<super::PartState>,
    expires: Instant,
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

    /// The live entry for `id`, made empty when absent or expired.
    fn entry<'a>(
        entries: &'a mut LruCache<String, Entry>,
        id: &str,
        expires: Instant,
    ) -> &'a mut Entry {
        let now = Instant::now();
        let entry = entries.get_or_insert_mut(id.to_string(), || Entry {
            send: None,
            part: None,
            expires,
        });
        if entry.expires <= now {
            entry.send = None;
            entry.part = None;
        }
        entry.expires = expires;
        entry
    }

    pub(crate) fn record_send(&self, ids: &[String], sent_ms: u64, ttl: Duration) {
        let send = Arc::new(Send {
            ids: ids.to_vec(),
            sent_ms,
        });
        let expires = Instant::now() + ttl;
        let mut entries = self.entries();
        for id in ids {
            Self::entry(&mut entries, id, expires).send = Some(send.clone());
        }
    }

    pub(crate) fn record(&self, receipt: &Receipt, ttl: Duration) {
        let mut entries = self.entries();
        let entry = Self::entry(&mut entries, &receipt.message_id, Instant::now() + ttl);
        entry.part = Some(merged(entry.part, receipt.state));
    }

    pub(crate) fn status(&self, id: &str) -> Option<SendState> {
        let now = Instant::now();
        let entries = self.entries();
        let live = |id: &str| entries.peek(id).filter(|e| e.expires > now);
        let send = live(id)?.send.clone()?;
        let parts: Vec<_> = send
            .ids
            .iter()
            .map(|id| live(id).and_then(|e| e.part))
            .collect();
        Some(aggregate(&parts, send.sent_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Delivery, DlrStatus, PartState};
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

    #[test]
    fn any_part_answers_for_the_whole_send_in_any_order() {
        let m = MemoryReceipts::new(NonZeroUsize::new(100).unwrap());
        // A receipt may come before the send is recorded.
        m.record(&receipt("b", DlrStatus::Delivered), TTL);
        m.record_send(&["a".into(), "b".into()], 1, TTL);
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
    fn entries_expire_and_the_store_stays_bounded() {
        let m = MemoryReceipts::new(NonZeroUsize::new(4).unwrap());
        m.record_send(&["x".into()], 1, Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(5));
        assert!(m.status("x").is_none());
        for i in 0..10 {
            m.record_send(&[format!("id{i}")], 1, TTL);
        }
        assert_eq!(m.entries().len(), 4);
        assert!(m.status("id9").is_some());
        assert!(m.status("id0").is_none());
    }
}
