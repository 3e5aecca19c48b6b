//! Which web pages may call an endpoint: `cors_origins`, `jsonp` and
//! `allowed_referers`, inherited from `[defaults]` like the protection
//! keys. Origins are kept in the form browsers send (`https://a.example`,
//! `http://a.example:8080`), so a request's `Origin` is compared exactly.

use super::Problems;
use crate::config::raw::RawEndpoint;
use crate::config::settings::WebAccess;

/// The keys `raw` sets over `base`.
pub(super) fn over(key: &str, raw: &RawEndpoint, base: &WebAccess, p: &mut Problems) -> WebAccess {
    let mut web = base.clone();
    if let Some(list) = &raw.cors_origins {
        web.any_origin = list.iter().any(|o| o.trim() == "*");
        let exact = list.iter().enumerate().filter(|(_, o)| o.trim() != "*");
        web.cors_origins = exact
            .filter_map(|(i, o)| origin(&format!("{key}.cors_origins[{i}]"), o, p))
            .collect();
    }
    if let Some(jsonp) = raw.jsonp {
        web.jsonp = jsonp;
    }
    if let Some(list) = &raw.allowed_referers {
        web.referers = list
            .iter()
            .enumerate()
            .filter_map(|(i, o)| origin(&format!("{key}.allowed_referers[{i}]"), o, p))
            .collect();
    }
    web
}

/// What `[defaults]` says when the file says nothing.
pub(super) fn builtin() -> WebAccess {
    WebAccess {
        jsonp: true,
        ..WebAccess::default()
    }
}

/// `text` as a browser's `Origin` header would carry it, or a problem.
fn origin(key: &str, text: &str, p: &mut Problems) -> Option<String> {
    let why = "is not an origin such as \"https://www.example.com\" (scheme, host and port only; \"*\" for any)";
    let parsed = url::Url::parse(text.trim()).ok().filter(|u| {
        matches!(u.scheme(), "http" | "https")
            && u.host().is_some()
            && u.username().is_empty()
            && u.password().is_none()
            && u.path() == "/"
            && u.query().is_none()
            && u.fragment().is_none()
    });
    match parsed {
        Some(u) => Some(u.origin().ascii_serialization()),
        None => {
            p.push(key, format!("{text:?} {why}"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_kept_as_browsers_send_them() {
        let mut p = Problems::default();
        for (written, kept) in [
            ("https://Example.COM", "https://example.com"),
            ("https://example.com/", "https://example.com"),
            ("http://example.com:80", "http://example.com"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("https://bücher.example", "https://xn--bcher-kva.example"),
        ] {
            assert_eq!(origin("k", written, &mut p).as_deref(), Some(kept));
        }
        assert!(p.0.is_empty());
        for bad in [
            "example.com",
            "https://example.com/page",
            "ftp://x.example",
            "https://x.example/?a",
            "null",
        ] {
            assert_eq!(origin("k", bad, &mut p), None, "{bad}");
        }
        assert_eq!(p.0.len(), 5);
    }
}
