//! Values of `proxy.toml` that serde checks while reading: counts, windows
//! and timeouts with their bounds, address ranges, HTTP URLs, E.164
//! prefixes, and the closed sets of words (`per`, `scope`, `mode`,
//! `on_redis_error`). A bad value is reported with its key path by
//! `config::load`, in the words below.

use ipnet::IpNet;
use serde::de::{Deserializer, Error, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;
use std::net::IpAddr;
use std::num::NonZeroU64;
use std::time::Duration;

/// The longest limit or budget window.
pub(crate) const MAX_WINDOW: Duration = Duration::from_secs(366 * 86_400);
/// The longest timeout towards Nexmo or Redis.
pub(crate) const MAX_TIMEOUT: Duration = Duration::from_secs(300);

/// A count of at least 1 (`max`, `max_parts`, a country budget).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Count(pub(crate) NonZeroU64);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(d)?;
        u64::try_from(n)
            .ok()
            .and_then(NonZeroU64::new)
            .map(Count)
            .ok_or_else(|| {
                D::Error::custom(format!(
                    "{n} is not a positive count (to turn a limit off, remove it)"
                ))
            })
    }
}

impl Serialize for Count {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0.get())
    }
}

/// `"1h"`, `"30m"`, `"10s"`, `"500ms"`, `"1d"`, `"1h 30m"` (humantime), or
/// whole seconds as a number or a string of digits. Positive and at most `max`.
fn duration<'de, D: Deserializer<'de>>(
    d: D,
    max: Duration,
    max_text: &'static str,
) -> Result<Duration, D::Error> {
    struct V(Duration, &'static str);
    impl Visitor<'_> for V {
        type Value = Duration;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a duration such as \"10s\", \"15m\", \"1h\" or \"1d\"")
        }
        fn visit_i64<E: Error>(self, n: i64) -> Result<Duration, E> {
            let secs = u64::try_from(n).map_err(|_| E::custom(format!("{n} is negative")))?;
            self.bounded(&n.to_string(), Duration::from_secs(secs))
        }
        fn visit_u64<E: Error>(self, n: u64) -> Result<Duration, E> {
            self.bounded(&n.to_string(), Duration::from_secs(n))
        }
        fn visit_str<E: Error>(self, s: &str) -> Result<Duration, E> {
            let t = s.trim();
            let parsed = match t.parse::<u64>() {
                Ok(secs) => Ok(Duration::from_secs(secs)),
                Err(_) => humantime::parse_duration(t),
            };
            match parsed {
                Ok(d) => self.bounded(&format!("{s:?}"), d),
                Err(_) => Err(E::custom(format!(
                    "{s:?} is not a duration such as \"10s\", \"15m\", \"1h\" or \"1d\""
                ))),
            }
        }
    }
    impl V {
        fn bounded<E: Error>(&self, shown: &str, d: Duration) -> Result<Duration, E> {
            if d.is_zero() {
                Err(E::custom(format!("{shown} is zero; it must be positive")))
            } else if d > self.0 {
                Err(E::custom(format!(
                    "{shown} is longer than the maximum, {}",
                    self.1
                )))
            } else {
                Ok(d)
            }
        }
    }
    d.deserialize_any(V(max, max_text))
}

/// A limit or budget window: a duration of at most 366 days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window(pub(crate) Duration);

impl<'de> Deserialize<'de> for Window {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        duration(d, MAX_WINDOW, "366 days").map(Window)
    }
}

impl Serialize for Window {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        write_duration(&self.0, s)
    }
}

/// For `serialize_with`: a duration as it is written (`"1h 30m"`), which
/// reads back as the same duration.
pub(crate) fn write_duration<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&humantime::format_duration(*d).to_string())
}

/// For `serialize_with`: `admin_listen`, `""` for none.
pub(crate) fn write_optional_addr<S: Serializer>(
    a: &Option<std::net::SocketAddr>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(&a.map(|a| a.to_string()).unwrap_or_default())
}

/// What `--print-config` writes for a URL that may carry credentials: the
/// user name, password, every query value (a key alone too) and the
/// fragment as `***`; the URL as written when it has none of them, and
/// `***` whole when it does not parse.
pub(crate) fn masked_url(text: &str) -> String {
    let Ok(mut u) = url::Url::parse(text) else {
        return "***".into();
    };
    let secretive = !u.username().is_empty()
        || u.password().is_some()
        || u.query().is_some()
        || u.fragment().is_some();
    if !secretive {
        return text.into();
    }
    let keys: Vec<String> = u
        .query_pairs()
        .map(|(k, v)| match v.is_empty() {
            true => "***".into(),
            false => k.into_owned(),
        })
        .collect();
    if u.query().is_some() {
        u.query_pairs_mut()
            .clear()
            .extend_pairs(keys.iter().map(|k| (k, "***")));
    }
    let userinfo = (!u.username().is_empty() && u.set_username("***").is_err())
        || (u.password().is_some() && u.set_password(Some("***")).is_err());
    if u.fragment().is_some() {
        u.set_fragment(Some("***"));
    }
    match userinfo {
        true => "***".into(),
        false => u.to_string(),
    }
}

/// Whether `text` is (or holds) the `***` that `masked_url` writes: a
/// printed configuration read back must not run on masks.
pub(crate) fn holds_mask(text: &str) -> bool {
    const MASK: &str = "***";
    match url::Url::parse(text.trim()) {
        Ok(u) => {
            u.username() == MASK
                || u.password() == Some(MASK)
                || u.fragment() == Some(MASK)
                || u.query_pairs().any(|(k, v)| k == MASK || v == MASK)
        }
        Err(_) => text.trim() == MASK,
    }
}

/// For `serialize_with`: the Redis URL, credentials masked (the host and
/// database are what an operator checks).
pub(crate) fn write_redis_url<S: Serializer>(
    url: &crate::secret::Secret,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(&masked_url(url.expose()))
}

/// For `serialize_with`: Redis Cluster seeds, credentials masked.
pub(crate) fn write_redis_urls<S: Serializer>(
    urls: &[crate::secret::Secret],
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(urls.iter().map(|u| masked_url(u.expose())))
}

/// For `serialize_with`: `dlr_url`, credentials masked (a token in its
/// query proves a receipt came from our own URL).
pub(crate) fn write_dlr_url<S: Serializer>(url: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match url {
        Some(url) => s.serialize_some(&masked_url(url)),
        None => s.serialize_none(),
    }
}

/// For `deserialize_with`: a retention such as `receipt_ttl`, at most 366 days.
pub(crate) fn window<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    duration(d, MAX_WINDOW, "366 days")
}

/// For `deserialize_with`: an address to listen on, or `""` for none.
pub(crate) fn optional_addr<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<std::net::SocketAddr>, D::Error> {
    let s = String::deserialize(d)?;
    match s.trim() {
        "" => Ok(None),
        t => t.parse().map(Some).map_err(|_| {
            D::Error::custom(format!(
                "{s:?} is not an address such as \"127.0.0.1:9888\" (or \"\" for none)"
            ))
        }),
    }
}

/// For `deserialize_with`: a timeout of at most five minutes.
pub(crate) fn timeout<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    duration(d, MAX_TIMEOUT, "5 minutes")
}

/// Parses with `FromStr` and refuses with `what` ("\"x\" is not {what}").
fn from_str_as<'de, D, T>(
    d: D,
    what: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    let s = String::deserialize(d)?;
    parse(s.trim()).ok_or_else(|| D::Error::custom(format!("{s:?} is not {what}")))
}

/// An address or CIDR range (`trusted_proxies`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Net(pub(crate) IpNet);

impl Serialize for Net {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for Net {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_str_as(d, "an IP address or CIDR range", |s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .ok()
                .map(Net)
        })
    }
}

/// An `http://` or `https://` URL with a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpUrl(pub(crate) url::Url);

impl std::ops::Deref for HttpUrl {
    type Target = url::Url;
    fn deref(&self) -> &url::Url {
        &self.0
    }
}

/// Credentials in a URL (Nexmo takes `api_secret` in a query) are masked.
impl Serialize for HttpUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&masked_url(self.0.as_str()))
    }
}

impl<'de> Deserialize<'de> for HttpUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_str_as(d, "an http:// or https:// URL", |s| {
            url::Url::parse(s)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
                .map(HttpUrl)
        })
    }
}

/// A `+` and digits: the start of E.164 numbers (`denied_prefixes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct E164Prefix(pub(crate) String);

impl Serialize for E164Prefix {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for E164Prefix {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_str_as(d, "an E.164 prefix such as \"+4915\"", |s| {
            let digits = s.strip_prefix('+')?;
            (!digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()))
                .then(|| E164Prefix(s.to_string()))
        })
    }
}

/// `mode` of a rule, budget or destination policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Mode {
    #[default]
    Enforce,
    /// Log and count refusals, do not refuse.
    Shadow,
}

/// `scope` of a rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Scope {
    /// Counted per endpoint path.
    #[default]
    Endpoint,
    /// Counted across all endpoints.
    Global,
}

/// What a limit rule counts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Per {
    Ip,
    Number,
    Endpoint,
    /// The E.164 number without its last `digits` digits.
    Prefix,
    /// The destination country.
    Country,
    /// Distinct destination countries one IP may target.
    IpCountries,
}

impl Per {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Per::Ip => "ip",
            Per::Number => "number",
            Per::Endpoint => "endpoint",
            Per::Prefix => "prefix",
            Per::Country => "country",
            Per::IpCountries => "ip_countries",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{holds_mask, masked_url};

    #[test]
    fn credentials_in_urls_are_masked_and_the_masks_recognised() {
        for (url, shown) in [
            ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
            ("redis://:pw@h:6379/1", "redis://:***@h:6379/1"),
            ("redis://user:pw@h/0", "redis://***:***@h/0"),
            ("redis://pw@h/0", "redis://***@h/0"),
            (
                "unix:///run/redis.sock?db=0&pass=pw",
                "unix:///run/redis.sock?db=***&pass=***",
            ),
            (
                "https://p.example/r/?token=t1",
                "https://p.example/r/?token=***",
            ),
            ("https://p.example/r/?t1", "https://p.example/r/?***=***"),
            (
                "https://u:pw@p.example/r/#t1",
                "https://***:***@p.example/r/#***",
            ),
            (
                "https://REST.nexmo.com/sms/json",
                "https://REST.nexmo.com/sms/json",
            ),
            ("not a url pw", "***"),
        ] {
            assert_eq!(masked_url(url), shown, "{url}");
            assert!(holds_mask(&masked_url(url)) != (url == shown), "{url}");
        }
    }
}
