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
                "endpoint {}: {what}; country {} (guess {}); limits {}",
                e.path,
                e.country.default,
                if e.country.guess { "on" } else { "off" },
                Limits(&e.limits)
            )?;
        }
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        Ok(())
    }
}
