//! The Redis store: one Lua script decides all checks of a request in one
//! round trip (`EVALSHA`, reloaded by the client on `NOSCRIPT`), so several
//! proxy instances sharing a Redis enforce one limit exactly. Every key the
//! script touches carries a TTL, including keys an older, non-atomic
//! limiter left without one.

use super::{Check, Decision, LimiterError};
use deadpool_redis::redis::Script;
use deadpool_redis::{Config, Pool, Runtime};
use std::sync::Arc;
use std::time::Duration;

/// KEYS: counters. ARGV: max and window (ms) for each key, in order.
/// Returns 0 when admitted (all counters bumped), else the wait in ms.
const DECIDE: &str = r#"
local wait = 0
for i, key in ipairs(KEYS) do
  local max = tonumber(ARGV[2 * i - 1])
  local count = tonumber(redis.call('GET', key) or '0')
  if count >= max then
    local ttl = redis.call('PTTL', key)
    if ttl < 0 then
      redis.call('PEXPIRE', key, ARGV[2 * i])
      ttl = tonumber(ARGV[2 * i])
    end
    if ttl > wait then wait = ttl end
  end
end
if wait > 0 then return wait end
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  if n == 1 or redis.call('PTTL', key) < 0 then
    redis.call('PEXPIRE', key, ARGV[2 * i])
  end
end
return 0
"#;

#[derive(Clone)]
pub struct RedisLimiter {
    pool: Pool,
    timeout: Duration,
    script: Arc<Script>,
}

impl RedisLimiter {
    /// Builds the pool; connections are opened on first use, inside the
    /// server's runtime (a connection made in a throwaway runtime dies with it).
    pub fn new(
        url: &str,
        pool_size: usize,
        timeout: Duration,
    ) -> Result<RedisLimiter, LimiterError> {
        let pool = Config::from_url(url)
            .builder()
            .map_err(|e| LimiterError::Redis(redact(&e.to_string(), url)))?
            .max_size(pool_size)
            .wait_timeout(Some(timeout))
            .create_timeout(Some(timeout))
            .recycle_timeout(Some(timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| LimiterError::Redis(redact(&e.to_string(), url)))?;
        Ok(RedisLimiter {
            pool,
            timeout,
            script: Arc::new(Script::new(DECIDE)),
        })
    }

    pub async fn decide(&self, checks: &[Check]) -> Result<Decision, LimiterError> {
        let work = async {
            let mut conn = self
                .pool
                .get()
                .await
                .map_err(|e| LimiterError::Redis(e.to_string()))?;
            let mut inv = self.script.prepare_invoke();
            for c in checks {
                inv.key(&c.key)
                    .arg(c.max)
                    .arg(c.window.as_millis().max(1) as u64);
            }
            let wait: u64 = inv
                .invoke_async(&mut conn)
                .await
                .map_err(|e| LimiterError::Redis(e.to_string()))?;
            Ok(if wait == 0 {
                Decision::Allowed
            } else {
                Decision::Limited {
                    retry_after: Duration::from_millis(wait),
                }
            })
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| LimiterError::Timeout(self.timeout))?
    }
}

/// Errors from URL parsing may quote the URL, and with it a password.
fn redact(msg: &str, url: &str) -> String {
    if url.is_empty() {
        msg.to_string()
    } else {
        msg.replace(url, "(redis url)")
    }
}
