use super::*;
use std::io::Write;

fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("proxy.toml");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    (dir, path)
}

fn sources(path: Option<PathBuf>, env: &[(&str, &str)], args: &[&str]) -> Sources {
    let mut argv = vec!["nexmo-proxy"];
    argv.extend_from_slice(args);
    let cli = <Cli as clap::Parser>::try_parse_from(argv).unwrap();
    Sources {
        config_file: path.or(cli.config.clone()),
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        flags: cli.legacy,
    }
}

fn problems(r: Result<Settings, ConfigError>) -> Vec<String> {
    r.err()
        .map(|e| e.problems.iter().map(ToString::to_string).collect())
        .unwrap_or_default()
}

const BASE: &str = r#"
[server]
listen = "127.0.0.1:7000"
[nexmo]
dry_run = true
[defaults]
default_country = "AT"
"#;

#[test]
fn defaults_apply_without_any_file() {
    let s = load(&sources(None, &[], &[])).unwrap();
    assert_eq!(s.server.listen.to_string(), "0.0.0.0:8888");
    assert_eq!(s.validation.path, "/validate_number/");
    assert_eq!(s.validation.country.default.code(), "DE");
    assert!(s.validation.country.guess);
    assert_eq!(s.validation.limits.len(), 1);
    assert_eq!(s.validation.limits[0].max, 10);
    assert_eq!(s.nexmo.url.as_str(), "https://rest.nexmo.com/sms/json");
    assert!(s.redis.is_none());
    assert_eq!(s.geoip, GeoipSource::Bundled);
    assert!(s.endpoints.is_empty());
}

#[test]
fn each_layer_beats_the_one_below() {
    let (_d, path) = file(BASE);
    // file
    let s = load(&sources(Some(path.clone()), &[], &[])).unwrap();
    assert_eq!(s.server.listen.port(), 7000);
    assert_eq!(s.validation.country.default.code(), "AT");
    // NEXMO_PROXY_ beats the file
    let env = [
        ("NEXMO_PROXY_SERVER__LISTEN", "127.0.0.1:7001"),
        ("NEXMO_PROXY_DEFAULTS__DEFAULT_COUNTRY", "CH"),
    ];
    let s = load(&sources(Some(path.clone()), &env, &[])).unwrap();
    assert_eq!(s.server.listen.port(), 7001);
    assert_eq!(s.validation.country.default.code(), "CH");
    // legacy env beats NEXMO_PROXY_
    let env2 = [env[0], env[1], ("PORT", "7002"), ("DEFAULT_COUNTRY", "FR")];
    let s = load(&sources(Some(path.clone()), &env2, &[])).unwrap();
    assert_eq!(s.server.listen.to_string(), "127.0.0.1:7002");
    assert_eq!(s.validation.country.default.code(), "FR");
    // flags beat legacy env
    let s = load(&sources(
        Some(path),
        &env2,
        &["--port=7003", "--default_country", "IT"],
    ))
    .unwrap();
    assert_eq!(s.server.listen.port(), 7003);
    assert_eq!(s.validation.country.default.code(), "IT");
}

#[test]
fn nested_env_values_are_typed() {
    let env = [
        ("NEXMO_PROXY_NEXMO__API_KEY", "k"),
        ("NEXMO_PROXY_NEXMO__DRY_RUN", "true"),
        (
            "NEXMO_PROXY_DEFAULTS__LIMITS",
            r#"[{per="ip", max=3, window="1m"}]"#,
        ),
        ("NEXMO_PROXY_VALIDATION__LIMITS", "[]"),
    ];
    let s = load(&sources(None, &env, &[])).unwrap();
    assert_eq!(s.nexmo.api_key, "k");
    assert!(s.nexmo.dry_run);
    assert!(s.validation.limits.is_empty());
}

#[test]
fn every_legacy_variable_has_its_old_meaning() {
    let env = [
        ("PORT", "9000"),
        ("LOCALHOSTONLY", "1"),
        ("MESSAGE", "Hello {number}"),
        ("SENDER", "Acme"),
        ("REQUEST_PATH", "/sms/"),
        ("GUESS_COUNTRY", "no"),
        ("DEFAULT_COUNTRY", "GB"),
        ("LIMIT_AMOUNT", "5"),
        ("LIMIT_EXPIRES", "60"),
        ("NEXMO_API_KEY", "key1"),
        ("NEXMO_API_SECRET", "sec1"),
        ("NEXMO_DLR_URL", "https://example.com/dlr"),
        ("NEXMO_DOMAIN", "127.0.0.1:4000"),
        ("NEXMO_ENDPOINT", "sms/json"),
        ("NEXMO_LONG_VIRTUAL_NUMBER", "15551230000"),
        ("NEXMO_SSL", "false"),
        ("REDIS_HOST", "redis.local"),
        ("REDIS_PORT", "6380"),
        ("REDIS_PASSWORD", "pw"),
        ("REDIS_DB", "2"),
        ("DEVELOPMENT_MODE", "yes"),
    ];
    let s = load(&sources(None, &env, &[])).unwrap();
    assert_eq!(s.server.listen.to_string(), "127.0.0.1:9000");
    assert_eq!(s.endpoints.len(), 1);
    let e = &s.endpoints[0];
    assert_eq!(e.path, "/sms/");
    let EndpointKind::Message(m) = &e.kind else {
        panic!("not a message endpoint")
    };
    assert_eq!(m.sender, "Acme");
    assert!(!e.country.guess);
    assert_eq!(e.country.default.code(), "GB");
    assert_eq!(
        e.limits,
        vec![LimitRule {
            per: LimitPer::Ip,
            max: 5,
            window: std::time::Duration::from_secs(60),
            global: false,
            shadow: false
        }]
    );
    assert_eq!(s.validation.limits, e.limits);
    assert_eq!(s.nexmo.api_key, "key1");
    assert_eq!(s.nexmo.api_secret.expose(), "sec1");
    assert_eq!(s.nexmo.dlr_url.as_deref(), Some("https://example.com/dlr"));
    assert_eq!(s.nexmo.url.as_str(), "http://127.0.0.1:4000/sms/json");
    assert_eq!(s.nexmo.long_virtual_number.as_deref(), Some("15551230000"));
    assert!(s.nexmo.dry_run);
    assert_eq!(
        s.redis.unwrap().url.expose(),
        "redis://:pw@redis.local:6380/2"
    );
}

#[test]
fn every_legacy_flag_has_its_old_meaning() {
    let args = [
        "--port",
        "9001",
        "--localhostonly",
        "--message=Hi",
        "--sender=Acme",
        "--request_path=/m/",
        "--guess_country=false",
        "--default_country=FR",
        "--limit_amount=0",
        "--limit_expires=10",
        "--nexmo_api_key=k",
        "--nexmo_api_secret=s",
        "--nexmo_dlr_url=https://x.example/dlr",
        "--nexmo_domain=nexmo.internal:8443",
        "--nexmo_endpoint=/sms/json",
        "--nexmo_long_virtual_number=15550000000",
        "--nexmo_ssl",
        "--redis_host=r",
        "--redis_port=1",
        "--redis_password=p w",
        "--redis_db=3",
        "--development_mode=0",
        "--logging=debug",
    ];
    let s = load(&sources(None, &[], &args)).unwrap();
    assert_eq!(s.server.listen.to_string(), "127.0.0.1:9001");
    assert_eq!(s.endpoints[0].path, "/m/");
    assert!(!s.endpoints[0].country.guess);
    assert_eq!(s.endpoints[0].country.default.code(), "FR");
    assert!(
        s.endpoints[0].limits.is_empty(),
        "limit_amount=0 turns limiting off"
    );
    assert!(s.validation.limits.is_empty());
    assert_eq!(s.nexmo.url.as_str(), "https://nexmo.internal:8443/sms/json");
    assert_eq!(s.nexmo.dlr_url.as_deref(), Some("https://x.example/dlr"));
    assert!(!s.nexmo.dry_run);
    assert_eq!(s.redis.unwrap().url.expose(), "redis://:p+w@r:1/3");
}

#[test]
fn dashed_flag_spellings_work_too() {
    let s = load(&sources(
        None,
        &[],
        &["--default-country", "NL", "--guess-country", "0"],
    ))
    .unwrap();
    assert_eq!(s.validation.country.default.code(), "NL");
    assert!(!s.validation.country.guess);
}

#[test]
fn nexmo_ssl_defaults_to_https_now() {
    let s = load(&sources(None, &[("NEXMO_DOMAIN", "rest.nexmo.com")], &[])).unwrap();
    assert_eq!(s.nexmo.url.scheme(), "https");
}

#[test]
fn booleans_are_not_any_non_empty_string() {
    let p = problems(load(&sources(None, &[("GUESS_COUNTRY", "maybe")], &[])));
    assert_eq!(
        p,
        vec![r#"GUESS_COUNTRY: expected a boolean (1/0/true/false/yes/no), got "maybe""#]
    );
    // An empty variable is unset, as in the old proxy.
    assert!(load(&sources(None, &[("GUESS_COUNTRY", "")], &[])).is_ok());
}

#[test]
fn message_without_sender_says_what_is_missing() {
    let p = problems(load(&sources(None, &[("MESSAGE", "hi")], &[])));
    assert_eq!(p.len(), 1);
    assert!(
        p[0].starts_with("MESSAGE: MESSAGE is set but SENDER (--sender) is missing"),
        "{p:?}"
    );
    let p = problems(load(&sources(None, &[], &["--sender=x"])));
    assert!(
        p[0].starts_with("--sender: SENDER is set but MESSAGE (--message) is missing"),
        "{p:?}"
    );
}

#[test]
fn the_legacy_handler_replaces_a_file_endpoint_at_its_path() {
    let (_d, path) = file(&format!(
        "{BASE}\n[[endpoint]]\npath = \"/message/\"\nsender = \"File\"\nmessage = \"from file\"\n"
    ));
    let s = load(&sources(
        Some(path),
        &[("MESSAGE", "from env"), ("SENDER", "Env")],
        &[],
    ))
    .unwrap();
    assert_eq!(s.endpoints.len(), 1);
    let EndpointKind::Message(m) = &s.endpoints[0].kind else {
        panic!()
    };
    assert_eq!(m.sender, "Env");
}

#[test]
fn message_endpoints_need_credentials_unless_dry_run() {
    let p = problems(load(&sources(
        None,
        &[("MESSAGE", "hi"), ("SENDER", "x")],
        &[],
    )));
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(p[0].starts_with("nexmo.api_key: not set"));
    assert!(p[1].starts_with("nexmo.api_secret: not set"));
    assert!(load(&sources(
        None,
        &[
            ("MESSAGE", "hi"),
            ("SENDER", "x"),
            ("DEVELOPMENT_MODE", "1")
        ],
        &[]
    ))
    .is_ok());
}

#[test]
fn all_problems_are_reported_at_once_with_key_paths() {
    let (_d, path) = file(
        r#"
[server]
listen = "nowhere"
trusted_proxies = ["10.0.0.0/8", "banana"]
[nexmo]
dry_run = true
timeout = "soon"
[defaults]
default_country = "XX"
[[endpoint]]
path = "relative"
sender = ""
message = "Hi {who}"
limits = [{ per = "moon", max = -1, window = "1y" }]
[endpoint.params]
receiver = ".*"
"#,
    );
    let p = problems(load(&sources(Some(path), &[], &[])));
    let keys: Vec<&str> = p.iter().map(|s| s.split(':').next().unwrap()).collect();
    for want in [
        "server.listen",
        "server.trusted_proxies[1]",
        "nexmo.timeout",
        "defaults.default_country",
        "endpoint[0].path",
        "endpoint[0].sender",
        "endpoint[0].limits[0].per",
        "endpoint[0].limits[0].max",
        "endpoint[0].limits[0].window",
        "endpoint[0].params.receiver",
    ] {
        assert!(keys.contains(&want), "missing {want} in {p:#?}");
    }
}

#[test]
fn unknown_keys_are_errors() {
    let (_d, path) = file("[server]\nlisten = \"127.0.0.1:1\"\nlisen = 3\n");
    let p = problems(load(&sources(Some(path), &[], &[])));
    assert_eq!(p.len(), 1);
    assert!(
        p[0].starts_with("server.lisen: unknown field: found `lisen`"),
        "{p:?}"
    );
    let p = problems(load(&sources(
        None,
        &[("NEXMO_PROXY_NEXMO__APIKEY", "x")],
        &[],
    )));
    assert!(p[0].contains("unknown field: found `apikey`"), "{p:?}");
}

#[test]
fn a_missing_or_empty_file_is_an_error() {
    let p = problems(load(&sources(
        Some("/nonexistent/proxy.toml".into()),
        &[],
        &[],
    )));
    assert!(p[0].contains("cannot read"), "{p:?}");
    let (_d, path) = file("   \n");
    let p = problems(load(&sources(Some(path), &[], &[])));
    assert!(p[0].contains("the file is empty"), "{p:?}");
}

#[test]
fn secrets_never_appear_in_errors_or_summaries() {
    let (_d, path) = file("[nexmo]\napi_secret = 12345678\n");
    let p = problems(load(&sources(Some(path), &[], &[])));
    assert!(!p.join("\n").contains("12345678"), "{p:?}");
    let env = [
        ("NEXMO_API_SECRET", "topsecret1"),
        ("REDIS_PASSWORD", "redispw99"),
        ("NEXMO_API_KEY", "k"),
        ("NEXMO_PROXY_SERVER__LISTEN", "127.0.0.1:0"),
    ];
    let s = load(&sources(None, &env, &[])).unwrap();
    let shown = format!("{s}\n{s:?}");
    assert!(
        !shown.contains("topsecret1") && !shown.contains("redispw99"),
        "{shown}"
    );
}
