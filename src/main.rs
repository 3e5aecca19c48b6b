//! The `nexmo-proxy` binary: parse the command line, set up logging, load
//! the configuration, and run (or, with `--check` or `--print-config`,
//! report and exit).

use clap::Parser;
use nexmo_proxy::cli::Cli;
use nexmo_proxy::config::{self, Sources};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let logs = match nexmo_proxy::logging::init(cli.logging.as_deref()) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let sources = Sources::from_cli(&cli);
    if cli.print_config {
        return match config::effective_toml(&sources) {
            Ok(toml) => {
                print!("{toml}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                logs.flush();
                eprintln!("{e}");
                ExitCode::from(2)
            }
        };
    }
    let settings = match config::load(&sources) {
        Ok(s) => s,
        Err(e) => {
            logs.flush();
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
            logs.flush();
            eprintln!("nexmo-proxy: {e}");
            ExitCode::from(1)
        }
    }
}
