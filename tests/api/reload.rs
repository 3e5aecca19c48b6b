//! Hot reload through the real binary: real files in a temp dir, real
//! signals, polling with a deadline.

use crate::common::{FakeNexmo, Spawn, TestApp, API_KEY, API_SECRET};
use futures_util::future::join_all;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const VISIBLE_WITHIN: Duration = Duration::from_secs(2);

fn endpoints(list: &[(&str, &str)]) -> String {
    let mut s = String::from("[nexmo]\ndry_run = true\n[defaults]\nlimits = []\n");
    for (path, message) in list {
        s.push_str(&format!(
            "[[endpoint]]\npath = \"{path}\"\nsender = \"Acme\"\nmessage = \"{message}\"\n"
        ));
    }
    s
}

/// Polls `path` until it answers `status`, or fails after the deadline.
async fn visible(app: &TestApp, path: &str, status: u16, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        if app.get(path).await.status == status {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "{path} did not answer {status} within {within:?}\n{}",
            app.logs()
        );
        actix_web::rt::time::sleep(Duration::from_millis(25)).await;
    }
}

fn write_in_place(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

fn write_by_rename(path: &Path, text: &str) {
    let tmp = path.with_extension("toml.tmp~");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

async fn add_change_remove(app: &TestApp, write: impl Fn(&str)) {
    let m = "/message/?receiver=%2B4917612345678";
    assert_eq!(
        app.get("/added/?receiver=%2B4917612345678").await.status,
        404
    );
    write(&endpoints(&[("/message/", "one"), ("/added/", "two")]));
    visible(
        app,
        "/added/?receiver=%2B4917612345678",
        200,
        VISIBLE_WITHIN,
    )
    .await;
    assert!(app.wait_for_log("endpoints added: /added/"));
    write(&endpoints(&[("/message/", "changed"), ("/added/", "two")]));
    let start = Instant::now();
    while !app.logs().contains("endpoints changed: /message/") {
        assert!(
            start.elapsed() < VISIBLE_WITHIN,
            "change not applied\n{}",
            app.logs()
        );
        actix_web::rt::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(app.get(m).await.json()["status"], "ok");
    write(&endpoints(&[("/added/", "two")]));
    visible(app, m, 404, VISIBLE_WITHIN).await;
    assert!(app.wait_for_log("endpoints removed: /message/"));
}

#[actix_web::test]
async fn in_place_writes_are_applied() {
    let app = TestApp::spawn(&endpoints(&[("/message/", "one")]));
    let path = app.config.clone();
    add_change_remove(&app, |t| write_in_place(&path, t)).await;
}

#[actix_web::test]
async fn saves_by_rename_are_applied() {
    let app = TestApp::spawn(&endpoints(&[("/message/", "one")]));
    let path = app.config.clone();
    add_change_remove(&app, |t| write_by_rename(&path, t)).await;
}

/// Kubernetes ConfigMap layout: proxy.toml -> ..data/proxy.toml, ..data -> ..v1.
fn configmap_dir(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let v = dir.path().join("..v0");
    std::fs::create_dir(&v).unwrap();
    std::fs::write(v.join("proxy.toml"), text).unwrap();
    std::os::unix::fs::symlink("..v0", dir.path().join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/proxy.toml", dir.path().join("proxy.toml")).unwrap();
    let p = dir.path().join("proxy.toml");
    (dir, p)
}

fn configmap_swap(dir: &Path, text: &str) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(1);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let v = format!("..v{n}");
    std::fs::create_dir(dir.join(&v)).unwrap();
    std::fs::write(dir.join(&v).join("proxy.toml"), text).unwrap();
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&v, &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("..data")).unwrap();
}

#[actix_web::test]
async fn symlinked_directory_swaps_are_applied() {
    let (dir, path) = configmap_dir(&endpoints(&[("/message/", "one")]));
    let app = Spawn::new("").config_file(path).start().unwrap();
    let d = dir.path().to_path_buf();
    add_change_remove(&app, |t| configmap_swap(&d, t)).await;
}

#[actix_web::test]
async fn sighup_applies_a_change_the_watcher_cannot_see() {
    // The config is a symlink to a file in another directory: editing that
    // file makes no event in the watched directory.
    let elsewhere = tempfile::tempdir().unwrap();
    let real = elsewhere.path().join("real.toml");
    std::fs::write(&real, endpoints(&[("/message/", "one")])).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("proxy.toml");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let app = Spawn::new("").config_file(link).start().unwrap();
    write_in_place(
        &real,
        &endpoints(&[("/message/", "one"), ("/by-signal/", "two")]),
    );
    let status = std::process::Command::new("kill")
        .args(["-HUP", &app.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    visible(
        &app,
        "/by-signal/?receiver=%2B4917612345678",
        200,
        VISIBLE_WITHIN,
    )
    .await;
    assert!(app.wait_for_log("reload (Signal): applied configuration generation 2"));
}

#[actix_web::test]
async fn bad_edits_keep_the_old_configuration_and_a_good_save_after_is_applied() {
    let good = endpoints(&[("/message/", "one")]);
    let app = TestApp::spawn(&good);
    let path = app.config.clone();
    let m = "/message/?receiver=%2B4917612345678";
    let truncated = &good[..good.len() - 10];
    type Edit<'a> = Box<dyn Fn() + 'a>;
    let bad_edits: Vec<(&str, Edit)> = vec![
        (
            "syntax error",
            Box::new(|| write_in_place(&path, "[[endpoint]\npath = ")),
        ),
        (
            "unknown key",
            Box::new(|| write_in_place(&path, &format!("{good}\n[server]\nlisen = 1\n"))),
        ),
        (
            "undefined template variable",
            Box::new(|| write_in_place(&path, &endpoints(&[("/message/", "Hi {who}")]))),
        ),
        (
            "bad regex",
            Box::new(|| write_in_place(&path, &format!("{good}[endpoint.params]\np = \"(\"\n"))),
        ),
        (
            "unknown country",
            Box::new(|| {
                write_in_place(
                    &path,
                    &good.replace("[defaults]", "[defaults]\ndefault_country = \"XX\""),
                )
            }),
        ),
        (
            "negative limit",
            Box::new(|| {
                write_in_place(
                    &path,
                    &good.replace(
                        "limits = []",
                        "limits = [{ per = \"ip\", max = -1, window = \"1h\" }]",
                    ),
                )
            }),
        ),
        ("empty file", Box::new(|| write_in_place(&path, ""))),
        (
            "truncated file",
            Box::new(|| write_in_place(&path, truncated)),
        ),
        (
            "missing geo-ip file",
            Box::new(|| {
                write_in_place(&path, &format!("{good}[geoip]\ndatabase = \"gone.mmdb\"\n"))
            }),
        ),
        (
            "file removed",
            Box::new(|| std::fs::remove_file(&path).unwrap()),
        ),
        (
            "file replaced by a directory",
            Box::new(|| {
                let _ = std::fs::remove_file(&path);
                std::fs::create_dir(&path).unwrap();
            }),
        ),
    ];
    for (i, (name, edit)) in bad_edits.iter().enumerate() {
        let rejected_before = app
            .logs()
            .matches("keeping configuration generation")
            .count();
        edit();
        let start = Instant::now();
        while app
            .logs()
            .matches("keeping configuration generation")
            .count()
            <= rejected_before
        {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "{name}: no rejection logged\n{}",
                app.logs()
            );
            actix_web::rt::time::sleep(Duration::from_millis(25)).await;
        }
        assert_eq!(
            app.get(m).await.json()["status"],
            "ok",
            "{name}: old endpoint stopped serving"
        );
        if path.is_dir() {
            std::fs::remove_dir(&path).unwrap();
        }
        // A good save after the bad one is applied (a distinct file each
        // time, so it is a real change), then the base again.
        let restored = endpoints(&[("/message/", "one"), (&format!("/after{i}/"), "x")]);
        write_in_place(&path, &restored);
        visible(
            &app,
            &format!("/after{i}/?receiver=%2B4917612345678"),
            200,
            VISIBLE_WITHIN,
        )
        .await;
        write_in_place(&path, &good);
        visible(
            &app,
            &format!("/after{i}/?receiver=%2B4917612345678"),
            404,
            VISIBLE_WITHIN,
        )
        .await;
    }
    assert!(app.logs().contains("rejected: "));
}

#[actix_web::test]
async fn requests_across_a_reload_never_fail_or_mix_configurations() {
    let fake = FakeNexmo::start();
    let cfg = |sender: &str, text: &str, extra: bool| {
        let mut s = format!(
            "[nexmo]\napi_key = \"{API_KEY}\"\napi_secret = \"{API_SECRET}\"\nurl = \"{}\"\n[defaults]\nlimits = []\n[[endpoint]]\npath = \"/message/\"\nsender = \"{sender}\"\nmessage = \"{text}\"\n",
            fake.sms_url()
        );
        if extra {
            s.push_str(
                "[[endpoint]]\npath = \"/new/\"\nsender = \"New\"\nmessage = \"new endpoint\"\n",
            );
        }
        s
    };
    let app = TestApp::spawn(&cfg("OldSender", "old text", false));
    let path = app.config.clone();
    let stop = Instant::now() + Duration::from_millis(2500);
    let writer = async {
        actix_web::rt::time::sleep(Duration::from_millis(500)).await;
        write_by_rename(&path, &cfg("NewSender", "new text", true));
    };
    let clients = join_all((0..8).map(|_| async {
        let mut n = 0;
        while Instant::now() < stop {
            let a = app.get("/message/?receiver=%2B4917612345678").await;
            assert_eq!(a.status, 200);
            assert_eq!(a.json()["status"], "ok", "{}", a.body);
            n += 1;
        }
        n
    }));
    let (_, counts) = tokio::join!(writer, clients);
    let total: usize = counts.iter().sum();
    assert!(total > 50, "only {total} requests");
    assert_eq!(
        app.get("/new/?receiver=%2B4917612345678").await.json()["status"],
        "ok"
    );
    let got = fake.received().await;
    let mut old = 0;
    let mut new = 0;
    for r in &got {
        let p = &r["params"];
        match (p["from"].as_str().unwrap(), p["text"].as_str().unwrap()) {
            ("OldSender", "old text") => old += 1,
            ("NewSender", "new text") | ("New", "new endpoint") => new += 1,
            other => panic!("a mixed or unknown message: {other:?}"),
        }
    }
    assert_eq!(old + new, total + 1);
    assert!(old > 0 && new > 1, "old {old}, new {new}");
}

#[actix_web::test]
async fn limit_counters_of_unchanged_endpoints_survive_a_reload() {
    let base = "[nexmo]\ndry_run = true\n[defaults]\nlimits = [{ per = \"ip\", max = 3, window = \"1h\" }]\n[[endpoint]]\npath = \"/a/\"\nsender = \"A\"\nmessage = \"a\"\n";
    let app = TestApp::spawn(base);
    for _ in 0..2 {
        assert_eq!(
            app.get("/a/?receiver=%2B4917612345678").await.json()["status"],
            "ok"
        );
    }
    write_in_place(
        &app.config,
        &format!("{base}[[endpoint]]\npath = \"/b/\"\nsender = \"B\"\nmessage = \"b\"\n"),
    );
    visible(&app, "/b/?receiver=%2B4917612345678", 200, VISIBLE_WITHIN).await;
    assert_eq!(
        app.get("/a/?receiver=%2B4917612345678").await.json()["status"],
        "ok"
    );
    assert_eq!(
        app.get("/a/?receiver=%2B4917612345678").await.json()["error"],
        "limit_acceded"
    );
}

#[actix_web::test]
async fn listen_changes_are_logged_as_requiring_restart() {
    let base = endpoints(&[("/message/", "one")]);
    let app = TestApp::spawn(&base);
    write_in_place(&app.config, &format!("[server]\nlisten = \"127.0.0.1:1\"\nworkers = 1\n{base}[[endpoint]]\npath = \"/x/\"\nsender = \"A\"\nmessage = \"x\"\n"));
    visible(&app, "/x/?receiver=%2B4917612345678", 200, VISIBLE_WITHIN).await;
    // The env override (127.0.0.1:0) still wins over the file, so only workers changed.
    assert!(app.wait_for_log("server.workers (0 -> 1) changed but requires restart"));
    assert_eq!(
        app.get("/message/?receiver=%2B4917612345678").await.json()["status"],
        "ok"
    );
}

#[actix_web::test]
async fn nexmo_credentials_and_the_redis_url_change_live() {
    let fake = FakeNexmo::start();
    let redis = crate::common::Redis::start();
    let cfg = |secret: &str, redis_url: Option<&str>| {
        let r = redis_url
            .map(|u| format!("[redis]\nurl = \"{u}\"\n"))
            .unwrap_or_default();
        format!(
            "{r}[nexmo]\napi_key = \"{API_KEY}\"\napi_secret = \"{secret}\"\nurl = \"{}\"\n[defaults]\nlimits = [{{ per = \"ip\", max = 100, window = \"1h\" }}]\n[[endpoint]]\npath = \"/m/\"\nsender = \"A\"\nmessage = \"x\"\n",
            fake.sms_url()
        )
    };
    let app = TestApp::spawn(&cfg("wrong-secret", None));
    let m = "/m/?receiver=%2B4917612345678";
    assert_eq!(app.get(m).await.json()["nexmo_status"], "4");
    write_by_rename(&app.config, &cfg(API_SECRET, Some(&redis.url())));
    let start = Instant::now();
    while !app.logs().contains("settings changed: nexmo, redis") {
        assert!(start.elapsed() < VISIBLE_WITHIN, "{}", app.logs());
        actix_web::rt::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(app.get(m).await.json()["status"], "ok");
    assert!(
        !redis
            .cli(&["--scan", "--pattern", "nexmo-proxy:*"])
            .is_empty(),
        "the new limiter counts in Redis"
    );
    assert!(!app.logs().contains("wrong-secret"));
}

/// The effective uid of this test process.
fn euid() -> u32 {
    let out = std::process::Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[actix_web::test]
async fn a_directory_without_permission_keeps_the_old_configuration() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let conf_dir = dir.path().join("conf");
    std::fs::create_dir(&conf_dir).unwrap();
    let path = conf_dir.join("proxy.toml");
    std::fs::write(&path, endpoints(&[("/message/", "one")])).unwrap();
    let set = |p: &Path, mode: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    set(dir.path(), 0o755);
    set(&conf_dir, 0o755);
    set(&path, 0o644);
    // Root ignores permissions: run the proxy as nobody then.
    let spawn = Spawn::new("").config_file(path.clone());
    let spawn = if euid() == 0 {
        spawn.run_as(65534, 65534)
    } else {
        spawn
    };
    let app = spawn.start().unwrap();
    let m = "/message/?receiver=%2B4917612345678";
    assert_eq!(app.get(m).await.json()["status"], "ok");

    set(&conf_dir, 0o000);
    // The permission change itself is an event on the watched directory;
    // SIGHUP makes the attempt certain.
    std::process::Command::new("kill")
        .args(["-HUP", &app.pid().to_string()])
        .status()
        .unwrap();
    assert!(
        app.wait_for_log("keeping configuration generation 1"),
        "{}",
        app.logs()
    );
    assert!(app.logs().contains("Permission denied"), "{}", app.logs());
    assert_eq!(
        app.get(m).await.json()["status"],
        "ok",
        "the old endpoint keeps serving"
    );

    set(&conf_dir, 0o755);
    std::fs::write(
        &path,
        endpoints(&[("/message/", "one"), ("/after/", "two")]),
    )
    .unwrap();
    set(&path, 0o644);
    visible(
        &app,
        "/after/?receiver=%2B4917612345678",
        200,
        VISIBLE_WITHIN,
    )
    .await;
}

fn hup(app: &TestApp) {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &app.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[actix_web::test]
async fn a_change_to_any_setting_or_to_the_geoip_file_is_applied() {
    // A copy of the bundled database as a configured file beside proxy.toml.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("country.mmdb");
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/dbip-country.mmdb");
    std::fs::copy(&bundled, &db).unwrap();
    let path = dir.path().join("proxy.toml");
    let base = "[geoip]\ndatabase = \"country.mmdb\"\n";
    std::fs::write(&path, base).unwrap();
    let app = Spawn::new("").config_file(path.clone()).start().unwrap();
    // Only [limits] ipv6_prefix changes: a new generation, not "unchanged".
    write_in_place(&path, &format!("{base}[limits]\nipv6_prefix = 48\n"));
    assert!(app.wait_for_log("applied configuration generation 2: settings changed: limits"));
    // The same file again: unchanged.
    hup(&app);
    assert!(app.wait_for_logs("configuration unchanged, keeping generation 2", 1));
    // The database replaced at the same path by a broken one: re-read on
    // SIGHUP, refused, and the loaded one keeps serving.
    std::fs::write(&db, b"not a database").unwrap();
    hup(&app);
    assert!(app.wait_for_log("is not a MaxMind DB file"));
    assert!(app.wait_for_log("keeping configuration generation 2"));
    let a = app.get("/validate_number/?number=1").await.json();
    assert_eq!(a["number"], false, "still serving: {a}");
    // A good database again (the old bytes): it differs from the broken
    // file, but not from what is loaded, so nothing changes.
    std::fs::copy(&bundled, &db).unwrap();
    hup(&app);
    assert!(app.wait_for_logs("configuration unchanged, keeping generation 2", 2));
}

#[actix_web::test]
async fn a_rejected_reload_does_not_log_the_secret_on_its_broken_line() {
    let good = endpoints(&[("/message/", "one")]);
    let app = TestApp::spawn(&good);
    write_in_place(
        &app.config,
        &format!("{good}\n[limits]\nkey_secret = \"topsecret-reload\n"),
    );
    assert!(app.wait_for_log("keeping configuration generation 1"));
    assert!(!app.logs().contains("topsecret"), "{}", app.logs());
}

#[actix_web::test]
async fn nothing_changed_reads_the_same_from_a_save_and_from_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("proxy.toml");
    let base = "[validation]\nlimits = []\n";
    std::fs::write(&path, base).unwrap();
    let app = Spawn::new("").config_file(path.clone()).start().unwrap();
    // A comment is a change to the file, not to the configuration.
    write_in_place(&path, &format!("# edited\n{base}"));
    assert!(app.wait_for_log("reload (FileChanged): configuration unchanged, keeping generation 1"));
    hup(&app);
    assert!(app.wait_for_log("reload (Signal): configuration unchanged, keeping generation 1"));
    assert!(
        !app.logs().contains("applied configuration"),
        "{}",
        app.logs()
    );
}

#[actix_web::test]
async fn a_hundred_endpoints_reload_under_load_without_a_failed_request() {
    let fake = FakeNexmo::start();
    let cfg = |v: u32| {
        let mut s = format!(
            "[nexmo]\napi_key = \"{API_KEY}\"\napi_secret = \"{API_SECRET}\"\nurl = \"{}\"\n\
             [server]\nmax_connections_per_ip = 1000\n[defaults]\nlimits = []\n",
            fake.sms_url()
        );
        for i in 0..100 {
            s.push_str(&format!(
                "[[endpoint]]\npath = \"/e{i}/\"\nsender = \"V{v}\"\nmessage = \"e{i} v{v}\"\n"
            ));
        }
        s
    };
    let app = TestApp::spawn(&cfg(1));
    let path = app.config.clone();
    let stop = Instant::now() + Duration::from_millis(3000);
    let writer = async {
        for v in 2..=3 {
            actix_web::rt::time::sleep(Duration::from_millis(700)).await;
            write_by_rename(&path, &cfg(v));
        }
    };
    let app = &app;
    let clients = join_all((0..8).map(|c| async move {
        let mut n = 0;
        while Instant::now() < stop {
            let e = (c * 13 + n * 7) % 100;
            let a = app.get(&format!("/e{e}/?receiver=%2B4917612345678")).await;
            assert_eq!(
                (a.status, a.json()["status"].clone()),
                (200, "ok".into()),
                "{}",
                a.body
            );
            n += 1;
        }
        n
    }));
    let (_, counts) = tokio::join!(writer, clients);
    assert!(
        app.wait_for_log("applied configuration generation 3"),
        "{}",
        app.logs()
    );
    let total: usize = counts.iter().sum();
    let got = fake.received().await;
    assert_eq!(got.len(), total);
    // Each message whole from one generation: its sender and its text agree.
    let mut seen = std::collections::BTreeSet::new();
    for r in &got {
        let (from, text) = (
            r["params"]["from"].as_str().unwrap(),
            r["params"]["text"].as_str().unwrap(),
        );
        let v = from.trim_start_matches('V');
        assert!(text.ends_with(&format!(" v{v}")), "mixed: {from} {text}");
        seen.insert(v.to_string());
    }
    assert!(
        seen.len() >= 2,
        "the reloads fell outside the load: {seen:?}"
    );
}
