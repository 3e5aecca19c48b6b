//! The in-process store: counters in a fixed number of shards, each an LRU
//! map behind its own mutex, so workers do not serialise on one lock. A
//! request's checks lock the shards they touch, in shard order (so two
//! requests never wait on each other in a circle), which keeps a decision
//! atomic. Memory is bounded: at most `capacity` counters (about 100 bytes
//! each); expired ones are reclaimed a few at a time as counters are
//! touched, never by a sweep of the whole map; when full, the least recently
//! used counter is forgotten, counted and warned about at most once a
//! minute. A flood of new clients can thus make old counters be forgotten
//! (a forgotten client starts afresh): Redis is the answer for exact limits
//! at scale.

use super::{Check, CheckKind, Decision};
use lru::LruCache;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

const SHARDS: usize = 64;
/// Expired counters looked at (from the LRU end) per shard and decision.
const RECLAIM_PER_DECISION: usize = 2;
const WARN_EVERY: Duration = Duration::from_secs(60);

struct Window {
    count: u64,
    expires: Instant,
    /// For `Distinct` checks only: a few country codes (at most the rule's
    /// `max`), boxed so other counters pay one pointer for them.
    members: Option<Box<[String]>>,
}

impl Window {
    fn new(expires: Instant) -> Window {
        Window {
            count: 0,
            expires,
            members: None,
        }
    }

    fn has(&self, member: &str) -> bool {
        self.members
            .iter()
            .flat_map(|m| m.iter())
            .any(|m| m == member)
    }

    fn add(&mut self, member: &str) {
        if !self.has(member) {
            let mut all = self.members.take().map(Vec::from).unwrap_or_default();
            all.push(member.to_string());
            self.members = Some(all.into_boxed_slice());
        }
    }

    fn member_count(&self) -> u64 {
        self.members.as_ref().map_or(0, |m| m.len() as u64)
    }
}

/// Counters by the 64-bit keyed hash of their key: a key string costs more
/// than the counter, and with a random hasher a client cannot aim for a
/// collision.
type Shard = LruCache<u64, Window>;

pub(crate) struct MemoryLimiter {
    /// `SHARDS` bounded LRU maps, then one unbounded map for pinned checks
    /// (last, so the lock order stays the index order).
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    evictions: AtomicU64,
    last_warning: Mutex<Option<Instant>>,
    capacity: usize,
}

fn refuses(win: Option<&Window>, c: &Check, now: Instant) -> bool {
    let win = win.filter(|w| w.expires > now);
    match &c.kind {
        CheckKind::Count { cost } => win.map_or(0, |w| w.count) + cost > c.max,
        CheckKind::Distinct { member } => {
            win.is_some_and(|w| !w.has(member) && w.member_count() >= c.max)
        }
    }
}

/// The locked shards of one decision, found by shard index.
struct Locked<'a>(Vec<(usize, MutexGuard<'a, Shard>)>);

impl Locked<'_> {
    fn shard(&mut self, i: usize) -> Option<&mut Shard> {
        self.0
            .iter_mut()
            .find(|(j, _)| *j == i)
            .map(|(_, s)| &mut **s)
    }
}

impl MemoryLimiter {
    /// A store of at most `capacity` counters.
    pub(crate) fn new(capacity: usize) -> MemoryLimiter {
        let per_shard = capacity.div_ceil(SHARDS).max(1);
        let cap = std::num::NonZeroUsize::MIN.saturating_add(per_shard - 1);
        let bounded = (0..SHARDS).map(|_| LruCache::new(cap));
        let pinned = std::iter::once(LruCache::unbounded());
        MemoryLimiter {
            shards: bounded.chain(pinned).map(Mutex::new).collect(),
            hasher: RandomState::new(),
            evictions: AtomicU64::new(0),
            last_warning: Mutex::new(None),
            capacity: per_shard * SHARDS,
        }
    }

    /// Counters forgotten because the store was full, since start.
    pub(crate) fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }

    /// Counters held now (expired ones not yet reclaimed included).
    pub(crate) fn keys(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }

    /// The count of a pinned counter (a budget's), 0 when absent or
    /// expired; its place in the LRU order is left as it is.
    pub(crate) fn peek_pinned(&self, key: &str) -> u64 {
        let shard = self.shards[SHARDS]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        shard
            .peek(&self.hasher.hash_one(key))
            .filter(|w| w.expires > Instant::now())
            .map_or(0, |w| w.count)
    }

    fn slot(&self, c: &Check) -> (usize, u64) {
        let h = self.hasher.hash_one(&c.key);
        let shard = if c.pinned {
            SHARDS
        } else {
            (h >> 58) as usize % SHARDS
        };
        (shard, h)
    }

    /// Locks the shards of `checks` in shard order.
    fn lock(&self, checks: &[Check]) -> (Locked<'_>, Vec<(usize, u64)>) {
        let slots: Vec<(usize, u64)> = checks.iter().map(|c| self.slot(c)).collect();
        let mut order: Vec<usize> = slots.iter().map(|s| s.0).collect();
        order.sort_unstable();
        order.dedup();
        // A poisoned lock only means another request panicked mid-decision;
        // the counters themselves are still consistent.
        let guards = order
            .into_iter()
            .map(|i| (i, self.shards[i].lock().unwrap_or_else(|e| e.into_inner())))
            .collect();
        (Locked(guards), slots)
    }

    pub(crate) fn decide(&self, checks: &[Check]) -> Decision {
        self.decide_at(checks, Instant::now())
    }

    fn decide_at(&self, checks: &[Check], now: Instant) -> Decision {
        let (mut locked, slots) = self.lock(checks);
        for (_, shard) in &mut locked.0 {
            reclaim(shard, now);
        }
        let mut refused: Option<(usize, Duration, Duration)> = None;
        let mut shadow_refused = Vec::new();
        for (i, (c, &(s, h))) in checks.iter().zip(&slots).enumerate() {
            // `get`: a counter in use, even a refusing one, is recent.
            let win = locked.shard(s).and_then(|shard| shard.get(&h));
            if refuses(win, c, now) {
                if c.shadow {
                    shadow_refused.push(i);
                } else {
                    let wait = win
                        .filter(|w| w.expires > now)
                        .map_or(c.window, |w| w.expires - now);
                    let (first, longest, own) = refused.unwrap_or((i, Duration::ZERO, wait));
                    refused = Some((first, longest.max(wait), own));
                }
            }
        }
        if let Some((check, retry_after, own_wait)) = refused {
            return Decision::Limited {
                retry_after,
                check,
                own_wait,
            };
        }
        let mut evicted = 0;
        for (c, &(s, h)) in checks.iter().zip(&slots) {
            let Some(shard) = locked.shard(s) else {
                continue;
            };
            if shard.get_mut(&h).is_none_or(|w| w.expires <= now) {
                if let Some((gone, _)) = shard.push(h, Window::new(now + c.window)) {
                    evicted += u64::from(gone != h);
                }
            }
            let Some(win) = shard.get_mut(&h) else {
                continue;
            };
            match &c.kind {
                CheckKind::Count { cost } => win.count += cost,
                CheckKind::Distinct { member } => win.add(member),
            }
        }
        drop(locked);
        if evicted > 0 {
            self.evicted(evicted, now);
        }
        Decision::Allowed { shadow_refused }
    }

    fn evicted(&self, n: u64, now: Instant) {
        let total = self.evictions.fetch_add(n, Ordering::Relaxed) + n;
        let mut last = self.last_warning.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_none_or(|t| now.duration_since(t) >= WARN_EVERY) {
            *last = Some(now);
            log::warn!(
                "in-process limiter is full ({} counters): forgetting the least recently used ({total} so far); use Redis for exact limits at this scale",
                self.capacity
            );
        }
    }

    pub(crate) fn release(&self, checks: &[Check]) {
        let (mut locked, slots) = self.lock(checks);
        for (c, &(s, h)) in checks.iter().zip(&slots) {
            let win = locked.shard(s).and_then(|shard| shard.peek_mut(&h));
            if let (Some(win), CheckKind::Count { cost }) = (win, &c.kind) {
                win.count = win.count.saturating_sub(*cost);
            }
        }
    }
}

/// Drops a few expired counters from the least recently used end.
fn reclaim(shard: &mut Shard, now: Instant) {
    for _ in 0..RECLAIM_PER_DECISION {
        match shard.peek_lru() {
            Some((_, w)) if w.expires <= now => {
                shard.pop_lru();
            }
            _ => break,
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
            pinned: false,
        }
    }

    #[test]
    fn admits_max_then_refuses_until_the_window_ends() {
        let l = MemoryLimiter::new(1000);
        let t0 = Instant::now();
        let c = [check("a", 3, 60)];
        for _ in 0..3 {
            assert_eq!(l.decide_at(&c, t0), Decision::allowed());
        }
        assert_eq!(
            l.decide_at(&c, t0),
            Decision::Limited {
                retry_after: Duration::from_secs(60),
                check: 0,
                own_wait: Duration::from_secs(60),
            }
        );
        assert_eq!(
            l.decide_at(&c, t0 + Duration::from_secs(60)),
            Decision::allowed()
        );
    }

    #[test]
    fn a_refused_request_consumes_nothing() {
        let l = MemoryLimiter::new(1000);
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
        let l = MemoryLimiter::new(1000);
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
        let l = MemoryLimiter::new(1000);
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
        let l = MemoryLimiter::new(1000);
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

    #[test]
    fn a_full_store_forgets_the_least_recently_used_and_counts_it() {
        let l = MemoryLimiter::new(SHARDS * 10);
        let t0 = Instant::now();
        let keep = [check("kept", 1, 60)];
        assert_eq!(l.decide_at(&keep, t0), Decision::allowed());
        for i in 0..(SHARDS * 40) {
            let c = [check(&format!("client-{i}"), 5, 60)];
            assert_eq!(l.decide_at(&c, t0), Decision::allowed());
            // "kept" stays recently used, so it is never the one forgotten.
            assert!(matches!(l.decide_at(&keep, t0), Decision::Limited { .. }));
        }
        let stored: usize = l.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(stored <= SHARDS * 10, "{stored}");
        assert_eq!(l.evictions() as usize, SHARDS * 40 + 1 - stored);
    }

    #[test]
    fn expired_counters_are_reclaimed_as_the_store_is_used() {
        let l = MemoryLimiter::new(SHARDS * 100);
        let t0 = Instant::now();
        for i in 0..(SHARDS * 50) {
            l.decide_at(&[check(&format!("old-{i}"), 5, 1)], t0);
        }
        let later = t0 + Duration::from_secs(2);
        for i in 0..(SHARDS * 50) {
            l.decide_at(&[check(&format!("new-{i}"), 5, 60)], later);
        }
        let stored: usize = l.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert_eq!(l.evictions(), 0);
        assert!(stored < SHARDS * 100, "expired ones were dropped: {stored}");
    }

    /// Resident memory of this process, from /proc (Linux).
    fn rss_bytes() -> u64 {
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
        let pages: u64 = statm
            .split(' ')
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        pages * 4096
    }

    /// The memory bound of issue "hostile traffic": a million distinct
    /// clients (one counter each, as the `ip` rule makes) add at most
    /// 150 MiB; past the capacity, nothing more. Measured in a process of
    /// its own, where no other test allocates meanwhile; its figures are
    /// printed (`--nocapture`; docs/benchmarks.md).
    #[test]
    fn a_million_clients_fit_in_150_mib_and_more_evict() {
        let name = "limiter::memory::tests::million_clients_alone";
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                name,
                "--nocapture",
                "--test-threads=1",
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr);
        eprint!("{text}");
        assert!(out.status.success(), "{text}");
        assert!(
            text.contains("1,100,000 clients into"),
            "did not run: {text}"
        );
    }

    #[test]
    #[ignore = "run alone by a_million_clients_fit_in_150_mib_and_more_evict"]
    fn million_clients_alone() {
        let before = rss_bytes();
        let l = MemoryLimiter::new(1_000_000);
        let t0 = Instant::now();
        let mut key = String::new();
        for i in 0..1_000_000u32 {
            use std::fmt::Write;
            key.clear();
            let _ = write!(
                key,
                "nexmo-proxy:limit:/message/:ip:3600000:{}",
                std::net::Ipv4Addr::from(i)
            );
            let c = [check(&key, 10, 3600)];
            assert_eq!(l.decide_at(&c, t0), Decision::allowed());
        }
        let grown = rss_bytes().saturating_sub(before);
        eprintln!("1,000,000 counters: RSS +{} MiB", grown >> 20);
        assert!(grown < 150 << 20, "RSS grew by {} MiB", grown >> 20);
        for i in 0..100_000u32 {
            let c = [check(&format!("more-{i}"), 10, 3600)];
            l.decide_at(&c, t0);
        }
        let after = rss_bytes().saturating_sub(before);
        eprintln!(
            "1,100,000 clients into 1,000,000 counters: RSS +{} MiB, {} evicted",
            after >> 20,
            l.evictions()
        );
        assert!(after < 150 << 20, "RSS grew by {} MiB", after >> 20);
        assert!(l.evictions() >= 100_000 - SHARDS as u64 * 100);
    }

    #[test]
    fn a_flood_of_new_clients_never_forgets_a_pinned_budget() {
        let l = MemoryLimiter::new(SHARDS);
        let t0 = Instant::now();
        let budget = [Check {
            pinned: true,
            ..check("budget", 1, 60)
        }];
        assert_eq!(l.decide_at(&budget, t0), Decision::allowed());
        for i in 0..(SHARDS * 20) {
            l.decide_at(&[check(&format!("client-{i}"), 5, 60)], t0);
        }
        assert!(l.evictions() > 0);
        assert!(matches!(l.decide_at(&budget, t0), Decision::Limited { .. }));
    }
}
