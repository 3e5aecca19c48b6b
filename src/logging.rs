//! Logging: env_logger's filters and format, with lines handed through a
//! bounded channel to one writer thread that writes whatever has queued in
//! one `write`, at most every 5 ms. A line per request (the access log)
//! then costs a queue push instead of a locked system call and a thread
//! wake-up; a full queue makes loggers wait rather than grow memory.
//! `LogGuard` drains the queue before the process exits.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, Sender, SyncSender};
use std::sync::OnceLock;

/// The queue, for access lines written without env_logger's formatting.
static QUEUE_TX: OnceLock<SyncSender<Message>> = OnceLock::new();
/// Whether `RUST_LOG` lets access lines through (it cannot change while
/// the process runs, so it is asked once).
static ACCESS_ON: AtomicBool = AtomicBool::new(false);
const ACCESS_TARGET: &str = "nexmo_proxy::access";

/// Lines waiting to be written, at most.
const QUEUE: usize = 16 * 1024;

/// The writer's pause after each batch: how late a line may appear.
const BATCH_PAUSE: std::time::Duration = std::time::Duration::from_millis(5);

enum Message {
    Line(Vec<u8>),
    /// Answered once everything queued before it is written.
    Flush(Sender<()>),
}

/// env_logger's pipe: each record's bytes into the queue.
struct Queue(SyncSender<Message>);

impl Write for Queue {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .send(Message::Line(buf.to_vec()))
            .map_err(|_| std::io::Error::other("log writer stopped"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        // The writer flushes after every batch; waiting here would make
        // each line a round trip.
        Ok(())
    }
}

fn write_batches(rx: Receiver<Message>) {
    let mut out = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut acks = Vec::new();
        let mut next = Some(first);
        while let Some(m) = next {
            match m {
                Message::Line(l) => out.extend_from_slice(&l),
                Message::Flush(ack) => acks.push(ack),
            }
            next = rx.try_recv().ok();
        }
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(&out);
        let _ = err.flush();
        out.clear();
        for ack in acks {
            let _ = ack.send(());
        }
        // Lines that come meanwhile queue up without waking this thread:
        // under a flood a wake-up per line would cost more than the line.
        std::thread::sleep(BATCH_PAUSE);
    }
}

/// Drains the queue when dropped, so the last lines are not lost at exit.
pub struct LogGuard(SyncSender<Message>);

impl LogGuard {
    /// Waits (2 s at most, even with the queue full and stderr stuck) until
    /// every line queued so far is written: before writing to stderr
    /// directly, so the order stays as it happened.
    pub fn flush(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        let (tx, rx) = std::sync::mpsc::channel();
        let mut msg = Message::Flush(tx);
        loop {
            match self.0.try_send(msg) {
                Ok(()) => break,
                Err(std::sync::mpsc::TrySendError::Full(m))
                    if std::time::Instant::now() < deadline =>
                {
                    msg = m;
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                Err(_) => return,
            }
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let _ = rx.recv_timeout(left);
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Sets up logging: info by default, `RUST_LOG` for filters, the old
/// proxy's `--logging` level over both.
pub fn init(level: Option<&str>) -> Result<LogGuard, String> {
    let mut b = env_logger::Builder::new();
    b.filter_level(log::LevelFilter::Info);
    if let Ok(spec) = std::env::var("RUST_LOG") {
        b.parse_filters(&spec);
    }
    if let Some(level) = level {
        let filter = match level.to_ascii_lowercase().as_str() {
            "debug" => log::LevelFilter::Debug,
            "info" => log::LevelFilter::Info,
            "warning" | "warn" => log::LevelFilter::Warn,
            "error" => log::LevelFilter::Error,
            "none" | "off" => log::LevelFilter::Off,
            other => {
                return Err(format!(
                    "--logging: unknown level {other:?} (debug, info, warning, error, none)"
                ))
            }
        };
        b.filter_level(filter);
    }
    // Dependencies are chatty at debug; their debug lines can carry request
    // details we do not control.
    b.filter_module("awc", log::LevelFilter::Warn)
        .filter_module("actix_http", log::LevelFilter::Warn)
        .filter_module("h2", log::LevelFilter::Warn)
        .filter_module("rustls", log::LevelFilter::Warn)
        // The cluster client warns at each reconnect attempt while a node
        // is down, many a second; the limiter logs each change of state.
        .filter_module("redis", log::LevelFilter::Error);
    b.format_timestamp_millis();
    let (tx, rx) = sync_channel(QUEUE);
    std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || write_batches(rx))
        .map_err(|e| format!("cannot start the log writer: {e}"))?;
    b.target(env_logger::Target::Pipe(Box::new(Queue(tx.clone()))));
    b.try_init().map_err(|e| e.to_string())?;
    let access = log::Metadata::builder()
        .target(ACCESS_TARGET)
        .level(log::Level::Info)
        .build();
    ACCESS_ON.store(log::logger().enabled(&access), Ordering::Relaxed);
    let _ = QUEUE_TX.set(tx.clone());
    Ok(LogGuard(tx))
}

/// One access line, in env_logger's format but formatted here: under a
/// flood it is written once per request, so it skips the filter match and
/// the record machinery. Without `init` (library tests), through `log`.
pub(crate) fn access(line: std::fmt::Arguments<'_>) {
    let Some(tx) = QUEUE_TX.get() else {
        log::info!(target: ACCESS_TARGET, "{line}");
        return;
    };
    if !ACCESS_ON.load(Ordering::Relaxed) {
        return;
    }
    let mut buf = Vec::with_capacity(128);
    let now = humantime::format_rfc3339_millis(std::time::SystemTime::now());
    let _ = writeln!(buf, "[{now} INFO  {ACCESS_TARGET}] {line}");
    let _ = tx.send(Message::Line(buf));
}
