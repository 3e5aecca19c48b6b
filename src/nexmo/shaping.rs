//! Throughput shaping towards Nexmo: an account takes about 30 requests a
//! second (`nexmo.max_rps`) and answers status 1 beyond. Each request to
//! Nexmo first reserves a slot: slots are `1.03/max_rps` s apart (no burst,
//! so no second holds more than `max_rps`), shared by every instance
//! through Redis when the limiter uses it (its clock, `TIME`, is the one
//! clock they share), else in process. A request whose slot is further
//! away than `nexmo.max_queue_wait` reserves nothing and is refused at
//! once; waiting would only make it fail later. While Redis fails, each
//! instance shapes alone at `max_rps / redis.expected_instances`.

use crate::redis_pool::{Lua, RedisPool};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// After a Redis failure, how long slots are taken in process before Redis
/// is tried again (as the limiter does).
const RETRY_REDIS: Duration = Duration::from_millis(500);

/// KEYS[1]: the next free slot, in µs of Redis' clock. ARGV: slot interval
/// µs, longest wait µs. Returns {1, wait µs} with the slot reserved, or
/// {0, wait µs} when the slot is too far.
const RESERVE: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval, max_wait = tonumber(ARGV[1]), tonumber(ARGV[2])
local slot = tonumber(redis.call('GET', KEYS[1]) or '0')
if slot < now then slot = now end
local wait = slot - now
if wait > max_wait then return {0, wait} end
local next_slot = slot + interval
redis.call('SET', KEYS[1], string.format('%.0f', next_slot), 'PX', math.floor((next_slot - now) / 1000) + 1000)
return {1, wait}
"#;

/// In-process slots.
struct Local {
    next: Mutex<Option<Instant>>,
}

impl Local {
    fn reserve(&self, interval: Duration, max_wait: Duration) -> Option<Duration> {
        let now = Instant::now();
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let slot = next.map_or(now, |n| n.max(now));
        let wait = slot - now;
        if wait > max_wait {
            return None;
        }
        *next = Some(slot + interval);
        Some(wait)
    }
}

#[derive(Clone)]
pub(crate) struct Shaper {
    local: Arc<Local>,
    redis: Option<RedisSlots>,
}

#[derive(Clone)]
struct RedisSlots {
    pool: RedisPool,
    timeout: Duration,
    key: String,
    script: Arc<Lua>,
    /// How many instances share the rate when each must shape alone.
    instances: u32,
    /// While Redis fails: until when it is not asked.
    down_until: Arc<Mutex<Option<Instant>>>,
}

impl Shaper {
    pub(crate) fn in_process() -> Shaper {
        Shaper {
            local: Arc::new(Local {
                next: Mutex::new(None),
            }),
            redis: None,
        }
    }

    /// Shared through Redis, per API key (`key_id`, never the key itself).
    pub(crate) fn redis(
        pool: RedisPool,
        timeout: Duration,
        key_id: &str,
        instances: u32,
    ) -> Shaper {
        Shaper {
            redis: Some(RedisSlots {
                pool,
                timeout,
                key: format!("nexmo-proxy:shaping:{key_id}"),
                script: Arc::new(Lua::new(RESERVE)),
                instances: instances.max(1),
                down_until: Arc::new(Mutex::new(None)),
            }),
            ..Shaper::in_process()
        }
    }

    /// Reserves the next slot at `max_rps` and waits for it; `false` when
    /// none is free within `max_wait` (nothing reserved, nothing waited).
    pub(crate) async fn take(&self, max_rps: u32, max_wait: Duration) -> bool {
        // 3% apart more than the rate asks, so jitter on the way to Nexmo
        // cannot put `max_rps + 1` requests into one of its seconds.
        let interval = Duration::from_secs(1) * 103 / (100 * max_rps.max(1));
        let wait = match &self.redis {
            None => self.local.reserve(interval, max_wait),
            Some(r) => match r.reserve_unless_down(interval, max_wait).await {
                Some(wait) => wait,
                None => self.local.reserve(interval * r.instances, max_wait),
            },
        };
        match wait {
            Some(w) => {
                if !w.is_zero() {
                    actix_web::rt::time::sleep(w).await;
                }
                true
            }
            None => false,
        }
    }
}

impl RedisSlots {
    /// The Redis answer, or `None` when Redis is (or just went) down; the
    /// change of state is logged once each way.
    async fn reserve_unless_down(
        &self,
        interval: Duration,
        max_wait: Duration,
    ) -> Option<Option<Duration>> {
        let was_down = {
            let down = self.down_until.lock().unwrap_or_else(|e| e.into_inner());
            match *down {
                Some(until) if Instant::now() < until => return None,
                other => other.is_some(),
            }
        };
        let result = self.reserve(interval, max_wait).await;
        let mut down = self.down_until.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(wait) => {
                if was_down && down.is_some() {
                    log::warn!("throughput shaping is back on redis");
                }
                *down = None;
                Some(wait)
            }
            Err(e) => {
                if !was_down && down.is_none() {
                    log::error!(
                        "throughput shaping in redis failed ({e}); each instance shapes alone at max_rps / redis.expected_instances until it is back"
                    );
                }
                *down = Some(Instant::now() + RETRY_REDIS);
                None
            }
        }
    }

    async fn reserve(
        &self,
        interval: Duration,
        max_wait: Duration,
    ) -> Result<Option<Duration>, String> {
        let work = async {
            let mut conn = self.pool.shared().await?;
            let r: Vec<i64> = self
                .script
                .key(&self.key)
                .arg(interval.as_micros() as u64)
                .arg(max_wait.as_micros() as u64)
                .invoke_async(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
            match r.as_slice() {
                [1, wait] => Ok(Some(Duration::from_micros((*wait).max(0) as u64))),
                [0, _] => Ok(None),
                other => Err(format!("unexpected script reply {other:?}")),
            }
        };
        let result = tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| format!("redis did not answer within {:?}", self.timeout))
            .and_then(|r| r);
        if result.is_err() {
            self.pool.forget();
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_spaced_and_none_is_reserved_past_the_wait() {
        let local = Local {
            next: Mutex::new(None),
        };
        let interval = Duration::from_millis(100);
        let max_wait = Duration::from_millis(250);
        let waits: Vec<Option<Duration>> =
            (0..5).map(|_| local.reserve(interval, max_wait)).collect();
        assert_eq!(waits[0], Some(Duration::ZERO));
        for (i, w) in waits[..3].iter().enumerate() {
            let w = w.unwrap();
            let want = interval * i as u32;
            assert!(
                w <= want && w + Duration::from_millis(20) >= want,
                "{i}: {w:?}"
            );
        }
        assert_eq!(waits[3], None, "300 ms away");
        assert_eq!(waits[4], None, "a refusal reserves nothing");
    }
}
