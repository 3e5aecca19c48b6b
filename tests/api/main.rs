//! The integration tests, one binary: each module drives the real
//! `nexmo-proxy` and `fake-nexmo` binaries (and a private `redis-server`)
//! through `common`, the one helper that starts them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser;
mod check;
mod cluster;
mod common;
mod config;
mod cors;
mod fake_nexmo;
mod faults;
mod hostile;
mod lifecycle;
mod limits;
mod message;
mod operations;
mod protection;
mod receipts;
mod reload;
mod robustness;
mod shaping;
mod structure;
mod validate_number;
