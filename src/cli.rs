//! Command-line flags: our own (`--config`, `--check`) and every flag of the
//! old Tornado proxy, which keep their old names (underscores, `--x=v` or
//! `--x v`) so its users can switch by changing one command. Values stay raw
//! strings here; `legacy` parses them with the same rules as the old
//! upper-case environment variables.

use clap::Parser;
use std::path::PathBuf;

#[derive(Debug, Clone, Default, Parser)]
#[command(
    name = "nexmo-proxy",
    version,
    about = "SMS gateway for public web forms, in front of the Nexmo (Vonage) SMS API",
    after_help = "Every setting of proxy.toml can also be set as NEXMO_PROXY_<TABLE>__<KEY>. \
                  Legacy flags and upper-case variables of the old proxy (PORT, MESSAGE, ...) win over both."
)]
pub struct Cli {
    /// Configuration file (default: ./proxy.toml when present).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Validate the configuration, print a summary and exit (0 = valid).
    #[arg(long)]
    pub check: bool,

    /// Print the effective configuration as TOML (secrets as ***), each value
    /// not at its default marked with where it was set, and exit.
    #[arg(long, conflicts_with = "check")]
    pub print_config: bool,

    /// Log level: debug, info, warning, error or none (env_logger's RUST_LOG also works).
    #[arg(long, value_name = "LEVEL")]
    pub logging: Option<String>,

    #[command(flatten)]
    pub legacy: LegacyFlags,
}

/// The old proxy's options, one flag each. `None` means "not given".
#[derive(Debug, Clone, Default, clap::Args)]
pub struct LegacyFlags {
    /// Port to listen on (PORT; default 8888).
    #[arg(long, value_name = "PORT")]
    pub port: Option<String>,
    /// Listen on 127.0.0.1 only (LOCALHOSTONLY).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub localhostonly: Option<String>,
    /// Text of the default message handler (MESSAGE).
    #[arg(long, value_name = "TEXT")]
    pub message: Option<String>,
    /// Sender of the default message handler (SENDER).
    #[arg(long, value_name = "SENDER")]
    pub sender: Option<String>,
    /// Path of the default message handler (REQUEST_PATH; default /message/).
    #[arg(long = "request_path", alias = "request-path", value_name = "PATH")]
    pub request_path: Option<String>,
    /// Guess the country of national numbers (GUESS_COUNTRY).
    #[arg(long = "guess_country", alias = "guess-country", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub guess_country: Option<String>,
    /// Country for national numbers when guessing fails or is off (DEFAULT_COUNTRY; default DE).
    #[arg(long = "default_country", alias = "default-country", value_name = "CC")]
    pub default_country: Option<String>,
    /// Requests per client IP and window; 0 = no limit (LIMIT_AMOUNT; default 10).
    #[arg(long = "limit_amount", alias = "limit-amount", value_name = "N")]
    pub limit_amount: Option<String>,
    /// Limit window in seconds (LIMIT_EXPIRES; default 3600).
    #[arg(
        long = "limit_expires",
        alias = "limit-expires",
        value_name = "SECONDS"
    )]
    pub limit_expires: Option<String>,
    /// (NEXMO_API_KEY)
    #[arg(long = "nexmo_api_key", alias = "nexmo-api-key", value_name = "KEY")]
    pub nexmo_api_key: Option<String>,
    /// (NEXMO_API_SECRET)
    #[arg(
        long = "nexmo_api_secret",
        alias = "nexmo-api-secret",
        value_name = "SECRET",
        hide_env_values = true
    )]
    pub nexmo_api_secret: Option<String>,
    /// Delivery-receipt URL sent with every message (NEXMO_DLR_URL).
    #[arg(long = "nexmo_dlr_url", alias = "nexmo-dlr-url", value_name = "URL")]
    pub nexmo_dlr_url: Option<String>,
    /// Nexmo host, may carry :port (NEXMO_DOMAIN; default rest.nexmo.com).
    #[arg(long = "nexmo_domain", alias = "nexmo-domain", value_name = "HOST")]
    pub nexmo_domain: Option<String>,
    /// (NEXMO_ENDPOINT; default sms/json)
    #[arg(long = "nexmo_endpoint", alias = "nexmo-endpoint", value_name = "PATH")]
    pub nexmo_endpoint: Option<String>,
    /// Sender used for +1 receivers (NEXMO_LONG_VIRTUAL_NUMBER).
    #[arg(
        long = "nexmo_long_virtual_number",
        alias = "nexmo-long-virtual-number",
        value_name = "NUMBER"
    )]
    pub nexmo_long_virtual_number: Option<String>,
    /// Use HTTPS towards Nexmo (NEXMO_SSL; default true).
    #[arg(long = "nexmo_ssl", alias = "nexmo-ssl", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub nexmo_ssl: Option<String>,
    /// (REDIS_HOST)
    #[arg(long = "redis_host", alias = "redis-host", value_name = "HOST")]
    pub redis_host: Option<String>,
    /// (REDIS_PORT)
    #[arg(long = "redis_port", alias = "redis-port", value_name = "PORT")]
    pub redis_port: Option<String>,
    /// (REDIS_PASSWORD)
    #[arg(
        long = "redis_password",
        alias = "redis-password",
        value_name = "PASSWORD"
    )]
    pub redis_password: Option<String>,
    /// (REDIS_DB)
    #[arg(long = "redis_db", alias = "redis-db", value_name = "DB")]
    pub redis_db: Option<String>,
    /// Log would-be messages instead of sending them (DEVELOPMENT_MODE).
    #[arg(long = "development_mode", alias = "development-mode", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub development_mode: Option<String>,
}
