//! Hostile traffic at the connection level: many slow requests with huge
//! queries and bodies that never come, and idle connections, from one
//! address, while another address is served.

use crate::common::TestApp;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Resident memory of process `pid`, in MiB.
fn rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb / 1024
}

/// The status code of a raw HTTP answer, or 0 for none (a closed socket).
fn status_of(answer: &[u8]) -> u16 {
    let text = String::from_utf8_lossy(answer);
    text.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn port_of(app: &TestApp) -> u16 {
    app.base.rsplit(':').next().unwrap().parse().unwrap()
}

/// A connection to the proxy from loopback address `from` (127.0.0.x are
/// all this host's, so one test can be several clients).
fn connect_from(from: [u8; 4], port: u16) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&SocketAddr::from((from, 0)).into()).unwrap();
    socket
        .connect(&SocketAddr::from(([127, 0, 0, 1], port)).into())
        .unwrap();
    socket.into()
}

/// One request on a new connection from `from`; the status code of its
/// answer (0 when the connection was closed without one).
fn raw_get(from: [u8; 4], port: u16, path: &str) -> u16 {
    let mut s = connect_from(from, port);
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let head = format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let _ = s.write_all(head.as_bytes());
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    status_of(&answer)
}

const LOCAL: [u8; 4] = [127, 0, 0, 1];
const OTHER: [u8; 4] = [127, 0, 0, 2];

#[actix_web::test]
async fn two_thousand_slow_requests_from_one_address_hold_little_and_not_for_long() {
    let app = TestApp::spawn("[server]\nclient_timeout = \"2s\"\n[validation]\nlimits = []\n");
    let port = port_of(&app);
    // Half with ~50 KB queries of 6,000 parameters, half with 40; every one
    // announces a 100 KB body and sends none.
    let big: String = (0..6000).map(|i| format!("p{i}=1&")).collect();
    let small: String = (0..40).map(|i| format!("p{i}=1&")).collect();
    let mut held = Vec::new();
    for i in 0..2000 {
        let mut s = connect_from(LOCAL, port);
        s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
        let q = if i % 2 == 0 { &big } else { &small };
        let head = format!(
            "POST /validate_number/?{q}number=1 HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\n"
        );
        // The proxy may already have answered and closed: not an error here.
        let _ = s.write_all(head.as_bytes());
        held.push(s);
    }
    let sent = Instant::now();
    let peak = rss_mib(app.pid());
    // Meanwhile another address is served.
    assert_eq!(raw_get(OTHER, port, "/validate_number/?number=1"), 200);
    // Before these bounds, 200 such requests took the proxy to 256 MiB and
    // 1,000 to 1.2 GiB.
    assert!(peak < 64, "the proxy holds {peak} MiB");
    // Every slow request is answered or closed by the deadline: past 32
    // open connections from the address, at once (429, or closed before
    // the answer could be read); with too many parameters (400); the
    // others when their body does not come (408).
    let mut statuses = std::collections::BTreeMap::new();
    for mut s in held {
        let left = Duration::from_secs(6).saturating_sub(sent.elapsed());
        s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        *statuses.entry(status_of(&answer)).or_insert(0) += 1;
    }
    let closed = sent.elapsed();
    eprintln!("2,000 slow requests: proxy RSS {peak} MiB, all closed {closed:?} after sending");
    assert!(closed < Duration::from_secs(6), "{closed:?}");
    let count = |code| statuses.get(&code).copied().unwrap_or(0);
    assert!(count(408) + count(400) >= 32, "{statuses:?}");
    assert!(count(429) > 0, "{statuses:?}");
    assert_eq!(
        count(0) + count(400) + count(408) + count(429),
        2000,
        "{statuses:?}"
    );
    let after = rss_mib(app.pid());
    eprintln!("RSS after all closed: {after} MiB");
    assert!(after < 64, "the proxy holds {after} MiB");
    // Refused when they were accepted, not after their heads were read.
    assert!(app.wait_for_log("refused a connection from 127.0.0.1: it has 32 open"));
}

/// Reads what `s` has been sent so far without waiting long: `None` while
/// the connection is open and silent.
fn answered(s: &mut TcpStream) -> Option<Vec<u8>> {
    s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let mut answer = Vec::new();
    match s.read_to_end(&mut answer) {
        Err(e) if answer.is_empty() && e.kind() == std::io::ErrorKind::WouldBlock => None,
        _ => Some(answer),
    }
}

#[actix_web::test]
async fn idle_connections_count_against_their_address() {
    let app = TestApp::spawn(
        "[server]\nmax_connections_per_ip = 4\nclient_timeout = \"30s\"\n[validation]\nlimits = []\n",
    );
    let port = port_of(&app);
    // Six connections that send nothing: four are kept (whichever the
    // workers count first), two are answered 429 and closed at once.
    let mut idle: Vec<TcpStream> = (0..6).map(|_| connect_from(LOCAL, port)).collect();
    let start = Instant::now();
    let mut refused = Vec::new();
    while refused.len() < 2 {
        assert!(start.elapsed() < Duration::from_secs(5), "{refused:?}");
        let mut i = 0;
        while i < idle.len() {
            match answered(&mut idle[i]) {
                Some(answer) => {
                    refused.push(String::from_utf8_lossy(&answer).into_owned());
                    idle.swap_remove(i);
                }
                None => i += 1,
            }
        }
    }
    for answer in &refused {
        assert_eq!(status_of(answer.as_bytes()), 429, "{answer}");
        assert!(answer.contains("\r\nretry-after: 1\r\n"), "{answer}");
        assert!(
            answer.ends_with(
                "\r\n\r\n{\"error\":\"too_many_requests\",\"retry_after\":1,\"status\":\"error\"}"
            ),
            "{answer}"
        );
    }
    assert_eq!(raw_get(LOCAL, port, "/validate_number/?number=1"), 429);
    assert_eq!(raw_get(LOCAL, port, "/nowhere/"), 429, "before any path");
    assert_eq!(raw_get(OTHER, port, "/validate_number/?number=1"), 200);
    drop(idle);
    let start = Instant::now();
    while raw_get(LOCAL, port, "/validate_number/?number=1") != 200 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "never admitted again"
        );
    }
    assert!(app.wait_for_log("refused a connection from 127.0.0.1: it has 4 open"));
}

#[actix_web::test]
async fn a_trusted_proxy_is_not_capped_by_its_connections() {
    let app = TestApp::spawn(
        "[server]\nmax_connections_per_ip = 2\ntrusted_proxies = [\"127.0.0.1\"]\n[validation]\nlimits = []\n",
    );
    let port = port_of(&app);
    let mut open: Vec<TcpStream> = (0..4).map(|_| connect_from(LOCAL, port)).collect();
    // Each carries a request of its own client; all four are answered.
    for (i, s) in open.iter_mut().enumerate() {
        let head = format!(
            "GET /validate_number/?number=1 HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 203.0.113.{i}\r\nConnection: close\r\n\r\n"
        );
        s.write_all(head.as_bytes()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        assert_eq!(
            status_of(&answer),
            200,
            "{}",
            String::from_utf8_lossy(&answer)
        );
    }
    assert!(!app.logs().contains("refused a connection"));
}

#[actix_web::test]
async fn a_request_sent_on_a_refused_connection_is_never_handled() {
    let fake = crate::common::FakeNexmo::start();
    let app = TestApp::spawn(&format!(
        "[server]\nmax_connections_per_ip = 1\nclient_timeout = \"30s\"\n\
         [nexmo]\napi_key = \"{}\"\napi_secret = \"{}\"\nurl = \"{}\"\n\
         [defaults]\nlimits = []\n[[endpoint]]\npath = \"/m/\"\nsender = \"Acme\"\nmessage = \"hi\"\n",
        crate::common::API_KEY,
        crate::common::API_SECRET,
        fake.sms_url()
    ));
    let port = port_of(&app);
    // Two idle connections: once one is refused, the other holds the place.
    let mut idle: Vec<TcpStream> = (0..2).map(|_| connect_from(LOCAL, port)).collect();
    let start = Instant::now();
    while !idle.iter_mut().any(|s| answered(s).is_some()) {
        assert!(start.elapsed() < Duration::from_secs(5), "neither refused");
    }
    // Whole requests in one write, so they are in the socket's buffer
    // before the worker counts the connection.
    let body = "receiver=%2B4917612345678";
    let request = format!(
        "POST /m/ HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    for _ in 0..20 {
        let mut s = connect_from(LOCAL, port);
        let _ = s.write_all(request.as_bytes());
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        assert!(
            matches!(status_of(&answer), 429 | 0),
            "{}",
            String::from_utf8_lossy(&answer)
        );
    }
    assert_eq!(fake.received().await.len(), 0, "nothing was sent");
    drop(idle);
}
