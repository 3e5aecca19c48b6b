//! The configuration as serde reads it from the merged layers (defaults,
//! `proxy.toml`, `NEXMO_PROXY_*`, legacy variables and flags). Values are
//! typed here (`values`), so a wrong word or number is a serde error with a
//! key path; `build` then checks what spans keys and tables.
//!
//! `[defaults]`, `[validation]` and each `[[endpoint]]` are one type, so the
//! protection keys are declared once (serde's `flatten` cannot be combined
//! with `deny_unknown_fields` and loses error paths); `build` refuses the
//! keys a table does not take. Required keys are `Option`s here so that a
//! bad value, dropped by `load` after it is reported, never turns into a
//! second "missing" error.

use super::settings::{LimitsSettings, NexmoSettings, OnRedisError, RedisSettings, ServerSettings};

pub(super) const VALIDATION_PATH: &str = "/validate_number/";
pub(super) const STATUS_PATH: &str = "/message_status/";
/// Status requests per address and hour, unless `[message_status]` says.
pub(super) const STATUS_MAX_PER_IP: u64 = 300;
use super::values::{Count, E164Prefix, Mode, Per, Scope, Window};
use crate::phone::{Country, NumberKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawConfig {
    pub(super) server: ServerSettings,
    pub(super) nexmo: NexmoSettings,
    /// Absent: limits are counted in-process.
    pub(super) redis: Option<RedisSettings>,
    pub(super) geoip: RawGeoip,
    pub(super) defaults: RawEndpoint,
    pub(super) validation: RawEndpoint,
    pub(super) message_status: RawEndpoint,
    pub(super) endpoint: Vec<RawEndpoint>,
    pub(super) limits: LimitsSettings,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawGeoip {
    /// `None`: the bundled DB-IP Lite file. `""`: geo-IP off. Else a path,
    /// relative to the configuration file.
    pub(super) database: Option<String>,
}

/// One table of endpoint keys: `[defaults]`, `[validation]` or an `[[endpoint]]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawEndpoint {
    // What a message endpoint is (`[validation]` takes only `path`).
    pub(super) path: Option<String>,
    pub(super) sender: Option<String>,
    pub(super) message: Option<RawMessage>,
    pub(super) vars: Option<BTreeMap<String, String>>,
    pub(super) params: Option<BTreeMap<String, String>>,
    // Every table: country guessing and limits.
    pub(super) guess_country: Option<bool>,
    pub(super) default_country: Option<Country>,
    pub(super) limits: Option<Vec<RawLimit>>,
    pub(super) on_redis_error: Option<OnRedisError>,
    // Every table but the receipts': which web pages may call it.
    pub(super) cors_origins: Option<Vec<String>>,
    pub(super) jsonp: Option<bool>,
    pub(super) allowed_referers: Option<Vec<String>>,
    // Message endpoints and `[defaults]`: destinations and budgets.
    pub(super) allowed_countries: Option<Vec<Country>>,
    pub(super) denied_countries: Option<Vec<Country>>,
    pub(super) denied_prefixes: Option<Vec<E164Prefix>>,
    pub(super) number_types: Option<Vec<NumberKind>>,
    pub(super) trusted_numbers: Option<Vec<String>>,
    pub(super) destination_mode: Option<Mode>,
    pub(super) budget: Option<RawBudget>,
    pub(super) country_budgets: Option<BTreeMap<Country, Count>>,
}

impl RawEndpoint {
    /// Keys only a message endpoint takes, and whether each is set.
    pub(super) fn message_keys(&self) -> [(&'static str, bool); 5] {
        [
            ("path", self.path.is_some()),
            ("sender", self.sender.is_some()),
            ("message", self.message.is_some()),
            ("vars", self.vars.is_some()),
            ("params", self.params.is_some()),
        ]
    }

    /// Keys of what is sent, which `[validation]` does not take.
    pub(super) fn destination_keys(&self) -> [(&'static str, bool); 8] {
        [
            ("allowed_countries", self.allowed_countries.is_some()),
            ("denied_countries", self.denied_countries.is_some()),
            ("denied_prefixes", self.denied_prefixes.is_some()),
            ("number_types", self.number_types.is_some()),
            ("trusted_numbers", self.trusted_numbers.is_some()),
            ("destination_mode", self.destination_mode.is_some()),
            ("budget", self.budget.is_some()),
            ("country_budgets", self.country_budgets.is_some()),
        ]
    }
}

impl RawEndpoint {
    /// What `[defaults]` holds when the file says nothing, as it would be
    /// written (`build` starts from the same values; a test keeps the two
    /// equal).
    pub(super) fn builtin() -> RawEndpoint {
        RawEndpoint {
            guess_country: Some(true),
            default_country: Country::known("DE"),
            limits: Some(vec![RawLimit {
                per: Some(Per::Ip),
                max: std::num::NonZeroU64::new(10).map(Count),
                window: Some(Window(std::time::Duration::from_secs(3600))),
                ..RawLimit::default()
            }]),
            number_types: Some(vec![NumberKind::Mobile, NumberKind::FixedLineOrMobile]),
            destination_mode: Some(Mode::Enforce),
            cors_origins: Some(Vec::new()),
            jsonp: Some(true),
            allowed_referers: Some(Vec::new()),
            ..RawEndpoint::default()
        }
    }

    /// What `[validation]` holds when the file says nothing (its country
    /// policy and web keys come from `[defaults]`, nothing else does).
    pub(super) fn builtin_validation() -> RawEndpoint {
        RawEndpoint {
            path: Some(VALIDATION_PATH.into()),
            limits: RawEndpoint::builtin().limits,
            on_redis_error: Some(OnRedisError::Allow),
            ..RawEndpoint::default()
        }
    }

    /// What `[message_status]` holds when the file says nothing: like
    /// `[validation]`, with room for a page that polls.
    pub(super) fn builtin_message_status() -> RawEndpoint {
        let mut status = RawEndpoint::builtin_validation();
        status.path = Some(STATUS_PATH.into());
        for rule in status.limits.iter_mut().flatten() {
            rule.max = std::num::NonZeroU64::new(STATUS_MAX_PER_IP).map(Count);
        }
        status
    }

    /// `self`, with each key it does not set taken from `base`.
    pub(super) fn or(mut self, base: &RawEndpoint) -> RawEndpoint {
        macro_rules! fill {
            ($($key:ident),*) => {
                $(if self.$key.is_none() {
                    self.$key = base.$key.clone();
                })*
            };
        }
        fill!(
            path,
            sender,
            message,
            vars,
            params,
            guess_country,
            default_country,
            limits,
            on_redis_error,
            cors_origins,
            jsonp,
            allowed_referers,
            allowed_countries,
            denied_countries,
            denied_prefixes,
            number_types,
            trusted_numbers,
            destination_mode,
            budget,
            country_budgets
        );
        self
    }
}

/// `budget = { max_parts = 1000, window = "1d" }`: SMS parts per window.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawBudget {
    pub(super) max_parts: Option<Count>,
    pub(super) window: Option<Window>,
    pub(super) mode: Mode,
}

/// `message = "text"` or `message = { default = "...", de = "..." }`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub(super) enum RawMessage {
    Plain(String),
    ByLanguage(BTreeMap<String, String>),
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawLimit {
    pub(super) per: Option<Per>,
    pub(super) max: Option<Count>,
    pub(super) window: Option<Window>,
    pub(super) scope: Scope,
    /// For `per = "prefix"`: how many trailing digits to drop (default 4).
    pub(super) digits: Option<u32>,
    pub(super) mode: Mode,
}
