//! The in-process store: one mutex around a map of fixed windows. Holding
//! the lock across all checks of a request is what makes a decision atomic.

use super::{Check, CheckKind, Decision};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

struct Window {
    count: u64,
    members: HashSet<String>,
    expires: Instant,
}

impl Window {
    fn new(expires: Instant) -> Window {
        Window {
            count: 0,
            members: HashSet::new(),
            expires,
        }
    }
}

#[derive(Default)]
pub(crate) struct MemoryLimiter {
    windows: Mutex<Windows>,
}

#[derive(Default)]
struct Windows {
    map: HashMap<String, Window>,
    decisions: u64,
}

fn refuses(win: Option<&Window>, c: &Check, now: Instant) -> bool {
    let win = win.filter(|w| w.expires > now);
    match &c.kind {
        CheckKind::Count { cost } => win.map_or(0, |w| w.count) + cost > c.max,
        CheckKind::Distinct { member } => {
            win.is_some_and(|w| !w.members.contains(member) && w.members.len() as u64 >= c.max)
        }
    }
}

impl MemoryLimiter {
    pub(crate) fn decide(&self, checks: &[Check]) -> Decision {
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
        let mut refused: Option<(usize, Duration)> = None;
        let mut shadow_refused = Vec::new();
        for (i, c) in checks.iter().enumerate() {
            let win = w.map.get(&c.key);
            if refuses(win, c, now) {
                if c.shadow {
                    shadow_refused.push(i);
                } else {
                    let wait = win
                        .filter(|w| w.expires > now)
                        .map_or(c.window, |w| w.expires - now);
                    let (first, longest) = refused.unwrap_or((i, Duration::ZERO));
                    refused = Some((first, longest.max(wait)));
                }
            }
        }
        if let Some((check, retry_after)) = refused {
            return Decision::Limited { retry_after, check };
        }
        for c in checks {
            let win = w
                .map
                .entry(c.key.clone())
                .or_insert_with(|| Window::new(now + c.window));
            if win.expires <= now {
                *win = Window::new(now + c.window);
            }
            match &c.kind {
                CheckKind::Count { cost } => win.count += cost,
                CheckKind::Distinct { member } => {
                    win.members.insert(member.clone());
                }
            }
        }
        Decision::Allowed { shadow_refused }
    }

    pub(crate) fn release(&self, checks: &[Check]) {
        let mut w = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        for c in checks {
            if let (Some(win), CheckKind::Count { cost }) = (w.map.get_mut(&c.key), &c.kind) {
                win.count = win.count.saturating_sub(*cost);
            }
        }
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
            kind: CheckKind::Count { cost: 1 },
            shadow: false,
        }
    }

    #[test]
    fn admits_max_then_refuses_until_the_window_ends() {
        let l = MemoryLimiter::default();
        let t0 = Instant::now();
        let c = [check("a", 3, 60)];
        for _ in 0..3 {
            assert_eq!(l.decide_at(&c, t0), Decision::allowed());
        }
        assert_eq!(
            l.decide_at(&c, t0),
            Decision::Limited {
                retry_after: Duration::from_secs(60),
                check: 0
            }
        );
        assert_eq!(
            l.decide_at(&c, t0 + Duration::from_secs(60)),
            Decision::allowed()
        );
    }

    #[test]
    fn a_refused_request_consumes_nothing() {
        let l = MemoryLimiter::default();
        let t0 = Instant::now();
        let both = [check("ip", 5, 60), check("num", 1, 60)];
        assert_eq!(l.decide_at(&both, t0), Decision::allowed());
        // "num" is exhausted: refused, and "ip" must not have moved.
        for _ in 0..10 {
            assert!(matches!(
                l.decide_at(&both, t0),
                Decision::Limited { check: 1, .. }
            ));
        }
        let ip_only = [check("ip", 5, 60)];
        for _ in 0..4 {
            assert_eq!(l.decide_at(&ip_only, t0), Decision::allowed());
        }
        assert!(matches!(
            l.decide_at(&ip_only, t0),
            Decision::Limited { .. }
        ));
    }

    #[test]
    fn costs_count_parts_and_release_gives_them_back() {
        let l = MemoryLimiter::default();
        let t0 = Instant::now();
        let two = [Check {
            kind: CheckKind::Count { cost: 2 },
            ..check("budget", 5, 60)
        }];
        assert_eq!(l.decide_at(&two, t0), Decision::allowed());
        assert_eq!(l.decide_at(&two, t0), Decision::allowed());
        assert!(
            matches!(l.decide_at(&two, t0), Decision::Limited { .. }),
            "4 + 2 > 5"
        );
        l.release(&two);
        assert_eq!(l.decide_at(&two, t0), Decision::allowed());
    }

    #[test]
    fn distinct_checks_count_members() {
        let l = MemoryLimiter::default();
        let t0 = Instant::now();
        let member = |m: &str| {
            [Check {
                kind: CheckKind::Distinct { member: m.into() },
                ..check("countries", 2, 60)
            }]
        };
        assert_eq!(l.decide_at(&member("DE"), t0), Decision::allowed());
        assert_eq!(l.decide_at(&member("FR"), t0), Decision::allowed());
        assert_eq!(l.decide_at(&member("DE"), t0), Decision::allowed());
        assert!(matches!(
            l.decide_at(&member("IT"), t0),
            Decision::Limited { .. }
        ));
    }

    #[test]
    fn shadow_checks_report_but_never_refuse() {
        let l = MemoryLimiter::default();
        let t0 = Instant::now();
        let c = [
            check("ip", 10, 60),
            Check {
                shadow: true,
                ..check("shadow", 1, 60)
            },
        ];
        assert_eq!(l.decide_at(&c, t0), Decision::allowed());
        assert_eq!(
            l.decide_at(&c, t0),
            Decision::Allowed {
                shadow_refused: vec![1]
            }
        );
    }
}
