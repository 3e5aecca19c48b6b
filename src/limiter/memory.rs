//! The in-process store: one mutex around a map of fixed windows. Holding
//! the lock across all checks of a request is what makes a decision atomic.

use super::{Check, Decision};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

struct Window {
    count: u64,
    expires: Instant,
}

#[derive(Default)]
pub struct MemoryLimiter {
    windows: Mutex<Windows>,
}

#[derive(Default)]
struct Windows {
    map: HashMap<String, Window>,
    decisions: u64,
}

impl MemoryLimiter {
    pub fn decide(&self, checks: &[Check]) -> Decision {
        self.decide_at(checks, Instant::now())
    }

    fn decide_at(&self, checks: &[Check], now: Instant) -> Decision {
        // A poisoned lock only means another request panicked mid-decision;
        // the counters themselves are still consistent.
        let mut w = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        w.decisions += 1;
        if w.decisions.is_multiple_of(4096) {
            w.map.retain(|_, win| win.expires > now);
        }
        let mut retry_after = Duration::ZERO;
        for c in checks {
            if let Some(win) = w.map.get(&c.key) {
                if win.expires > now && win.count >= c.max {
                    retry_after = retry_after.max(win.expires - now);
                }
            }
        }
        if !retry_after.is_zero() {
            return Decision::Limited { retry_after };
        }
        for c in checks {
            let win = w.map.entry(c.key.clone()).or_insert(Window {
                count: 0,
                expires: now + c.window,
            });
            if win.expires <= now {
                *win = Window {
                    count: 0,
                    expires: now + c.window,
                };
            }
            win.count += 1;
        }
        Decision::Allowed
    }

    /// Live counters, for tests and metrics.
    pub fn len(&self) -> usize {
        self.windows.lock().map(|w| w.map.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(key: &str, max: u64, secs: u64) -> Check {
        Check {
            key: key.into(),
            max,
            window: Duration::from_secs(secs),
        }
    }

    #[test]
    fn admits_max_then_refuses_until_the_window_ends() {
        let l = MemoryLimiter::default();
        let t0 = Instant::now();
        let c = [check("a", 3, 60)];
        for _ in 0..3 {
            assert_eq!(l.decide_at(&c, t0), Decision::Allowed);
        }
        assert!(
            matches!(l.decide_at(&c, t0), Decision::Limited { retry_after } if retry_after == Duration::from_secs(60))
        );
        assert_eq!(
            l.decide_at(&c, t0 + Duration::from_secs(60)),
            Decision::Allowed
        );
    }

    #[test]
    fn a_refused_request_consumes_nothing() {
        let l = MemoryLimiter::default();
        let t0 = Instant::now();
        let both = [check("ip", 5, 60), check("num", 1, 60)];
        assert_eq!(l.decide_at(&both, t0), Decision::Allowed);
        // "num" is exhausted: refused, and "ip" must not have moved.
        for _ in 0..10 {
            assert!(matches!(l.decide_at(&both, t0), Decision::Limited { .. }));
        }
        let ip_only = [check("ip", 5, 60)];
        for _ in 0..4 {
            assert_eq!(l.decide_at(&ip_only, t0), Decision::Allowed);
        }
        assert!(matches!(
            l.decide_at(&ip_only, t0),
            Decision::Limited { .. }
        ));
    }
}
