//! The connection to Redis, one server (`redis.url`) or a Redis Cluster
//! (`redis.cluster`): the pool the limiter, the receipts and the send slots
//! share, the connections it hands out, and where a group of counters is
//! kept in a cluster.
//!
//! A script touches only keys of one cluster slot, so the counters decided
//! together carry one hash tag (`{<shard>}` before the key). On one server
//! keys stay as they always were: an upgrade keeps its counters and
//! budgets. A pipeline also stays within one slot in a cluster; callers
//! whose commands span slots ask `is_cluster()` and send them apart.

use deadpool_redis::redis::aio::{ConnectionLike, MultiplexedConnection};
use deadpool_redis::redis::cluster_async::ClusterConnection;
use deadpool_redis::redis::{Cmd, Pipeline, RedisFuture, Value};
use deadpool_redis::{cluster, Runtime};
use std::borrow::Cow;
use std::time::Duration;

/// Where Redis is: one URL, or the seed nodes of a cluster.
pub(crate) enum Target<'a> {
    Node(&'a str),
    Cluster(&'a [&'a str]),
}

#[derive(Clone)]
pub(crate) enum RedisPool {
    Node(deadpool_redis::Pool),
    Cluster(cluster::Pool),
}

/// A connection checked out of the pool, returned to it on drop.
pub(crate) enum Pooled {
    Node(deadpool_redis::Connection),
    Cluster(cluster::Connection),
}

/// A multiplexed connection taken out of the pool, cloned by every request
/// that shares it.
#[derive(Clone)]
pub(crate) enum Shared {
    Node(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl RedisPool {
    /// Builds the pool; connections are opened on first use, inside the
    /// server's runtime (a connection made in a throwaway runtime dies with
    /// it). Errors never quote a URL: it may carry a password.
    pub(crate) fn new(
        target: &Target,
        size: usize,
        timeout: Duration,
    ) -> Result<RedisPool, String> {
        let urls: Vec<&str> = match target {
            Target::Node(url) => vec![url],
            Target::Cluster(urls) => urls.to_vec(),
        };
        let hide = |e: &dyn std::fmt::Display| redact(&e.to_string(), &urls);
        Ok(match target {
            Target::Node(url) => RedisPool::Node(
                deadpool_redis::Config::from_url(*url)
                    .builder()
                    .map_err(|e| hide(&e))?
                    .max_size(size)
                    .wait_timeout(Some(timeout))
                    .create_timeout(Some(timeout))
                    .recycle_timeout(Some(timeout))
                    .runtime(Runtime::Tokio1)
                    .build()
                    .map_err(|e| hide(&e))?,
            ),
            Target::Cluster(seeds) => RedisPool::Cluster(
                cluster::Config::from_urls(seeds.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                    .builder()
                    .map_err(|e| hide(&e))?
                    .max_size(size)
                    .wait_timeout(Some(timeout))
                    .create_timeout(Some(timeout))
                    .recycle_timeout(Some(timeout))
                    .runtime(Runtime::Tokio1)
                    .build()
                    .map_err(|e| hide(&e))?,
            ),
        })
    }

    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, RedisPool::Cluster(_))
    }

    /// `key` as stored: in a cluster, behind the hash tag of `shard`, so
    /// every key of one shard lands in one slot.
    pub(crate) fn key<'a>(&self, shard: &str, key: &'a str) -> Cow<'a, str> {
        match self {
            RedisPool::Node(_) => Cow::Borrowed(key),
            RedisPool::Cluster(_) => Cow::Owned(format!("{{{shard}}}{key}")),
        }
    }

    pub(crate) async fn get(&self) -> Result<Pooled, String> {
        Ok(match self {
            RedisPool::Node(p) => Pooled::Node(p.get().await.map_err(|e| e.to_string())?),
            RedisPool::Cluster(p) => Pooled::Cluster(p.get().await.map_err(|e| e.to_string())?),
        })
    }

    /// A connection of the pool's, taken out of it to be shared.
    pub(crate) async fn shared(&self) -> Result<Shared, String> {
        Ok(match self.get().await? {
            Pooled::Node(c) => Shared::Node(deadpool_redis::Connection::take(c)),
            Pooled::Cluster(c) => Shared::Cluster(cluster::Connection::take(c)),
        })
    }
}

macro_rules! delegate_connection {
    ($t:ty) => {
        impl ConnectionLike for $t {
            fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
                match self {
                    Self::Node(c) => c.req_packed_command(cmd),
                    Self::Cluster(c) => c.req_packed_command(cmd),
                }
            }

            fn req_packed_commands<'a>(
                &'a mut self,
                cmd: &'a Pipeline,
                offset: usize,
                count: usize,
            ) -> RedisFuture<'a, Vec<Value>> {
                match self {
                    Self::Node(c) => c.req_packed_commands(cmd, offset, count),
                    Self::Cluster(c) => c.req_packed_commands(cmd, offset, count),
                }
            }

            fn get_db(&self) -> i64 {
                match self {
                    Self::Node(c) => c.get_db(),
                    Self::Cluster(c) => c.get_db(),
                }
            }
        }
    };
}

delegate_connection!(Pooled);
delegate_connection!(Shared);

/// Errors from URL parsing may quote a URL, and with it a password.
pub(crate) fn redact(msg: &str, urls: &[&str]) -> String {
    urls.iter()
        .filter(|u| !u.is_empty())
        .fold(msg.to_string(), |m, u| m.replace(u, "(redis url)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_tagged_in_a_cluster_only() {
        let t = Duration::from_millis(100);
        let node = RedisPool::new(&Target::Node("redis://127.0.0.1:1/0"), 1, t).unwrap();
        let seeds = ["redis://127.0.0.1:1"];
        let cluster = RedisPool::new(&Target::Cluster(&seeds), 1, t).unwrap();
        assert_eq!(node.key("/a/", "nexmo-proxy:x"), "nexmo-proxy:x");
        assert_eq!(cluster.key("/a/", "nexmo-proxy:x"), "{/a/}nexmo-proxy:x");
        assert!(cluster.is_cluster() && !node.is_cluster());
    }

    #[test]
    fn errors_never_quote_a_url() {
        let t = Duration::from_millis(100);
        let bad = "redis://:hunter2@[::1";
        let e = RedisPool::new(&Target::Node(bad), 1, t).err().unwrap();
        assert!(!e.contains("hunter2"), "{e}");
        let seeds = ["redis://:hunter2@127.0.0.1:1", "nonsense://:hunter2@x"];
        if let Err(e) = RedisPool::new(&Target::Cluster(&seeds), 1, t) {
            assert!(!e.contains("hunter2"), "{e}");
        }
    }
}
