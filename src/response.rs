//! The one place answers are rendered: JSON, or JSONP when the request
//! names a valid `callback`, for successes and errors alike. Every outcome
//! a client can see is a `Reply` built by a handler and rendered here, and
//! every error it can see is an `ErrorCode` (its wire name, HTTP status and
//! whether it may be wrapped as JSONP are decided here, nowhere else).

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;
use serde_json::{Map, Value};

/// Longest callback name accepted.
const MAX_CALLBACK_LEN: usize = 128;

/// The `error` of every error answer (README, "Endpoints").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorCode {
    NotFound,
    MethodNotAllowed,
    BadRequest,
    PayloadTooLarge,
    InvalidJson,
    UnsupportedMediaType,
    InvalidCallback,
    RequestTimeout,
    TooManyRequests,
    NumberMissing,
    ReceiverMissing,
    ReceiverValidation,
    ParamValidation,
    ReceiverNotAllowed,
    LimitAcceded,
    BudgetExhausted,
    ServiceUnavailable,
    NexmoError,
    /// A delivery receipt without a valid signature or our API key.
    Unauthorized,
    /// A delivery receipt that is not one.
    InvalidReceipt,
    /// `/message_status/` without a plausible message id.
    InvalidMessageId,
    /// A page of a site the endpoint's `cors_origins` does not list (or a
    /// `Referer` outside `allowed_referers`).
    OriginNotAllowed,
    /// `callback=` where the endpoint says `jsonp = false`.
    JsonpNotAllowed,
}

impl ErrorCode {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::InvalidCallback => "invalid_callback",
            ErrorCode::RequestTimeout => "request_timeout",
            ErrorCode::TooManyRequests => "too_many_requests",
            ErrorCode::NumberMissing => "number_missing",
            ErrorCode::ReceiverMissing => "receiver_missing",
            ErrorCode::ReceiverValidation => "receiver_validation",
            ErrorCode::ParamValidation => "param_validation",
            ErrorCode::ReceiverNotAllowed => "receiver_not_allowed",
            ErrorCode::LimitAcceded => "limit_acceded",
            ErrorCode::BudgetExhausted => "budget_exhausted",
            ErrorCode::ServiceUnavailable => "service_unavailable",
            ErrorCode::NexmoError => "nexmo_error",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::InvalidReceipt => "invalid_receipt",
            ErrorCode::InvalidMessageId => "invalid_message_id",
            ErrorCode::OriginNotAllowed => "origin_not_allowed",
            ErrorCode::JsonpNotAllowed => "jsonp_not_allowed",
        }
    }

    /// Errors about the request itself get an HTTP error status; answers
    /// about the number, the limits or Nexmo are 200 with `status: error`,
    /// as the old proxy gave them (pages read the body, not the status).
    pub(crate) fn status(self) -> StatusCode {
        match self {
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::BadRequest
            | ErrorCode::InvalidJson
            | ErrorCode::InvalidCallback
            | ErrorCode::InvalidReceipt => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::OriginNotAllowed | ErrorCode::JsonpNotAllowed => StatusCode::FORBIDDEN,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorCode::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::OK,
        }
    }

    /// A refused callback is never echoed back as one.
    fn jsonp_allowed(self) -> bool {
        !matches!(
            self,
            ErrorCode::InvalidCallback | ErrorCode::JsonpNotAllowed
        )
    }

    /// The connection is closed after these: the client may still be
    /// sending a body nobody will read.
    fn closes(self) -> bool {
        matches!(
            self,
            ErrorCode::RequestTimeout
                | ErrorCode::TooManyRequests
                | ErrorCode::PayloadTooLarge
                | ErrorCode::BadRequest
        )
    }
}

/// A validated JSONP callback name: dot-separated JavaScript identifiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Callback(String);

impl Callback {
    /// `Ok(None)` for an absent or empty callback; `Err` for one that is not
    /// a strict identifier path (and would let a page inject script).
    pub(crate) fn parse(raw: Option<&str>) -> Result<Option<Callback>, ErrorCode> {
        let Some(name) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        let ident_ok = |part: &str| {
            let mut chars = part.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        };
        if name.len() <= MAX_CALLBACK_LEN && name.split('.').all(ident_ok) {
            Ok(Some(Callback(name.to_string())))
        } else {
            Err(ErrorCode::InvalidCallback)
        }
    }
}

/// One answer: HTTP status, JSON object body, and the few headers handlers
/// may add.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    status: StatusCode,
    body: Map<String, Value>,
    retry_after: Option<u64>,
    allow: Option<&'static str>,
    jsonp_allowed: bool,
    close: bool,
    cors: Cors,
    /// The receiver, masked, for the access log (never rendered).
    receiver: Option<String>,
}

impl Reply {
    pub(crate) fn ok() -> Reply {
        Reply::with_status(StatusCode::OK).field("status", "ok")
    }

    /// `{"status":"error","error":code}` with the code's HTTP status.
    pub(crate) fn error(code: ErrorCode) -> Reply {
        Reply {
            jsonp_allowed: code.jsonp_allowed(),
            close: code.closes(),
            ..Reply::with_status(code.status())
                .field("status", "error")
                .field("error", code.as_str())
        }
    }

    fn with_status(status: StatusCode) -> Reply {
        Reply {
            status,
            body: Map::new(),
            retry_after: None,
            allow: None,
            jsonp_allowed: true,
            close: false,
            cors: Cors::Off,
            receiver: None,
        }
    }

    /// Notes the (masked) receiver the answer is about, for the access log.
    pub(crate) fn about(mut self, masked_receiver: Option<String>) -> Reply {
        self.receiver = masked_receiver;
        self
    }

    pub(crate) fn receiver(&self) -> Option<&str> {
        self.receiver.as_deref()
    }

    pub(crate) fn field(mut self, key: &str, value: impl Into<Value>) -> Reply {
        self.body.insert(key.to_string(), value.into());
        self
    }

    /// `Retry-After`, and `retry_after` in the body too: a JSONP script
    /// cannot read headers.
    pub(crate) fn retry_after(mut self, secs: u64) -> Reply {
        let secs = secs.max(1);
        self.retry_after = Some(secs);
        self.field("retry_after", secs)
    }

    /// The CORS headers of the answer.
    pub(crate) fn cors(mut self, cors: Cors) -> Reply {
        self.cors = cors;
        self
    }

    pub(crate) fn allow(mut self, methods: &'static str) -> Reply {
        self.allow = Some(methods);
        self
    }

    /// The outcome as metrics count it: the error code, or `ok`.
    pub(crate) fn outcome(&self) -> &str {
        match self.body.get("error") {
            Some(Value::String(code)) if self.body.get("status") == Some(&"error".into()) => code,
            _ => "ok",
        }
    }

    /// The same answer, closing its connection.
    pub(crate) fn closing(mut self) -> Reply {
        self.close = true;
        self
    }

    /// The same answer with another HTTP status (readiness: 503).
    pub(crate) fn with_http_status(mut self, status: StatusCode) -> Reply {
        self.status = status;
        self
    }

    pub(crate) fn render(self, callback: Option<&Callback>) -> HttpResponse {
        let json = json_text(self.body);
        let callback = callback.filter(|_| self.jsonp_allowed);
        // A browser runs no script from an answer that is not 2xx, so a
        // JSONP page could never read a refusal's code or its retry_after.
        let status = if callback.is_some() {
            StatusCode::OK
        } else {
            self.status
        };
        let mut b = HttpResponse::build(status);
        b.insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .insert_header((header::CACHE_CONTROL, "no-store"));
        if let Some(s) = self.retry_after {
            b.insert_header((header::RETRY_AFTER, s.to_string()));
        }
        if let Some(a) = self.allow {
            b.insert_header((header::ALLOW, a));
        }
        if self.close {
            b.force_close();
        }
        if let Some(preflight) = self.cors.headers(&mut b) {
            return preflight;
        }
        match callback {
            Some(Callback(name)) => b
                .content_type("application/javascript; charset=utf-8")
                .body(format!("/**/{name}({json});")),
            None => b.content_type("application/json; charset=utf-8").body(json),
        }
    }

    /// The same answer as plain JSON in raw HTTP/1.1 bytes, closing the
    /// connection: for a connection refused when it is accepted, before
    /// actix has read (or buffered) anything of it.
    pub(crate) fn render_raw(self) -> Vec<u8> {
        debug_assert!(self.allow.is_none(), "only for a refusal at accept");
        let json = json_text(self.body);
        let mut head = format!(
            "HTTP/1.1 {} {}\r\ndate: {}\r\ncontent-type: application/json; charset=utf-8\r\n\
             x-content-type-options: nosniff\r\ncache-control: no-store\r\nconnection: close\r\n",
            self.status.as_u16(),
            self.status.canonical_reason().unwrap_or(""),
            httpdate::fmt_http_date(std::time::SystemTime::now()),
        );
        if let Some(s) = self.retry_after {
            head.push_str(&format!("retry-after: {s}\r\n"));
        }
        head.push_str(&format!("content-length: {}\r\n\r\n", json.len()));
        head.push_str(&json);
        head.into_bytes()
    }
}

/// The CORS side of an answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cors {
    /// Not a CORS path: no headers (as the old proxy).
    Off,
    /// A CORS path; the request's origin is absent or not allowed.
    Vary,
    /// A CORS path and an allowed origin: the page may read the answer.
    Allow(String),
    /// The answer to an allowed origin's preflight `OPTIONS`.
    Preflight(String),
}

/// How long a browser may keep a preflight's answer (Chromium caps it at
/// two hours).
const PREFLIGHT_MAX_AGE: &str = "7200";

impl Cors {
    /// Adds the headers; for a preflight, the whole (empty) answer.
    fn headers(&self, b: &mut actix_web::HttpResponseBuilder) -> Option<HttpResponse> {
        let origin = match self {
            Cors::Off => return None,
            Cors::Vary => None,
            Cors::Allow(o) | Cors::Preflight(o) => Some(o),
        };
        // Caches must not hand one origin's answer to another.
        b.insert_header((header::VARY, "Origin"));
        if let Some(o) = origin {
            b.insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, o.as_str()));
        }
        match self {
            Cors::Preflight(_) => Some(
                b.status(StatusCode::NO_CONTENT)
                    .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST"))
                    .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, "Content-Type"))
                    .insert_header((header::ACCESS_CONTROL_MAX_AGE, PREFLIGHT_MAX_AGE))
                    .finish(),
            ),
            Cors::Allow(_) => {
                b.insert_header((header::ACCESS_CONTROL_EXPOSE_HEADERS, "Retry-After"));
                None
            }
            _ => None,
        }
    }
}

/// `</` and the JS line separators are escaped so the body is also safe
/// inside a <script> and in pre-ES2019 engines.
fn json_text(body: Map<String, Value>) -> String {
    Value::Object(body)
        .to_string()
        .replace("</", "<\\/")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_identifier_paths_only() {
        for good in ["cb", "jQuery123_456", "$", "_a.b.$c", "a1.b2"] {
            assert!(matches!(Callback::parse(Some(good)), Ok(Some(_))), "{good}");
        }
        for bad in [
            "alert(document.domain)//",
            "1abc",
            "a..b",
            "a.",
            ".a",
            "a b",
            "a\nb",
            "<script>",
            "a-b",
            "ä",
            "a[0]",
        ] {
            assert_eq!(
                Callback::parse(Some(bad)),
                Err(ErrorCode::InvalidCallback),
                "{bad:?}"
            );
        }
        let long = "a".repeat(MAX_CALLBACK_LEN + 1);
        assert!(Callback::parse(Some(&long)).is_err());
        assert!(matches!(Callback::parse(Some(&long[1..])), Ok(Some(_))));
        assert_eq!(Callback::parse(Some("")), Ok(None));
        assert_eq!(Callback::parse(None), Ok(None));
    }

    #[test]
    fn every_error_code_has_its_own_name_and_the_documented_status() {
        use ErrorCode::*;
        let all = [
            NotFound,
            MethodNotAllowed,
            BadRequest,
            PayloadTooLarge,
            InvalidJson,
            UnsupportedMediaType,
            InvalidCallback,
            RequestTimeout,
            TooManyRequests,
            NumberMissing,
            ReceiverMissing,
            ReceiverValidation,
            ParamValidation,
            ReceiverNotAllowed,
            LimitAcceded,
            BudgetExhausted,
            ServiceUnavailable,
            NexmoError,
            Unauthorized,
            InvalidReceipt,
            InvalidMessageId,
            OriginNotAllowed,
            JsonpNotAllowed,
        ];
        let names: std::collections::BTreeSet<&str> = all.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), all.len());
        let http: Vec<u16> = all.iter().map(|c| c.status().as_u16()).collect();
        assert_eq!(
            http,
            [
                404, 405, 400, 413, 400, 415, 400, 408, 429, 200, 200, 200, 200, 200, 200, 200,
                503, 200, 401, 400, 200, 403, 403
            ]
        );
        let cb = Callback::parse(Some("cb")).unwrap();
        for code in all {
            let answer = Reply::error(code).render(cb.as_ref());
            let ctype = answer.headers().get(header::CONTENT_TYPE);
            let jsonp = ctype.is_some_and(|v| v == "application/javascript; charset=utf-8");
            let never_wrapped = matches!(code, InvalidCallback | JsonpNotAllowed);
            assert_eq!(jsonp, !never_wrapped, "{code:?}");
            // Wrapped, every answer is 200 (a browser runs no other);
            // plain, each keeps its own status.
            let status = answer.status().as_u16();
            match never_wrapped {
                true => assert_eq!(status, code.status().as_u16(), "{code:?}"),
                false => assert_eq!(status, 200, "{code:?}"),
            }
        }
    }

    #[test]
    fn a_raw_answer_is_whole_http_with_the_same_body() {
        let raw = Reply::error(ErrorCode::TooManyRequests)
            .retry_after(1)
            .render_raw();
        let text = String::from_utf8(raw).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let mut lines = head.split("\r\n");
        assert_eq!(lines.next(), Some("HTTP/1.1 429 Too Many Requests"));
        let headers: std::collections::HashMap<&str, &str> =
            lines.map(|l| l.split_once(": ").unwrap()).collect();
        assert_eq!(headers["content-length"], body.len().to_string());
        assert_eq!(headers["retry-after"], "1");
        assert_eq!(headers["connection"], "close");
        assert!(httpdate::parse_http_date(headers["date"]).is_ok());
        assert_eq!(
            body,
            r#"{"error":"too_many_requests","retry_after":1,"status":"error"}"#
        );
    }
}
