//! Delivery receipts in, delivery states out. The receipt path (that of
//! `nexmo.dlr_url`) believes only what Nexmo signed with the signature
//! secret, or, without one, what carries our API key; it answers at once,
//! and 503 when the store cannot take the receipt, so Nexmo sends it again.
//! `/message_status/` answers a page with the state of the send one of its
//! message ids belongs to.

use super::Ctx;
use crate::config::NexmoSettings;
use crate::params::Params;
use crate::receipts::{plausible_id, Receipt};
use crate::response::{ErrorCode, Reply};
use crate::signature;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use subtle::ConstantTimeEq;

/// 9999-12-31T23:59:59Z.
const LATEST_MS: u64 = 253_402_300_799_000;

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Why a receipt is not believed, or `Ok`. The query of `nexmo.dlr_url`
/// (a token an operator put there) must come back as it was; the receipt
/// must then be signed (with or without those query parameters: whether
/// Nexmo signs them is not documented) or, with no signature secret, carry
/// our API key.
fn authentic(params: &Params, nexmo: &NexmoSettings, now_s: u64) -> Result<(), String> {
    let same = |a: &str, b: &str| bool::from(a.as_bytes().ct_eq(b.as_bytes()));
    let ours: Vec<(String, String)> = nexmo
        .dlr_url
        .as_deref()
        .and_then(|u| url::Url::parse(u).ok())
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default();
    for (k, v) in &ours {
        if !params.raw(k).is_some_and(|given| same(given, v)) {
            return Err(format!(
                "the {k} of nexmo.dlr_url's query is missing or wrong"
            ));
        }
    }
    if !nexmo.signature_secret.is_empty() {
        let secret = nexmo.signature_secret.expose();
        let method = nexmo.signature_method;
        let own = params
            .pairs()
            .filter(|(k, _)| !ours.iter().any(|(q, _)| q == k));
        return signature::verify(own, secret, method, now_s)
            .or_else(|_| signature::verify(params.pairs(), secret, method, now_s))
            .map_err(|why| format!("signature: {why}"));
    }
    let given = params.get("api-key").unwrap_or("");
    if !nexmo.api_key.is_empty() && same(given, &nexmo.api_key) {
        Ok(())
    } else {
        Err("api-key is not ours".into())
    }
}

pub(super) async fn receive(ctx: &Ctx<'_>) -> Reply {
    let nexmo = &ctx.rt.settings.nexmo;
    let now = unix_ms();
    let refused = |code: ErrorCode, why: &str| {
        let line = format!("refused a delivery receipt from {}: {why}", ctx.ip);
        let kind = format!("receipts refused on {}", ctx.spec.path);
        ctx.state.log_throttle.log(log::Level::Warn, &kind, &line);
        Reply::error(code)
    };
    if let Err(why) = authentic(ctx.params, nexmo, now / 1000) {
        return refused(ErrorCode::Unauthorized, &why);
    }
    let receipt = match Receipt::parse(|k| ctx.params.get(k), now) {
        Ok(r) => r,
        Err(why) => return refused(ErrorCode::InvalidReceipt, why),
    };
    match ctx.rt.receipts.record(&receipt, nexmo.receipt_ttl).await {
        Ok(()) => {
            count_receipt(ctx, &receipt);
            Reply::ok()
        }
        Err(e) => {
            let line = format!("could not store a delivery receipt ({e}); Nexmo will retry");
            let kind = "receipt store failures".to_string();
            ctx.state.log_throttle.log(log::Level::Error, &kind, &line);
            Reply::error(ErrorCode::ServiceUnavailable).retry_after(5)
        }
    }
}

/// One believed receipt, by status and the country of its receiver (the
/// number itself goes nowhere).
fn count_receipt(ctx: &Ctx<'_>, receipt: &Receipt) {
    let country = ctx
        .params
        .get("msisdn")
        .and_then(|m| crate::phone::parse(&format!("+{m}"), || [ctx.spec.country.default]).ok())
        .and_then(|n| n.country())
        .map_or("unknown".into(), |c| c.code());
    let labels = crate::metrics::ReceiptLabels {
        status: receipt.state.status.as_str().into(),
        country,
    };
    ctx.state.metrics.receipts.get_or_create(&labels).inc();
}

pub(super) async fn status(ctx: &Ctx<'_>) -> Reply {
    // Counted first, so probing for ids costs like any request.
    if let Err(denied) = ctx.admit(None).await {
        return denied.into();
    }
    let Some(id) = ctx.params.get("id").filter(|id| plausible_id(id)) else {
        return Reply::error(ErrorCode::InvalidMessageId);
    };
    match ctx.rt.receipts.status(id).await {
        Ok(Some(s)) => {
            // humantime cannot write years past 9999; stored times are ours,
            // but a damaged store must not make this fail.
            let updated = UNIX_EPOCH + Duration::from_millis(s.updated_ms.min(LATEST_MS));
            Reply::ok()
                .field("delivery", s.delivery.as_str())
                .field("parts", s.parts)
                .field(
                    "updated",
                    humantime::format_rfc3339_seconds(updated).to_string(),
                )
        }
        // Never sent here, forgotten, or someone else's: all look alike.
        Ok(None) => Reply::ok().field("delivery", "unknown"),
        Err(e) => {
            let line = format!("could not read delivery states ({e})");
            let kind = "receipt store failures".to_string();
            ctx.state.log_throttle.log(log::Level::Error, &kind, &line);
            Reply::error(ErrorCode::ServiceUnavailable).retry_after(1)
        }
    }
}
