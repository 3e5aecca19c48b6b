//! What systemd learns of the proxy's life (`Type=notify`): ready once it
//! listens, reloading and ready again around each reload (with the
//! monotonic time systemd 253 and later require), alive (`watchdog`),
//! stopping on shutdown.
//! Without `NOTIFY_SOCKET` (not run by systemd) every call does nothing.

use sd_notify::NotifyState;

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        log::warn!("cannot tell systemd ({e})");
    }
}

pub(crate) fn ready() {
    send(&[NotifyState::Ready]);
}

pub(crate) fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(e) => log::warn!("cannot tell systemd about the reload ({e})"),
    }
}

pub(crate) fn watchdog() {
    send(&[NotifyState::Watchdog]);
}

pub(crate) fn stopping() {
    send(&[NotifyState::Stopping]);
}
