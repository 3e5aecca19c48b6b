//! Message endpoints, in the order of the README's request path: read the
//! receiver, the declared parameters and the destination policy; decide
//! limits and budgets; answer the first problem found; render the template;
//! send (or log, in dry-run); answer.

use super::admission::{Admitted, Target};
use super::Ctx;
use crate::config::MessageSpec;
use crate::geo::preferred_languages;
use crate::gsm;
use crate::nexmo::{NexmoClient, NexmoError, Sent, Sms};
use crate::phone::{self, Invalid, PhoneNumber};
use crate::policy::{self, Refusal};
use crate::response::{ErrorCode, Reply};
use crate::template::Template;

pub(super) async fn handle(ctx: &Ctx<'_>, m: &MessageSpec, nexmo: &NexmoClient) -> Reply {
    let request = Request::read(ctx, m);
    let masked = match &request.receiver {
        Some(Ok(n)) => Some(n.masked()),
        _ => None,
    };
    send(ctx, m, nexmo, request).await.about(masked)
}

async fn send(ctx: &Ctx<'_>, m: &MessageSpec, nexmo: &NexmoClient, request: Request) -> Reply {
    let admitted = match ctx.admit(request.target().as_ref()).await {
        Ok(a) => a,
        Err(denied) => return denied.into(),
    };
    let (number, text) = match request.sendable(ctx) {
        Ok(sendable) => sendable,
        Err(reply) => return reply,
    };
    if ctx.rt.settings.nexmo.dry_run {
        return dry_run(ctx, m, &number, &text);
    }
    let sms = Sms {
        from: &m.sender,
        to: &number,
        text: &text,
        client_ref: &ctx.spec.path,
    };
    let started = std::time::Instant::now();
    let result = nexmo
        .send(&ctx.rt.settings.nexmo, &sms, &ctx.rt.shaper)
        .await;
    count_send(ctx, &result, started.elapsed());
    match result {
        Ok(sent) => sent_reply(ctx, &number, sent).await,
        Err(e) => nexmo_failed(ctx, (&number, gsm::parts(&text)), e, admitted).await,
    }
}

/// The send's time and outcome for the metrics: Nexmo's status (a code of
/// at most three digits, else `other`), or `transport`, or `shaped`.
fn count_send(ctx: &Ctx<'_>, result: &Result<Sent, NexmoError>, took: std::time::Duration) {
    let m = &ctx.state.metrics;
    if !matches!(result, Err(e) if e.shaped) {
        // A send refused for want of a slot never went out.
        m.nexmo_seconds.observe(took.as_secs_f64());
    }
    let status = match result {
        Ok(_) => "0".to_string(),
        Err(e) if e.shaped => "shaped".into(),
        Err(e) => match e.status.as_deref() {
            Some(s) if (1..=3).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) => {
                s.to_string()
            }
            Some(_) => "other".into(),
            None => "transport".into(),
        },
    };
    let labels = crate::metrics::NexmoStatus { status };
    m.nexmo_replies.get_or_create(&labels).inc();
}

/// What the request asks for, read and checked before any limit is counted.
struct Request {
    receiver: Option<Result<PhoneNumber, Invalid>>,
    /// The first declared parameter missing or not matching its regex.
    bad_param: Option<String>,
    refusal: Option<Refusal>,
    /// Rendered only for a receiver that will reach Nexmo.
    text: Option<String>,
    trusted: bool,
}

impl Request {
    fn read(ctx: &Ctx<'_>, m: &MessageSpec) -> Request {
        let receiver = ctx
            .params
            .raw("receiver")
            .map(|raw| phone::parse(raw, || ctx.candidate_regions()));
        let bad_param = m
            .params
            .iter()
            .find(|(name, re)| !ctx.params.get(name).is_some_and(|v| re.is_match(v)))
            .map(|(name, _)| name.clone());
        let destinations = ctx.spec.destinations.as_ref();
        let (mut refusal, mut trusted) = (None, false);
        if let (Some(Ok(n)), Some(d)) = (&receiver, destinations) {
            trusted = policy::is_trusted(d, n);
            match policy::check(d, n) {
                Err(why) if d.shadow => ctx.shadow_refusal(
                    &format!("destination {}", why.as_str()),
                    &format!(" for {}", n.masked()),
                ),
                Err(why) => refusal = Some(why),
                Ok(()) => {}
            }
        }
        let mut request = Request {
            receiver,
            bad_param,
            refusal,
            text: None,
            trusted,
        };
        request.text = request.sendable_number().map(|n| render(ctx, m, n));
        request
    }

    /// Only a request that will reach Nexmo counts against rules keyed by
    /// the receiver, and against budgets.
    fn sendable_number(&self) -> Option<&PhoneNumber> {
        match &self.receiver {
            Some(Ok(n)) if self.bad_param.is_none() && self.refusal.is_none() => Some(n),
            _ => None,
        }
    }

    fn target(&self) -> Option<Target<'_>> {
        self.sendable_number().map(|number| Target {
            number,
            parts: self.text.as_deref().map_or(0, gsm::parts) as u64,
            trusted: self.trusted,
        })
    }

    /// The receiver and text to send, or the answer to the first problem.
    fn sendable(self, ctx: &Ctx<'_>) -> Result<(PhoneNumber, String), Reply> {
        let number = match self.receiver {
            None => return Err(Reply::error(ErrorCode::ReceiverMissing)),
            Some(Err(_)) => return Err(Reply::error(ErrorCode::ReceiverValidation)),
            Some(Ok(n)) => n,
        };
        if let Some(name) = self.bad_param {
            return Err(Reply::error(ErrorCode::ParamValidation).field("param", name));
        }
        if let Some(why) = self.refusal {
            let (path, why_text) = (&ctx.spec.path, why.as_str());
            let kind = format!("refused on {path}: {why_text}");
            let line = format!("refused {} on {path}: {why_text}", number.masked());
            ctx.state.log_throttle.log(log::Level::Info, &kind, &line);
            ctx.count_refusal(&format!("destination {why_text}"), "enforce");
            return Err(Reply::error(ErrorCode::ReceiverNotAllowed).field("reason", why.as_str()));
        }
        match self.text {
            Some(text) => Ok((number, text)),
            // A sendable receiver always has its text: rendered in `read`.
            None => Err(Reply::error(ErrorCode::ReceiverValidation)),
        }
    }
}

fn dry_run(ctx: &Ctx<'_>, m: &MessageSpec, number: &PhoneNumber, text: &str) -> Reply {
    let parts = gsm::parts(text);
    // The text may carry the number ({number}): logged masked, like it.
    let masked = number.masked();
    let shown = text.replace(number.display(), &masked);
    log::info!(
        "dry run: would send {parts} part(s) from {:?} to {masked} via {}: {shown:?}",
        m.sender,
        ctx.spec.path,
    );
    Reply::ok()
        .field("message", "Message sent")
        .field("number", number.display())
        .field("message_ids", Vec::<String>::new())
        .field("parts", parts)
        .field("dry_run", true)
}

async fn sent_reply(ctx: &Ctx<'_>, number: &PhoneNumber, sent: Sent) -> Reply {
    let labels = crate::metrics::Destination {
        endpoint: ctx.spec.path.clone(),
        country: number.country().map_or("none".into(), |c| c.code()),
    };
    let parts = sent.parts as u64;
    ctx.state
        .metrics
        .sms_parts
        .get_or_create(&labels)
        .inc_by(parts);
    log::info!(
        "sent {} part(s) to {} via {}",
        sent.parts,
        number.masked(),
        ctx.spec.path
    );
    if ctx.rt.settings.receipts.is_some() {
        // The message is sent whatever happens here; only its status page
        // would answer "unknown".
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let ttl = ctx.rt.settings.nexmo.receipt_ttl;
        let store = &ctx.rt.receipts;
        if let Err(e) = store
            .record_send(&sent.message_ids, sent.parts, now, ttl)
            .await
        {
            log::error!("could not record the parts of a send for its status: {e}");
        }
    }
    Reply::ok()
        .field("message", "Message sent")
        .field("number", number.display())
        .field("message_ids", sent.message_ids)
        .field("parts", sent.parts)
}

async fn nexmo_failed(
    ctx: &Ctx<'_>,
    (number, parts): (&PhoneNumber, usize),
    e: NexmoError,
    admitted: Admitted,
) -> Reply {
    let line = format!(
        "nexmo refused the message to {} via {}: {e}",
        number.masked(),
        ctx.spec.path
    );
    if e.shaped {
        // A flood meets the throughput limit: summarised, not one line each.
        let kind = format!("sends shaped away on {}", ctx.spec.path);
        ctx.state.log_throttle.log(log::Level::Warn, &kind, &line);
    } else {
        log::error!("{line}");
    }
    if e.accepted_parts > 0 {
        // Billed although the message failed.
        let labels = crate::metrics::Destination {
            endpoint: ctx.spec.path.clone(),
            country: number.country().map_or("none".into(), |c| c.code()),
        };
        let m = &ctx.state.metrics;
        m.sms_parts
            .get_or_create(&labels)
            .inc_by(e.accepted_parts as u64);
    }
    // Give back only what is known not to be billed.
    if e.refused {
        let refused = (parts as u64).saturating_sub(e.accepted_parts as u64);
        ctx.release(admitted, refused).await;
    }
    let mut r = Reply::error(ErrorCode::NexmoError)
        .field("message", "Nexmo Service Error")
        .field("number", number.display());
    if let Some(s) = e.status {
        r = r.field("nexmo_status", s);
    }
    if let Some(t) = e.error_text {
        r = r.field("nexmo_error_text", t);
    }
    r
}

/// The variant for the client's best language that has one, else the default.
fn pick<'a>(ctx: &Ctx<'_>, m: &'a MessageSpec) -> &'a Template {
    if m.variants.is_empty() {
        return &m.default;
    }
    ctx.accept_language
        .map(preferred_languages)
        .unwrap_or_default()
        .iter()
        .find_map(|lang| m.variants.get(lang))
        .unwrap_or(&m.default)
}

fn render(ctx: &Ctx<'_>, m: &MessageSpec, number: &PhoneNumber) -> String {
    let country = number.country().map(|c| c.code()).unwrap_or_default();
    pick(ctx, m).render(|name| match name {
        "number" => Some(number.display()),
        "country" => Some(country.as_str()),
        _ => m.vars.get(name).map(String::as_str).or_else(|| {
            m.params
                .iter()
                .any(|(p, _)| p == name)
                .then(|| ctx.params.get(name))
                .flatten()
        }),
    })
}
