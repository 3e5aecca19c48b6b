//! The demo page (`server.demo_page`): `examples/download-link.html`,
//! compiled in and served at `/` with its configuration block filled in
//! from the running configuration, so the form calls this proxy's own
//! endpoints (same origin) with nothing to type. Built once per
//! configuration generation; serving it costs one clone of shared bytes.

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::HttpResponse;
use base64::Engine;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

const PAGE: &str = include_str!("../examples/download-link.html");
const CONFIG_OPEN: &str = "<script type=\"application/json\" id=\"proxy-config\">";
const SCRIPT_OPEN: &str = "<script>";
const STYLE_OPEN: &str = "<style>";

/// What the page calls: paths of this proxy (`proxy` stays `""`, the
/// page's own origin).
#[derive(Debug, Serialize)]
pub(crate) struct PageConfig<'a> {
    proxy: &'static str,
    send: Option<&'a str>,
    validate: &'a str,
    status: Option<&'a str>,
    params: BTreeMap<String, String>,
    ask: Vec<&'a str>,
    /// Seconds the page waits for an answer: longer than the longest send.
    timeout: u64,
}

impl<'a> PageConfig<'a> {
    /// `send`: the message endpoint the form uses, with the names of its
    /// declared parameters (asked of the visitor).
    pub(crate) fn new(
        send: Option<(&'a str, Vec<&'a str>)>,
        validate: &'a str,
        status: Option<&'a str>,
        longest_send: std::time::Duration,
    ) -> PageConfig<'a> {
        let (send, ask) = match send {
            Some((path, ask)) => (Some(path), ask),
            None => (None, Vec::new()),
        };
        PageConfig {
            proxy: "",
            send,
            validate,
            status,
            params: BTreeMap::new(),
            ask,
            // A margin for the network; a page that gave up first would
            // invite a second send of a message still on its way.
            timeout: longest_send.as_secs() + 5,
        }
    }
}

/// The page as served, and its Content-Security-Policy.
#[derive(Debug)]
pub(crate) struct DemoPage {
    html: Bytes,
    csp: String,
}

impl DemoPage {
    pub(crate) fn new(config: &PageConfig<'_>) -> DemoPage {
        let html = with_config(PAGE, config);
        // Only this page's own inline script and style run, and the
        // scripts it adds itself (the JSONP transport): no other script
        // of this origin, so a JSONP answer cannot be used as a gadget.
        let csp = format!(
            "default-src 'none'; script-src 'sha256-{}' 'strict-dynamic'; style-src 'sha256-{}'; \
             connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            hash_of(&html, SCRIPT_OPEN, "</script>"),
            hash_of(&html, STYLE_OPEN, "</style>"),
        );
        DemoPage {
            html: Bytes::from(html),
            csp,
        }
    }

    /// The page; `close`: and the connection closed after it.
    pub(crate) fn respond(&self, close: bool) -> HttpResponse {
        let mut b = HttpResponse::Ok();
        if close {
            b.force_close();
        }
        b.content_type("text/html; charset=utf-8")
            .insert_header((header::CONTENT_SECURITY_POLICY, self.csp.as_str()))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .insert_header((header::REFERRER_POLICY, "same-origin"))
            // It changes with the configuration; a reload shows at once.
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .body(self.html.clone())
    }
}

/// `page` with the JSON between `CONFIG_OPEN` and its `</script>` replaced
/// by `config`.
fn with_config(page: &str, config: &PageConfig<'_>) -> String {
    let Some(start) = page.find(CONFIG_OPEN).map(|i| i + CONFIG_OPEN.len()) else {
        return page.to_string();
    };
    let Some(len) = page[start..].find("</script>") else {
        return page.to_string();
    };
    // Paths are the operator's, but nothing in them may end the element.
    let json = serde_json::to_string(config)
        .unwrap_or_default()
        .replace('<', "\\u003c");
    format!("{}\n{json}\n{}", &page[..start], &page[start + len..])
}

/// The CSP hash of the text between `open` and the next `close`.
fn hash_of(page: &str, open: &str, close: &str) -> String {
    let text = page
        .find(open)
        .map(|i| &page[i + open.len()..])
        .and_then(|rest| rest.find(close).map(|end| &rest[..end]))
        .unwrap_or("");
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_of(html: &str) -> serde_json::Value {
        let start = html.find(CONFIG_OPEN).unwrap() + CONFIG_OPEN.len();
        let end = start + html[start..].find("</script>").unwrap();
        serde_json::from_str(&html[start..end]).unwrap()
    }

    #[test]
    fn the_page_has_one_block_each() {
        for marker in [CONFIG_OPEN, SCRIPT_OPEN, STYLE_OPEN] {
            assert_eq!(PAGE.matches(marker).count(), 1, "{marker}");
        }
        // The example page as shipped reads as a configuration too.
        assert_eq!(config_of(PAGE)["send"], "/message/");
    }

    #[test]
    fn the_block_is_filled_in_and_cannot_end_the_element() {
        let c = PageConfig::new(
            Some(("/m/</script><b>", vec!["platform"])),
            "/v/",
            Some("/s/"),
            std::time::Duration::from_secs(25),
        );
        let html = with_config(PAGE, &c);
        assert!(!html.contains("</script><b>"));
        let v = config_of(&html);
        assert_eq!(v["proxy"], "");
        assert_eq!(v["send"], "/m/</script><b>");
        assert_eq!(v["validate"], "/v/");
        assert_eq!(v["status"], "/s/");
        assert_eq!(v["ask"], serde_json::json!(["platform"]));
        assert_eq!(v["timeout"], 30);
        // The rest of the page is untouched.
        assert_eq!(html.matches(SCRIPT_OPEN).count(), 1);
        assert!(html.ends_with("</html>\n"));
    }

    #[test]
    fn the_policy_names_the_inline_script_and_style() {
        let c = PageConfig::new(None, "/validate_number/", None, Default::default());
        let page = DemoPage::new(&c);
        let html = std::str::from_utf8(&page.html).unwrap();
        let script = hash_of(html, SCRIPT_OPEN, "</script>");
        assert!(page.csp.contains(&format!("'sha256-{script}'")));
        // Not the hash of nothing: the script was found.
        assert_ne!(script, hash_of("", SCRIPT_OPEN, "</script>"));
        assert_eq!(config_of(html)["send"], serde_json::Value::Null);
    }
}
