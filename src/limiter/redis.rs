//! The Redis store: one Lua script decides all checks of a request in one
//! round trip (`EVALSHA`, reloaded by the client on `NOSCRIPT`), so several
//! proxy instances sharing a Redis enforce one limit exactly. Every key the
//! script touches carries a TTL, including keys an older, non-atomic
//! limiter left without one.
//!
//! While Redis is unreachable the limiter fails fast (`breaker`).

use super::breaker::Breakers;
use super::{Check, CheckKind, Decision, LimiterError, MemoryLimiter};
use crate::redis_pool::{Lua, RedisPool, Shared};
use std::sync::Arc;
use std::time::Duration;

/// KEYS: counters. ARGV, five per key: kind (0 count, 1 distinct), max,
/// window in ms, cost or member, shadow (0/1).
/// Returns {1, 0, -1, shadow indices...} when admitted (all counters
/// bumped), else {0, longest wait ms, index of the first refusing check,
/// that check's own wait ms}.
const DECIDE: &str = r#"
local wait, first, own = 0, 0, 0
local shadow = {}
for i = 1, #KEYS do
  local b = (i - 1) * 5
  local kind, max, win, x = ARGV[b + 1], tonumber(ARGV[b + 2]), ARGV[b + 3], ARGV[b + 4]
  local over
  if kind == '0' then
    over = tonumber(redis.call('GET', KEYS[i]) or '0') + tonumber(x) > max
  else
    over = redis.call('SISMEMBER', KEYS[i], x) == 0 and redis.call('SCARD', KEYS[i]) >= max
  end
  if over then
    if ARGV[b + 5] == '1' then
      table.insert(shadow, i - 1)
    else
      local ttl = redis.call('PTTL', KEYS[i])
      if ttl < 0 then
        if ttl == -1 then redis.call('PEXPIRE', KEYS[i], win) end
        ttl = tonumber(win)
      end
      if ttl > wait then wait = ttl end
      if first == 0 then first, own = i, ttl end
    end
  end
end
if first > 0 then return {0, wait, first - 1, own} end
for i = 1, #KEYS do
  local b = (i - 1) * 5
  if ARGV[b + 1] == '0' then
    redis.call('INCRBY', KEYS[i], ARGV[b + 4])
  else
    redis.call('SADD', KEYS[i], ARGV[b + 4])
  end
  if redis.call('PTTL', KEYS[i]) < 0 then
    redis.call('PEXPIRE', KEYS[i], ARGV[b + 3])
  end
end
local r = {1, 0, -1}
for _, s in ipairs(shadow) do table.insert(r, s) end
return r
"#;

/// KEYS: counters; ARGV: the cost to give back to each.
const RELEASE: &str = r#"
for i = 1, #KEYS do
  if tonumber(redis.call('GET', KEYS[i]) or '0') >= tonumber(ARGV[i]) then
    redis.call('DECRBY', KEYS[i], ARGV[i])
  end
end
return 0
"#;

#[derive(Clone)]
pub(crate) struct RedisLimiter {
    pool: RedisPool,
    timeout: Duration,
    decide: Arc<Lua>,
    release: Arc<Lua>,
    breakers: Arc<Breakers>,
    local: Arc<MemoryLimiter>,
}

impl RedisLimiter {
    /// `local_capacity` bounds the in-process stand-in used while Redis is
    /// down (`on_redis_error = "local"`).
    pub(crate) fn new(pool: RedisPool, timeout: Duration, local_capacity: usize) -> RedisLimiter {
        RedisLimiter {
            pool,
            timeout,
            decide: Arc::new(Lua::new(DECIDE)),
            release: Arc::new(Lua::new(RELEASE)),
            breakers: Arc::new(Breakers::default()),
            local: Arc::new(MemoryLimiter::new(local_capacity)),
        }
    }

    pub(crate) fn local(&self) -> &MemoryLimiter {
        &self.local
    }

    /// Whether Redis answers now (`RedisPool::healthy`), within the
    /// timeout. It leaves the breaker and the shared connection alone, so a
    /// readiness probe can neither open the breaker on one slow answer nor
    /// close it while scripts fail; the next request probes as usual.
    pub(crate) async fn ping(&self) -> bool {
        tokio::time::timeout(self.timeout, self.pool.healthy())
            .await
            .unwrap_or(false)
    }

    /// Whether requests are answered per `on_redis_error` now, and the
    /// time spent so since start (the outage in progress included).
    pub(crate) fn degraded(&self) -> (bool, Duration) {
        self.breakers.degraded()
    }

    /// The counts of `keys` (shard and key; 0 for an absent one), in one
    /// `MGET` within the timeout (in a cluster, one per slot, sent by the
    /// client); like `ping`, it leaves the breaker alone.
    pub(crate) async fn peek(&self, keys: &[(&str, String)]) -> Result<Vec<u64>, LimiterError> {
        let keys: Vec<_> = keys.iter().map(|(s, k)| self.pool.key(s, k)).collect();
        let work = async {
            let mut conn = self.pool.get().await.map_err(LimiterError::Redis)?;
            let counts: Vec<Option<u64>> = deadpool_redis::redis::cmd("MGET")
                .arg(&keys)
                .query_async(&mut conn)
                .await
                .map_err(|e| LimiterError::Redis(e.to_string()))?;
            Ok(counts.into_iter().map(Option::unwrap_or_default).collect())
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| LimiterError::Timeout(self.timeout))?
    }

    /// The pool and timeout, for other stores on the same Redis.
    pub(crate) fn pool(&self) -> (RedisPool, Duration) {
        (self.pool.clone(), self.timeout)
    }

    /// Decides `checks`, counters of `shard` (see `RedisPool::key`).
    pub(crate) async fn decide(
        &self,
        shard: &str,
        checks: &[Check],
    ) -> Result<Decision, LimiterError> {
        // One breaker per shard in a cluster, one in all on a server.
        let breaker = if self.pool.is_cluster() { shard } else { "" };
        if !self.breakers.admit(breaker, self.timeout) {
            return Err(LimiterError::Unavailable);
        }
        let result = self.run_decide(shard, checks).await;
        self.breakers.note(breaker, result.as_ref().err());
        result
    }

    async fn connection(&self) -> Result<Shared, LimiterError> {
        self.pool.shared().await.map_err(LimiterError::Redis)
    }

    async fn run_decide(&self, shard: &str, checks: &[Check]) -> Result<Decision, LimiterError> {
        let work = async {
            let mut conn = self.connection().await?;
            let mut inv = self.decide.prepare_invoke();
            for c in checks {
                inv.key(self.pool.key(shard, &c.key).as_ref());
                match &c.kind {
                    CheckKind::Count { cost } => inv.arg(0).arg(c.max).arg(window_ms(c)).arg(*cost),
                    CheckKind::Distinct { member } => {
                        inv.arg(1).arg(c.max).arg(window_ms(c)).arg(member)
                    }
                };
                inv.arg(u8::from(c.shadow));
            }
            let r: Vec<i64> = inv
                .invoke_async(&mut conn)
                .await
                .map_err(|e| LimiterError::Redis(e.to_string()))?;
            match r.as_slice() {
                [1, _, _, shadow @ ..] => Ok(Decision::Allowed {
                    shadow_refused: shadow.iter().map(|&i| i as usize).collect(),
                }),
                [0, wait, check, own, ..] => Ok(Decision::Limited {
                    retry_after: Duration::from_millis((*wait).max(1) as u64),
                    check: *check as usize,
                    own_wait: Duration::from_millis((*own).max(1) as u64),
                }),
                other => Err(LimiterError::Redis(format!(
                    "unexpected script reply {other:?}"
                ))),
            }
        };
        let result = tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| LimiterError::Timeout(self.timeout))
            .and_then(|r| r);
        if result.is_err() {
            self.pool.forget();
        }
        result
    }

    pub(crate) async fn release(&self, shard: &str, checks: &[Check]) {
        let work = async {
            let mut conn = self.connection().await.map_err(|e| e.to_string())?;
            let mut inv = self.release.prepare_invoke();
            for c in checks {
                if let CheckKind::Count { cost } = c.kind {
                    inv.key(self.pool.key(shard, &c.key).as_ref()).arg(cost);
                }
            }
            inv.invoke_async::<i64>(&mut conn)
                .await
                .map_err(|e| e.to_string())
        };
        match tokio::time::timeout(self.timeout, work).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => log::error!("could not release a budget reservation: {e}"),
            Err(_) => log::error!("could not release a budget reservation: redis timed out"),
        }
    }
}

fn window_ms(c: &Check) -> u64 {
    c.window.as_millis().max(1) as u64
}
