//! The process's life as an operator's service manager sees it: graceful
//! shutdown on SIGTERM and SIGINT (a send in flight finishes and is
//! answered), and the systemd notifications around start, reload and stop.

use crate::common::{nexmo_table, FakeNexmo, Spawn, TestApp, ONE_ENDPOINT};
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

fn config(fake: &FakeNexmo) -> String {
    format!(
        "[server]\nshutdown_timeout = \"5s\"\n{}timeout = \"4s\"\n{ONE_ENDPOINT}",
        nexmo_table(fake)
    )
}

#[actix_web::test]
async fn a_send_in_flight_finishes_and_is_answered_after_sigterm_or_sigint() {
    for signal in ["TERM", "INT"] {
        // "…95" answers after --slow-ms.
        let fake = FakeNexmo::start_with(&["--slow-ms", "1500"]);
        let mut app = TestApp::spawn(&config(&fake));
        let answer = {
            let app = &app;
            let send = app.get("/m/?receiver=%2B4917600000095");
            let signal_once_sent = async {
                let start = Instant::now();
                while fake.received().await.is_empty() {
                    assert!(start.elapsed() < Duration::from_secs(5), "never sent");
                    actix_web::rt::time::sleep(Duration::from_millis(10)).await;
                }
                app.signal(signal);
            };
            futures_util::future::join(send, signal_once_sent).await.0
        };
        assert_eq!(answer.json()["status"], "ok", "{signal}: {}", answer.body);
        // The answer closed its keep-alive connection, so the drain ends
        // with the send, long before the 5 s deadline.
        let status = app.wait_exit(Duration::from_secs(3));
        assert!(status.is_some_and(|s| s.success()), "{signal}: {status:?}");
        assert!(app
            .logs()
            .contains(&format!("SIG{signal}: finishing requests in flight")));
        assert_eq!(fake.received().await.len(), 1, "sent once");
    }
}

/// The datagrams the proxy sent to `socket` so far (waiting up to `within`
/// for the first).
fn notifications(socket: &UnixDatagram, within: Duration) -> Vec<String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    socket.set_read_timeout(Some(within)).unwrap();
    while let Ok(n) = socket.recv(&mut buf) {
        got.push(String::from_utf8_lossy(&buf[..n]).trim_end().to_string());
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
    }
    got
}

#[actix_web::test]
async fn systemd_hears_ready_reloading_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    let mut app = Spawn::new("[validation]\nlimits = []\n")
        .env("NOTIFY_SOCKET", path.to_str().unwrap())
        .start()
        .unwrap();
    assert_eq!(notifications(&socket, Duration::from_secs(5)), ["READY=1"]);
    app.signal("HUP");
    let mut reload = notifications(&socket, Duration::from_secs(5));
    let start = Instant::now();
    while reload.last().map(String::as_str) != Some("READY=1") {
        assert!(start.elapsed() < Duration::from_secs(10), "{reload:?}");
        reload.extend(notifications(&socket, Duration::from_secs(1)));
    }
    assert_eq!(reload.len(), 2, "{reload:?}");
    let mut lines = reload[0].lines();
    assert_eq!(lines.next(), Some("RELOADING=1"));
    let usec: u64 = lines
        .next()
        .and_then(|l| l.strip_prefix("MONOTONIC_USEC="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{reload:?}"));
    assert!(usec > 0);
    assert_eq!(reload[1], "READY=1");
    app.signal("TERM");
    assert_eq!(
        notifications(&socket, Duration::from_secs(5)),
        ["STOPPING=1"]
    );
    assert!(app
        .wait_exit(Duration::from_secs(5))
        .is_some_and(|s| s.success()));
}

/// Every datagram that reaches `socket` within `span`.
fn notifications_during(socket: &UnixDatagram, span: Duration) -> Vec<String> {
    let end = Instant::now() + span;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Some(left) = end
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
    {
        socket.set_read_timeout(Some(left)).unwrap();
        if let Ok(n) = socket.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).trim_end().to_string());
        }
    }
    got
}

#[actix_web::test]
async fn systemd_s_watchdog_is_fed_while_the_workers_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    let app = Spawn::new("[validation]\nlimits = []\n")
        .env("NOTIFY_SOCKET", path.to_str().unwrap())
        .env("WATCHDOG_USEC", "400000")
        .start()
        .unwrap();
    // Twice an interval: about 5 in a second.
    let got = notifications_during(&socket, Duration::from_secs(1));
    assert_eq!(got.first().map(String::as_str), Some("READY=1"), "{got:?}");
    let fed = got.iter().filter(|n| *n == "WATCHDOG=1").count();
    assert!((3..=7).contains(&fed), "{got:?}");
    let url = "/validate_number/?number=%2B4917612345678";
    assert_eq!(app.get(url).await.status, 200);
    drop(app);
    // Another process's watchdog is not ours (a socket of its own, so no
    // datagram of the first can be read as its).
    let path = dir.path().join("other.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    let _other = Spawn::new("[validation]\nlimits = []\n")
        .env("NOTIFY_SOCKET", path.to_str().unwrap())
        .env("WATCHDOG_USEC", "400000")
        .env("WATCHDOG_PID", "1")
        .start()
        .unwrap();
    let got = notifications_during(&socket, Duration::from_secs(1));
    assert_eq!(got, ["READY=1"]);
}
