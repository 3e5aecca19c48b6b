//! Rate limits and budgets. One `Limiter` type with two stores, in-process
//! and Redis; handlers hand it every rule of a request as `Check`s and get
//! one `Decision`. A request is admitted only when every enforcing check
//! admits it, all checks are decided in one atomic step, and a refused
//! request consumes nothing.
//!
//! Windows are fixed: a counter starts with its first admitted request and
//! lives for the window. A `Count` check admits while `count + cost <= max`
//! (cost is 1 for a request, the SMS parts for a budget); a `Distinct`
//! check admits a member already in its set, or a new one while the set has
//! fewer than `max` members. Shadow checks are counted and reported but
//! never refuse.

mod breaker;
mod memo;
mod memory;
mod redis;

pub(crate) use memo::RefusalMemo;
pub(crate) use memory::MemoryLimiter;
pub(crate) use redis::RedisLimiter;

use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CheckKind {
    Count { cost: u64 },
    Distinct { member: String },
}

/// One counter to test and bump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Check {
    pub(crate) key: String,
    pub(crate) max: u64,
    pub(crate) window: Duration,
    pub(crate) kind: CheckKind,
    pub(crate) shadow: bool,
    /// Never forgotten by a full in-process store: budgets, endpoint and
    /// country counters, as many as the configuration makes, which a flood
    /// of new clients must not reset.
    pub(crate) pinned: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Admitted; `shadow_refused` lists the shadow checks (by index) that
    /// would have refused.
    Allowed { shadow_refused: Vec<usize> },
    /// Refused by check `check` (the first enforcing one that refused);
    /// `retry_after`: the earliest time a retry can succeed (the longest
    /// wait of all refusing checks); `own_wait`: when `check`'s own
    /// counter ends.
    Limited {
        retry_after: Duration,
        check: usize,
        own_wait: Duration,
    },
}

impl Decision {
    pub(crate) fn allowed() -> Decision {
        Decision::Allowed {
            shadow_refused: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LimiterError {
    #[error("redis: {0}")]
    Redis(String),
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("redis is unreachable (next attempt within 500 ms)")]
    Unavailable,
}

#[derive(Clone)]
pub(crate) enum Limiter {
    Memory(Arc<MemoryLimiter>),
    Redis(RedisLimiter),
}

impl Limiter {
    /// Counts in the process, at most `capacity` counters.
    pub(crate) fn in_process(capacity: usize) -> Limiter {
        Limiter::Memory(Arc::new(MemoryLimiter::new(capacity)))
    }

    pub(crate) fn describe(&self) -> &'static str {
        match self {
            Limiter::Memory(_) => "in-process",
            Limiter::Redis(_) => "redis",
        }
    }

    /// Decides `checks` in one step. They are counters of one `shard`
    /// (an endpoint's, or every endpoint's with a global rule): in a Redis
    /// Cluster, one slot.
    pub(crate) async fn decide(
        &self,
        shard: &str,
        checks: &[Check],
    ) -> Result<Decision, LimiterError> {
        if checks.is_empty() {
            return Ok(Decision::allowed());
        }
        match self {
            Limiter::Memory(m) => Ok(m.decide(checks)),
            Limiter::Redis(r) => r.decide(shard, checks).await,
        }
    }

    /// Gives back what `checks` consumed (a budget reservation for a message
    /// Nexmo refused). Best effort: a failure is logged, not returned.
    pub(crate) async fn release(&self, shard: &str, checks: &[Check]) {
        if checks.is_empty() {
            return;
        }
        match self {
            Limiter::Memory(m) => m.release(checks),
            Limiter::Redis(r) => r.release(shard, checks).await,
        }
    }

    /// `Some(up)` for Redis (asked now), `None` in process.
    pub(crate) async fn redis_up(&self) -> Option<bool> {
        match self {
            Limiter::Memory(_) => None,
            Limiter::Redis(r) => Some(r.ping().await),
        }
    }

    /// The counts of pinned counters (budgets; shard and key), without
    /// counting anything.
    pub(crate) async fn peek_pinned(
        &self,
        keys: &[(&str, String)],
    ) -> Result<Vec<u64>, LimiterError> {
        match self {
            Limiter::Memory(m) => Ok(keys.iter().map(|(_, k)| m.peek_pinned(k)).collect()),
            Limiter::Redis(r) => r.peek(keys).await,
        }
    }

    /// With Redis: whether its failures are being answered per
    /// `on_redis_error` now, and the time spent so since start.
    pub(crate) fn redis_degraded(&self) -> Option<(bool, Duration)> {
        match self {
            Limiter::Memory(_) => None,
            Limiter::Redis(r) => Some(r.degraded()),
        }
    }

    /// The in-process store's counters and evictions (with Redis: its
    /// stand-in's).
    pub(crate) fn memory_stats(&self) -> (usize, u64) {
        let m: &MemoryLimiter = match self {
            Limiter::Memory(m) => m,
            Limiter::Redis(r) => r.local(),
        };
        (m.keys(), m.evictions())
    }

    /// The in-process stand-in used while Redis is down (`on_redis_error = "local"`).
    pub(crate) fn local_fallback(&self) -> Option<&MemoryLimiter> {
        match self {
            Limiter::Memory(_) => None,
            Limiter::Redis(r) => Some(r.local()),
        }
    }
}
