//! The human summary `--check` prints (and start-up logs): every effective
//! setting, secrets as `***`.

use super::settings::{EndpointKind, GeoipSource, LimitRule, Settings};
use std::fmt;

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
        writeln!(
            f,
            "configuration: {}",
            file.as_deref()
                .unwrap_or("(no file; defaults and environment)")
        )?;
        writeln!(f, "listen: {}", self.server.listen)?;
        let trusted: Vec<String> = self
            .server
            .trusted_proxies
            .iter()
            .map(|n| n.to_string())
            .collect();
        writeln!(
            f,
            "trusted proxies: {}",
            if trusted.is_empty() {
                "none".into()
            } else {
                trusted.join(", ")
            }
        )?;
        writeln!(
            f,
            "nexmo: url {}, api_key {:?}, api_secret {}, timeout {:?}, dry_run {}",
            self.nexmo.url,
            self.nexmo.api_key,
            self.nexmo.api_secret,
            self.nexmo.timeout,
            self.nexmo.dry_run
        )?;
        if let Some(n) = &self.nexmo.long_virtual_number {
            writeln!(f, "nexmo long virtual number (for +1): {n}")?;
        }
        match &self.redis {
            Some(r) => writeln!(
                f,
                "limiter: redis (url {}, timeout {:?}, pool {})",
                r.url, r.timeout, r.pool_size
            )?,
            None => writeln!(f, "limiter: in-process")?,
        }
        match &self.geoip {
            GeoipSource::Bundled => writeln!(f, "geo-ip: bundled DB-IP Lite country database")?,
            GeoipSource::File(p) => writeln!(f, "geo-ip: {}", p.display())?,
            GeoipSource::Disabled => writeln!(f, "geo-ip: off")?,
        }
        for e in self.all_endpoints() {
            let what = match &e.kind {
                EndpointKind::Validate => "validate number".to_string(),
                EndpointKind::Message(m) => {
                    let langs: Vec<&str> = m.variants.keys().map(String::as_str).collect();
                    format!(
                        "message from {:?}{}",
                        m.sender,
                        if langs.is_empty() {
                            String::new()
                        } else {
                            format!(", languages {}", langs.join("/"))
                        }
                    )
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
            if let Some(d) = &e.destinations {
                let list = |v: &[crate::phone::Country]| {
                    if v.is_empty() {
                        "-".to_string()
                    } else {
                        v.iter().map(|c| c.code()).collect::<Vec<_>>().join(",")
                    }
                };
                let types: Vec<&str> = d.number_types.iter().map(|t| t.as_str()).collect();
                writeln!(
                    f,
                    "  destinations{}: allowed {}, denied {}, denied prefixes {}, types {}, {} trusted number(s)",
                    if d.shadow { " (shadow)" } else { "" },
                    if d.allowed.is_empty() { "all".to_string() } else { list(&d.allowed) },
                    list(&d.denied),
                    if d.denied_prefixes.is_empty() { "-".to_string() } else { d.denied_prefixes.join(",") },
                    types.join(","),
                    d.trusted.len()
                )?;
            }
            if let Some(b) = &e.budget {
                let per_country: Vec<String> = b
                    .per_country
                    .iter()
                    .map(|(c, m)| format!("{c} {m}"))
                    .collect();
                writeln!(
                    f,
                    "  budget{}: {} parts per {:?}{}",
                    if b.shadow { " (shadow)" } else { "" },
                    b.max_parts,
                    b.window,
                    if per_country.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", per_country.join(", "))
                    }
                )?;
            }
        }
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        Ok(())
    }
}
