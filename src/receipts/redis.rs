//! The Redis receipt store, on the limiter's pool. Per message id, a send
//! key (`nexmo-proxy:dlr:{<id>}:send` = "sent_ms parts id1 id2 ...", on
//! every part of the send) and a part hash (`nexmo-proxy:dlr:{<id>}:part`),
//! both with the receipt TTL (a part whose send is unknown: `ORPHAN_TTL`).
//! The braces keep one id's keys in one Redis Cluster slot (the parts of
//! one send are in several, so a cluster is sent their commands apart). A
//! receipt is
//! applied by a script, so two instances receiving receipts for one part at
//! once cannot put an intermediate state over a final one.

use super::{
    aggregate, DlrStatus, PartState, Receipt, SendRecord, SendState, StoreError, ORPHAN_TTL,
};
use crate::redis_pool::{Lua, RedisPool, Shared};
use deadpool_redis::redis;
use std::sync::Arc;
use std::time::Duration;

/// KEYS: the part hash, the send key. ARGV: status, err-code, updated ms,
/// TTL ms, final (0/1), orphan TTL ms. The rule of `super::merged`: a final
/// state stays, expiry included.
const RECORD: &str = r#"
if redis.call('HGET', KEYS[1], 'final') == '1' then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'err', ARGV[2], 'updated', ARGV[3], 'final', ARGV[5])
local ttl = ARGV[4]
if redis.call('EXISTS', KEYS[2]) == 0 then ttl = ARGV[6] end
redis.call('PEXPIRE', KEYS[1], ttl)
return 1
"#;

fn send_key(id: &str) -> String {
    format!("nexmo-proxy:dlr:{{{id}}}:send")
}

fn part_key(id: &str) -> String {
    format!("nexmo-proxy:dlr:{{{id}}}:part")
}

#[derive(Clone)]
pub(crate) struct RedisReceipts {
    pool: RedisPool,
    timeout: Duration,
    record: Arc<Lua>,
}

impl RedisReceipts {
    pub(crate) fn new(pool: RedisPool, timeout: Duration) -> RedisReceipts {
        RedisReceipts {
            pool,
            timeout,
            record: Arc::new(Lua::new(RECORD)),
        }
    }

    async fn run<T>(
        &self,
        work: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let result = tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| StoreError::Timeout(self.timeout))
            .and_then(|r| r);
        if result.is_err() {
            self.pool.forget();
        }
        result
    }

    /// The connection shared with the limiter.
    async fn connection(&self) -> Result<Shared, StoreError> {
        self.pool.shared().await.map_err(StoreError::Redis)
    }

    /// Sends `pipes`, one per slot: in one round trip to one server, one
    /// after another to a cluster. The replies of all, in order.
    async fn pipelines<T: redis::FromRedisValue>(
        &self,
        conn: &mut Shared,
        pipes: Vec<redis::Pipeline>,
    ) -> Result<Vec<T>, StoreError> {
        let redis_err = |e: redis::RedisError| StoreError::Redis(e.to_string());
        if !self.pool.is_cluster() {
            let mut all = redis::pipe();
            for p in &pipes {
                for c in p.cmd_iter() {
                    all.add_command(c.clone());
                }
            }
            return all.query_async(conn).await.map_err(redis_err);
        }
        let mut replies = Vec::new();
        for p in pipes {
            let rows: Vec<T> = p.query_async(conn).await.map_err(redis_err)?;
            replies.extend(rows);
        }
        Ok(replies)
    }

    pub(crate) async fn record_send(
        &self,
        send: &SendRecord,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let value = format!("{} {} {}", send.sent_ms, send.parts, send.ids.join(" "));
        let ttl_ms = ttl.as_millis() as u64;
        let pipes = send
            .ids
            .iter()
            .map(|id| {
                let mut pipe = redis::pipe();
                pipe.cmd("SET")
                    .arg(send_key(id))
                    .arg(&value)
                    .arg("PX")
                    .arg(ttl_ms);
                // A receipt that overtook its send is kept as long.
                pipe.cmd("PEXPIRE").arg(part_key(id)).arg(ttl_ms);
                pipe
            })
            .collect();
        self.run(async {
            let mut conn = self.connection().await?;
            self.pipelines::<()>(&mut conn, pipes).await.map(|_| ())
        })
        .await
    }

    pub(crate) async fn record(&self, receipt: &Receipt, ttl: Duration) -> Result<(), StoreError> {
        let s = receipt.state;
        self.run(async {
            let mut conn = self.connection().await?;
            self.record
                .key(part_key(&receipt.message_id))
                .key(send_key(&receipt.message_id))
                .arg(s.status.as_str())
                .arg(s.err_code)
                .arg(s.updated_ms)
                .arg(ttl.as_millis() as u64)
                .arg(u8::from(s.status.is_final()))
                .arg(ttl.min(ORPHAN_TTL).as_millis() as u64)
                .invoke_async::<i64>(&mut conn)
                .await
                .map(|_| ())
                .map_err(|e| StoreError::Redis(e.to_string()))
        })
        .await
    }

    pub(crate) async fn status(&self, id: &str) -> Result<Option<SendState>, StoreError> {
        self.run(async {
            let mut conn = self.connection().await?;
            let redis_err = |e: redis::RedisError| StoreError::Redis(e.to_string());
            let send: Option<String> = redis::cmd("GET")
                .arg(send_key(id))
                .query_async(&mut conn)
                .await
                .map_err(redis_err)?;
            let Some(send) = send else {
                return Ok(None);
            };
            let mut words = send.split(' ');
            let sent_ms = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
            let parts: usize = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
            let ids: Vec<&str> = words.collect();
            let pipes = ids
                .iter()
                .map(|part| {
                    let mut pipe = redis::pipe();
                    pipe.cmd("HMGET")
                        .arg(part_key(part))
                        .arg("status")
                        .arg("err")
                        .arg("updated");
                    pipe
                })
                .collect();
            type Fields = (Option<String>, Option<u16>, Option<u64>);
            let rows: Vec<Fields> = self.pipelines(&mut conn, pipes).await?;
            let known: Vec<Option<PartState>> = rows
                .into_iter()
                .map(|(status, err, updated)| {
                    Some(PartState {
                        status: DlrStatus::parse(&status?)?,
                        err_code: err.unwrap_or(0),
                        updated_ms: updated.unwrap_or(0),
                    })
                })
                .collect();
            Ok(Some(aggregate(parts.max(ids.len()), &known, sent_ms)))
        })
        .await
    }
}
