//! The old proxy's upper-case environment variables and flags, applied last
//! so they win over the file and over `NEXMO_PROXY_*`. A flag wins over its
//! variable. An empty variable counts as unset, as it did before; booleans
//! are parsed strictly (the old proxy took any non-empty string as true).

use super::cli::LegacyFlags;
use super::raw::{RawConfig, RawEndpoint, RawLimit, RawMessage, RawRedis};
use super::secret::Secret;
use super::Problem;
use std::collections::BTreeMap;

/// Reads one legacy option: the flag if given, else the variable if non-empty.
struct Lookup<'a> {
    env: &'a BTreeMap<String, String>,
    problems: &'a mut Vec<Problem>,
}

impl Lookup<'_> {
    fn get(&self, flag: &Option<String>, var: &str) -> Option<(String, String)> {
        if let Some(v) = flag {
            return Some((format!("--{}", var.to_ascii_lowercase()), v.clone()));
        }
        match self.env.get(var) {
            Some(v) if !v.trim().is_empty() => Some((var.to_string(), v.clone())),
            _ => None,
        }
    }

    fn string(&self, flag: &Option<String>, var: &str) -> Option<String> {
        self.get(flag, var).map(|(_, v)| v)
    }

    fn boolean(&mut self, flag: &Option<String>, var: &str) -> Option<bool> {
        let (key, v) = self.get(flag, var)?;
        match parse_bool(&v) {
            Some(b) => Some(b),
            None => {
                self.problems.push(Problem::new(
                    key,
                    format!("expected a boolean (1/0/true/false/yes/no), got {v:?}"),
                ));
                None
            }
        }
    }

    fn number<T: std::str::FromStr>(&mut self, flag: &Option<String>, var: &str) -> Option<T> {
        let (key, v) = self.get(flag, var)?;
        match v.trim().parse::<T>() {
            Ok(n) => Some(n),
            Err(_) => {
                self.problems.push(Problem::new(
                    key,
                    format!("expected a whole number, got {v:?}"),
                ));
                None
            }
        }
    }
}

pub fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Applies every legacy option present in `flags` or `env` to `raw`.
pub fn apply(
    raw: &mut RawConfig,
    flags: &LegacyFlags,
    env: &BTreeMap<String, String>,
    problems: &mut Vec<Problem>,
) {
    let mut l = Lookup { env, problems };

    let port: Option<u16> = l.number(&flags.port, "PORT");
    let local = l.boolean(&flags.localhostonly, "LOCALHOSTONLY");
    if port.is_some() || local.is_some() {
        let (host, old_port) = split_listen(&raw.server.listen);
        let host = match local {
            Some(true) => "127.0.0.1".to_string(),
            Some(false) => "0.0.0.0".to_string(),
            None => host,
        };
        let port = port.map(|p| p.to_string()).unwrap_or(old_port);
        raw.server.listen = format!("{host}:{port}");
    }

    if let Some(b) = l.boolean(&flags.guess_country, "GUESS_COUNTRY") {
        raw.defaults.guess_country = b;
    }
    if let Some(c) = l.string(&flags.default_country, "DEFAULT_COUNTRY") {
        raw.defaults.default_country = c.trim().to_string();
    }

    // LIMIT_AMOUNT / LIMIT_EXPIRES replace the per-IP rule of [defaults]
    // and [validation]; each endpoint still counts on its own key.
    let amount: Option<i64> = l.number(&flags.limit_amount, "LIMIT_AMOUNT");
    let expires: Option<u64> = l.number(&flags.limit_expires, "LIMIT_EXPIRES");
    if amount.is_some() || expires.is_some() {
        let amount = amount.unwrap_or(10);
        let window = format!("{}s", expires.unwrap_or(3600));
        let rules = if amount == 0 {
            Vec::new()
        } else {
            vec![RawLimit::per_ip(amount, &window)]
        };
        replace_ip_rule(&mut raw.defaults.limits, &rules);
        let validation = raw.validation.limits.get_or_insert_with(Vec::new);
        replace_ip_rule(validation, &rules);
    }

    if let Some(v) = l.string(&flags.nexmo_api_key, "NEXMO_API_KEY") {
        raw.nexmo.api_key = v;
    }
    if let Some(v) = l.string(&flags.nexmo_api_secret, "NEXMO_API_SECRET") {
        raw.nexmo.api_secret = Secret::new(v);
    }
    if let Some(v) = l.string(&flags.nexmo_dlr_url, "NEXMO_DLR_URL") {
        raw.nexmo.dlr_url = v;
    }
    if let Some(v) = l.string(
        &flags.nexmo_long_virtual_number,
        "NEXMO_LONG_VIRTUAL_NUMBER",
    ) {
        raw.nexmo.long_virtual_number = v;
    }
    let domain = l.string(&flags.nexmo_domain, "NEXMO_DOMAIN");
    let endpoint = l.string(&flags.nexmo_endpoint, "NEXMO_ENDPOINT");
    let ssl = l.boolean(&flags.nexmo_ssl, "NEXMO_SSL");
    if domain.is_some() || endpoint.is_some() || ssl.is_some() {
        let scheme = if ssl.unwrap_or(true) { "https" } else { "http" };
        let domain = domain.unwrap_or_else(|| "rest.nexmo.com".into());
        let endpoint = endpoint.unwrap_or_else(|| "sms/json".into());
        raw.nexmo.url = format!(
            "{scheme}://{}/{}",
            domain.trim().trim_end_matches('/'),
            endpoint.trim().trim_start_matches('/')
        );
    }
    if let Some(b) = l.boolean(&flags.development_mode, "DEVELOPMENT_MODE") {
        raw.nexmo.dry_run = b;
    }

    let host = l.string(&flags.redis_host, "REDIS_HOST");
    let rport: Option<u16> = l.number(&flags.redis_port, "REDIS_PORT");
    let password = l.string(&flags.redis_password, "REDIS_PASSWORD");
    let db: Option<u32> = l.number(&flags.redis_db, "REDIS_DB");
    if host.is_some() || rport.is_some() || password.is_some() || db.is_some() {
        let auth = password
            .map(|p| {
                format!(
                    ":{}@",
                    url::form_urlencoded::byte_serialize(p.as_bytes()).collect::<String>()
                )
            })
            .unwrap_or_default();
        let url = format!(
            "redis://{auth}{}:{}/{}",
            host.unwrap_or_else(|| "localhost".into()),
            rport.unwrap_or(6379),
            db.unwrap_or(0)
        );
        raw.redis.get_or_insert_with(RawRedis::default).url = Secret::new(url);
    }

    // The old "default message handler": MESSAGE and SENDER together define
    // one endpoint at REQUEST_PATH, on top of (and replacing at the same
    // path) those of the file.
    let message = l.get(&flags.message, "MESSAGE");
    let sender = l.get(&flags.sender, "SENDER");
    let path = l
        .string(&flags.request_path, "REQUEST_PATH")
        .unwrap_or_else(|| "/message/".into());
    match (message, sender) {
        (Some((_, message)), Some((_, sender))) => {
            raw.endpoint.retain(|e| e.path != path);
            raw.endpoint.push(RawEndpoint {
                path,
                sender,
                message: Some(RawMessage::Plain(message)),
                ..RawEndpoint::default()
            });
        }
        (Some((key, _)), None) => l.problems.push(Problem::new(
            key,
            "MESSAGE is set but SENDER (--sender) is missing: the default message handler needs both",
        )),
        (None, Some((key, _))) => l.problems.push(Problem::new(
            key,
            "SENDER is set but MESSAGE (--message) is missing: the default message handler needs both",
        )),
        (None, None) => {}
    }
}

fn replace_ip_rule(limits: &mut Vec<RawLimit>, with: &[RawLimit]) {
    limits.retain(|r| r.per != "ip");
    limits.extend(with.iter().cloned());
}

/// Splits `host:port`, keeping IPv6 brackets. Falls back to the defaults.
fn split_listen(listen: &str) -> (String, String) {
    match listen.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() => (h.to_string(), p.to_string()),
        _ => ("0.0.0.0".into(), "8888".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_are_strict() {
        for (input, want) in [
            ("1", Some(true)),
            ("true", Some(true)),
            ("YES", Some(true)),
            ("0", Some(false)),
            ("false", Some(false)),
            ("no", Some(false)),
            ("maybe", None),
            ("2", None),
        ] {
            assert_eq!(parse_bool(input), want, "{input}");
        }
    }

    #[test]
    fn listen_keeps_ipv6_brackets() {
        assert_eq!(split_listen("[::1]:80"), ("[::1]".into(), "80".into()));
        assert_eq!(
            split_listen("0.0.0.0:8888"),
            ("0.0.0.0".into(), "8888".into())
        );
    }
}
