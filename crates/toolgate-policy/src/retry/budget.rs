//! The retry budget of a source: retries ≤ `ratio` × calls over the last `window`, plus a
//! reserve of `min_per_second` × `window` retries, so a failing backend gets at most that
//! much extra traffic however many callers there are (Finagle's and linkerd's retry budget).
//!
//! Not tower's `TpsBudget`: measured against it (`tests.rs`), its window shrinks under steady
//! traffic (each rollover after more than one slot advances its ring by one slot too many, so
//! withdrawals leave the window early): 100 calls of two retries each, 60 ms apart, got 35
//! retries through a budget of 30. And for a ratio up to 1 it withdraws `trunc(1 / ratio)`
//! deposits per retry (0.4 was enforced as 0.5). Here the ring's slots are aligned to a fixed
//! epoch, each tagged with the slot number it counts, and amounts are in thousandths, so the
//! window is exact and any ratio is applied as given. One uncontended lock per call; the
//! state is ten slots.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Slots in the window (the window's resolution is a tenth of it).
const SLOTS: usize = 10;
/// What one call deposits (amounts are in thousandths of a call).
const DEPOSIT: i64 = 1_000;

/// A retry budget (see the module docs).
#[derive(Debug)]
pub struct RetryBudget {
    start: Instant,
    slot: Duration,
    /// What one retry withdraws (`DEPOSIT / ratio`; `None`: deposits buy no retries).
    withdraw: Option<i64>,
    /// What the reserve holds over any window.
    reserve: i64,
    /// What a retry costs when only the reserve pays (with a ratio of 0).
    reserve_withdraw: i64,
    ring: Mutex<[(u64, i64); SLOTS]>,
}

impl RetryBudget {
    /// Retries ≤ `ratio` × calls in the last `window` + `min_per_second` × `window`.
    pub fn new(window: Duration, min_per_second: u32, ratio: f32) -> Self {
        let window = window.max(Duration::from_secs(1));
        let withdraw = (ratio.is_finite() && ratio > 0.0)
            .then(|| ((DEPOSIT as f64 / f64::from(ratio)).round() as i64).max(1));
        let reserve_withdraw = withdraw.unwrap_or(DEPOSIT);
        let reserve = i64::from(min_per_second)
            .saturating_mul(window.as_secs() as i64)
            .saturating_mul(reserve_withdraw);
        RetryBudget {
            start: Instant::now(),
            slot: window / SLOTS as u32,
            withdraw,
            reserve,
            reserve_withdraw,
            ring: Mutex::new([(u64::MAX, 0); SLOTS]),
        }
    }

    /// Counts a call.
    pub fn deposit(&self) {
        if self.withdraw.is_some() {
            self.add(Instant::now(), DEPOSIT);
        }
    }

    /// Takes one retry from the budget, if it holds one.
    pub fn withdraw(&self) -> bool {
        self.withdraw_at(Instant::now())
    }

    fn withdraw_at(&self, now: Instant) -> bool {
        let cost = self.withdraw.unwrap_or(self.reserve_withdraw);
        let current = self.slot_number(now);
        let mut ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        let in_window: i64 = ring
            .iter()
            .filter(|(n, _)| *n != u64::MAX && current.saturating_sub(*n) < SLOTS as u64)
            .map(|(_, net)| net)
            .sum();
        if self.reserve.saturating_add(in_window) < cost {
            return false;
        }
        Self::add_locked(&mut ring, current, -cost);
        true
    }

    fn add(&self, now: Instant, amount: i64) {
        let current = self.slot_number(now);
        let mut ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        Self::add_locked(&mut ring, current, amount);
    }

    fn add_locked(ring: &mut [(u64, i64); SLOTS], current: u64, amount: i64) {
        let (number, net) = &mut ring[(current % SLOTS as u64) as usize];
        if *number != current {
            // The slot last counted an earlier window: it starts over.
            *number = current;
            *net = 0;
        }
        *net = net.saturating_add(amount);
    }

    fn slot_number(&self, now: Instant) -> u64 {
        (now.saturating_duration_since(self.start).as_nanos() / self.slot.as_nanos().max(1)) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retries_of(budget: &RetryBudget, at: Instant) -> u32 {
        let mut n = 0;
        while budget.withdraw_at(at) {
            n += 1;
        }
        n
    }

    #[test]
    fn retries_are_the_ratio_of_calls_plus_the_reserve() {
        for (ratio, calls, reserve_per_s, expected) in [
            (0.2_f32, 100, 0, 20),
            (0.2, 100, 1, 30),
            (0.4, 100, 0, 40),
            (0.3, 10, 0, 3),
            (1.0, 7, 0, 7),
            (2.0, 5, 0, 10),
            (0.0, 100, 1, 10),
        ] {
            let budget = RetryBudget::new(Duration::from_secs(10), reserve_per_s, ratio);
            let now = Instant::now();
            for _ in 0..calls {
                budget.add(
                    now,
                    if budget.withdraw.is_some() {
                        DEPOSIT
                    } else {
                        0
                    },
                );
            }
            assert_eq!(
                retries_of(&budget, now),
                expected,
                "{ratio} × {calls} + {reserve_per_s}/s"
            );
        }
    }

    /// Steady traffic over more than one window: what leaves the window is exactly what is
    /// older than it, so retries in any window stay within that window's budget.
    #[test]
    fn the_window_slides_exactly() {
        let budget = RetryBudget::new(Duration::from_secs(10), 1, 0.2);
        let t0 = budget.start;
        let mut granted = Vec::new();
        // One call (and up to two retries) every 60 ms for 30 s.
        for i in 0..500u64 {
            let at = t0 + Duration::from_millis(60 * i);
            budget.add(at, DEPOSIT);
            for _ in 0..2 {
                if budget.withdraw_at(at) {
                    granted.push(at);
                }
            }
        }
        // Any 10 s window (the slots' resolution is 1 s, so up to 11 s of calls may count):
        // at most 20 % of the calls of 11 s plus the reserve of 10.
        let calls_in_11s = 11_000 / 60 + 1;
        for (i, start) in granted.iter().enumerate() {
            let within = granted[i..]
                .iter()
                .take_while(|t| t.duration_since(*start) < Duration::from_secs(10))
                .count();
            assert!(within <= calls_in_11s / 5 + 10, "{within} retries in 10 s");
        }
        // And the budget is used: a retry per five calls in the long run.
        assert!(granted.len() >= 500 / 5, "{}", granted.len());
    }

    /// The case tower's TpsBudget let through 35 retries for a budget of 30.
    #[test]
    fn a_hundred_calls_in_six_seconds_get_thirty_retries() {
        let budget = RetryBudget::new(Duration::from_secs(10), 1, 0.2);
        let t0 = budget.start;
        let mut n = 0;
        for i in 0..100u64 {
            let at = t0 + Duration::from_millis(60 * i);
            budget.add(at, DEPOSIT);
            for _ in 0..2 {
                n += u32::from(budget.withdraw_at(at));
            }
        }
        assert_eq!(n, 30);
    }
}
