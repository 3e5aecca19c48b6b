//! The `nexmo-proxy` binary: parse the command line, set up logging, load
//! the configuration, and run (or, with `--check`, report and exit).

use clap::Parser;
use nexmo_proxy::cli::Cli;
use nexmo_proxy::config::{self, Sources};
use std::process::ExitCode;

fn init_logging(level: Option<&str>) -> Result<(), String> {
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
        .filter_module("rustls", log::LevelFilter::Warn);
    b.format_timestamp_millis();
    b.try_init().map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = init_logging(cli.logging.as_deref()) {
        eprintln!("{e}");
        return ExitCode::from(2);
    }
    let sources = Sources::from_cli(&cli);
    let settings = match config::load(&sources) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if cli.check {
        return match nexmo_proxy::check::report(&settings) {
            Ok(summary) => {
                print!("{summary}");
                println!("configuration OK");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("invalid configuration (1 problem)\n  {e}");
                ExitCode::from(2)
            }
        };
    }
    match nexmo_proxy::server::run(settings, sources) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            eprintln!("nexmo-proxy: {e}");
            ExitCode::from(1)
        }
    }
}
