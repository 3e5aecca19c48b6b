//! Nexmo's request signatures (`sig`), both ways: the proxy signs what it
//! sends instead of sending its API secret, and checks the signature of a
//! delivery receipt before believing it. The algorithm is Nexmo's: every
//! parameter but `sig`, sorted by key, values with `&` and `=` made `_`,
//! joined as `&k=v...`, then hashed with the signature secret (appended for
//! `md5hash`, as the HMAC key otherwise). The fake Nexmo uses the same code,
//! so both ends agree on what a signature covers.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

/// How far a signed request's `timestamp` may be from our clock.
pub(crate) const MAX_SKEW_SECS: u64 = 5 * 60;

/// The dashboard's names; `md5hash` is its default and plain MD5 of the
/// text and secret, the others are HMACs keyed with the secret.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Method {
    #[default]
    Md5hash,
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl Method {
    pub(crate) fn parse(name: &str) -> Option<Method> {
        Some(match name.to_ascii_lowercase().as_str() {
            "md5hash" => Method::Md5hash,
            "md5" => Method::Md5,
            "sha1" => Method::Sha1,
            "sha256" => Method::Sha256,
            "sha512" => Method::Sha512,
            _ => return None,
        })
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Method::Md5hash => "md5hash",
            Method::Md5 => "md5",
            Method::Sha1 => "sha1",
            Method::Sha256 => "sha256",
            Method::Sha512 => "sha512",
        }
    }
}

/// The text a signature covers: every parameter but `sig`, sorted by key
/// (byte order), each value's `&` and `=` replaced by `_`.
fn signed_text<'a>(params: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut sorted: Vec<(&str, &str)> = params.into_iter().filter(|(k, _)| *k != "sig").collect();
    sorted.sort_unstable();
    let mut text = String::new();
    for (k, v) in sorted {
        text.push('&');
        text.push_str(k);
        text.push('=');
        text.extend(
            v.chars()
                .map(|c| if c == '&' || c == '=' { '_' } else { c }),
        );
    }
    text
}

fn hmac<M: Mac + hmac::digest::KeyInit>(secret: &[u8], text: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length, so this cannot fail.
    match <M as hmac::digest::KeyInit>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(text);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

fn digest(method: Method, secret: &str, text: &str) -> Vec<u8> {
    use md5::Digest;
    match method {
        Method::Md5hash => {
            let mut h = md5::Md5::new();
            h.update(text.as_bytes());
            h.update(secret.as_bytes());
            h.finalize().to_vec()
        }
        Method::Md5 => hmac::<Hmac<md5::Md5>>(secret.as_bytes(), text.as_bytes()),
        Method::Sha1 => hmac::<Hmac<sha1::Sha1>>(secret.as_bytes(), text.as_bytes()),
        Method::Sha256 => hmac::<Hmac<sha2::Sha256>>(secret.as_bytes(), text.as_bytes()),
        Method::Sha512 => hmac::<Hmac<sha2::Sha512>>(secret.as_bytes(), text.as_bytes()),
    }
}

/// The `sig` of `params` (lower-case hex). `params` must already hold the
/// `timestamp` it is signed with.
pub(crate) fn sign<'a>(
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
    secret: &str,
    method: Method,
) -> String {
    hex::encode(digest(method, secret, &signed_text(params)))
}

/// Why a signed request is not believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    #[error("no sig")]
    Missing,
    #[error("no timestamp, or one more than 5 minutes from now")]
    Stale,
    #[error("the signature does not match")]
    Mismatch,
}

/// Checks `params` (with their `sig` and `timestamp`) against `secret`, in
/// constant time; `now` is Unix seconds. Hex case does not matter (SDKs
/// send HMACs upper-case and `md5hash` lower-case).
pub(crate) fn verify<'a>(
    params: impl IntoIterator<Item = (&'a str, &'a str)> + Clone,
    secret: &str,
    method: Method,
    now: u64,
) -> Result<(), Refusal> {
    let find = |name: &str| {
        params
            .clone()
            .into_iter()
            .find_map(|(k, v)| (k == name).then_some(v))
    };
    let sig = find("sig").ok_or(Refusal::Missing)?;
    let stamp: u64 = find("timestamp")
        .and_then(|t| t.trim().parse().ok())
        .ok_or(Refusal::Stale)?;
    if stamp.abs_diff(now) > MAX_SKEW_SECS {
        return Err(Refusal::Stale);
    }
    let given = hex::decode(sig.trim()).map_err(|_| Refusal::Mismatch)?;
    let wanted = digest(method, secret, &signed_text(params));
    if bool::from(given.ct_eq(&wanted)) {
        Ok(())
    } else {
        Err(Refusal::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectors the official SDKs test with (Python, PHP, Node).
    const AB: &[(&str, &str)] = &[("a", "1"), ("b", "2"), ("timestamp", "1461605396")];
    const INBOUND: &[(&str, &str)] = &[
        ("message-timestamp", "2013-11-21 15:27:30"),
        ("messageId", "020000001B0FE827"),
        ("msisdn", "14843472194"),
        ("text", "Test again"),
        ("timestamp", "1385047698"),
        ("to", "13239877404"),
        ("type", "text"),
    ];
    const OUTBOUND: &[(&str, &str)] = &[
        ("api_key", "fake_api_key"),
        ("to", "14155550100"),
        ("from", "AcmeInc"),
        ("text", "Test From Nexmo"),
        ("type", "text"),
        ("timestamp", "1540924779"),
    ];

    /// Parameters, secret, method, the SDKs' expected `sig`.
    type Vector = (
        &'static [(&'static str, &'static str)],
        &'static str,
        Method,
        &'static str,
    );

    fn vectors() -> Vec<Vector> {
        vec![
            (
                AB,
                "secret",
                Method::Md5hash,
                "6af838ef94998832dbfc29020b564830",
            ),
            (
                AB,
                "secret",
                Method::Md5,
                "c15c21ced558c93a226c305f58f902f2",
            ),
            (
                AB,
                "secret",
                Method::Sha1,
                "3e19a4e6880fdc2c1426bfd0587c98b9532f0210",
            ),
            (
                AB,
                "secret",
                Method::Sha256,
                "a321e824b9b816be7c3f28859a31749a098713d39f613c80d455bbaffae1cd24",
            ),
            (
                INBOUND,
                "my_secret_key_for_testing",
                Method::Md5hash,
                "d2e7b1dc968737c5998ad624e02f90b7",
            ),
            (
                INBOUND,
                "my_secret_key_for_testing",
                Method::Sha256,
                "DDB8397C2B90AAC7F3882D306475C9A5058C92322EEF43C92B298B6E0FC0D330",
            ),
            (
                OUTBOUND,
                "71efab63122f1d179f51c46bac838fb5",
                Method::Sha256,
                "9FEC5EF6D0F2B3D2BB7558B6E4042569823CAB9EA0DD30503472B7B304601975",
            ),
        ]
    }

    fn stamp_of(params: &[(&str, &str)]) -> u64 {
        params
            .iter()
            .find(|(k, _)| *k == "timestamp")
            .unwrap()
            .1
            .parse()
            .unwrap()
    }

    #[test]
    fn the_sdk_vectors_sign_and_verify() {
        for (params, secret, method, sig) in vectors() {
            let ours = sign(params.iter().copied(), secret, method);
            assert_eq!(ours, sig.to_ascii_lowercase(), "{method:?} {params:?}");
            let mut signed = params.to_vec();
            signed.push(("sig", sig));
            let now = stamp_of(params);
            assert_eq!(verify(signed.iter().copied(), secret, method, now), Ok(()));
        }
    }

    #[test]
    fn sha512_is_an_hmac_of_the_same_text() {
        // No SDK publishes a SHA-512 vector; this is HMAC-SHA512 of
        // "&a=1&b=2&timestamp=1461605396" keyed "secret", computed apart.
        let text = signed_text(AB.iter().copied());
        assert_eq!(text, "&a=1&b=2&timestamp=1461605396");
        let ours = sign(AB.iter().copied(), "secret", Method::Sha512);
        assert_eq!(ours.len(), 128);
        assert_eq!(
            ours,
            hex::encode(hmac::<Hmac<sha2::Sha512>>(b"secret", text.as_bytes()))
        );
    }

    #[test]
    fn tampering_a_wrong_secret_a_stale_or_missing_stamp_and_no_sig_are_refused() {
        let secret = "my_secret_key_for_testing";
        let sig = sign(INBOUND.iter().copied(), secret, Method::Sha256);
        let now = stamp_of(INBOUND);
        let with = |params: &[(&'static str, &'static str)], sig: &'static str| {
            let mut v = params.to_vec();
            v.push(("sig", sig));
            v
        };
        let sig: &'static str = Box::leak(sig.into_boxed_str());
        let good = with(INBOUND, sig);
        assert_eq!(
            verify(good.iter().copied(), secret, Method::Sha256, now + 299),
            Ok(())
        );
        let mut tampered = good.clone();
        tampered[3] = ("text", "Test again!");
        assert_eq!(
            verify(tampered.iter().copied(), secret, Method::Sha256, now),
            Err(Refusal::Mismatch)
        );
        assert_eq!(
            verify(good.iter().copied(), "other", Method::Sha256, now),
            Err(Refusal::Mismatch)
        );
        assert_eq!(
            verify(good.iter().copied(), secret, Method::Sha1, now),
            Err(Refusal::Mismatch)
        );
        assert_eq!(
            verify(good.iter().copied(), secret, Method::Sha256, now + 301),
            Err(Refusal::Stale)
        );
        assert_eq!(
            verify(good.iter().copied(), secret, Method::Sha256, now - 301),
            Err(Refusal::Stale),
            "from the future"
        );
        let unstamped: Vec<_> = good
            .iter()
            .copied()
            .filter(|(k, _)| *k != "timestamp")
            .collect();
        assert_eq!(
            verify(unstamped.iter().copied(), secret, Method::Sha256, now),
            Err(Refusal::Stale)
        );
        assert_eq!(
            verify(INBOUND.iter().copied(), secret, Method::Sha256, now),
            Err(Refusal::Missing)
        );
        let garbage = with(INBOUND, "not hex");
        assert_eq!(
            verify(garbage.iter().copied(), secret, Method::Sha256, now),
            Err(Refusal::Mismatch)
        );
    }

    #[test]
    fn values_cannot_forge_another_parameter() {
        // `&` and `=` in a value become `_`, so "a=1&b=2" as one value does
        // not sign like two parameters.
        let one = sign([("a", "1&b=2"), ("timestamp", "1")], "s", Method::Sha256);
        let two = sign(
            [("a", "1"), ("b", "2"), ("timestamp", "1")],
            "s",
            Method::Sha256,
        );
        assert_ne!(one, two);
    }
}
