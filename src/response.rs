//! The one place answers are rendered: JSON, or JSONP when the request
//! names a valid `callback`, for successes and errors alike. Every outcome
//! a client can see is a `Reply` built by a handler and rendered here.

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;
use serde_json::{Map, Value};

/// Longest callback name accepted.
pub const MAX_CALLBACK_LEN: usize = 128;

/// A validated JSONP callback name: dot-separated JavaScript identifiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callback(String);

impl Callback {
    /// `Ok(None)` for an absent or empty callback; `Err` for one that is not
    /// a strict identifier path (and would let a page inject script).
    pub fn parse(raw: Option<&str>) -> Result<Option<Callback>, Reply> {
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
            Err(Reply::error(StatusCode::BAD_REQUEST, "invalid_callback"))
        }
    }
}

/// One answer: HTTP status, JSON object body, and the few headers handlers
/// may add.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Map<String, Value>,
    pub retry_after: Option<u64>,
    pub allow: Option<&'static str>,
    /// Render as plain JSON even when a callback was given (used for
    /// `invalid_callback` itself).
    pub never_jsonp: bool,
}

impl Reply {
    pub fn ok() -> Reply {
        Reply::with_status(StatusCode::OK).field("status", "ok")
    }

    /// `{"status":"error","error":code}`.
    pub fn error(status: StatusCode, code: &str) -> Reply {
        let r = Reply::with_status(status)
            .field("status", "error")
            .field("error", code);
        Reply {
            never_jsonp: code == "invalid_callback",
            ..r
        }
    }

    fn with_status(status: StatusCode) -> Reply {
        Reply {
            status,
            body: Map::new(),
            retry_after: None,
            allow: None,
            never_jsonp: false,
        }
    }

    pub fn field(mut self, key: &str, value: impl Into<Value>) -> Reply {
        self.body.insert(key.to_string(), value.into());
        self
    }

    pub fn retry_after(mut self, secs: u64) -> Reply {
        self.retry_after = Some(secs.max(1));
        self
    }

    pub fn allow(mut self, methods: &'static str) -> Reply {
        self.allow = Some(methods);
        self
    }

    /// The `error` code, if this is an error.
    pub fn error_code(&self) -> Option<&str> {
        self.body.get("error").and_then(Value::as_str)
    }

    pub fn render(self, callback: Option<&Callback>) -> HttpResponse {
        // `</` and the JS line separators are escaped so the body is also
        // safe inside a <script> and in pre-ES2019 engines.
        let json = Value::Object(self.body)
            .to_string()
            .replace("</", "<\\/")
            .replace('\u{2028}', "\\u2028")
            .replace('\u{2029}', "\\u2029");
        let mut b = HttpResponse::build(self.status);
        b.insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .insert_header((header::CACHE_CONTROL, "no-store"));
        if let Some(s) = self.retry_after {
            b.insert_header((header::RETRY_AFTER, s.to_string()));
        }
        if let Some(a) = self.allow {
            b.insert_header((header::ALLOW, a));
        }
        match callback.filter(|_| !self.never_jsonp) {
            Some(Callback(name)) => b
                .content_type("application/javascript; charset=utf-8")
                .body(format!("/**/{name}({json});")),
            None => b.content_type("application/json; charset=utf-8").body(json),
        }
    }
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
            assert!(Callback::parse(Some(bad)).is_err(), "{bad:?}");
        }
        let long = "a".repeat(MAX_CALLBACK_LEN + 1);
        assert!(Callback::parse(Some(&long)).is_err());
        assert!(matches!(Callback::parse(Some(&long[1..])), Ok(Some(_))));
        assert_eq!(Callback::parse(Some("")), Ok(None));
        assert_eq!(Callback::parse(None), Ok(None));
    }
}
