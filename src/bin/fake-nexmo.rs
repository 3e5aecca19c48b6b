//! `fake-nexmo`: the fake SMS API for tests and staging. Prints
//! `fake-nexmo listening on http://127.0.0.1:PORT` once it accepts requests.

use clap::Parser;
use nexmo_proxy::fake_nexmo::{serve, FakeNexmo, Transport, DLR_MAGIC, MAGIC, MAGIC_PREFIX};
use std::io::Write;
use std::net::TcpListener;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "fake-nexmo",
    about = "A fake of the Nexmo SMS API that answers as the documented one does"
)]
struct Args {
    /// Port to listen on; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// The API key it accepts.
    #[arg(long, default_value = "testkey1")]
    api_key: String,
    /// The API secret it accepts.
    #[arg(long, default_value = "testsecret")]
    api_secret: String,
    /// Also accept requests signed with this signature secret.
    #[arg(long)]
    signature_secret: Option<String>,
    /// The signature method: md5hash, md5, sha1, sha256 or sha512.
    #[arg(long, default_value = "md5hash")]
    signature_method: String,
    /// How delivery receipts travel to a message's callback: get, form or json.
    #[arg(long, default_value = "get")]
    dlr_method: String,
    /// Wait before each delivery receipt, in ms.
    #[arg(long, default_value_t = 50)]
    dlr_delay_ms: u64,
    /// Requests per second taken before answering status 1 (0: no limit).
    #[arg(long, default_value_t = 0)]
    max_rps: u32,
    /// How long the slow magic receiver waits, in ms.
    #[arg(long, default_value_t = 3000)]
    slow_ms: u64,
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let mut fake = FakeNexmo::new(
        &args.api_key,
        &args.api_secret,
        Duration::from_millis(args.slow_ms),
    );
    let transport = Transport::parse(&args.dlr_method).ok_or_else(|| {
        std::io::Error::other(format!(
            "--dlr-method {:?}: get, form or json",
            args.dlr_method
        ))
    })?;
    fake = fake.with_receipts(transport, Duration::from_millis(args.dlr_delay_ms));
    if args.max_rps > 0 {
        fake = fake.with_max_rps(args.max_rps);
    }
    if let Some(secret) = &args.signature_secret {
        fake = fake
            .with_signature(secret, &args.signature_method)
            .map_err(std::io::Error::other)?;
    }
    let listener = TcpListener::bind((args.host.as_str(), args.port))?;
    let addr = listener.local_addr()?;
    actix_web::rt::System::new().block_on(async move {
        let server = serve(listener, fake)?;
        let mut out = std::io::stdout();
        writeln!(out, "fake-nexmo listening on http://{addr}")?;
        for (code, what) in MAGIC.iter().chain(DLR_MAGIC) {
            writeln!(out, "  to={MAGIC_PREFIX}{code}: {what}")?;
        }
        writeln!(
            out,
            "  to={MAGIC_PREFIX}01..34: that status with its documented error-text"
        )?;
        out.flush()?;
        server.await
    })
}
