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
//!
//! A cluster is reached through one multiplexed cluster connection, kept
//! for good: it follows failovers and `MOVED` itself, so an error on one
//! node does not throw away the routes to the others. It is opened in a
//! task of its own with a longer budget than a request's (opening it asks
//! every node, and one that does not answer must not stop it).

use deadpool_redis::redis::aio::{ConnectionLike, MultiplexedConnection};
use deadpool_redis::redis::cluster::{ClusterClient, ClusterClientBuilder};
use deadpool_redis::redis::cluster_async::ClusterConnection;
use deadpool_redis::redis::{
    Cmd, ErrorKind, FromRedisValue, Pipeline, RedisFuture, RedisResult, Script, ServerErrorKind,
    ToRedisArgs, Value,
};
use deadpool_redis::Runtime;
use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// The least time opening a cluster connection may take, however short
/// `redis.timeout` is.
const CLUSTER_CONNECT: Duration = Duration::from_secs(2);

/// Where Redis is: one URL, or the seed nodes of a cluster.
pub(crate) enum Target<'a> {
    Node(&'a str),
    Cluster(&'a [&'a str]),
}

#[derive(Clone)]
pub(crate) enum RedisPool {
    Node(Arc<NodeLink>),
    Cluster(Arc<ClusterLink>),
}

/// One server: a pool to (re)connect with, and one multiplexed connection
/// taken out of it that every request shares (checking one out per
/// request costs a round trip: the pool's `PING` on recycling). Dropped
/// after an error, so the next request connects afresh: a multiplexed
/// connection to a server that restarted stays broken.
pub(crate) struct NodeLink {
    pool: deadpool_redis::Pool,
    shared: Mutex<Option<MultiplexedConnection>>,
}

/// A connection checked out of the pool (returned to it on drop), or the
/// cluster connection.
pub(crate) enum Pooled {
    Node(deadpool_redis::Connection),
    Cluster(ClusterConnection),
}

/// The one connection to a cluster, opened on first use.
pub(crate) struct ClusterLink {
    client: ClusterClient,
    state: Mutex<LinkState>,
    /// Wakes the requests waiting for an attempt to open it.
    attempted: Notify,
}

#[derive(Default)]
struct LinkState {
    conn: Option<ClusterConnection>,
    opening: bool,
    last_error: String,
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
            Target::Node(url) => RedisPool::Node(Arc::new(NodeLink {
                shared: Mutex::new(None),
                pool: deadpool_redis::Config::from_url(*url)
                    .builder()
                    .map_err(|e| hide(&e))?
                    .max_size(size)
                    .wait_timeout(Some(timeout))
                    .create_timeout(Some(timeout))
                    .recycle_timeout(Some(timeout))
                    .runtime(Runtime::Tokio1)
                    .build()
                    .map_err(|e| hide(&e))?,
            })),
            Target::Cluster(seeds) => {
                // A node's connect and each answer within the request
                // timeout (the budget of a whole request is the caller's
                // `redis.timeout`); one quick retry follows a MOVED or a
                // failover, a longer wait is the caller's to give up on.
                let client = ClusterClientBuilder::new(seeds.to_vec())
                    .connection_timeout(timeout.max(CLUSTER_CONNECT))
                    .response_timeout(timeout)
                    .retries(2)
                    .min_retry_wait(10)
                    .max_retry_wait(100)
                    .build()
                    .map_err(|e| hide(&e))?;
                RedisPool::Cluster(Arc::new(ClusterLink {
                    client,
                    state: Mutex::new(LinkState::default()),
                    attempted: Notify::new(),
                }))
            }
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
            RedisPool::Node(n) => Pooled::Node(n.pool.get().await.map_err(|e| e.to_string())?),
            RedisPool::Cluster(link) => Pooled::Cluster(link.connection().await?),
        })
    }

    /// The connection every request shares (see `NodeLink`, `ClusterLink`).
    pub(crate) async fn shared(&self) -> Result<Shared, String> {
        let RedisPool::Node(n) = self else {
            return match self.get().await? {
                Pooled::Cluster(c) => Ok(Shared::Cluster(c)),
                Pooled::Node(c) => Ok(Shared::Node(deadpool_redis::Connection::take(c))),
            };
        };
        if let Some(c) = n.shared.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            return Ok(Shared::Node(c.clone()));
        }
        let c = deadpool_redis::Connection::take(n.pool.get().await.map_err(|e| e.to_string())?);
        *n.shared.lock().unwrap_or_else(|e| e.into_inner()) = Some(c.clone());
        Ok(Shared::Node(c))
    }

    /// After an error on the shared connection: on one server, the next
    /// request connects afresh; a cluster connection is kept (it repairs
    /// its own routes to nodes).
    pub(crate) fn forget(&self) {
        if let RedisPool::Node(n) = self {
            *n.shared.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
    }

    /// Whether Redis answers now: `PING` on one server; on a cluster, a
    /// node that finds every slot served (`cluster_state:ok`; a `PING` to
    /// all masters would skip those the connection has lost).
    pub(crate) async fn healthy(&self) -> bool {
        let ask = |cmd: &str| deadpool_redis::redis::cmd(cmd).to_owned();
        match self.get().await {
            Ok(mut conn @ Pooled::Node(_)) => {
                ask("PING").query_async::<String>(&mut conn).await.is_ok()
            }
            Ok(mut conn @ Pooled::Cluster(_)) => {
                let info = deadpool_redis::redis::cmd("CLUSTER").arg("INFO").to_owned();
                info.query_async::<String>(&mut conn)
                    .await
                    .is_ok_and(|i| i.contains("cluster_state:ok"))
            }
            Err(_) => false,
        }
    }
}

impl ClusterLink {
    /// The connection; while there is none, one attempt to open it at a
    /// time, in a task of its own, which the caller waits for (as long as
    /// its own timeout lets it).
    async fn connection(self: &Arc<Self>) -> Result<ClusterConnection, String> {
        let attempted = self.attempted.notified();
        tokio::pin!(attempted);
        attempted.as_mut().enable();
        {
            let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(c) = &st.conn {
                return Ok(c.clone());
            }
            if !st.opening {
                st.opening = true;
                let link = Arc::clone(self);
                let open = async move { link.open().await };
                // On the System's own arbiter when there is one: the
                // connection's driver task runs where it was opened, and a
                // worker's runtime (the admin listener's, when a readiness
                // probe comes first) stops before the others drain.
                match actix_web::rt::System::try_current() {
                    Some(system) => {
                        system.arbiter().spawn(open);
                    }
                    None => {
                        tokio::spawn(open);
                    }
                }
            }
        }
        attempted.await;
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.conn.clone().ok_or_else(|| st.last_error.clone())
    }

    async fn open(&self) {
        // Were this task dropped mid-way, the next request must be able to
        // start another attempt, and the waiters must not wait for nothing.
        struct Reset<'a>(&'a ClusterLink);
        impl Drop for Reset<'_> {
            fn drop(&mut self) {
                let mut st = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
                if st.opening {
                    st.opening = false;
                    st.last_error = "the attempt to reach the cluster was cut off".into();
                }
                drop(st);
                self.0.attempted.notify_waiters();
            }
        }
        let _reset = Reset(self);
        let opened = self.client.get_async_connection().await;
        {
            let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
            st.opening = false;
            match opened {
                Ok(c) => st.conn = Some(c),
                Err(e) => st.last_error = format!("cannot reach the cluster: {e}"),
            }
        }
        self.attempted.notify_waiters();
    }
}

/// A Lua script, run by its hash (`EVALSHA`). A server that does not have
/// it (`NOSCRIPT`: restarted, flushed, or a replica promoted since) is sent
/// the script itself (`EVAL`), which goes by key to that one node: loading
/// it with `SCRIPT LOAD` would go to every node of a cluster, and fail
/// while any one is down.
pub(crate) struct Lua {
    code: &'static str,
    hash: String,
}

/// One call of a `Lua` script: its keys and arguments.
pub(crate) struct LuaCall<'a> {
    lua: &'a Lua,
    keys: Vec<Vec<u8>>,
    args: Vec<Vec<u8>>,
}

impl Lua {
    pub(crate) fn new(code: &'static str) -> Lua {
        let hash = Script::new(code).get_hash().to_string();
        Lua { code, hash }
    }

    pub(crate) fn prepare_invoke(&self) -> LuaCall<'_> {
        LuaCall {
            lua: self,
            keys: Vec::new(),
            args: Vec::new(),
        }
    }

    pub(crate) fn key<T: ToRedisArgs>(&self, key: T) -> LuaCall<'_> {
        let mut call = self.prepare_invoke();
        call.key(key);
        call
    }
}

impl LuaCall<'_> {
    pub(crate) fn key<T: ToRedisArgs>(&mut self, key: T) -> &mut Self {
        key.write_redis_args(&mut self.keys);
        self
    }

    pub(crate) fn arg<T: ToRedisArgs>(&mut self, arg: T) -> &mut Self {
        arg.write_redis_args(&mut self.args);
        self
    }

    fn command(&self, verb: &str, script: &str) -> Cmd {
        let mut cmd = deadpool_redis::redis::cmd(verb);
        cmd.arg(script)
            .arg(self.keys.len())
            .arg(&*self.keys)
            .arg(&*self.args);
        cmd
    }

    pub(crate) async fn invoke_async<T: FromRedisValue>(
        &self,
        conn: &mut impl ConnectionLike,
    ) -> RedisResult<T> {
        let by_hash = self.command("EVALSHA", &self.lua.hash);
        match by_hash.query_async(conn).await {
            Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                self.command("EVAL", self.lua.code).query_async(conn).await
            }
            other => other,
        }
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
    fn a_script_is_known_by_the_hash_redis_gives_it() {
        // SHA-1 of "return 1", as `SCRIPT LOAD "return 1"` answers.
        let lua = Lua::new("return 1");
        assert_eq!(lua.hash, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
        let mut call = lua.key("k");
        call.arg(7).arg("x");
        let cmd = call.command("EVAL", lua.code);
        let words: Vec<Vec<u8>> = cmd
            .args_iter()
            .map(|a| match a {
                deadpool_redis::redis::Arg::Simple(b) => b.to_vec(),
                _ => Vec::new(),
            })
            .collect();
        let want: Vec<&[u8]> = vec![b"EVAL", b"return 1", b"1", b"k", b"7", b"x"];
        assert_eq!(words, want);
    }

    #[test]
    fn errors_never_quote_a_url() {
        let url = "redis://:hunter2@10.0.0.1:6379";
        let msg = format!("cannot parse {url} (at 10.0.0.1)");
        let other = ["", "redis://10.0.0.2"];
        assert_eq!(
            redact(&msg, &[url, other[0], other[1]]),
            "cannot parse (redis url) (at 10.0.0.1)"
        );
    }
}
