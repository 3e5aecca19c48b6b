//! Admission: turns an endpoint's limit rules and budgets into limiter
//! checks for one request (keys carry the endpoint path unless a rule is
//! global; numbers and ranges are HMAC'd), decides them in one step, and
//! maps the decision to an answer, including shadow refusals, budget
//! alarms and the endpoint's answer when Redis fails.

use super::Ctx;
use crate::client::counted_as;
use crate::config::{Budget, LimitRule, OnRedisError, Per};
use crate::limiter::{Check, CheckKind, Decision};
use crate::phone::PhoneNumber;
use crate::response::{ErrorCode, Reply};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// A receiver the request will act on, for the rules keyed by it.
pub(super) struct Target<'a> {
    pub(super) number: &'a PhoneNumber,
    /// SMS parts it will cost (0 when nothing is sent).
    pub(super) parts: u64,
    /// A trusted number bypasses limit rules (not budgets).
    pub(super) trusted: bool,
}

/// What an admitted request reserved, to give back if Nexmo refuses it.
#[derive(Default)]
pub(super) struct Admitted {
    budget: Vec<Check>,
    local: bool,
}

/// Why a request was not admitted, and when a retry can succeed.
pub(super) struct Denied {
    code: ErrorCode,
    retry_after: u64,
}

impl From<Denied> for Reply {
    fn from(d: Denied) -> Reply {
        Reply::error(d.code).retry_after(d.retry_after)
    }
}

/// Labels of the checks of one request, parallel to the checks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Label {
    Rule(usize),
    Budget,
    CountryBudget,
}

impl Ctx<'_> {
    /// Before anything of the request is parsed: refused when a rule keyed
    /// only by the request (its client, its endpoint) refused it earlier in
    /// the same window (`RefusalMemo`). Not on an endpoint with trusted
    /// numbers, which bypass the rules and must be read to be known.
    pub(super) fn refused_early(&self) -> Option<Denied> {
        let trusted = self.spec.destinations.as_ref();
        if trusted.is_some_and(|d| !d.trusted.is_empty()) {
            return None;
        }
        let (checks, labels) = self.checks(None);
        let memo = &self.rt.refused;
        let (label, left) = labels
            .iter()
            .zip(&checks)
            .filter(|(l, c)| self.request_keyed(**l) && !c.shadow)
            .find_map(|(l, c)| memo.refused_for(&memo_key(c)).map(|left| (*l, left)))?;
        Some(self.limited(label, left))
    }

    fn request_keyed(&self, label: Label) -> bool {
        match label {
            Label::Rule(i) => self
                .spec
                .limits
                .get(i)
                .is_some_and(|r| matches!(r.per, Per::Ip | Per::Endpoint)),
            Label::Budget | Label::CountryBudget => false,
        }
    }

    /// Refused by limit rule `label`: counted and logged (as a summary).
    fn limited(&self, label: Label, retry_after: Duration) -> Denied {
        let rule = self.describe(label);
        self.count_refusal(&rule, "enforce");
        let kind = format!("limit reached on {} ({rule})", self.spec.path);
        let line = format!("{kind} for {}", self.ip_subject());
        self.state.log_throttle.log(log::Level::Info, &kind, &line);
        Denied {
            code: ErrorCode::LimitAcceded,
            retry_after: retry_after.as_secs_f64().ceil() as u64,
        }
    }

    /// Decides every limit rule and budget of the endpoint in one step.
    /// Rules keyed by the receiver apply only when there is a `target`.
    pub(super) async fn admit(&self, target: Option<&Target<'_>>) -> Result<Admitted, Denied> {
        let (checks, labels) = self.checks(target);
        let limiter = &self.rt.limiter;
        // Before the store is asked: a wait it reports runs from no earlier.
        let asked = Instant::now();
        let (decision, local) = match limiter.decide(self.spec.shard(), &checks).await {
            Ok(d) => (d, false),
            Err(e) => match self.count_redis_error().spec.on_redis_error {
                OnRedisError::Deny => {
                    log::debug!("limiter unavailable on {} ({e}): denying", self.spec.path);
                    return Err(Denied {
                        code: ErrorCode::ServiceUnavailable,
                        retry_after: 1,
                    });
                }
                OnRedisError::Allow => {
                    log::debug!("limiter unavailable on {} ({e}): allowing", self.spec.path);
                    return Ok(Admitted::default());
                }
                OnRedisError::Local => match limiter.local_fallback() {
                    Some(local) => (local.decide(&self.local_share(&checks)), true),
                    None => (Decision::allowed(), false),
                },
            },
        };
        match decision {
            Decision::Allowed { shadow_refused } => {
                for label in shadow_refused.iter().filter_map(|&i| labels.get(i)) {
                    self.shadow_refusal(&self.describe(*label), "");
                }
                let budget = checks
                    .into_iter()
                    .zip(labels)
                    .filter(|(_, l)| !matches!(l, Label::Rule(_)))
                    .map(|(c, _)| c)
                    .collect();
                Ok(Admitted { budget, local })
            }
            Decision::Limited {
                retry_after,
                check,
                own_wait,
            } => {
                match (labels.get(check), checks.get(check)) {
                    (Some(&label @ (Label::Budget | Label::CountryBudget)), Some(c)) => {
                        self.count_refusal(&self.describe(label), "enforce");
                        self.budget_alarm(&c.key, c.window, label);
                        Err(Denied {
                            code: ErrorCode::BudgetExhausted,
                            retry_after: retry_after.as_secs_f64().ceil() as u64,
                        })
                    }
                    (Some(&label), Some(c)) => {
                        // Remembered only from the shared store's answer:
                        // a local fallback counts a share of each max.
                        if self.request_keyed(label) && !local {
                            self.rt.refused.note(&memo_key(c), asked + own_wait);
                        }
                        Err(self.limited(label, retry_after))
                    }
                    _ => Err(self.limited(Label::Rule(usize::MAX), retry_after)),
                }
            }
        }
    }

    /// Gives back `parts` of a budget reservation (parts Nexmo did not take).
    pub(super) async fn release(&self, admitted: Admitted, parts: u64) {
        if parts == 0 {
            return;
        }
        let mut budget = admitted.budget;
        for c in &mut budget {
            if let CheckKind::Count { cost } = &mut c.kind {
                *cost = (*cost).min(parts);
            }
        }
        if admitted.local {
            if let Some(l) = self.rt.limiter.local_fallback() {
                l.release(&self.local_share(&budget));
            }
        } else {
            self.rt.limiter.release(self.spec.shard(), &budget).await;
        }
    }

    /// One more request refused (or, in shadow mode, that would be) by
    /// `rule`, for the metrics.
    pub(super) fn count_refusal(&self, rule: &str, mode: &str) {
        let labels = crate::metrics::Rule {
            endpoint: self.spec.path.clone(),
            rule: rule.to_string(),
            mode: mode.to_string(),
        };
        self.state
            .metrics
            .limit_refusals
            .get_or_create(&labels)
            .inc();
    }

    fn count_redis_error(&self) -> &Self {
        let labels = crate::metrics::Endpoint {
            endpoint: self.spec.path.clone(),
        };
        self.state.metrics.redis_errors.get_or_create(&labels).inc();
        self
    }

    /// Records a "would refuse" of a shadow rule or policy. `what` names the
    /// rule (and keys the count, so it must not vary per request); `detail`
    /// only goes to the log.
    pub(super) fn shadow_refusal(&self, what: &str, detail: &str) {
        self.count_refusal(what, "shadow");
        let key = format!("{} {what}", self.spec.path);
        let kind = format!("shadow: would refuse on {key}");
        let line = format!("{kind}{detail} (client {})", self.ip_subject());
        self.state.log_throttle.log(log::Level::Warn, &kind, &line);
        let mut m = self
            .state
            .shadow_refusals
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *m.entry(key).or_insert(0) += 1;
    }

    fn describe(&self, l: Label) -> String {
        match l {
            Label::Rule(i) => match self.spec.limits.get(i) {
                Some(r) => format!("limit {} per {} per {:?}", r.max, r.per.as_str(), r.window),
                None => "limit".into(),
            },
            Label::Budget => "budget".into(),
            Label::CountryBudget => "country budget".into(),
        }
    }

    fn budget_alarm(&self, key: &str, window: Duration, label: Label) {
        let now = Instant::now();
        let mut alarms = self
            .state
            .budget_alarms
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let due = alarms
            .get(key)
            .is_none_or(|last| now.duration_since(*last) >= window);
        if due {
            alarms.insert(key.to_string(), now);
            log::error!(
                "{} exhausted on {}: refusing messages until its window ({window:?}) ends; this is logged once per window",
                self.describe(label),
                self.spec.path
            );
        }
    }

    /// In `local` mode each instance takes its share of every `max`.
    fn local_share(&self, checks: &[Check]) -> Vec<Check> {
        let n = self
            .rt
            .settings
            .redis
            .as_ref()
            .map_or(1, |r| u64::from(r.expected_instances.get()));
        checks
            .iter()
            .map(|c| Check {
                max: (c.max / n).max(1),
                ..c.clone()
            })
            .collect()
    }

    /// The client as counted: IPv6 addresses by their configured prefix.
    fn ip_subject(&self) -> String {
        let prefix = self.rt.settings.limits.ipv6_prefix;
        match counted_as(self.ip, prefix) {
            IpAddr::V4(a) => a.to_string(),
            IpAddr::V6(a) => format!("{a}/{}", prefix.min(128)),
        }
    }

    fn hashed(&self, value: &str) -> String {
        use hmac::Mac;
        match hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.rt.number_key) {
            Ok(mut mac) => {
                mac.update(value.as_bytes());
                hex::encode(&mac.finalize().into_bytes()[..16])
            }
            // HMAC takes keys of any length; this arm cannot run.
            Err(_) => "unhashable".into(),
        }
    }

    fn checks(&self, target: Option<&Target>) -> (Vec<Check>, Vec<Label>) {
        let mut checks = Vec::new();
        let mut labels = Vec::new();
        if !target.is_some_and(|t| t.trusted) {
            for (i, rule) in self.spec.limits.iter().enumerate() {
                // Rules that would share a key (same per, window, scope)
                // are told apart by their order, so each has its own
                // counter; the first keeps the plain key.
                let twin = self.spec.limits[..i]
                    .iter()
                    .filter(|r| {
                        (r.per, r.digits, r.window, r.global)
                            == (rule.per, rule.digits, rule.window, rule.global)
                    })
                    .count();
                if let Some(check) = self.rule_check(rule, twin, target) {
                    checks.push(check);
                    labels.push(Label::Rule(i));
                }
            }
        }
        if let (Some(b), Some(t)) = (&self.spec.budget, target) {
            if t.parts > 0 {
                let path = &self.spec.path;
                checks.push(budget_check(b.counter(path, None), b.max_parts, b, t));
                labels.push(Label::Budget);
                if let Some((c, max)) = t
                    .number
                    .country()
                    .and_then(|c| b.per_country.get(&c).map(|m| (c, *m)))
                {
                    checks.push(budget_check(b.counter(path, Some(c)), max, b, t));
                    labels.push(Label::CountryBudget);
                }
            }
        }
        (checks, labels)
    }

    /// The counter a rule bumps for this request; none when the rule is
    /// keyed by a receiver the request does not have.
    fn rule_check(&self, rule: &LimitRule, twin: usize, target: Option<&Target>) -> Option<Check> {
        let one = CheckKind::Count { cost: 1 };
        let (subject, kind) = match (rule.per, target) {
            (Per::Ip, _) => (self.ip_subject(), one),
            (Per::Endpoint, _) => ("all".to_string(), one),
            (Per::Number, Some(t)) => (self.hashed(t.number.e164()), one),
            (Per::Prefix, Some(t)) => {
                let (e, digits) = (t.number.e164(), rule.digits);
                let keep = e.len().saturating_sub(digits as usize).max(2);
                (format!("{digits}:{}", self.hashed(&e[..keep])), one)
            }
            (Per::Country, Some(t)) => (country_code(t.number), one),
            (Per::IpCountries, Some(t)) => (
                self.ip_subject(),
                CheckKind::Distinct {
                    member: country_code(t.number),
                },
            ),
            (_, None) => return None,
        };
        let scope = if rule.global { "*" } else { &self.spec.path };
        let twin = if twin > 0 {
            format!(":#{twin}")
        } else {
            String::new()
        };
        Some(Check {
            key: format!(
                "nexmo-proxy:limit:{scope}:{}:{}:{subject}{twin}",
                rule.per.as_str(),
                rule.window.as_millis()
            ),
            max: rule.max,
            window: rule.window,
            kind,
            shadow: rule.shadow,
            // Client-chosen keys may be forgotten when the store is full;
            // these are as many as the configuration makes.
            pinned: matches!(rule.per, Per::Endpoint | Per::Country),
        })
    }
}

/// A remembered refusal is the counter's and its `max`: global rules of
/// several endpoints share a counter but may have different maxima.
fn memo_key(c: &Check) -> String {
    format!("{}|{}", c.key, c.max)
}

fn budget_check(key: String, max: u64, b: &Budget, t: &Target) -> Check {
    Check {
        key,
        max,
        window: b.window,
        kind: CheckKind::Count { cost: t.parts },
        shadow: b.shadow,
        pinned: true,
    }
}

fn country_code(n: &PhoneNumber) -> String {
    n.country().map_or_else(|| "001".to_string(), |c| c.code())
}
