//! The old proxy's upper-case environment variables and flags, applied last
//! so they win over the file and over `NEXMO_PROXY_*`. A flag wins over its
//! variable. An empty variable counts as unset, as it did before; booleans
//! are parsed strictly (the old proxy took any non-empty string as true).

use super::build::Problems;
use super::raw::{RawConfig, RawEndpoint, RawLimit, RawMessage};
use super::settings::RedisSettings;
use super::values::{Count, HttpUrl, Per, Window, MAX_WINDOW};
use crate::cli::LegacyFlags;
use crate::phone::Country;
use crate::secret::Secret;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// Which legacy options set which keys: (`key path`, `"PORT, --localhostonly"`),
/// for `--print-config`.
pub(super) type Origins = Vec<(String, String)>;

/// Reads one legacy option: the flag if given, else the variable if non-empty.
struct Lookup<'a> {
    env: &'a BTreeMap<String, String>,
    problems: &'a mut Problems,
    /// Every option found, in the order asked.
    found: Vec<String>,
    origins: Origins,
}

impl Lookup<'_> {
    fn get(&mut self, flag: &Option<String>, var: &str) -> Option<(String, String)> {
        let found = match (flag, self.env.get(var)) {
            (Some(v), _) => Some((format!("--{}", var.to_ascii_lowercase()), v.clone())),
            (None, Some(v)) if !v.trim().is_empty() => Some((var.to_string(), v.clone())),
            _ => None,
        };
        if let Some((key, _)) = &found {
            self.found.push(key.clone());
        }
        found
    }

    /// Where the options found since `mark` went.
    fn set(&mut self, key: &str, mark: usize) {
        let names = self.found.get(mark..).unwrap_or_default().join(", ");
        self.origins.push((key.to_string(), names));
    }

    fn mark(&self) -> usize {
        self.found.len()
    }

    fn string(&mut self, flag: &Option<String>, var: &str) -> Option<String> {
        self.get(flag, var).map(|(_, v)| v)
    }

    /// The option parsed by `parse`, or a problem naming it and `what`.
    fn parsed<T>(
        &mut self,
        flag: &Option<String>,
        var: &str,
        what: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Option<T> {
        let (key, v) = self.get(flag, var)?;
        let parsed = parse(v.trim());
        if parsed.is_none() {
            self.problems
                .push(key, format!("expected {what}, got {v:?}"));
        }
        parsed
    }

    fn boolean(&mut self, flag: &Option<String>, var: &str) -> Option<bool> {
        let what = "a boolean (1/0/true/false/yes/no)";
        self.parsed(flag, var, what, |v| match v.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Some(true),
            "0" | "false" | "no" | "off" => Some(false),
            _ => None,
        })
    }

    fn number<T: std::str::FromStr>(&mut self, flag: &Option<String>, var: &str) -> Option<T> {
        self.parsed(flag, var, "a whole number", |v| v.parse().ok())
    }
}

/// Applies every legacy option present in `flags` or `env` to `raw`, and
/// says which keys each one set.
pub(super) fn apply(
    raw: &mut RawConfig,
    flags: &LegacyFlags,
    env: &BTreeMap<String, String>,
    problems: &mut Problems,
) -> Origins {
    let mut l = Lookup {
        env,
        problems,
        found: Vec::new(),
        origins: Vec::new(),
    };
    listen(raw, flags, &mut l);
    let mark = l.mark();
    if let Some(b) = l.boolean(&flags.guess_country, "GUESS_COUNTRY") {
        raw.defaults.guess_country = Some(b);
        l.set("defaults.guess_country", mark);
    }
    let what = "an ISO 3166 alpha-2 country code";
    let mark = l.mark();
    if let Some(c) = l.parsed(
        &flags.default_country,
        "DEFAULT_COUNTRY",
        what,
        Country::known,
    ) {
        raw.defaults.default_country = Some(c);
        l.set("defaults.default_country", mark);
    }
    limit(raw, flags, &mut l);
    nexmo(raw, flags, &mut l);
    redis(raw, flags, &mut l);
    message_handler(raw, flags, &mut l);
    l.origins
}

fn listen(raw: &mut RawConfig, flags: &LegacyFlags, l: &mut Lookup) {
    let mark = l.mark();
    if let Some(port) = l.number::<u16>(&flags.port, "PORT") {
        raw.server.listen.set_port(port);
    }
    if let Some(local) = l.boolean(&flags.localhostonly, "LOCALHOSTONLY") {
        let ip = if local {
            Ipv4Addr::LOCALHOST
        } else {
            Ipv4Addr::UNSPECIFIED
        };
        raw.server.listen.set_ip(IpAddr::V4(ip));
    }
    if l.mark() > mark {
        l.set("server.listen", mark);
    }
}

/// LIMIT_AMOUNT / LIMIT_EXPIRES replace the per-IP rule of [defaults]
/// and [validation]; each endpoint still counts on its own key.
fn limit(raw: &mut RawConfig, flags: &LegacyFlags, l: &mut Lookup) {
    let mark = l.mark();
    let amount: Option<u64> = l.number(&flags.limit_amount, "LIMIT_AMOUNT");
    let what = "a number of seconds from 1 to 31622400 (366 days)";
    let expires = l.parsed(&flags.limit_expires, "LIMIT_EXPIRES", what, |v| {
        let window = Duration::from_secs(v.parse().ok()?);
        (!window.is_zero() && window <= MAX_WINDOW).then_some(window)
    });
    if amount.is_none() && expires.is_none() {
        return;
    }
    let window = expires.unwrap_or(Duration::from_secs(3600));
    // 0 turns limiting off, as it did.
    let rule = std::num::NonZeroU64::new(amount.unwrap_or(10)).map(|max| RawLimit {
        per: Some(Per::Ip),
        max: Some(Count(max)),
        window: Some(Window(window)),
        ..RawLimit::default()
    });
    for limits in [&mut raw.defaults.limits, &mut raw.validation.limits] {
        let limits = limits.get_or_insert_with(Vec::new);
        limits.retain(|r| r.per != Some(Per::Ip));
        limits.extend(rule.clone());
    }
    // The rule added, or (LIMIT_AMOUNT=0) the lists it was taken from.
    let tables = [
        ("defaults", &raw.defaults.limits),
        ("validation", &raw.validation.limits),
    ];
    for (table, limits) in tables {
        let key = match (&rule, limits) {
            (Some(_), Some(list)) => format!("{table}.limits[{}]", list.len().saturating_sub(1)),
            _ => format!("{table}.limits"),
        };
        l.set(&key, mark);
    }
}

fn nexmo(raw: &mut RawConfig, flags: &LegacyFlags, l: &mut Lookup) {
    let n = &mut raw.nexmo;
    let mark = l.mark();
    if let Some(v) = l.string(&flags.nexmo_api_key, "NEXMO_API_KEY") {
        n.api_key = v;
        l.set("nexmo.api_key", mark);
    }
    let mark = l.mark();
    if let Some(v) = l.string(&flags.nexmo_api_secret, "NEXMO_API_SECRET") {
        n.api_secret = Secret::new(v);
        l.set("nexmo.api_secret", mark);
    }
    let mark = l.mark();
    if let Some(v) = l.string(&flags.nexmo_dlr_url, "NEXMO_DLR_URL") {
        n.dlr_url = Some(v);
        l.set("nexmo.dlr_url", mark);
    }
    let mark = l.mark();
    if let Some(v) = l.string(
        &flags.nexmo_long_virtual_number,
        "NEXMO_LONG_VIRTUAL_NUMBER",
    ) {
        n.long_virtual_number = Some(v);
        l.set("nexmo.long_virtual_number", mark);
    }
    let mark = l.mark();
    let domain = l.get(&flags.nexmo_domain, "NEXMO_DOMAIN");
    let endpoint = l.string(&flags.nexmo_endpoint, "NEXMO_ENDPOINT");
    let ssl = l.boolean(&flags.nexmo_ssl, "NEXMO_SSL");
    if domain.is_some() || endpoint.is_some() || ssl.is_some() {
        let scheme = if ssl.unwrap_or(true) { "https" } else { "http" };
        let (key, domain) = domain.unwrap_or(("NEXMO_DOMAIN".into(), "rest.nexmo.com".into()));
        let endpoint = endpoint.unwrap_or_else(|| "sms/json".into());
        let url = format!(
            "{scheme}://{}/{}",
            domain.trim().trim_end_matches('/'),
            endpoint.trim().trim_start_matches('/')
        );
        match url::Url::parse(&url) {
            Ok(u) => {
                n.url = HttpUrl(u);
                l.set("nexmo.url", mark);
            }
            Err(e) => l.problems.push(key, format!("{url:?} is not a URL: {e}")),
        }
    }
    let mark = l.mark();
    if let Some(b) = l.boolean(&flags.development_mode, "DEVELOPMENT_MODE") {
        n.dry_run = b;
        l.set("nexmo.dry_run", mark);
    }
}

fn redis(raw: &mut RawConfig, flags: &LegacyFlags, l: &mut Lookup) {
    let mark = l.mark();
    let host = l.string(&flags.redis_host, "REDIS_HOST");
    let port: Option<u16> = l.number(&flags.redis_port, "REDIS_PORT");
    let password = l.string(&flags.redis_password, "REDIS_PASSWORD");
    let db: Option<u32> = l.number(&flags.redis_db, "REDIS_DB");
    if host.is_none() && port.is_none() && password.is_none() && db.is_none() {
        return;
    }
    let auth = password
        .map(|p| {
            let encoded: String = url::form_urlencoded::byte_serialize(p.as_bytes()).collect();
            format!(":{encoded}@")
        })
        .unwrap_or_default();
    let url = format!(
        "redis://{auth}{}:{}/{}",
        host.unwrap_or_else(|| "localhost".into()),
        port.unwrap_or(6379),
        db.unwrap_or(0)
    );
    raw.redis.get_or_insert_with(RedisSettings::default).url = Secret::new(url);
    l.set("redis.url", mark);
}

/// The old "default message handler": MESSAGE and SENDER together define
/// one endpoint at REQUEST_PATH, on top of (and replacing at the same
/// path) those of the file.
fn message_handler(raw: &mut RawConfig, flags: &LegacyFlags, l: &mut Lookup) {
    let mark = l.mark();
    let message = l.get(&flags.message, "MESSAGE");
    let sender = l.get(&flags.sender, "SENDER");
    let path = l
        .string(&flags.request_path, "REQUEST_PATH")
        .unwrap_or_else(|| "/message/".into());
    match (message, sender) {
        (Some((_, message)), Some((_, sender))) => {
            raw.endpoint.retain(|e| e.path.as_deref() != Some(path.as_str()));
            raw.endpoint.push(RawEndpoint {
                path: Some(path),
                sender: Some(sender),
                // The old proxy sent MESSAGE as it was: braces are text.
                message: Some(RawMessage::Plain(
                    message.replace('{', "{{").replace('}', "}}"),
                )),
                ..RawEndpoint::default()
            });
            l.set(&format!("endpoint[{}]", raw.endpoint.len() - 1), mark);
        }
        (Some((key, _)), None) => l.problems.push(
            key,
            "MESSAGE is set but SENDER (--sender) is missing: the default message handler needs both",
        ),
        (None, Some((key, _))) => l.problems.push(
            key,
            "SENDER is set but MESSAGE (--message) is missing: the default message handler needs both",
        ),
        (None, None) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `--check` cannot show: the secrets themselves.
    #[test]
    fn secrets_from_legacy_options_reach_the_settings() {
        let env: BTreeMap<String, String> = [("NEXMO_API_SECRET", "s1"), ("REDIS_PASSWORD", "p w")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into();
        let mut raw = RawConfig::default();
        let mut problems = Problems::default();
        apply(&mut raw, &LegacyFlags::default(), &env, &mut problems);
        assert!(problems.0.is_empty());
        assert_eq!(raw.nexmo.api_secret.expose(), "s1");
        let url = raw.redis.map(|r| r.url.expose().to_string());
        assert_eq!(url.as_deref(), Some("redis://:p+w@localhost:6379/0"));
    }

    #[test]
    fn the_old_message_is_literal_text() {
        let env: BTreeMap<String, String> = [("MESSAGE", "Get {it} now }{"), ("SENDER", "Acme")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into();
        let mut raw = RawConfig::default();
        let mut problems = Problems::default();
        apply(&mut raw, &LegacyFlags::default(), &env, &mut problems);
        assert!(problems.0.is_empty());
        let Some(RawMessage::Plain(m)) = &raw.endpoint[0].message else {
            panic!("one plain message")
        };
        let known = std::collections::BTreeSet::new();
        let (t, _) = crate::template::Template::checked(m, &known, |_| None).unwrap();
        assert_eq!(t.render(|_| None), "Get {it} now }{");
    }
}
