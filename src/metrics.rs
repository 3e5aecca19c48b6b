//! What Prometheus scrapes from the admin listener: counters and gauges of
//! requests, sends, Nexmo, limits, reloads and receipts. Every label value
//! comes from a bounded set (endpoint paths of the configuration, countries,
//! outcome codes, rule descriptions), never from a number or an address.
//! Encoded by `prometheus-client` in the OpenMetrics text format.

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Outcome {
    pub(crate) endpoint: String,
    pub(crate) code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Destination {
    pub(crate) endpoint: String,
    pub(crate) country: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct NexmoStatus {
    /// Nexmo's status (`0` accepted), or `transport`, or `shaped`.
    pub(crate) status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Rule {
    pub(crate) endpoint: String,
    pub(crate) rule: String,
    /// `enforce` or `shadow`.
    pub(crate) mode: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Endpoint {
    pub(crate) endpoint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ReloadResult {
    /// `applied`, `unchanged` or `rejected`.
    pub(crate) result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ReceiptLabels {
    pub(crate) status: String,
    pub(crate) country: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Build {
    version: String,
}

pub(crate) struct Metrics {
    registry: Registry,
    pub(crate) requests: Family<Outcome, Counter>,
    pub(crate) sms_parts: Family<Destination, Counter>,
    pub(crate) nexmo_replies: Family<NexmoStatus, Counter>,
    pub(crate) nexmo_seconds: Histogram,
    pub(crate) limit_refusals: Family<Rule, Counter>,
    pub(crate) redis_errors: Family<Endpoint, Counter>,
    pub(crate) reloads: Family<ReloadResult, Counter>,
    pub(crate) generation: Gauge,
    pub(crate) receipts: Family<ReceiptLabels, Counter>,
    pub(crate) limiter_keys: Gauge,
    limiter_evictions: Counter,
    /// The store's eviction total at the last scrape.
    evictions_seen: std::sync::atomic::AtomicU64,
    /// Parts counted against each budget in its current window, and what
    /// is left of it (`country` is `all` for the endpoint's budget).
    pub(crate) budget_used: Family<Destination, Gauge>,
    pub(crate) budget_remaining: Family<Destination, Gauge>,
    pub(crate) redis_degraded: Gauge,
    redis_degraded_seconds: Counter<f64, AtomicU64>,
    /// The limiter's degraded total at the last scrape, as `f64` bits.
    degraded_seen: AtomicU64,
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::with_prefix("nexmo_proxy");
        let m = Metrics {
            requests: Family::default(),
            sms_parts: Family::default(),
            nexmo_replies: Family::default(),
            // 10 ms .. ~20 s
            nexmo_seconds: Histogram::new(exponential_buckets(0.01, 2.0, 12)),
            limit_refusals: Family::default(),
            redis_errors: Family::default(),
            reloads: Family::default(),
            generation: Gauge::default(),
            receipts: Family::default(),
            limiter_keys: Gauge::default(),
            limiter_evictions: Counter::default(),
            evictions_seen: std::sync::atomic::AtomicU64::new(0),
            budget_used: Family::default(),
            budget_remaining: Family::default(),
            redis_degraded: Gauge::default(),
            redis_degraded_seconds: Counter::default(),
            degraded_seen: AtomicU64::new(0),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "requests",
            "Requests by endpoint (configured path, or \"other\") and outcome code",
            m.requests.clone(),
        );
        r.register(
            "sms_parts",
            "SMS parts Nexmo accepted, by endpoint and destination country",
            m.sms_parts.clone(),
        );
        r.register(
            "nexmo_replies",
            "Sends to Nexmo by outcome: Nexmo's status (0 = accepted), transport or shaped",
            m.nexmo_replies.clone(),
        );
        r.register(
            "nexmo_send_seconds",
            "Time a send took, slot wait and the one retry included",
            m.nexmo_seconds.clone(),
        );
        m.register_limits(r);
        let build: Family<Build, Gauge> = Family::default();
        build
            .get_or_create(&Build {
                version: env!("CARGO_PKG_VERSION").into(),
            })
            .set(1);
        r.register("build_info", "The running version", build);
        Metrics { registry, ..m }
    }

    /// What limits, Redis, reloads and receipts add to `r`.
    fn register_limits(&self, r: &mut Registry) {
        let m = self;
        r.register(
            "limit_refusals",
            "Requests a rule refused (enforce) or would have refused (shadow)",
            m.limit_refusals.clone(),
        );
        r.register(
            "redis_errors",
            "Requests whose limits Redis could not decide, by endpoint",
            m.redis_errors.clone(),
        );
        r.register("reloads", "Reloads by result", m.reloads.clone());
        r.register(
            "config_generation",
            "The configuration generation in use",
            m.generation.clone(),
        );
        r.register(
            "receipts",
            "Delivery receipts believed, by status and destination country",
            m.receipts.clone(),
        );
        r.register(
            "limiter_keys",
            "Counters in the in-process limiter store",
            m.limiter_keys.clone(),
        );
        r.register(
            "limiter_evictions",
            "Counters the full in-process store forgot",
            m.limiter_evictions.clone(),
        );
        r.register(
            "budget_used_parts",
            "SMS parts counted against a budget in its current window, by endpoint and country (all: the endpoint's budget)",
            m.budget_used.clone(),
        );
        r.register(
            "budget_remaining_parts",
            "SMS parts a budget still allows in its current window",
            m.budget_remaining.clone(),
        );
        r.register(
            "redis_degraded",
            "1 while Redis cannot decide and requests are answered per on_redis_error",
            m.redis_degraded.clone(),
        );
        r.register(
            "redis_degraded_seconds",
            "Time spent answering per on_redis_error because Redis could not decide",
            m.redis_degraded_seconds.clone(),
        );
    }

    /// Moves the evictions counter by what the store counted since the
    /// last scrape (`total` is the store's; a new store after a reload
    /// starts again from zero).
    pub(crate) fn set_evictions(&self, total: u64) {
        use std::sync::atomic::Ordering;
        let last = self.evictions_seen.swap(total, Ordering::Relaxed);
        let new = if total >= last { total - last } else { total };
        if new > 0 {
            self.limiter_evictions.inc_by(new);
        }
    }

    /// Moves the degraded-time counter to the limiter's `total` (which a
    /// new limiter after a reload starts again from zero).
    pub(crate) fn set_degraded(&self, degraded: bool, total: std::time::Duration) {
        use std::sync::atomic::Ordering;
        self.redis_degraded.set(i64::from(degraded));
        let total = total.as_secs_f64();
        let last = f64::from_bits(self.degraded_seen.swap(total.to_bits(), Ordering::Relaxed));
        let new = if total >= last { total - last } else { total };
        if new > 0.0 {
            self.redis_degraded_seconds.inc_by(new);
        }
    }

    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
