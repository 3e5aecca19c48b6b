//! `--check`: what `config::load` cannot know without opening it (the
//! geo-IP database, the Redis URL's shape), and the human summary of every
//! effective setting, secrets as `***`.

use crate::config::{EndpointKind, EndpointSpec, GeoipSource, LimitRule, Settings};
use crate::geo::GeoIp;
use crate::phone::Country;
pub use crate::state::BuildError;
use std::fmt;

/// Opens what the configuration names and returns the summary to print.
pub fn report(settings: &Settings) -> Result<String, BuildError> {
    GeoIp::open(&settings.geoip)?;
    crate::state::limiter(settings)?;
    Ok(settings.to_string())
}

struct Limits<'a>(&'a [LimitRule]);

impl fmt::Display for Limits<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        for (i, r) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{} per {} per {:?}", r.max, r.per.as_str(), r.window)?;
            if r.global {
                f.write_str(" (global)")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.config_file.as_ref().map(|p| p.display().to_string());
        let file = file.as_deref();
        writeln!(
            f,
            "configuration: {}",
            file.unwrap_or("(no file; defaults and environment)")
        )?;
        writeln!(f, "listen: {}", self.server.listen)?;
        let trusted: Vec<String> = self
            .server
            .trusted_proxies
            .iter()
            .map(|n| n.0.to_string())
            .collect();
        writeln!(
            f,
            "trusted proxies: {}",
            or_none(&trusted.join(", "), "none")
        )?;
        let n = &self.nexmo;
        writeln!(
            f,
            "nexmo: url {}, api_key {:?}, api_secret {}, timeout {:?}, dry_run {}",
            *n.url, n.api_key, n.api_secret, n.timeout, n.dry_run
        )?;
        if !n.signature_secret.is_empty() {
            let method = n.signature_method.as_str();
            writeln!(f, "nexmo signatures: {method} (sends signed, no api_secret sent; receipts must be signed)")?;
        }
        if let Some(lvn) = &n.long_virtual_number {
            writeln!(f, "nexmo long virtual number (for +1): {lvn}")?;
        }
        writeln!(
            f,
            "nexmo throughput: {} requests/s (all instances), a send waits at most {:?} for its slot",
            n.max_rps, n.max_queue_wait
        )?;
        if let Some(url) = &n.dlr_url {
            // Without the query, which may carry a token.
            let url = url.split('?').next().unwrap_or_default();
            writeln!(
                f,
                "nexmo delivery receipts: {url} (states kept {}, in process at most {} parts)",
                humantime::format_duration(n.receipt_ttl),
                n.max_receipts
            )?;
        }
        limiter(f, self)?;
        match &self.geoip {
            GeoipSource::Bundled => writeln!(f, "geo-ip: bundled DB-IP Lite country database")?,
            GeoipSource::File(p) => writeln!(f, "geo-ip: {}", p.display())?,
            GeoipSource::Disabled => writeln!(f, "geo-ip: off")?,
        }
        for e in self.all_endpoints() {
            endpoint(f, e)?;
        }
        if self.server.demo_page {
            writeln!(f, "demo page: / (a form for the first [[endpoint]])")?;
        }
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        Ok(())
    }
}

/// Which limiter counts, and where.
fn limiter(f: &mut fmt::Formatter<'_>, s: &Settings) -> fmt::Result {
    match &s.redis {
        Some(r) if r.cluster.is_empty() => writeln!(
            f,
            "limiter: redis (url {}, timeout {:?}, pool {})",
            r.url, r.timeout, r.pool_size
        ),
        Some(r) => writeln!(
            f,
            "limiter: redis cluster ({} seed nodes, timeout {:?}, pool {}; \
             each endpoint's counters in one slot, those with a global rule all in one)",
            r.cluster.len(),
            r.timeout,
            r.pool_size
        ),
        None => writeln!(
            f,
            "limiter: in-process (at most {} counters)",
            s.limits.max_keys
        ),
    }
}

fn or_none<'a>(s: &'a str, none: &'a str) -> &'a str {
    if s.is_empty() {
        none
    } else {
        s
    }
}

fn endpoint(f: &mut fmt::Formatter<'_>, e: &EndpointSpec) -> fmt::Result {
    let what = match &e.kind {
        EndpointKind::Validate => "validate number".to_string(),
        EndpointKind::Receipts => {
            "delivery receipts from Nexmo (no limits; signed or with our api-key)".to_string()
        }
        EndpointKind::Status => "message status".to_string(),
        EndpointKind::Message(m) => {
            let langs: Vec<&str> = m.variants.keys().map(String::as_str).collect();
            let langs = match langs.is_empty() {
                true => String::new(),
                false => format!(", languages {}", langs.join("/")),
            };
            format!("message from {:?}{langs}", m.sender)
        }
    };
    writeln!(
        f,
        "endpoint {}: {what}; country {} (guess {}); limits {}; on redis error {:?}",
        e.path,
        e.country.default,
        if e.country.guess { "on" } else { "off" },
        Limits(&e.limits),
        e.on_redis_error
    )?;
    let shadow = |on: bool| if on { " (shadow)" } else { "" };
    if let Some(d) = &e.destinations {
        let list = |v: &[Country]| v.iter().map(|c| c.code()).collect::<Vec<_>>().join(",");
        let types: Vec<&str> = d.number_types.iter().map(|t| t.as_str()).collect();
        writeln!(
            f,
            "  destinations{}: allowed {}, denied {}, denied prefixes {}, types {}, {} trusted number(s)",
            shadow(d.shadow),
            or_none(&list(&d.allowed), "all"),
            or_none(&list(&d.denied), "-"),
            or_none(&d.denied_prefixes.join(","), "-"),
            types.join(","),
            d.trusted.len()
        )?;
    }
    let web = &e.web;
    if web.cors() || !web.jsonp || !web.referers.is_empty() {
        writeln!(
            f,
            "  pages: cors_origins {}, jsonp {}, allowed_referers {}",
            match web.any_origin {
                true => "*".to_string(),
                false => or_none(&web.cors_origins.join(","), "-").to_string(),
            },
            if web.jsonp { "on" } else { "off" },
            or_none(&web.referers.join(","), "-"),
        )?;
    }
    if let Some(b) = &e.budget {
        let per_country: Vec<String> = b
            .per_country
            .iter()
            .map(|(c, m)| format!("{c} {m}"))
            .collect();
        let per_country = match per_country.is_empty() {
            true => String::new(),
            false => format!(" ({})", per_country.join(", ")),
        };
        writeln!(
            f,
            "  budget{}: {} parts per {:?}{per_country}",
            shadow(b.shadow),
            b.max_parts,
            b.window
        )?;
    }
    Ok(())
}
