//! The one way integration tests start things: the real `nexmo-proxy`
//! binary on port 0 with a per-test TOML in a temp dir, the real
//! `fake-nexmo` binary on port 0, and a private `redis-server` on a free
//! port. Everything is polled with a deadline; nothing sleeps blindly.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

pub const DEADLINE: Duration = Duration::from_secs(20);
pub const PROXY: &str = env!("CARGO_BIN_EXE_nexmo-proxy");
pub const FAKE: &str = env!("CARGO_BIN_EXE_fake-nexmo");

/// Credentials `fake-nexmo` accepts by default.
pub const API_KEY: &str = "testkey1";
pub const API_SECRET: &str = "testsecret";

/// Starts a child and collects a stream's lines; returns when `ready`
/// matches a line (with that line), or fails with everything read so far.
fn collect_lines(
    stream: impl std::io::Read + Send + 'static,
    sink: Arc<Mutex<String>>,
    ready: impl Fn(&str) -> bool + Send + 'static,
) -> (mpsc::Receiver<String>, std::thread::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        let mut sent = false;
        while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
            sink.lock().unwrap().push_str(&line);
            if !sent && ready(&line) {
                let _ = tx.send(line.clone());
                sent = true;
            }
            line.clear();
        }
    });
    (rx, handle)
}

pub struct TestApp {
    pub base: String,
    child: Child,
    logs: Arc<Mutex<String>>,
    /// Holds the per-test directory (deleted on drop).
    _dir: tempfile::TempDir,
    pub config: PathBuf,
    client: awc::Client,
}

/// How to start a proxy.
pub struct Spawn<'a> {
    pub toml: &'a str,
    pub env: Vec<(String, String)>,
    /// Use this (prepared) configuration path instead of writing `toml`.
    pub config_file: Option<PathBuf>,
    /// Run the proxy as this uid/gid (tests that need file permissions to
    /// bite while the suite runs as root).
    pub user: Option<(u32, u32)>,
}

impl<'a> Spawn<'a> {
    pub fn new(toml: &'a str) -> Self {
        Spawn {
            toml,
            env: Vec::new(),
            config_file: None,
            user: None,
        }
    }

    /// Runs a copy of the binary, placed in `dir`, as `uid`/`gid`: the
    /// checkout itself may not be readable by that user.
    pub fn run_as(mut self, uid: u32, gid: u32) -> Self {
        self.user = Some((uid, gid));
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    pub fn config_file(mut self, path: PathBuf) -> Self {
        self.config_file = Some(path);
        self
    }

    pub fn start(self) -> Result<TestApp, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let config = match self.config_file {
            Some(p) => p,
            None => {
                let p = dir.path().join("proxy.toml");
                std::fs::write(&p, self.toml).map_err(|e| e.to_string())?;
                p
            }
        };
        let binary = match self.user {
            Some(_) => {
                let copy = dir.path().join("nexmo-proxy");
                std::fs::copy(PROXY, &copy).map_err(|e| e.to_string())?;
                use std::os::unix::fs::PermissionsExt;
                let open = std::fs::Permissions::from_mode(0o755);
                std::fs::set_permissions(dir.path(), open.clone()).map_err(|e| e.to_string())?;
                std::fs::set_permissions(&copy, open).map_err(|e| e.to_string())?;
                copy
            }
            None => PathBuf::from(PROXY),
        };
        let mut cmd = Command::new(binary);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            .env("NEXMO_PROXY_SERVER__LISTEN", "127.0.0.1:0")
            .env("NEXMO_PROXY_SERVER__ADMIN_LISTEN", "127.0.0.1:0")
            .arg("--config")
            .arg(&config)
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if let Some((uid, gid)) = self.user {
            use std::os::unix::process::CommandExt;
            cmd.uid(uid).gid(gid);
        }
        let mut child = cmd.spawn().map_err(|e| e.to_string())?;
        let logs = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let (rx, reader) = collect_lines(stderr, logs.clone(), |l| {
            l.contains("listening on http://") && !l.contains("admin listening")
        });
        let start = Instant::now();
        let line = loop {
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(50)) {
                break line;
            }
            if let Ok(Some(status)) = child.try_wait() {
                // The reader ends at EOF, so joining it collects every line.
                let _ = reader.join();
                return Err(format!(
                    "proxy exited ({status}) before listening:\n{}",
                    logs.lock().unwrap()
                ));
            }
            if start.elapsed() > DEADLINE {
                let _ = child.kill();
                return Err(format!(
                    "proxy did not start within {DEADLINE:?}:\n{}",
                    logs.lock().unwrap()
                ));
            }
        };
        let addr = line
            .rsplit("http://")
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        let port: u16 = addr
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .ok_or(format!("no port in {line:?}"))?;
        Ok(TestApp {
            base: format!("http://127.0.0.1:{port}"),
            child,
            logs,
            _dir: dir,
            config,
            client: awc::Client::builder()
                .timeout(Duration::from_secs(30))
                .finish(),
        })
    }
}

pub struct Answer {
    pub status: u16,
    pub headers: awc::http::header::HeaderMap,
    pub body: String,
}

impl Answer {
    async fn read<S>(mut resp: awc::ClientResponse<S>) -> Answer
    where
        S: futures_util::Stream<Item = Result<actix_web::web::Bytes, awc::error::PayloadError>>
            + Unpin,
    {
        let body = resp.body().limit(1 << 20).await.unwrap();
        Answer {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The JSON inside a JSONP body `/**/name({...});`.
    pub fn jsonp(&self, name: &str) -> Value {
        let prefix = format!("/**/{name}(");
        let inner = self
            .body
            .strip_prefix(&prefix)
            .and_then(|s| s.strip_suffix(");"))
            .unwrap_or_else(|| panic!("not JSONP for {name}: {:?}", self.body));
        serde_json::from_str(inner).unwrap()
    }
}

impl TestApp {
    pub fn spawn(toml: &str) -> TestApp {
        Spawn::new(toml).start().unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{}", self.base, path_and_query)
    }

    pub async fn get(&self, path_and_query: &str) -> Answer {
        self.get_with(path_and_query, &[]).await
    }

    pub async fn get_with(&self, path_and_query: &str, headers: &[(&str, &str)]) -> Answer {
        self.send("GET", path_and_query, headers).await
    }

    /// `method` to `path` with `headers`, to send with or without a body.
    fn build(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> awc::ClientRequest {
        let m = awc::http::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.client.request(m, self.url(path));
        for (k, v) in headers {
            req = req.insert_header((*k, *v));
        }
        req
    }

    /// A POST with a body and more headers (a page's fetch).
    pub async fn post_with(
        &self,
        path: &str,
        content_type: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> Answer {
        let resp = self
            .build("POST", path, headers)
            .insert_header(("content-type", content_type))
            .send_body(body.to_string())
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        Answer::read(resp).await
    }

    /// `method` with `headers` and no body (a preflight's `OPTIONS`).
    pub async fn send(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Answer {
        let resp = self
            .build(method, path, headers)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        Answer::read(resp).await
    }

    pub async fn post(&self, path: &str, content_type: &str, body: &str) -> Answer {
        self.request("POST", path, content_type, body).await
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &str,
    ) -> Answer {
        let m = awc::http::Method::from_bytes(method.as_bytes()).unwrap();
        let resp = self
            .client
            .request(m, self.url(path))
            .insert_header(("content-type", content_type))
            .send_body(body.to_string())
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        Answer::read(resp).await
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// Polls the logs until `needle` shows up or the deadline passes.
    pub fn wait_for_log(&self, needle: &str) -> bool {
        self.wait_for_logs(needle, 1)
    }

    /// Polls the logs until `needle` shows up `n` times or the deadline passes.
    pub fn wait_for_logs(&self, needle: &str, n: usize) -> bool {
        let start = Instant::now();
        while start.elapsed() < DEADLINE {
            if self.logs().matches(needle).count() >= n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The admin listener's base URL (it logs it before the public one).
    pub fn admin_base(&self) -> String {
        let logs = self.logs();
        let addr = logs
            .split("admin listening on http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .expect("an admin listener");
        format!("http://{addr}")
    }

    /// GET on the admin listener: status and body.
    pub async fn admin_get(&self, path: &str) -> (u16, String) {
        let mut r = self
            .client
            .get(format!("{}{path}", self.admin_base()))
            .send()
            .await
            .unwrap();
        let body = r.body().limit(1 << 24).await.unwrap();
        (
            r.status().as_u16(),
            String::from_utf8_lossy(&body).into_owned(),
        )
    }

    /// Sends the proxy `signal` (`"TERM"`, `"INT"`, `"HUP"`).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Polls until the proxy has exited, for at most `within`.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < within {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

/// Log lines that leak a secret or an unmasked number: the test secrets,
/// or any run of seven or more digits (a masked number keeps at most four
/// in a row; timestamps, ports and durations have fewer).
pub fn leaks(logs: &str) -> Vec<String> {
    logs.lines()
        .filter(|line| {
            let mut run = 0;
            let long_digits = line.chars().any(|c| {
                run = if c.is_ascii_digit() { run + 1 } else { 0 };
                run >= 7
            });
            long_digits || line.contains(API_SECRET) || line.contains("topsecret")
        })
        .map(String::from)
        .collect()
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Every test's proxy logs are checked: no unmasked receiver, no secret.
        let leaked = leaks(&self.logs());
        if !leaked.is_empty() && !std::thread::panicking() {
            panic!(
                "the proxy logged secrets or unmasked numbers:\n{}",
                leaked.join("\n")
            );
        }
    }
}

/// The real `fake-nexmo` binary on a free port.
pub struct FakeNexmo {
    pub base: String,
    child: Child,
    client: awc::Client,
}

impl FakeNexmo {
    pub fn start() -> FakeNexmo {
        Self::start_with(&[])
    }

    pub fn start_with(args: &[&str]) -> FakeNexmo {
        let mut child = Command::new(FAKE)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("fake-nexmo starts");
        let out = child.stdout.take().unwrap();
        let (rx, _) = collect_lines(out, Arc::new(Mutex::new(String::new())), |l| {
            l.contains("listening on http://")
        });
        let line = rx
            .recv_timeout(DEADLINE)
            .expect("fake-nexmo prints its address");
        let base = line.trim().rsplit(' ').next().unwrap().to_string();
        FakeNexmo {
            base,
            child,
            client: awc::Client::default(),
        }
    }

    /// `nexmo.url` for a proxy that should use this fake.
    pub fn sms_url(&self) -> String {
        format!("{}/sms/json", self.base)
    }

    /// The JSON list the fake serves at `path`.
    async fn list(&self, path: &str) -> Vec<Value> {
        let mut r = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let v: Value = r.json().limit(1 << 24).await.unwrap();
        v.as_array().cloned().unwrap_or_default()
    }

    /// The requests the fake has received.
    pub async fn received(&self) -> Vec<Value> {
        self.list("/_log").await
    }

    /// Delivers callbacks to `app` whatever host their URL names.
    pub async fn route_callbacks_to(&self, app: &TestApp) {
        let r = self
            .client
            .put(format!("{}/_callback_origin", self.base))
            .send_body(app.base.clone())
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 204);
    }

    /// The receipts the fake has sent, each with the HTTP status it got.
    pub async fn receipts_sent(&self) -> Vec<Value> {
        self.list("/_receipts").await
    }

    /// Polls until the fake has sent `n` receipts; returns them.
    pub async fn wait_for_receipts(&self, n: usize) -> Vec<Value> {
        let start = Instant::now();
        loop {
            let sent = self.receipts_sent().await;
            if sent.len() >= n {
                return sent;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "{} of {n} receipts: {sent:?}",
                sent.len()
            );
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for FakeNexmo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A private `redis-server`, stopped on drop. redis-server cannot pick a
/// free port itself (`--port 0` turns TCP off), so a port that was free a
/// moment ago is tried, and another when redis-server finds it taken.
pub struct Redis {
    pub port: u16,
    child: Option<Child>,
    /// Given to every start of this server (a restart included).
    args: Vec<String>,
}

/// `redis-server` and `redis-cli`, or what `REDIS_SERVER` and `REDIS_CLI`
/// name (`valkey-server`, `valkey-cli`: the suite against Valkey).
fn server_binary(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_string())
}

/// How many taken ports `Redis::start` tries before giving up.
const REDIS_PORT_TRIES: usize = 10;

fn unused_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Redis {
    pub fn start() -> Redis {
        Redis::start_with(|_| Vec::new())
    }

    /// With more arguments, made for the port tried.
    pub fn start_with(args: impl Fn(u16) -> Vec<String>) -> Redis {
        for _ in 0..REDIS_PORT_TRIES {
            let port = unused_port();
            let mut r = Redis {
                port,
                child: None,
                args: args(port),
            };
            if r.try_start() {
                return r;
            }
        }
        panic!("redis-server found every one of {REDIS_PORT_TRIES} ports taken");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Starts it again on the same port (after `stop`).
    pub fn restart(&mut self) {
        assert!(
            self.try_start(),
            "redis-server could not bind port {} again",
            self.port
        );
    }

    /// Whether redis-server now serves this port: false when it exited
    /// (the port was taken), panics when it neither serves nor exits.
    fn try_start(&mut self) -> bool {
        let mut child = Command::new(server_binary("REDIS_SERVER", "redis-server"))
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--enable-debug-command",
                "yes",
            ])
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (CI installs it)");
        let pid = child.id();
        let start = Instant::now();
        while start.elapsed() < DEADLINE {
            if let Ok(Some(_)) = child.try_wait() {
                return false;
            }
            // Another test's server may answer on a port ours could not take.
            if self.server_pid() == Some(pid) {
                self.child = Some(child);
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("redis-server did not answer on port {}", self.port);
    }

    /// The `process_id` of the server answering on the port.
    fn server_pid(&self) -> Option<u32> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_millis(200))).ok()?;
        s.write_all(b"INFO server\r\n").ok()?;
        let mut buf = vec![0u8; 8192];
        let n = s.read(&mut buf).ok()?;
        let text = String::from_utf8_lossy(&buf[..n]);
        text.lines()
            .find_map(|l| l.strip_prefix("process_id:"))
            .and_then(|pid| pid.trim().parse().ok())
    }

    /// Whether the server answers `PING` within `limit` (false while it is
    /// down or blocked by `DEBUG SLEEP`).
    pub fn ping_within(&self, limit: Duration) -> bool {
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(limit));
        let mut buf = [0u8; 16];
        s.write_all(b"PING\r\n").is_ok()
            && s.read(&mut buf)
                .map(|n| buf[..n].starts_with(b"+PONG"))
                .unwrap_or(false)
    }

    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Freezes the server (`SIGSTOP`): connections stay open and nothing
    /// answers, as a server stuck in swap or a long fork.
    pub fn pause(&self) {
        self.signal("STOP");
    }

    /// Lets a paused server run again (`SIGCONT`).
    pub fn resume(&self) {
        self.signal("CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("redis-server runs").id();
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Runs a command with `redis-cli` against this server.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(server_binary("REDIS_CLI", "redis-cli"))
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A private Redis Cluster: masters, each with one replica, on free ports
/// (bus ports too), failing over about twice `node_timeout_ms` after a
/// master stops (`cluster-node-timeout`; a test that stops nothing gives a
/// long one, so a node starved on a busy machine is not failed over).
/// Stopped on drop.
pub struct RedisCluster {
    pub nodes: Vec<Redis>,
    _dir: tempfile::TempDir,
}

impl RedisCluster {
    pub fn start(masters: usize, node_timeout_ms: u32) -> RedisCluster {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().display().to_string();
        let nodes: Vec<Redis> = (0..masters * 2)
            .map(|_| {
                Redis::start_with(|port| {
                    let args = [
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        &format!("nodes-{port}.conf"),
                        "--dir",
                        &path,
                        "--cluster-node-timeout",
                        &node_timeout_ms.to_string(),
                        // The other masters go on serving their slots
                        // while one is down (as the README advises).
                        "--cluster-require-full-coverage",
                        "no",
                        "--cluster-port",
                        &unused_port().to_string(),
                    ];
                    args.iter().map(|a| a.to_string()).collect()
                })
            })
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new(server_binary("REDIS_CLI", "redis-cli"))
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .expect("redis-cli");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let cluster = RedisCluster { nodes, _dir: dir };
        cluster.wait_until_whole();
        cluster
    }

    /// The `[redis]` table naming every node as a seed.
    pub fn toml(&self) -> String {
        let seeds: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("\"redis://127.0.0.1:{}\"", n.port))
            .collect();
        format!("[redis]\ncluster = [{}]\n", seeds.join(", "))
    }

    /// Until every running node finds the cluster whole and every replica
    /// has its master's data.
    pub fn wait_until_whole(&self) {
        let start = Instant::now();
        let whole = |n: &Redis| {
            let info = n.cli(&["CLUSTER", "INFO"]);
            let replication = n.cli(&["INFO", "replication"]);
            info.contains("cluster_state:ok")
                && (replication.contains("role:master")
                    || replication.contains("master_link_status:up"))
        };
        while !self.nodes.iter().filter(|n| n.running()).all(whole) {
            assert!(
                start.elapsed() < DEADLINE,
                "the cluster never came up whole"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Which node serves `key` as master now.
    pub fn master_of(&self, key: &str) -> usize {
        let asker = self.nodes.iter().find(|n| n.running()).unwrap();
        let slot: u16 = asker.cli(&["CLUSTER", "KEYSLOT", key]).parse().unwrap();
        for line in asker.cli(&["CLUSTER", "NODES"]).lines() {
            let f: Vec<&str> = line.split(' ').collect();
            if !f[2].contains("master") || f[2].contains("fail") {
                continue;
            }
            let serves = f[8..].iter().any(|range| {
                let (a, b) = range.split_once('-').unwrap_or((range, range));
                matches!((a.parse::<u16>(), b.parse::<u16>()), (Ok(a), Ok(b)) if (a..=b).contains(&slot))
            });
            if serves {
                let port = f[1].split(['@', ':']).nth(1).unwrap();
                return self
                    .nodes
                    .iter()
                    .position(|n| n.port.to_string() == port)
                    .unwrap();
            }
        }
        panic!("no master serves slot {slot}");
    }

    /// Every key of every master, with the port of the master holding it.
    pub fn keys(&self) -> Vec<(u16, String)> {
        let mut keys = Vec::new();
        for n in self.nodes.iter().filter(|n| n.running()) {
            if n.cli(&["INFO", "replication"]).contains("role:master") {
                let found = n.cli(&["--scan"]);
                keys.extend(found.lines().map(|k| (n.port, k.to_string())));
            }
        }
        keys
    }
}

/// The text Nexmo signs, computed here apart from the proxy's code: every
/// parameter sorted, as `&k=v`, with `&` and `=` in values made `_`.
pub fn signed_text(params: &[(&str, &str)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    sorted
        .iter()
        .map(|(k, v)| format!("&{k}={}", v.replace(['&', '='], "_")))
        .collect()
}

/// `[nexmo]` with the test credentials and `fake`'s URL; more keys of the
/// table may follow it.
pub fn nexmo_table(fake: &FakeNexmo) -> String {
    format!(
        "[nexmo]\napi_key = \"{API_KEY}\"\napi_secret = \"{API_SECRET}\"\nurl = \"{}\"\n",
        fake.sms_url()
    )
}

/// One message endpoint at `/m/` without limits, sending "hi" as Acme.
pub const ONE_ENDPOINT: &str =
    "[defaults]\nlimits = []\n[[endpoint]]\npath = \"/m/\"\nsender = \"Acme\"\nmessage = \"hi\"\n";
