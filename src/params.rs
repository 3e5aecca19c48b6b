//! Request parameters from the query string and, for `POST`, a form or JSON
//! body read up to a size cap; the body wins over the query, and a repeated
//! name takes its last value, as in the old proxy. The proxy's endpoints and
//! `fake-nexmo` (which takes Nexmo's transports) read parameters here, so
//! the two never disagree on what a request said.

use crate::response::ErrorCode;
use actix_web::http::header;
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;
use std::collections::HashMap;

/// More parameters than any form of ours sends; a request with more is
/// refused before they are stored.
const MAX_PARAMS: usize = 64;

#[derive(Debug, Default, Clone)]
pub(crate) struct Params(HashMap<String, String>);

/// One value of a query string, without reading the rest of the request.
pub(crate) fn query_value(query: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .last()
}

/// The pairs of a query or form, at most `max` of them.
fn pairs(bytes: &[u8], max: usize) -> Result<Vec<(String, String)>, ErrorCode> {
    let mut out = Vec::new();
    for (k, v) in url::form_urlencoded::parse(bytes) {
        if out.len() == max {
            return Err(ErrorCode::BadRequest);
        }
        out.push((k.into_owned(), v.into_owned()));
    }
    Ok(out)
}

impl Params {
    /// Reads the query and the body (at most `limit` bytes).
    pub(crate) async fn read(
        req: &HttpRequest,
        mut payload: web::Payload,
        limit: usize,
    ) -> Result<Params, ErrorCode> {
        let query = pairs(req.query_string().as_bytes(), MAX_PARAMS)?;
        // The query and the body together.
        let left = MAX_PARAMS - query.len();
        let mut map: HashMap<String, String> = query.into_iter().collect();
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|_| ErrorCode::BadRequest)?;
            if body.len() + chunk.len() > limit {
                return Err(ErrorCode::PayloadTooLarge);
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
            "application/x-www-form-urlencoded" => map.extend(pairs(&body, left)?),
            "application/json" | "text/json" => map.extend(json_pairs(&body, left)?),
            _ => return Err(ErrorCode::UnsupportedMediaType),
        }
        Ok(Params(map))
    }

    /// The value as sent (untrimmed), if it has any non-space content.
    pub(crate) fn raw(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    /// The trimmed value, if non-empty.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.raw(name).map(str::trim)
    }

    /// Every parameter as sent, for a signature over all of them.
    pub(crate) fn pairs(&self) -> impl Iterator<Item = (&str, &str)> + Clone {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Every parameter, as sent.
    pub(crate) fn into_inner(self) -> HashMap<String, String> {
        self.0
    }
}

/// A flat JSON object: strings, numbers and booleans become strings, `null`
/// is absent, anything nested is refused.
fn json_pairs(body: &[u8], max: usize) -> Result<Vec<(String, String)>, ErrorCode> {
    use serde_json::Value;
    let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(body) else {
        return Err(ErrorCode::InvalidJson);
    };
    if obj.len() > max {
        return Err(ErrorCode::BadRequest);
    }
    let mut out = Vec::with_capacity(obj.len());
    for (k, v) in obj {
        let s = match v {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Null => continue,
            Value::Array(_) | Value::Object(_) => return Err(ErrorCode::InvalidJson),
        };
        out.push((k, s));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_bodies_are_flat_objects() {
        let got = json_pairs(br#"{"a":"x","n":5,"b":true,"z":null}"#, MAX_PARAMS).unwrap();
        let mut got: Vec<String> = got.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
        got.sort();
        assert_eq!(got, ["a=x", "b=true", "n=5"]);
        for bad in [&br#"{"a":[1]}"#[..], br#"{"a":{}}"#, b"[]", b"\"x\"", b"{"] {
            assert_eq!(json_pairs(bad, MAX_PARAMS), Err(ErrorCode::InvalidJson));
        }
    }

    #[test]
    fn more_than_max_params_are_refused_before_they_are_stored() {
        let many = |n: usize| {
            (0..n)
                .map(|i| format!("p{i}=1"))
                .collect::<Vec<_>>()
                .join("&")
        };
        assert_eq!(
            pairs(many(MAX_PARAMS).as_bytes(), MAX_PARAMS).map(|p| p.len()),
            Ok(MAX_PARAMS)
        );
        assert_eq!(
            pairs(many(MAX_PARAMS + 1).as_bytes(), MAX_PARAMS),
            Err(ErrorCode::BadRequest)
        );
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_query_or_form_is_read_or_refused(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            if let Ok(p) = pairs(&bytes, MAX_PARAMS) {
                prop_assert!(p.len() <= MAX_PARAMS);
            }
        }

        #[test]
        fn any_json_body_is_read_or_refused(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(p) = json_pairs(&bytes, MAX_PARAMS) {
                prop_assert!(p.len() <= MAX_PARAMS);
            }
        }

        #[test]
        fn a_form_reads_back_as_written(
            fields in proptest::collection::btree_map(".{0,12}", ".{0,24}", 0..MAX_PARAMS)
        ) {
            let form: String = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&fields)
                .finish();
            let read: std::collections::BTreeMap<String, String> =
                pairs(form.as_bytes(), MAX_PARAMS).unwrap().into_iter().collect();
            prop_assert_eq!(&read, &fields);
            // One value alone, as the callback is read, agrees.
            for (k, v) in &fields {
                prop_assert_eq!(query_value(&form, k), Some(v.clone()));
            }
        }

        #[test]
        fn a_flat_json_object_reads_back_as_text(
            fields in proptest::collection::btree_map(
                ".{0,12}",
                prop_oneof![
                    ".{0,24}".prop_map(serde_json::Value::from),
                    any::<i64>().prop_map(serde_json::Value::from),
                    any::<bool>().prop_map(serde_json::Value::from),
                    Just(serde_json::Value::Null),
                ],
                0..MAX_PARAMS,
            )
        ) {
            let body = serde_json::to_vec(&fields).unwrap();
            let read: std::collections::BTreeMap<String, String> =
                json_pairs(&body, MAX_PARAMS).unwrap().into_iter().collect();
            let expected: std::collections::BTreeMap<String, String> = fields
                .iter()
                .filter_map(|(k, v)| match v {
                    serde_json::Value::String(s) => Some((k.clone(), s.clone())),
                    serde_json::Value::Null => None,
                    other => Some((k.clone(), other.to_string())),
                })
                .collect();
            prop_assert_eq!(read, expected);
        }

        #[test]
        fn more_than_the_cap_is_refused(n in (MAX_PARAMS + 1)..(3 * MAX_PARAMS)) {
            let form: String = (0..n).map(|i| format!("k{i}=v&")).collect();
            prop_assert_eq!(pairs(form.as_bytes(), MAX_PARAMS), Err(ErrorCode::BadRequest));
        }
    }
}
