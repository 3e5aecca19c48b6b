//! Message endpoints: parse the receiver, check declared parameters and the
//! destination policy, decide limits and budgets, render the template, send
//! (or log, in dry-run), answer.

use super::{Ctx, Target};
use crate::config::MessageSpec;
use crate::endpoints::template::Template;
use crate::geo::preferred_languages;
use crate::nexmo::{gsm, NexmoClient, Sms};
use crate::phone::{self, PhoneNumber};
use crate::policy;
use crate::response::Reply;
use actix_web::http::StatusCode;

pub async fn handle(ctx: &Ctx<'_>, m: &MessageSpec, nexmo: &NexmoClient) -> Reply {
    let receiver = ctx
        .params
        .raw("receiver")
        .map(|raw| phone::parse(raw, || ctx.guess_country()));
    let bad_param = m
        .params
        .iter()
        .find(|(name, re)| !ctx.params.get(name).is_some_and(|v| re.is_match(v)))
        .map(|(name, _)| name.clone());
    let destinations = ctx.spec.destinations.as_ref();
    let refusal = match (&receiver, destinations) {
        (Some(Ok(n)), Some(d)) => match policy::check(d, n) {
            Err(why) if d.shadow => {
                ctx.shadow_refusal(
                    &format!("destination {}", why.as_str()),
                    &format!(" for {}", n.masked()),
                );
                None
            }
            Err(why) => Some(why),
            Ok(()) => None,
        },
        _ => None,
    };
    // Only a request that will reach Nexmo counts against rules keyed by
    // the receiver, and against budgets.
    let sendable = match &receiver {
        Some(Ok(n)) if bad_param.is_none() && refusal.is_none() => Some(n),
        _ => None,
    };
    let text = sendable.map(|n| render(ctx, m, n));
    let target = sendable.map(|number| Target {
        number,
        parts: text.as_deref().map_or(0, gsm::parts) as u64,
        trusted: destinations.is_some_and(|d| policy::is_trusted(d, number)),
    });
    let admitted = match ctx.admit(target.as_ref()).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let number = match receiver {
        None => return Reply::error(StatusCode::OK, "receiver_missing"),
        Some(Err(_)) => return Reply::error(StatusCode::OK, "receiver_validation"),
        Some(Ok(n)) => n,
    };
    if let Some(name) = bad_param {
        return Reply::error(StatusCode::OK, "param_validation").field("param", name);
    }
    if let Some(why) = refusal {
        log::info!(
            "refused {} on {}: {}",
            number.masked(),
            ctx.spec.path,
            why.as_str()
        );
        return Reply::error(StatusCode::OK, "receiver_not_allowed").field("reason", why.as_str());
    }
    // A sendable receiver always has its text already.
    let text = text.unwrap_or_else(|| render(ctx, m, &number));

    let settings = &ctx.rt.settings.nexmo;
    if settings.dry_run {
        log::info!(
            "dry run: would send {} part(s) from {:?} to {} via {}: {:?}",
            gsm::parts(&text),
            m.sender,
            number.masked(),
            ctx.spec.path,
            text
        );
        return Reply::ok()
            .field("message", "Message sent")
            .field("number", number.display())
            .field("message_ids", Vec::<String>::new())
            .field("parts", gsm::parts(&text))
            .field("dry_run", true);
    }
    let sms = Sms {
        from: &m.sender,
        to: &number,
        text: &text,
    };
    match nexmo.send(settings, &sms).await {
        Ok(sent) => {
            log::info!(
                "sent {} part(s) to {} via {}",
                sent.parts,
                number.masked(),
                ctx.spec.path
            );
            Reply::ok()
                .field("message", "Message sent")
                .field("number", number.display())
                .field("message_ids", sent.message_ids)
                .field("parts", sent.parts)
        }
        Err(e) => {
            log::error!(
                "nexmo refused the message to {} via {}: {e}",
                number.masked(),
                ctx.spec.path
            );
            // Give the budget back only when nothing was billed.
            if e.accepted_parts == 0 {
                ctx.release(admitted).await;
            }
            let mut r = Reply::error(StatusCode::OK, "nexmo_error")
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
    }
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
