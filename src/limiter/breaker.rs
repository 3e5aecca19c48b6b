//! The Redis limiter's circuit breaker: after a failure, requests are
//! answered at once (`Unavailable`) for `PROBE_INTERVAL`, then one request
//! probes, so none waits on a Redis that is down and the limiter is back
//! within a second of Redis. One breaker per shard in a cluster (a failed
//! master holds some shards; the others go on deciding), one in all on a
//! single server. Each change of state is logged once.

use super::LimiterError;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long the limiter answers `Unavailable` before trying Redis again.
pub(crate) const PROBE_INTERVAL: Duration = Duration::from_millis(500);

/// A shard down and not asked for this long is forgotten: a reload may
/// have removed its endpoints, and nothing is answered for it meanwhile.
const FORGET: Duration = Duration::from_secs(30);

#[derive(Default)]
pub(super) struct Breakers {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The shards Redis failed: since when, and when to try again.
    down: HashMap<String, (Instant, Instant)>,
    /// Since when some shard has been down.
    since: Option<Instant>,
    /// Time with some shard down, in the outages that ended.
    degraded: Duration,
}

impl State {
    fn prune(&mut self, now: Instant) {
        self.down.retain(|_, (_, retry)| now < *retry + FORGET);
        if self.down.is_empty() {
            if let Some(since) = self.since.take() {
                self.degraded += now - since;
            }
        }
    }
}

impl Breakers {
    /// Whether a request of `shard` may ask Redis now. After the interval,
    /// the first one asking is the probe: the others keep failing fast until
    /// it is answered (or, were it dropped, for `probe_for` more).
    pub(super) fn admit(&self, shard: &str, probe_for: Duration) -> bool {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let Some((_, retry_at)) = st.down.get_mut(shard) else {
            return true;
        };
        let now = Instant::now();
        if now < *retry_at {
            return false;
        }
        *retry_at = now + probe_for + PROBE_INTERVAL;
        true
    }

    /// Records the outcome of a request of `shard` that asked Redis.
    pub(super) fn note(&self, shard: &str, failure: Option<&LimiterError>) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let of = match shard {
            "" => String::new(),
            s => format!(" for the counters of {s}"),
        };
        match (failure, st.down.get(shard).copied()) {
            (None, Some((since, _))) => {
                log::warn!("redis limiter is back{of} after {:.1?}", now - since);
                st.down.remove(shard);
            }
            (Some(e), None) => {
                log::error!(
                    "redis limiter failed{of} ({e}); answering per on_redis_error until it is back"
                );
                st.down
                    .insert(shard.to_string(), (now, now + PROBE_INTERVAL));
                st.since.get_or_insert(now);
            }
            // A late error of a request from before the outage must not cut
            // short the wait the probe claimed.
            (Some(_), Some((since, retry))) => {
                st.down
                    .insert(shard.to_string(), (since, retry.max(now + PROBE_INTERVAL)));
            }
            (None, None) => {}
        }
        st.prune(now);
    }

    /// Whether some shard is answered per `on_redis_error` now, and the
    /// time spent so since start (the outage in progress included).
    pub(super) fn degraded(&self) -> (bool, Duration) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        st.prune(now);
        match st.since {
            Some(since) => (true, st.degraded + (now - since)),
            None => (false, st.degraded),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_shard_fails_fast_alone_and_probes_after_the_interval() {
        let b = Breakers::default();
        let t = Duration::from_millis(250);
        assert!(b.admit("/a/", t) && b.admit("/b/", t));
        b.note("/a/", Some(&LimiterError::Unavailable));
        assert!(!b.admit("/a/", t), "fails fast");
        assert!(b.admit("/b/", t), "another shard is asked");
        b.note("/b/", None);
        assert!(b.degraded().0);
        std::thread::sleep(PROBE_INTERVAL);
        assert!(b.admit("/a/", t), "one probe");
        assert!(!b.admit("/a/", t), "only one");
        b.note("/a/", None);
        assert!(b.admit("/a/", t));
        let (now, total) = b.degraded();
        assert!(!now && total >= PROBE_INTERVAL, "{total:?}");
    }
}
