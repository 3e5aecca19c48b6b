//! Rate limits. One `Limiter` type with two stores, in-process and Redis;
//! handlers hand it every rule of a request as `Check`s and get one
//! `Decision`. A request is admitted only when every check admits it, all
//! checks are decided in one atomic step, and a refused request consumes
//! nothing.
//!
//! Windows are fixed: a counter starts with its first admitted request and
//! lives for the window; at most `max` requests are admitted per key and
//! window.

mod memory;
mod redis;

pub use memory::MemoryLimiter;
pub use redis::RedisLimiter;

use std::sync::Arc;
use std::time::Duration;

/// One counter to test and bump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub key: String,
    pub max: u64,
    pub window: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// Refused; the earliest time a retry can succeed.
    Limited {
        retry_after: Duration,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum LimiterError {
    #[error("redis: {0}")]
    Redis(String),
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
}

#[derive(Clone)]
pub enum Limiter {
    Memory(Arc<MemoryLimiter>),
    Redis(RedisLimiter),
}

impl Limiter {
    pub fn in_process() -> Limiter {
        Limiter::Memory(Arc::new(MemoryLimiter::default()))
    }

    pub fn describe(&self) -> &'static str {
        match self {
            Limiter::Memory(_) => "in-process",
            Limiter::Redis(_) => "redis",
        }
    }

    pub async fn decide(&self, checks: &[Check]) -> Result<Decision, LimiterError> {
        if checks.is_empty() {
            return Ok(Decision::Allowed);
        }
        match self {
            Limiter::Memory(m) => Ok(m.decide(checks)),
            Limiter::Redis(r) => r.decide(checks).await,
        }
    }
}
