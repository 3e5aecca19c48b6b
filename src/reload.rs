//! Hot reload: a saved `proxy.toml` or a `SIGHUP` loads the configuration
//! again through the same `config::load` as start-up (so environment and
//! flag overrides still win), builds a whole new `Runtime`, and swaps it in
//! one step. A configuration that fails anywhere is logged with every
//! problem and changes nothing. Requests in flight finish on the snapshot
//! they started with.
//!
//! The watcher watches the file's directory, not the file: editors that
//! save by rename and Kubernetes' `..data` symlink swaps replace the inode a
//! file watch would follow. Any event there triggers a look at the file's
//! bytes, and only changed bytes trigger a reload.

use crate::config::{self, EndpointSpec, Settings};
use crate::state::{AppState, Runtime};
use notify::RecursiveMode;
use notify_debouncer_full::new_debouncer;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Quiet time after the last file event before the file is read.
const DEBOUNCE: Duration = Duration::from_millis(200);

/// Why a reload was asked for.
#[derive(Debug, Clone, Copy)]
enum Trigger {
    Signal,
    FileChanged,
}

/// Loads, validates and applies the configuration once.
fn reload_now(state: &AppState, trigger: Trigger) {
    let current = state.snapshot();
    let outcome = match config::load(&state.sources) {
        Err(e) => Err(e
            .problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()),
        Ok(mut settings) => {
            let restart = keep_restart_only(&current.settings.server, &mut settings.server);
            let mut changes = describe_changes(&current.settings, &settings);
            for moved in shard_moves(&current.settings, &settings) {
                log::warn!("reload ({trigger:?}): {moved}");
            }
            let geo_file = current.geo.file_changed();
            if geo_file {
                changes.push("geoip database file".into());
            }
            if *current.settings == settings && !geo_file && restart.is_empty() {
                Ok(None)
            } else {
                if changes.is_empty() && *current.settings != settings {
                    changes.push("settings changed (see --check)".into());
                }
                match Runtime::build(settings, current.generation + 1, Some(&current)) {
                    Ok(rt) => Ok(Some((rt, changes, restart))),
                    Err(e) => Err(vec![e.to_string()]),
                }
            }
        }
    };
    match &outcome {
        Err(problems) => count(state, "rejected", Some(problems.join("; "))),
        Ok(None) => count(state, "unchanged", None),
        Ok(Some(_)) => count(state, "applied", None),
    }
    match outcome {
        Err(problems) => {
            for p in &problems {
                log::error!("reload ({trigger:?}) rejected: {p}");
            }
            log::error!("keeping configuration generation {}", current.generation);
        }
        Ok(None) => {
            log::info!(
                "reload ({trigger:?}): configuration unchanged, keeping generation {}",
                current.generation
            );
        }
        Ok(Some((rt, changes, restart))) => {
            let generation = rt.generation;
            for r in &restart {
                log::warn!("reload: {r} changed but requires restart; still using the old value");
            }
            for w in &rt.settings.warnings {
                log::warn!("{w}");
            }
            state.metrics.generation.set(generation as i64);
            state.swap(rt);
            let what = if changes.is_empty() {
                "nothing live".to_string()
            } else {
                changes.join("; ")
            };
            log::info!(
                "reload ({trigger:?}): applied configuration generation {generation}: {what}"
            );
        }
    }
}

/// The reload's result for the metrics and `/readyz`; `error` is kept
/// until a reload is not refused.
fn count(state: &AppState, result: &str, error: Option<String>) {
    let labels = crate::metrics::ReloadResult {
        result: result.into(),
    };
    state.metrics.reloads.get_or_create(&labels).inc();
    *state
        .last_reload_error
        .lock()
        .unwrap_or_else(|e| e.into_inner()) = error;
}

/// What of `new` only a restart can apply (the sockets, the workers and
/// what they were built with), named with both values; `new` keeps the
/// running values, so the snapshot says what is really in effect.
fn keep_restart_only(
    old: &crate::config::ServerSettings,
    new: &mut crate::config::ServerSettings,
) -> Vec<String> {
    let mut changed = Vec::new();
    macro_rules! keep {
        ($($field:ident),*) => {$(
            if old.$field != new.$field {
                changed.push(format!(
                    concat!("server.", stringify!($field), " ({:?} -> {:?})"),
                    old.$field, new.$field
                ));
                new.$field = old.$field.clone();
            }
        )*};
    }
    keep!(
        listen,
        workers,
        max_connections,
        admin_listen,
        shutdown_timeout
    );
    changed
}

/// A stable fingerprint of an endpoint, for telling changed ones apart.
fn fingerprint(e: &EndpointSpec) -> String {
    format!("{e:?}")
}

/// What a reload changes, in words (no secret values).
fn describe_changes(old: &Settings, new: &Settings) -> Vec<String> {
    let mut out = Vec::new();
    let old_eps: Vec<&EndpointSpec> = old.all_endpoints().collect();
    let new_eps: Vec<&EndpointSpec> = new.all_endpoints().collect();
    let old_paths: BTreeSet<&str> = old_eps.iter().map(|e| e.path.as_str()).collect();
    let new_paths: BTreeSet<&str> = new_eps.iter().map(|e| e.path.as_str()).collect();
    let added: Vec<&str> = new_paths.difference(&old_paths).copied().collect();
    let removed: Vec<&str> = old_paths.difference(&new_paths).copied().collect();
    let changed: Vec<&str> = new_eps
        .iter()
        .filter(|n| {
            old_eps
                .iter()
                .any(|o| o.path == n.path && fingerprint(o) != fingerprint(n))
        })
        .map(|e| e.path.as_str())
        .collect();
    if !added.is_empty() {
        out.push(format!("endpoints added: {}", added.join(", ")));
    }
    if !removed.is_empty() {
        out.push(format!("endpoints removed: {}", removed.join(", ")));
    }
    if !changed.is_empty() {
        out.push(format!("endpoints changed: {}", changed.join(", ")));
    }
    let mut settings = Vec::new();
    if old.nexmo != new.nexmo {
        settings.push("nexmo");
    }
    match (&old.redis, &new.redis) {
        (Some(o), Some(n)) if o.same_store(n) && o != n => {
            settings.push("redis (how failures are answered; counters kept)")
        }
        (o, n) if o != n => settings.push("redis (new pool; the old one drains)"),
        _ => {}
    }
    if old.geoip != new.geoip {
        settings.push("geoip");
    }
    if old.server.trusted_proxies != new.server.trusted_proxies {
        settings.push("server.trusted_proxies");
    }
    if old.server.max_body_bytes != new.server.max_body_bytes {
        settings.push("server.max_body_bytes");
    }
    if old.server.client_timeout != new.server.client_timeout {
        settings.push("server.client_timeout (the body's now, the head's at restart)");
    }
    if old.server.max_connections_per_ip != new.server.max_connections_per_ip {
        settings.push("server.max_connections_per_ip");
    }
    if old.limits != new.limits {
        settings.push("limits");
    }
    if !settings.is_empty() {
        out.push(format!("settings changed: {}", settings.join(", ")));
    }
    out
}

/// In a Redis Cluster, the endpoints whose counters change hash tag (a
/// global rule added or removed: `EndpointSpec::shard`). Their counters
/// are new keys: each of their limits and budgets starts afresh.
fn shard_moves(old: &Settings, new: &Settings) -> Vec<String> {
    let cluster = |s: &Settings| s.redis.as_ref().is_some_and(|r| !r.cluster.is_empty());
    if !cluster(old) || !cluster(new) {
        return Vec::new();
    }
    new.all_endpoints()
        .filter_map(|n| {
            let o = old.all_endpoints().find(|o| o.path == n.path)?;
            (o.shard() != n.shard()).then(|| {
                format!(
                    "the counters of {} move from {{{}}} to {{{}}} in the Redis Cluster (a global rule was {}): its limits and budget start afresh",
                    n.path,
                    o.shard(),
                    n.shard(),
                    if n.shard() == "*" { "added" } else { "removed" }
                )
            })
        })
        .collect()
}

fn read_bytes(path: &Path) -> Option<Vec<u8>> {
    std::fs::read(path).ok()
}

/// Starts the `SIGHUP` handler and, when there is a configuration file, the
/// directory watcher. Must run inside the server's runtime.
pub(crate) fn spawn(state: Arc<AppState>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Trigger>();

    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(mut hup) => {
            let tx = tx.clone();
            actix_web::rt::spawn(async move {
                while hup.recv().await.is_some() {
                    let _ = tx.send(Trigger::Signal);
                }
            });
        }
        Err(e) => log::error!("cannot handle SIGHUP, reload by signal is off: {e}"),
    }

    let file = state.sources.config_file.clone();
    if let Some(file) = file.clone() {
        if let Err(e) = watch(&file, tx.clone()) {
            log::error!(
                "cannot watch {} for changes ({e}); reload with SIGHUP",
                file.display()
            );
        }
    }

    // Read now, before the server says it listens: a write that comes
    // after must look like a change.
    let mut last = file.as_deref().and_then(read_bytes);
    // One task applies reloads, so they never overlap.
    actix_web::rt::spawn(async move {
        while let Some(trigger) = rx.recv().await {
            if let Some(f) = file.as_deref() {
                let now = read_bytes(f);
                // A file event with unchanged bytes is not a reload; a
                // signal always is.
                if matches!(trigger, Trigger::FileChanged) && now == last {
                    continue;
                }
                last = now;
            }
            let st = state.clone();
            // Loading reads files and may open a geo-IP database: off the
            // event loop.
            crate::systemd::reloading();
            let _ = actix_web::rt::task::spawn_blocking(move || reload_now(&st, trigger)).await;
            // Ready again whatever the outcome: a rejected file leaves the
            // running configuration serving.
            crate::systemd::ready();
        }
    });
}

fn watch(file: &Path, tx: mpsc::UnboundedSender<Trigger>) -> notify::Result<()> {
    let dir: PathBuf = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut debouncer = new_debouncer(
        DEBOUNCE,
        None,
        move |res: notify_debouncer_full::DebounceEventResult| {
            if res.is_ok() {
                let _ = tx.send(Trigger::FileChanged);
            }
        },
    )?;
    debouncer.watch(&dir, RecursiveMode::NonRecursive)?;
    log::info!(
        "watching {} for changes to {}",
        dir.display(),
        file.display()
    );
    // The watcher lives as long as the process.
    std::mem::forget(debouncer);
    Ok(())
}
