//! Refusals remembered until their window ends, so a flood from one client
//! is answered before its request is parsed, geo-located or sent to Redis.
//!
//! Exact for the counters it is used for (`ip` and `endpoint` rules): in a
//! fixed window a counter only grows until the window ends (limit rules are
//! never given back), on every instance alike, so a request refused at `t`
//! with `retry_after` `r` would be refused by the full decision until
//! `t + r` too. Kept per configuration generation (a reload may raise a
//! `max`), bounded (least recently refused forgotten first: a forgotten
//! entry only costs one full decision).

use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Counters remembered at most; ~100 bytes each.
const CAPACITY: usize = 65_536;

pub(crate) struct RefusalMemo {
    until: Mutex<lru::LruCache<String, Instant>>,
}

impl Default for RefusalMemo {
    fn default() -> Self {
        RefusalMemo {
            until: Mutex::new(lru::LruCache::new(
                NonZeroUsize::new(CAPACITY).unwrap_or(NonZeroUsize::MIN),
            )),
        }
    }
}

impl RefusalMemo {
    /// How long `key` stays refused, if it is.
    pub(crate) fn refused_for(&self, key: &str) -> Option<Duration> {
        let now = Instant::now();
        let mut map = self.until.lock().unwrap_or_else(|e| e.into_inner());
        match map
            .peek(key)
            .map(|until| until.saturating_duration_since(now))
        {
            Some(left) if !left.is_zero() => Some(left),
            Some(_) => {
                map.pop(key);
                None
            }
            None => None,
        }
    }

    /// `key` was refused by the full decision until `until` (its counter's
    /// end, counted from before the store was asked, so never later).
    pub(crate) fn note(&self, key: &str, until: Instant) {
        let mut map = self.until.lock().unwrap_or_else(|e| e.into_inner());
        map.put(key.to_string(), until);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.until.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_remembered_until_its_window_ends() {
        let memo = RefusalMemo::default();
        assert_eq!(memo.refused_for("k"), None);
        memo.note("k", Instant::now() + Duration::from_millis(40));
        let left = memo.refused_for("k").unwrap();
        assert!(left <= Duration::from_millis(40) && !left.is_zero());
        assert_eq!(memo.refused_for("other"), None);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(memo.refused_for("k"), None);
        assert_eq!(memo.len(), 0, "an ended refusal is dropped");
    }

    #[test]
    fn it_stays_bounded() {
        let memo = RefusalMemo::default();
        for i in 0..CAPACITY + 10 {
            memo.note(&format!("k{i}"), Instant::now() + Duration::from_secs(60));
        }
        assert_eq!(memo.len(), CAPACITY);
        assert_eq!(memo.refused_for("k0"), None, "the oldest is forgotten");
        assert!(memo.refused_for(&format!("k{}", CAPACITY + 9)).is_some());
    }
}
