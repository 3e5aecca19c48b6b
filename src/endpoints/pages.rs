//! Which pages may call an endpoint (`cors_origins`, `allowed_referers`,
//! `jsonp`), decided before anything of the request is read or counted,
//! and the CORS headers of its answer.

use crate::config::WebAccess;
use crate::response::{Cors, ErrorCode};
use actix_web::http::{header, Method};
use actix_web::HttpRequest;

/// The CORS side of the answer, or the refusal (with its CORS side).
pub(super) fn admit(
    web: &WebAccess,
    req: &HttpRequest,
    jsonp: bool,
) -> Result<Cors, (ErrorCode, Cors)> {
    let text = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    let host = text(header::HOST);
    let origin = text(header::ORIGIN);
    let allowed = |o: &str, listed: &[String]| {
        web.any_origin || listed.iter().any(|l| l == o) || same_origin(o, host)
    };
    let cors = match (web.cors(), origin) {
        (false, _) => Cors::Off,
        (true, None) => Cors::Vary,
        (true, Some(o)) if allowed(o, &web.cors_origins) => Cors::Allow(o.to_string()),
        (true, Some(_)) => return Err((ErrorCode::OriginNotAllowed, Cors::Vary)),
    };
    if !web.referers.is_empty() {
        // The page's origin: its `Origin`, else its `Referer`'s.
        let page = match origin {
            Some(o) => Some(o.to_string()),
            None => text(header::REFERER)
                .and_then(|r| url::Url::parse(r).ok())
                .map(|u| u.origin().ascii_serialization()),
        };
        let listed = [web.referers.as_slice(), web.cors_origins.as_slice()].concat();
        if !page.is_some_and(|p| allowed(&p, &listed)) {
            return Err((ErrorCode::OriginNotAllowed, cors));
        }
    }
    if jsonp && !web.jsonp {
        return Err((ErrorCode::JsonpNotAllowed, cors));
    }
    match cors {
        Cors::Allow(o) if req.method() == Method::OPTIONS => Ok(Cors::Preflight(o)),
        cors => Ok(cors),
    }
}

/// A page served by the proxy itself (the demo page): its origin names
/// the host the request was sent to. Behind a proxy that rewrites `Host`,
/// list the public origin instead.
fn same_origin(origin: &str, host: Option<&str>) -> bool {
    let authority = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    matches!((authority, host), (Some(a), Some(h)) if a.eq_ignore_ascii_case(h))
}
