//! Configuration layers and reports through the real binary's `--check`:
//! defaults < file < `NEXMO_PROXY_*` < legacy variables < legacy flags,
//! every problem of a file at once with its key path, no secret shown.

use crate::common::PROXY;
use std::process::Command;

/// `nexmo-proxy --check` in a fresh directory holding `toml` as
/// `proxy.toml` (found there without `--config`), with only `env`.
fn check(toml: Option<&str>, env: &[(&str, &str)], args: &[&str]) -> (bool, String, String) {
    run("--check", toml, env, args)
}

/// The binary with `mode` (`--check`, `--print-config`) in a fresh
/// directory holding `toml` as `proxy.toml`, with only `env`.
fn run(
    mode: &str,
    toml: Option<&str>,
    env: &[(&str, &str)],
    args: &[&str],
) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    if let Some(toml) = toml {
        std::fs::write(dir.path().join("proxy.toml"), toml).unwrap();
    }
    let out = Command::new(PROXY)
        .env_clear()
        .envs(env.iter().copied())
        .arg(mode)
        .args(args)
        .current_dir(dir.path())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn ok(toml: Option<&str>, env: &[(&str, &str)], args: &[&str]) -> String {
    let (ok, out, err) = check(toml, env, args);
    assert!(ok, "{err}");
    out
}

fn problems(toml: Option<&str>, env: &[(&str, &str)], args: &[&str]) -> Vec<String> {
    let (ok, out, err) = check(toml, env, args);
    assert!(!ok, "passed:\n{out}");
    err.lines().skip(1).map(|l| l.trim().to_string()).collect()
}

fn has(out: &str, lines: &[&str]) {
    for want in lines {
        assert!(out.contains(want), "no {want:?} in:\n{out}");
    }
}

const BASE: &str = "[server]\nlisten = \"127.0.0.1:7000\"\n[nexmo]\ndry_run = true\n[defaults]\ndefault_country = \"AT\"\n";

#[test]
fn defaults_apply_without_any_file() {
    has(
        &ok(None, &[], &[]),
        &[
            "configuration: (no file; defaults and environment)",
            "listen: 0.0.0.0:8888",
            "nexmo: url https://rest.nexmo.com/sms/json",
            "limiter: in-process",
            "geo-ip: bundled",
            "endpoint /validate_number/: validate number; country DE (guess on); limits 10 per ip per 3600s",
        ],
    );
}

#[test]
fn each_layer_beats_the_one_below() {
    let file = Some(BASE);
    has(
        &ok(file, &[], &[]),
        &[
            "configuration: proxy.toml",
            "listen: 127.0.0.1:7000",
            "country AT",
        ],
    );
    let env = [
        ("NEXMO_PROXY_SERVER__LISTEN", "127.0.0.1:7001"),
        ("NEXMO_PROXY_DEFAULTS__DEFAULT_COUNTRY", "CH"),
    ];
    has(
        &ok(file, &env, &[]),
        &["listen: 127.0.0.1:7001", "country CH"],
    );
    let legacy = [env[0], env[1], ("PORT", "7002"), ("DEFAULT_COUNTRY", "FR")];
    has(
        &ok(file, &legacy, &[]),
        &["listen: 127.0.0.1:7002", "country FR"],
    );
    let flags = ["--port=7003", "--default_country", "IT"];
    has(
        &ok(file, &legacy, &flags),
        &["listen: 127.0.0.1:7003", "country IT"],
    );
}

#[test]
fn nested_env_values_are_typed() {
    let env = [
        ("NEXMO_PROXY_NEXMO__API_KEY", "k"),
        ("NEXMO_PROXY_NEXMO__DRY_RUN", "true"),
        ("NEXMO_PROXY_VALIDATION__LIMITS", "[]"),
        (
            "NEXMO_PROXY_DEFAULTS__LIMITS",
            r#"[{per="ip", max=3, window="1m"}]"#,
        ),
        ("MESSAGE", "hi"),
        ("SENDER", "Acme"),
    ];
    has(
        &ok(None, &env, &[]),
        &[
            "api_key \"k\"",
            "dry_run true",
            "endpoint /validate_number/: validate number; country DE (guess on); limits none",
            "endpoint /message/: message from \"Acme\"; country DE (guess on); limits 3 per ip per 60s",
        ],
    );
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
    has(
        &ok(None, &env, &[]),
        &[
            "listen: 127.0.0.1:9000",
            "nexmo: url http://127.0.0.1:4000/sms/json, api_key \"key1\", api_secret ***",
            "dry_run true",
            "nexmo long virtual number (for +1): 15551230000",
            "nexmo delivery receipts: https://example.com/dlr",
            "limiter: redis (url ***",
            "endpoint /validate_number/: validate number; country GB (guess off); limits 5 per ip per 60s",
            "endpoint /sms/: message from \"Acme\"; country GB (guess off); limits 5 per ip per 60s",
        ],
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
    has(
        &ok(None, &[], &args),
        &[
            "listen: 127.0.0.1:9001",
            "nexmo: url https://nexmo.internal:8443/sms/json",
            "dry_run false",
            "nexmo delivery receipts: https://x.example/dlr",
            "endpoint /validate_number/: validate number; country FR (guess off); limits none",
            "endpoint /m/: message from \"Acme\"; country FR (guess off); limits none",
        ],
    );
    // Dashed spellings work too, and NEXMO_SSL defaults to https now.
    let args = ["--default-country", "NL", "--guess-country", "0"];
    has(
        &ok(None, &[("NEXMO_DOMAIN", "rest.nexmo.com")], &args),
        &[
            "country NL (guess off)",
            "url https://rest.nexmo.com/sms/json",
        ],
    );
}

#[test]
fn legacy_mistakes_name_the_variable_or_flag() {
    assert_eq!(
        problems(None, &[("GUESS_COUNTRY", "maybe")], &[]),
        [r#"GUESS_COUNTRY: expected a boolean (1/0/true/false/yes/no), got "maybe""#]
    );
    // An empty variable is unset, as in the old proxy.
    ok(None, &[("GUESS_COUNTRY", "")], &[]);
    let p = problems(None, &[("MESSAGE", "hi")], &[]);
    assert_eq!(p.len(), 1);
    assert!(
        p[0].starts_with("MESSAGE: MESSAGE is set but SENDER (--sender) is missing"),
        "{p:?}"
    );
    let p = problems(None, &[], &["--sender=x"]);
    assert!(
        p[0].starts_with("--sender: SENDER is set but MESSAGE (--message) is missing"),
        "{p:?}"
    );
    let p = problems(
        None,
        &[("DEFAULT_COUNTRY", "XX"), ("LIMIT_EXPIRES", "0")],
        &[],
    );
    assert!(
        p[0].starts_with("DEFAULT_COUNTRY: expected an ISO 3166 alpha-2 country code, got \"XX\""),
        "{p:?}"
    );
    assert!(
        p[1].starts_with("LIMIT_EXPIRES: expected a number of seconds from 1 to"),
        "{p:?}"
    );
}

#[test]
fn the_legacy_handler_replaces_a_file_endpoint_at_its_path() {
    let toml = format!(
        "{BASE}[[endpoint]]\npath = \"/message/\"\nsender = \"File\"\nmessage = \"from file\"\n"
    );
    let out = ok(
        Some(&toml),
        &[("MESSAGE", "from env"), ("SENDER", "Env")],
        &[],
    );
    has(&out, &["endpoint /message/: message from \"Env\""]);
    assert!(!out.contains("\"File\""), "{out}");
}

#[test]
fn message_endpoints_need_credentials_unless_dry_run() {
    let env = [("MESSAGE", "hi"), ("SENDER", "x")];
    let p = problems(None, &env, &[]);
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(p[0].starts_with("nexmo.api_key: not set"));
    assert!(p[1].starts_with("nexmo.api_secret: not set"));
    ok(None, &[env[0], env[1], ("DEVELOPMENT_MODE", "1")], &[]);
}

#[test]
fn every_problem_of_a_file_is_reported_at_once_with_its_key_path() {
    let toml = r#"
[server]
listen = "nowhere"
lisen = 3
trusted_proxies = ["10.0.0.0/8", "banana"]
[nexmo]
dry_run = true
timeout = "soon"
[defaults]
default_country = "XX"
allowed_countries = ["DE", "YY"]
[validation]
budget = { max_parts = 1, window = "1d" }
[[endpoint]]
path = "relative"
sender = ""
message = "Hi {who}"
limits = [{ per = "moon", max = -1, window = "forever" }, { per = "ip", max = 2 }]
[endpoint.params]
receiver = ".*"
p = "("
"#;
    let p = problems(Some(toml), &[("NEXMO_PROXY_NEXMO__APIKEY", "x")], &[]);
    let keys: Vec<&str> = p.iter().map(|s| s.split(": ").next().unwrap()).collect();
    assert_eq!(
        keys,
        [
            "defaults.allowed_countries[1]",
            "defaults.default_country",
            "endpoint[0].limits[0].max",
            "endpoint[0].limits[0].per",
            "endpoint[0].limits[0].window",
            "endpoint[0].limits[1].window",
            "endpoint[0].message",
            "endpoint[0].params.p",
            "endpoint[0].params.receiver",
            "endpoint[0].path",
            "endpoint[0].sender",
            "nexmo.apikey",
            "nexmo.timeout",
            "server.lisen",
            "server.listen",
            "server.trusted_proxies[1]",
            "validation.budget",
        ],
        "{p:#?}"
    );
    let all = p.join("\n");
    for want in [
        "server.lisen: unknown field: found `lisen`, expected one of `listen`, `trusted_proxies`",
        "endpoint[0].limits[0].per: unknown variant `moon`, expected one of `ip`, `number`",
        "endpoint[0].limits[1].window: not set",
        "endpoint[0].params.p: invalid regex \"(\": unclosed group",
        "nexmo.apikey: unknown field: found `apikey`",
        "(from NEXMO_PROXY_NEXMO__APIKEY)",
        "validation.budget: [validation] does not take budget",
    ] {
        assert!(all.contains(want), "no {want:?} in:\n{all}");
    }
    assert!(!all.contains("``"), "nested backticks:\n{all}");
}

#[test]
fn a_missing_or_empty_file_is_an_error() {
    let p = problems(None, &[], &["--config", "/nonexistent/proxy.toml"]);
    assert!(
        p[0].starts_with("/nonexistent/proxy.toml: cannot read"),
        "{p:?}"
    );
    let p = problems(Some("   \n"), &[], &[]);
    assert!(p[0].starts_with("proxy.toml: the file is empty"), "{p:?}");
}

#[test]
fn secrets_never_appear_in_errors_or_summaries() {
    let (_, out, err) = check(
        Some("[nexmo]\napi_secret = 12345678\n[redis]\nurl = 87654321\n"),
        &[],
        &[],
    );
    assert!(!format!("{out}{err}").contains("12345678"), "{err}");
    assert!(!format!("{out}{err}").contains("87654321"), "{err}");
    // A secret given where a table belongs is not quoted either.
    let env = [("NEXMO_PROXY_REDIS", "redis://:hunter22@h")];
    let p = problems(None, &env, &[]);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].starts_with("redis: invalid type, expected"), "{p:?}");
    assert!(!p[0].contains("hunter22"), "{p:?}");
    let env = [
        ("NEXMO_API_SECRET", "topsecret1"),
        ("REDIS_PASSWORD", "redispw99"),
        ("NEXMO_API_KEY", "k"),
    ];
    let out = ok(None, &env, &[]);
    assert!(
        !out.contains("topsecret1") && !out.contains("redispw99"),
        "{out}"
    );
}

#[test]
fn durations_counts_and_words_are_typed_with_bounds() {
    let rule = |per: &str, max: &str, window: &str| {
        format!("[validation]\nlimits = [{{ per = {per}, max = {max}, window = {window} }}]\n")
    };
    for (window, shown) in [
        ("\"10s\"", "10s"),
        ("\"15m\"", "900s"),
        ("\"1h 30m\"", "5400s"),
        ("\"1.5h\"", "5400s"),
        ("\"1d\"", "86400s"),
        ("\"3600\"", "3600s"),
        ("3600", "3600s"),
        ("\"250ms\"", "250ms"),
        ("\"366d\"", "31622400s"),
    ] {
        let out = ok(Some(&rule("\"ip\"", "5", window)), &[], &[]);
        has(&out, &[&format!("limits 5 per ip per {shown}")]);
    }
    for (per, max, window, problem) in [
        (
            "\"ip\"",
            "5",
            "\"367d\"",
            "window: \"367d\" is longer than the maximum, 366 days",
        ),
        (
            "\"ip\"",
            "5",
            "\"18446744073709551615\"",
            "window: \"18446744073709551615\" is longer than the maximum",
        ),
        ("\"ip\"", "5", "0", "window: 0 is zero; it must be positive"),
        ("\"ip\"", "5", "-1", "window: -1 is negative"),
        (
            "\"ip\"",
            "5",
            "\"1 fortnight\"",
            "window: \"1 fortnight\" is not a duration such as",
        ),
        ("\"ip\"", "0", "\"1h\"", "max: 0 is not a positive count"),
        (
            "\"ip\"",
            "\"many\"",
            "\"1h\"",
            "max: invalid type: found string \"many\"",
        ),
        (
            "\"IP\"",
            "1",
            "\"1h\"",
            "per: unknown variant `IP`, expected one of `ip`",
        ),
    ] {
        let p = problems(Some(&rule(per, max, window)), &[], &[]);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with(&format!("validation.limits[0].{problem}")),
            "{p:?}"
        );
    }
    let p = problems(Some("[nexmo]\ntimeout = \"6m\"\n"), &[], &[]);
    assert_eq!(
        p,
        ["nexmo.timeout: \"6m\" is longer than the maximum, 5 minutes"]
    );
}

#[test]
fn country_budgets_in_defaults_go_with_each_endpoints_budget() {
    let endpoint = "[[endpoint]]\npath = \"/m/\"\nsender = \"A\"\nmessage = \"x\"\n";
    let defaults = "[nexmo]\ndry_run = true\n[defaults]\ncountry_budgets = { CH = 300 }\n";
    let toml = format!("{defaults}{endpoint}budget = {{ max_parts = 1000, window = \"1d\" }}\n");
    has(
        &ok(Some(&toml), &[], &[]),
        &["budget: 1000 parts per 86400s (CH 300)"],
    );
    // Without a budget, the caps have no window.
    let p = problems(Some(&format!("{defaults}{endpoint}")), &[], &[]);
    assert_eq!(
        p,
        ["endpoint[0].country_budgets: needs a budget = { max_parts, window } for its window"]
    );
}

#[test]
fn a_dropped_list_element_does_not_shift_the_keys_of_the_next() {
    let toml = "[defaults]\ntrusted_numbers = [+4917612345678, \"0176 1\"]\n";
    let p = problems(Some(toml), &[], &[]);
    let keys: Vec<&str> = p.iter().map(|s| s.split(": ").next().unwrap()).collect();
    assert_eq!(
        keys,
        ["defaults.trusted_numbers[0]", "defaults.trusted_numbers[1]"],
        "{p:?}"
    );
    assert!(p[1].contains("\"0176 1\" is not a valid number"), "{p:?}");
}

#[test]
fn environment_values_for_string_keys_stay_strings() {
    let env = [
        ("NEXMO_PROXY_NEXMO__LONG_VIRTUAL_NUMBER", "12015550123"),
        ("NEXMO_PROXY_NEXMO__API_KEY", "12345678"),
        ("NEXMO_PROXY_NEXMO__API_SECRET", "true"),
        ("NEXMO_PROXY_SERVER__WORKERS", "3"),
        ("NEXMO_PROXY_NEXMO__DRY_RUN", "true"),
        ("MESSAGE", "hi"),
        ("SENDER", "Acme"),
    ];
    has(
        &ok(None, &env, &[]),
        &[
            "api_key \"12345678\", api_secret ***",
            "dry_run true",
            "nexmo long virtual number (for +1): 12015550123",
        ],
    );
    // Typed keys still refuse what is not theirs.
    let p = problems(None, &[("NEXMO_PROXY_SERVER__WORKERS", "many")], &[]);
    assert!(p[0].starts_with("server.workers: invalid type"), "{p:?}");
}

#[test]
fn a_secret_on_a_line_the_parser_quotes_is_hidden() {
    for toml in [
        "[nexmo]\napi_secret = \"topsecret-1\n",
        "[limits]\nkey_secret = \"topsecret-2\" oops\n",
        "[redis]\nurl = \"redis://:topsecret-3@h/0\" x\n",
        "[nexmo]\napi_secret = [\"topsecret-4\"]\n",
        "[nexmo]\napi_secret = 12345678901\n",
        "nexmo = { api_key = \"k\", api_secret = \"topsecret-5 }\n",
    ] {
        let (ok, out, err) = check(Some(toml), &[], &[]);
        assert!(!ok, "{toml}");
        let all = format!("{out}{err}");
        assert!(
            !all.contains("topsecret") && !all.contains("12345678901"),
            "{all}"
        );
    }
}

/// `nexmo-proxy --print-config` in a fresh directory holding `toml`.
fn print_config(toml: &str, env: &[(&str, &str)], args: &[&str]) -> (bool, String, String) {
    run("--print-config", Some(toml), env, args)
}

#[test]
fn print_config_shows_every_value_and_where_the_others_came_from() {
    let toml = "[nexmo]\napi_key = \"k\"\napi_secret = \"topsecret-6\"\n\
                [[endpoint]]\npath = \"/a/\"\nsender = \"Acme\"\nmessage = \"hi\"\n";
    let env = [
        ("NEXMO_PROXY_NEXMO__TIMEOUT", "3s"),
        ("REDIS_PASSWORD", "topsecret-7"),
    ];
    let (ok, out, err) = print_config(toml, &env, &["--guess_country=false"]);
    assert!(ok, "{err}");
    has(
        &out,
        &[
            "timeout = \"3s\" # from NEXMO_PROXY_NEXMO__TIMEOUT",
            "api_secret = \"***\" # from proxy.toml",
            "url = \"redis://:***@localhost:6379/0\" # from REDIS_PASSWORD (old variable)",
            "guess_country = false # from --guess_country (old flag)",
            "max_body_bytes = 16384",
            "sender = \"Acme\" # from proxy.toml",
        ],
    );
    assert!(
        !out.contains("topsecret") && !err.contains("topsecret"),
        "{out}"
    );
    // What it prints is TOML, and a configuration.
    toml::from_str::<toml::Table>(&out).unwrap();

    let (ok, out, err) = print_config("[server]\nworkers = \"many\"\n", &[], &[]);
    assert!(!ok && out.is_empty(), "{out}");
    assert!(err.contains("server.workers: invalid type"), "{err}");
}

#[test]
fn a_shutdown_shorter_than_the_longest_send_is_warned_about() {
    let out = ok(Some(BASE), &[], &[]);
    assert!(!out.contains("shutdown_timeout"), "{out}");
    let short = BASE.replace("[server]\n", "[server]\nshutdown_timeout = \"5s\"\n");
    let out = ok(Some(&short), &[], &[]);
    has(
        &out,
        &["warning: server.shutdown_timeout (5s) is shorter than the longest send (25s: 2 x (nexmo.max_queue_wait + nexmo.timeout) + 1s)"],
    );
}

#[test]
fn a_printed_configuration_with_its_masks_is_refused() {
    let toml = "[nexmo]\napi_key = \"k\"\napi_secret = \"topsecret-8\"\n\
                [redis]\nurl = \"redis://:topsecret-9@127.0.0.1:6390/0\"\n\
                [[endpoint]]\npath = \"/a/\"\nsender = \"Acme\"\nmessage = \"hi\"\n";
    let (ok, printed, err) = print_config(toml, &[], &[]);
    assert!(ok, "{err}");
    let p = problems(Some(&printed), &[], &[]);
    let mask = "holds \"***\", the mask --print-config writes for a secret";
    for key in ["nexmo.api_secret", "redis.url"] {
        assert!(
            p.iter().any(|l| l.starts_with(key) && l.contains(mask)),
            "{key}: {p:?}"
        );
    }
}

#[test]
fn cors_origins_are_checked_and_any_origin_is_warned_about() {
    let any = BASE.replace("[defaults]\n", "[defaults]\ncors_origins = [\"*\"]\n");
    has(
        &ok(Some(&any), &[], &[]),
        &["warning: /validate_number/: cors_origins = [\"*\"] lets every web site call it"],
    );
    let bad = BASE.replace(
        "[defaults]\n",
        "[defaults]\ncors_origins = [\"https://a.example\", \"https://a.example/page\"]\nallowed_referers = [\"a.example\"]\n",
    );
    let p = problems(Some(&bad), &[], &[]);
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(
        p[0].starts_with("defaults.allowed_referers[0]: \"a.example\" is not an origin"),
        "{p:?}"
    );
    assert!(
        p[1].starts_with("defaults.cors_origins[1]: \"https://a.example/page\" is not an origin"),
        "{p:?}"
    );
}
