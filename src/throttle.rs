//! Log lines a flood would multiply (refusals, shadow refusals): the first
//! of a kind in an interval is logged at its level, the rest at debug and
//! counted, and `flush` (run every interval) logs one line with the count.
//! A kind is an endpoint and a rule, so the set of keys is as bounded as
//! the configuration.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often a kind of line is logged at its level, at most.
pub(crate) const INTERVAL: Duration = Duration::from_secs(10);

struct Kind {
    level: log::Level,
    last: Instant,
    suppressed: u64,
}

#[derive(Default)]
pub(crate) struct LogThrottle {
    kinds: Mutex<HashMap<String, Kind>>,
}

impl LogThrottle {
    /// Logs `line` at `level` unless a line of kind `key` was logged within
    /// the interval; then at debug, counted for `flush`.
    pub(crate) fn log(&self, level: log::Level, key: &str, line: &str) {
        let now = Instant::now();
        let mut kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        match kinds.get_mut(key) {
            Some(k) if now.duration_since(k.last) < INTERVAL => {
                k.suppressed += 1;
                log::debug!("{line}");
            }
            Some(k) => {
                k.last = now;
                log::log!(level, "{line}");
            }
            None => {
                let kind = Kind {
                    level,
                    last: now,
                    suppressed: 0,
                };
                kinds.insert(key.to_string(), kind);
                log::log!(level, "{line}");
            }
        }
    }

    /// One line per kind with lines held back since the last flush.
    pub(crate) fn flush(&self) {
        let mut kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        for (key, k) in kinds.iter_mut().filter(|(_, k)| k.suppressed > 0) {
            log::log!(
                k.level,
                "{key}: {} more in the last {}s (each at debug level)",
                k.suppressed,
                INTERVAL.as_secs()
            );
            k.suppressed = 0;
        }
    }
}
