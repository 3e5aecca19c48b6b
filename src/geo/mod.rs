//! Where a client probably is: the geo-IP country of its address, the
//! region of its browser language, and the order in which the two (and the
//! `country` parameter and the configured default) are asked when a number
//! is national.

mod accept_language;

pub(crate) use accept_language::preferred_languages;
use accept_language::regions_from_accept_language;

use crate::config::{CountryPolicy, GeoipSource};
use crate::phone::Country;
use maxminddb::Reader;
use serde::Deserialize;
use std::borrow::Cow;
use std::net::IpAddr;

/// The DB-IP Lite country database (CC BY 4.0, <https://db-ip.com>),
/// compiled in so the proxy finds it wherever it is installed.
pub(crate) static BUNDLED_DB: &[u8] = include_bytes!("../../data/dbip-country.mmdb");

#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    #[error("cannot read geo-IP database {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("geo-IP database {path} is not a MaxMind DB file: {source}")]
    Format {
        path: String,
        source: maxminddb::MaxMindDbError,
    },
}

/// Reads both schemas: DB-IP's flat `country_code` and MaxMind
/// GeoLite2/GeoIP2-Country's `country.iso_code`.
#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow)]
    country_code: Option<&'a str>,
    #[serde(borrow)]
    country: Option<IsoCode<'a>>,
}

#[derive(Deserialize)]
struct IsoCode<'a> {
    #[serde(borrow)]
    iso_code: Option<&'a str>,
}

/// A loaded geo-IP database, or none. Read into memory rather than mapped:
/// a file replaced in place under a map is undefined behaviour.
pub(crate) struct GeoIp {
    reader: Option<Reader<Cow<'static, [u8]>>>,
    source: GeoipSource,
    /// SHA-256 of a file's bytes, to tell a replaced file from the same one.
    digest: Option<[u8; 32]>,
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

impl GeoIp {
    pub(crate) fn open(source: &GeoipSource) -> Result<GeoIp, GeoError> {
        let mut file_digest = None;
        let reader = match source {
            GeoipSource::Disabled => None,
            GeoipSource::Bundled => Some(Reader::from_source(Cow::Borrowed(BUNDLED_DB)).map_err(
                |source| GeoError::Format {
                    path: "(bundled)".into(),
                    source,
                },
            )?),
            GeoipSource::File(path) => {
                let p = path.display().to_string();
                let bytes = std::fs::read(path).map_err(|source| GeoError::Read {
                    path: p.clone(),
                    source,
                })?;
                file_digest = Some(digest(&bytes));
                Some(
                    Reader::from_source(Cow::Owned(bytes))
                        .map_err(|source| GeoError::Format { path: p, source })?,
                )
            }
        };
        Ok(GeoIp {
            reader,
            source: source.clone(),
            digest: file_digest,
        })
    }

    /// Whether the configured file now holds other bytes than were loaded
    /// (or cannot be read): a monthly update replaced at the same path.
    pub(crate) fn file_changed(&self) -> bool {
        match &self.source {
            GeoipSource::File(path) => std::fs::read(path).map(|b| digest(&b)).ok() != self.digest,
            _ => false,
        }
    }

    pub(crate) fn source(&self) -> &GeoipSource {
        &self.source
    }

    /// The country of a public address; `None` for private, loopback and
    /// other special-purpose addresses, unknown ones, and when disabled.
    pub(crate) fn country(&self, ip: IpAddr) -> Option<Country> {
        let reader = self.reader.as_ref()?;
        let ip = ip.to_canonical();
        if !is_global(ip) {
            return None;
        }
        let found = reader.lookup(ip).ok()?;
        let rec: Record = found.decode().ok()??;
        let code = rec.country_code.or(rec.country.and_then(|c| c.iso_code))?;
        Country::known(code)
    }
}

/// Special-purpose ranges carry no location (std's `is_global` is unstable).
fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            !(a.is_private()
                || a.is_loopback()
                || a.is_link_local()
                || a.is_broadcast()
                || a.is_documentation()
                || a.is_unspecified()
                || a.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
                || o[0] >= 240)
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            !(a.is_loopback()
                || a.is_unspecified()
                || a.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0xdb8))
        }
    }
}

/// What a request tells about where its client is.
pub(crate) struct Hints<'a> {
    /// The `country` request parameter.
    pub(crate) param: Option<&'a str>,
    pub(crate) client_ip: IpAddr,
    pub(crate) accept_language: Option<&'a str>,
}

/// Most regions a national number is tried in: each reading costs a
/// libphonenumber parse, and the client chooses its `Accept-Language`.
pub(crate) const MAX_CANDIDATES: usize = 4;

/// The regions to read a national number in, in order, the first valid
/// reading winning: only the `country` parameter when it names a region;
/// else geo-IP, each `Accept-Language` region by rank, then the default
/// (at most `MAX_CANDIDATES`, without repeats); only the default when
/// guessing is off.
pub(crate) fn candidate_regions(
    policy: &CountryPolicy,
    hints: &Hints,
    geo: &GeoIp,
) -> Vec<Country> {
    if !policy.guess {
        return vec![policy.default];
    }
    if let Some(c) = hints.param.and_then(Country::known) {
        return vec![c];
    }
    let languages = hints
        .accept_language
        .into_iter()
        .flat_map(regions_from_accept_language);
    let all = geo.country(hints.client_ip).into_iter().chain(languages);
    let mut out: Vec<Country> = Vec::with_capacity(MAX_CANDIDATES);
    for c in all {
        if out.len() + 1 >= MAX_CANDIDATES {
            break;
        }
        if !out.contains(&c) {
            out.push(c);
        }
    }
    if !out.contains(&policy.default) {
        out.push(policy.default);
    }
    out
}

#[cfg(test)]
mod tests;
