//! Connections and requests in progress per client: a slow client holds
//! memory (a connection's buffers, a request head, its parameters) for as
//! long as it keeps them open, so one address may only have so many open at
//! once. An entry lives only while its client has something open, so the
//! map is bounded by the open connections.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Marks a connection refused when it was accepted: nothing it sent is
/// handled.
pub(crate) struct RefusedAtAccept;

#[derive(Default)]
pub(crate) struct InFlight {
    open: Mutex<HashMap<IpAddr, u32>>,
}

/// One connection or request in progress; dropping it (it ends, however)
/// lets the client open another.
pub(crate) struct Entered {
    of: Arc<InFlight>,
    client: IpAddr,
}

impl InFlight {
    /// Counts one more of `client`'s, unless it already has `max` open.
    pub(crate) fn enter(self: &Arc<Self>, client: IpAddr, max: u32) -> Option<Entered> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(client).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Entered {
            of: self.clone(),
            client,
        })
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        let mut open = self.of.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_max_requests_at_once_and_more_as_they_end() {
        let f = Arc::new(InFlight::default());
        let a: IpAddr = "203.0.113.7".parse().unwrap();
        let b: IpAddr = "203.0.113.8".parse().unwrap();
        let first = f.enter(a, 2);
        let second = f.enter(a, 2);
        assert!(first.is_some() && second.is_some());
        assert!(f.enter(a, 2).is_none());
        assert!(f.enter(b, 2).is_some(), "another client is not held");
        drop(first);
        assert!(f.enter(a, 2).is_some());
        drop(second);
        assert!(
            f.open.lock().unwrap().is_empty(),
            "entries end with their requests"
        );
    }
}
