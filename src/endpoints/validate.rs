//! `/validate_number/`: parse, validate and normalise a number without
//! sending anything. Answers as the old proxy did: `number` is the display
//! form, or `false` (with a `reason`) for an invalid number.

use super::{Ctx, Target};
use crate::phone;
use crate::response::{ErrorCode, Reply};

pub(super) async fn handle(ctx: &Ctx<'_>) -> Reply {
    let Some(raw) = ctx.params.raw("number") else {
        // Counted like any other request, so probing costs budget.
        return match ctx.admit(None).await {
            Ok(_) => Reply::error(ErrorCode::NumberMissing),
            Err(denied) => denied.into(),
        };
    };
    let parsed = phone::parse(raw, || ctx.candidate_regions());
    let target = parsed.as_ref().ok().map(|number| Target {
        number,
        parts: 0,
        trusted: false,
    });
    if let Err(denied) = ctx.admit(target.as_ref()).await {
        return denied.into();
    }
    let masked = parsed.as_ref().ok().map(|n| n.masked());
    let reply = match parsed {
        Ok(n) => {
            let reply = Reply::ok()
                .field("number", n.display())
                .field("e164", n.e164())
                .field("country", n.country().map(|c| c.code()))
                .field("type", n.kind().as_str());
            match n.read_in() {
                Some(region) => reply.field("read_in", region.code()),
                None => reply,
            }
        }
        Err(why) => Reply::ok()
            .field("number", false)
            .field("reason", why.reason()),
    };
    reply.about(masked)
}
