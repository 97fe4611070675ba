//! Concurrency caps: how many calls one caller, or one tool, may have in flight in this
//! process. A call over a cap is refused at once (never queued); its permit is given back
//! when the call finishes or its future is dropped.
//!
//! Hand-written rather than a semaphore per key (`tokio::sync::Semaphore`) because the keys
//! come and go: a count per key in one map, removed at zero, keeps memory bounded by the
//! calls in flight. Does not own: rate limits.

use std::sync::{Arc, Mutex, PoisonError};

use prometheus_client::metrics::counter::Counter;

/// One cap (per subject or per tool).
pub(crate) struct Cap {
    /// `per_subject` or `per_tool`.
    pub(crate) name: &'static str,
    pub(crate) max: u32,
    held: Mutex<hashbrown::HashMap<String, u32>>,
    refusals: Counter,
}

/// A call's place under a cap, given back on drop.
pub(crate) struct Permit {
    cap: Arc<Cap>,
    key: String,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut held = self.cap.held.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = held.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.key);
            }
        }
    }
}

impl Cap {
    pub(crate) fn new(name: &'static str, max: u32, refusals: Counter) -> Arc<Self> {
        Arc::new(Cap {
            name,
            max,
            held: Mutex::default(),
            refusals,
        })
    }

    /// A permit for `key`, or `None` when `max` calls with that key are in flight.
    pub(crate) fn try_acquire(self: &Arc<Self>, key: String) -> Option<Permit> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let n = held.entry_ref(key.as_str()).or_insert(0);
        if *n >= self.max {
            drop(held);
            self.refusals.inc();
            return None;
        }
        *n += 1;
        drop(held);
        Some(Permit {
            cap: self.clone(),
            key,
        })
    }

    /// Keys with calls in flight (tests).
    #[cfg(test)]
    pub(crate) fn keys(&self) -> usize {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_cap_refuses_and_frees_on_drop() {
        let cap = Cap::new("per_subject", 2, Counter::default());
        let a = cap.try_acquire("a".into()).unwrap();
        let b = cap.try_acquire("a".into()).unwrap();
        assert!(cap.try_acquire("a".into()).is_none());
        assert!(cap.try_acquire("b".into()).is_some());
        drop(a);
        let c = cap.try_acquire("a".into()).unwrap();
        drop((b, c));
        assert_eq!(cap.keys(), 0, "idle keys are forgotten");
        assert_eq!(cap.refusals.get(), 1);
    }
}
