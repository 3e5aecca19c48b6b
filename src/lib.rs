//! nexmo-proxy: a self-hosted SMS gateway for public web forms, in front of
//! the Nexmo (Vonage) SMS API.
//!
//! The path of a request:
//! 1. **route** — `endpoints::dispatch` looks the path up in the current
//!    `app::Runtime` (swapped whole on reload) and reads the parameters;
//! 2. **client** — `client::client_ip` names the client, believing
//!    forwarding headers only from trusted proxies;
//! 3. **phone** — `phone::parse` makes a `PhoneNumber`, asking `geo` for the
//!    country of a national number;
//! 4. **limit** — `limiter` decides every rule of the endpoint in one step;
//! 5. **send** — `nexmo` posts the rendered template (`endpoints::template`);
//! 6. **respond** — `response::Reply` renders JSON or JSONP.
//!
//! `config` loads and validates the settings (start-up, `--check`, reload);
//! `reload` watches the file and `SIGHUP`; `fake_nexmo` is the test double
//! of the SMS API shipped as the `fake-nexmo` binary.

pub mod app;
pub mod client;
pub mod config;
pub mod endpoints;
pub mod fake_nexmo;
pub mod geo;
pub mod limiter;
pub mod nexmo;
pub mod phone;
pub mod policy;
pub mod reload;
pub mod response;
