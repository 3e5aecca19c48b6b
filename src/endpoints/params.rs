//! Request parameters from the query string and, for `POST`, a form or JSON
//! body; the body wins over the query, and a repeated name takes its last
//! value, as in the old proxy.

use crate::response::Reply;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;
use std::collections::HashMap;

#[derive(Debug, Default, Clone)]
pub struct Params(HashMap<String, String>);

/// One value of a query string, without reading the rest of the request.
pub fn query_value(query: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .last()
}

impl Params {
    pub async fn read(
        req: &HttpRequest,
        mut payload: web::Payload,
        limit: usize,
    ) -> Result<Params, Reply> {
        let mut map: HashMap<String, String> =
            url::form_urlencoded::parse(req.query_string().as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|_| Reply::error(StatusCode::BAD_REQUEST, "bad_request"))?;
            if body.len() + chunk.len() > limit {
                return Err(Reply::error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                ));
            }
            body.extend_from_slice(&chunk);
        }
        if body.is_empty() {
            return Ok(Params(map));
        }
        let ctype = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match ctype.as_str() {
            "application/x-www-form-urlencoded" => {
                map.extend(
                    url::form_urlencoded::parse(&body)
                        .map(|(k, v)| (k.into_owned(), v.into_owned())),
                );
            }
            "application/json" | "text/json" => {
                let value: serde_json::Value = serde_json::from_slice(&body)
                    .map_err(|_| Reply::error(StatusCode::BAD_REQUEST, "invalid_json"))?;
                let serde_json::Value::Object(obj) = value else {
                    return Err(Reply::error(StatusCode::BAD_REQUEST, "invalid_json"));
                };
                for (k, v) in obj {
                    let s = match v {
                        serde_json::Value::String(s) => s,
                        serde_json::Value::Number(n) => n.to_string(),
                        serde_json::Value::Bool(b) => b.to_string(),
                        serde_json::Value::Null => continue,
                        _ => return Err(Reply::error(StatusCode::BAD_REQUEST, "invalid_json")),
                    };
                    map.insert(k, s);
                }
            }
            _ => {
                return Err(Reply::error(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                ))
            }
        }
        Ok(Params(map))
    }

    /// The value as sent (untrimmed), if it has any non-space content.
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    /// The trimmed value, if non-empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.raw(name).map(str::trim)
    }

    #[cfg(test)]
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Params {
        Params(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }
}
