//! systemd's watchdog (`WatchdogSec=`): `WATCHDOG=1` is sent only while
//! every HTTP worker's event loop runs, so a worker stuck in a blocking
//! call or a lock gets the service restarted, not just a hung process.
//! Each worker beats on its own loop; the check runs on the main one.
//! Without `WATCHDOG_USEC` nothing runs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

pub(crate) struct Watchdog {
    interval: Duration,
    start: Instant,
    /// Each live worker's last beat, in ms since `start`; a worker that
    /// ended (and was replaced) drops its own.
    beats: Mutex<Vec<Weak<AtomicU64>>>,
}

impl Watchdog {
    /// Set up when systemd asks for a watchdog (for this process).
    pub(crate) fn from_env() -> Option<Arc<Watchdog>> {
        // `WATCHDOG_USEC=0` is no watchdog (and no zero-length timer).
        sd_notify::watchdog_enabled()
            .filter(|interval| !interval.is_zero())
            .map(|interval| Arc::new(Watchdog::new(interval)))
    }

    fn new(interval: Duration) -> Watchdog {
        Watchdog {
            interval,
            start: Instant::now(),
            beats: Mutex::new(Vec::new()),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// A new worker's heartbeat, already beating once.
    fn register(&self) -> Arc<AtomicU64> {
        let beat = Arc::new(AtomicU64::new(self.now_ms()));
        let mut beats = self.beats.lock().unwrap_or_else(|e| e.into_inner());
        beats.retain(|b| b.strong_count() > 0);
        beats.push(Arc::downgrade(&beat));
        beat
    }

    /// Runs on the calling worker's loop: beats four times an interval.
    pub(crate) fn beat_here(self: &Arc<Self>) {
        let beat = self.register();
        let dog = self.clone();
        actix_web::rt::spawn(async move {
            let mut tick = actix_web::rt::time::interval(dog.interval / 4);
            loop {
                tick.tick().await;
                beat.store(dog.now_ms(), Ordering::Relaxed);
            }
        });
    }

    /// The worker beats not older than half an interval, or `Err` with the
    /// age of the oldest.
    fn healthy(&self) -> Result<(), Duration> {
        let now = self.now_ms();
        let beats = self.beats.lock().unwrap_or_else(|e| e.into_inner());
        let oldest = beats
            .iter()
            .filter_map(Weak::upgrade)
            .map(|b| now.saturating_sub(b.load(Ordering::Relaxed)))
            .max()
            .unwrap_or(0);
        let age = Duration::from_millis(oldest);
        if age < self.interval / 2 {
            Ok(())
        } else {
            Err(age)
        }
    }

    /// Runs on the main loop: tells systemd twice an interval that all is well.
    pub(crate) fn keep_telling(self: Arc<Self>) {
        actix_web::rt::spawn(async move {
            let mut tick = actix_web::rt::time::interval(self.interval / 2);
            loop {
                tick.tick().await;
                match self.healthy() {
                    Ok(()) => crate::systemd::watchdog(),
                    Err(age) => log::error!(
                        "an HTTP worker has not run for {age:.1?}: not telling systemd's watchdog"
                    ),
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_that_stopped_beating_withholds_the_watchdog() {
        let dog = Watchdog::new(Duration::from_millis(200));
        let live = dog.register();
        let _stuck = dog.register();
        std::thread::sleep(Duration::from_millis(120));
        live.store(dog.now_ms(), Ordering::Relaxed);
        assert!(dog.healthy().is_err(), "one worker stuck for 120 ms");
        drop(_stuck);
        assert_eq!(dog.healthy(), Ok(()), "an ended worker does not count");
    }
}
