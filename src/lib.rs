//! nexmo-proxy: a self-hosted SMS gateway for public web forms, in front of
//! the Nexmo (Vonage) SMS API.
//!
//! The path of a request:
//! 1. **route** — `endpoints::dispatch` looks the path up in the current
//!    `state::Runtime` (swapped whole on reload) and reads the parameters
//!    (`params`);
//! 2. **client** — `client::client_ip` names the client, believing
//!    forwarding headers only from trusted proxies;
//! 3. **phone** — `phone::parse` makes a `PhoneNumber`, asking `geo` for the
//!    country of a national number; `policy` checks the destination;
//! 4. **limit** — `limiter` decides every rule of the endpoint in one step;
//! 5. **send** — `nexmo` posts the rendered `template` (signed by
//!    `signature` when configured), its parts counted by `gsm`, in a slot
//!    of its throughput shaper; `receipts` keeps what Nexmo later reports
//!    of each part, for `/message_status/`;
//! 6. **respond** — `response::Reply` renders JSON or JSONP, every error an
//!    `ErrorCode`.
//!
//! Which module may use which: imports flow down this list, never up and
//! never round a circle (`tests/api/structure.rs` checks it):
//! - start-up: `server` (and `admin`, the admin listener) and `check`
//!   (what `--check` adds to `config::load`),
//!   used by `main.rs`; `fake_nexmo`, the test double of the SMS API shipped
//!   as the `fake-nexmo` binary, uses only leaves;
//! - request handling and reload: `endpoints`, `reload`;
//! - shared state: `state` (`AppState`, `Runtime`, building a runtime);
//! - services: `nexmo`, `geo`, `policy`, `limiter`, `receipts`, `client`;
//! - configuration: `config` (`load()` for start-up, `--check` and reload);
//! - leaves, which use only leaves: `cli`, `params` (→ `response`),
//!   `response`, `phone`, `template` (→ `gsm`), `gsm`, `secret`,
//!   `signature` (Nexmo's `sig`, both ways), `systemd` (sd_notify),
//!   `watchdog` (→ `systemd`: systemd's watchdog, fed while every worker runs),
//!   `metrics` (what Prometheus scrapes), `logging` (batched log writer,
//!   access lines), `throttle`
//!   (refusal log summaries), `inflight` (connections and requests in progress per
//!   client), `tolerant`, `demo` (the example form served at `/`),
//!   `redis_pool` (one Redis server or a cluster, for every store).

mod admin;
pub mod check;
pub mod cli;
mod client;
pub mod config;
mod demo;
mod endpoints;
pub mod fake_nexmo;
mod geo;
mod gsm;
mod inflight;
mod limiter;
pub mod logging;
mod metrics;
mod nexmo;
mod params;
pub mod phone;
mod policy;
mod receipts;
mod redis_pool;
mod reload;
mod response;
mod secret;
pub mod server;
mod signature;
mod state;
mod systemd;
mod template;
mod throttle;
mod tolerant;
mod watchdog;
