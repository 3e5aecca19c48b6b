//! Which pages may call an endpoint (`cors_origins`, `allowed_referers`,
//! `jsonp`), decided before anything of the request is read or counted,
//! and the CORS headers of its answer.
//!
//! A browser sends no `Origin` with a cross-site GET made by `<img>`,
//! `<script>`, a link or a `no-cors` fetch, and such a GET sends the SMS
//! even though the page never reads the answer. Browsers mark those with
//! `Sec-Fetch-Site`; on an endpoint with `cors_origins`, such a request
//! must come from a listed page, by its `Referer`. A client without
//! `Sec-Fetch-Site` (curl, a server) can send any header anyway.

use crate::config::WebAccess;
use crate::response::{Cors, ErrorCode};
use actix_web::http::Method;
use actix_web::HttpRequest;

/// The CORS side of the answer, or the refusal (with its CORS side).
pub(super) fn admit(
    web: &WebAccess,
    req: &HttpRequest,
    jsonp: bool,
) -> Result<Cors, (ErrorCode, Cors)> {
    let text = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let origin = text("origin");
    let referer_origin = || {
        text("referer")
            .and_then(|r| url::Url::parse(r).ok())
            .map(|u| u.origin().ascii_serialization())
    };
    let listed = |o: &str, lists: &[&[String]]| lists.iter().any(|l| l.iter().any(|a| a == o));
    let refused = |cors| Err((ErrorCode::OriginNotAllowed, cors));
    let cors = match (web.cors(), origin) {
        (false, _) => Cors::Off,
        (true, Some(o)) if web.any_origin || listed(o, &[&web.cors_origins]) => {
            Cors::Allow(o.to_string())
        }
        // The refused page may read why (nothing happened): its developer
        // sees origin_not_allowed rather than a bare network error.
        (true, Some(o)) => return refused(Cors::Allow(o.to_string())),
        (true, None) => {
            let cross_site = matches!(text("sec-fetch-site"), Some("cross-site" | "same-site"));
            let lists: [&[String]; 2] = [&web.cors_origins, &web.referers];
            let from_listed =
                || web.any_origin || referer_origin().is_some_and(|o| listed(&o, &lists));
            if cross_site && !from_listed() {
                return refused(Cors::Vary);
            }
            Cors::Vary
        }
    };
    if !web.referers.is_empty() {
        // The page's origin: its `Origin`, else its `Referer`'s ("*" in
        // cors_origins does not widen this list).
        let page = origin.map(str::to_string).or_else(referer_origin);
        let lists: [&[String]; 2] = [&web.referers, &web.cors_origins];
        if !page.is_some_and(|p| listed(&p, &lists)) {
            return refused(cors);
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
