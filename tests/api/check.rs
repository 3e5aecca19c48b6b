//! `nexmo-proxy --check` on fixtures, the bundled example, and the process
//! environment and flags of the real binary.

use crate::common::PROXY;
use std::path::Path;
use std::process::Command;

fn check(config: &Path, env: &[(&str, &str)], args: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new(PROXY);
    cmd.env_clear()
        .arg("--check")
        .arg("--config")
        .arg(config)
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn fixtures(kind: &str) -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(kind);
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    v.sort();
    v
}

#[test]
fn valid_fixtures_pass_and_print_a_summary_without_secrets() {
    let files = fixtures("valid");
    assert!(files.len() >= 2, "no valid fixtures found");
    for f in files {
        let (ok, out, err) = check(&f, &[], &[]);
        assert!(ok, "{}: {err}", f.display());
        assert!(out.contains("configuration OK"), "{out}");
        assert!(!out.contains("s3cr3t-value"), "{out}");
    }
    let (_, out, _) = check(
        &fixtures("valid")
            .into_iter()
            .find(|p| p.ends_with("full.toml"))
            .unwrap(),
        &[],
        &[],
    );
    assert!(out.contains("api_secret ***"), "{out}");
    assert!(
        out.contains("endpoint /download/: message from \"Acme\", languages de"),
        "{out}"
    );
    let cluster = fixtures("valid")
        .into_iter()
        .find(|p| p.ends_with("redis_cluster.toml"))
        .unwrap();
    let (_, out, _) = check(&cluster, &[], &[]);
    assert!(
        out.contains("limiter: redis cluster (3 seed nodes"),
        "{out}"
    );
    let out = Command::new(PROXY)
        .env_clear()
        .args(["--print-config", "--config"])
        .arg(&cluster)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("redis://:***@10.0.0.1:6379") && !printed.contains("s3cr3t"),
        "{printed}"
    );
}

#[test]
fn each_invalid_fixture_fails_with_its_message() {
    let files = fixtures("invalid");
    assert!(
        files.len() >= 10,
        "expected at least 10 invalid fixtures, found {}",
        files.len()
    );
    for f in files {
        let expected = std::fs::read_to_string(f.with_extension("expected"))
            .unwrap_or_else(|_| panic!("{} has no .expected", f.display()));
        let (ok, out, err) = check(&f, &[], &[]);
        assert!(!ok, "{} passed --check:\n{out}", f.display());
        assert!(
            err.contains(expected.trim()),
            "{}: wanted {:?} in:\n{err}",
            f.display(),
            expected.trim()
        );
    }
}

#[test]
fn the_example_config_passes() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("proxy.example.toml");
    let (ok, out, err) = check(&example, &[], &[]);
    assert!(ok, "{err}");
    assert!(out.contains("limiter: in-process"), "{out}");
    assert!(out.contains("geo-ip: bundled"), "{out}");
    assert!(out.contains("dry_run true"), "{out}");
}

#[test]
fn the_binary_reads_legacy_variables_and_flags_from_its_environment() {
    let min = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/valid/minimal.toml");
    let env = [
        ("PORT", "9100"),
        ("LOCALHOSTONLY", "true"),
        ("LIMIT_AMOUNT", "7"),
        ("NEXMO_PROXY_DEFAULTS__DEFAULT_COUNTRY", "CH"),
    ];
    let (ok, out, err) = check(&min, &env, &[]);
    assert!(ok, "{err}");
    assert!(out.contains("listen: 127.0.0.1:9100"), "{out}");
    assert!(out.contains("limits 7 per ip per 3600s"), "{out}");
    assert!(out.contains("country CH"), "{out}");
    let (ok, out, _) = check(
        &min,
        &env,
        &[
            "--port",
            "9200",
            "--limit_amount=3",
            "--limit_expires",
            "60",
        ],
    );
    assert!(ok);
    assert!(out.contains("listen: 127.0.0.1:9200"), "{out}");
    assert!(out.contains("limits 3 per ip per 60s"), "{out}");
    let (ok, _, err) = check(&min, &[("LOCALHOSTONLY", "sure")], &[]);
    assert!(!ok);
    assert!(err.contains("LOCALHOSTONLY: expected a boolean"), "{err}");
}

#[test]
fn the_readme_recommended_configuration_passes() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let at = readme
        .find("A recommended starting point")
        .expect("the README has a recommended configuration");
    let start = readme[at..].find("```toml").unwrap() + at + "```toml".len();
    let end = readme[start..].find("```").unwrap() + start;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("proxy.toml");
    let toml = format!("{}\n[nexmo]\ndry_run = true\n[[endpoint]]\npath = \"/m/\"\nsender = \"Acme\"\nmessage = \"x\"\n", &readme[start..end]);
    std::fs::write(&file, toml).unwrap();
    let (ok, out, err) = check(&file, &[], &[]);
    assert!(ok, "{err}");
    assert!(out.contains("allowed DE,AT,CH"), "{out}");
}

#[test]
fn a_costly_message_is_flagged() {
    let f = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/valid/long_message.toml");
    let (ok, out, err) = check(&f, &[], &[]);
    assert!(ok, "{err}");
    assert!(
        out.contains("warning: endpoint[0].message renders to 4 SMS parts; each part is billed"),
        "{out}"
    );
}

#[test]
fn a_cluster_seed_password_is_never_quoted_in_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let minimal = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/valid/minimal.toml");
    // A string where a list belongs, from the environment.
    let var = (
        "NEXMO_PROXY_REDIS__CLUSTER",
        "redis://:hunter2-pw@10.0.0.1:6379",
    );
    let (ok, out, err) = check(&minimal, &[var], &[]);
    assert!(!ok, "{out}");
    assert!(err.contains("redis.cluster"), "{err}");
    assert!(
        !err.contains("hunter2") && !out.contains("hunter2"),
        "{err}"
    );
    // A syntax error on a line of a multi-line list of seeds.
    let broken = dir.path().join("proxy.toml");
    std::fs::write(
        &broken,
        "[redis]\ncluster = [\n  \"redis://:hunter2-pw@10.0.0.1:6379\" \"redis://:hunter2-pw@10.0.0.2:6379\",\n]\n",
    )
    .unwrap();
    let (ok, out, err) = check(&broken, &[], &[]);
    assert!(!ok, "{out}");
    assert!(
        !err.contains("hunter2") && !out.contains("hunter2"),
        "{err}"
    );
    // Seeds with different credentials.
    std::fs::write(
        &broken,
        "[redis]\ncluster = [\"redis://10.0.0.1:6379\", \"redis://:hunter2-pw@10.0.0.2:6379\"]\n",
    )
    .unwrap();
    let (ok, out, err) = check(&broken, &[], &[]);
    assert!(!ok, "{out}");
    assert!(
        err.contains("redis.cluster[1]: has other credentials than redis.cluster[0]"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}
