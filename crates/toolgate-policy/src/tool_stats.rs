//! Per-tool call statistics for the live dashboard: calls, errors and a latency histogram of
//! fixed log-scale buckets, all plain atomics.
//!
//! Recording a call ([`ToolStats::record`]) is three relaxed `fetch_add`s and a bucket index
//! computed with integer operations (no lock, no allocation, no float): the state of a tool
//! is preallocated once, when [`crate::Metrics`] first sees the tool, and reached through the
//! handle cache the Prometheus counters already use. Readers ([`ToolStats::snapshot`]) copy
//! the counters; two snapshots subtracted give the calls and the latency distribution of the
//! time between them ([`Snapshot::since`]), from which [`Snapshot::quantile`] estimates p50 /
//! p95 within a bucket's width (≤ 25 %, interpolated linearly inside the bucket).
//!
//! Buckets: four per power of two of microseconds (1 µs … ~2^28 µs ≈ 4.5 min); a duration
//! past the last bucket counts in it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Sub-buckets per power of two.
const SUB: u32 = 4;
/// Powers of two of microseconds covered.
const OCTAVES: u32 = 28;
/// Number of latency buckets.
pub const BUCKETS: usize = (OCTAVES * SUB) as usize;

/// The bucket of a duration of `us` microseconds.
fn bucket_of(us: u64) -> usize {
    let us = us.max(1);
    let msb = 63 - us.leading_zeros();
    // The two bits after the leading one choose the quarter of the octave.
    let sub = if msb >= 2 {
        (us >> (msb - 2)) & 3
    } else {
        (us << (2 - msb)) & 3
    };
    ((msb * SUB) as usize + sub as usize).min(BUCKETS - 1)
}

/// The lower bound of bucket `i`, in microseconds.
fn lower_us(i: usize) -> f64 {
    let msb = (i as u32) / SUB;
    let sub = (i as u32) % SUB;
    f64::from(4 + sub) * 2f64.powi(msb as i32) / 4.0
}

/// One tool's counters.
pub struct ToolStats {
    calls: AtomicU64,
    errors: AtomicU64,
    buckets: [AtomicU64; BUCKETS],
}

impl Default for ToolStats {
    fn default() -> Self {
        ToolStats {
            calls: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl ToolStats {
    /// Counts one finished call.
    pub fn record(&self, elapsed: Duration, error: bool) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if error {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.buckets[bucket_of(us)].fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            calls: self.calls.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            buckets: self
                .buckets
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .collect(),
        }
    }
}

/// A copy of a tool's counters (since start, or between two copies).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Calls finished.
    pub calls: u64,
    /// Of which ended in an error (any outcome but `ok`).
    pub errors: u64,
    /// Calls per latency bucket.
    pub buckets: Vec<u64>,
}

impl Snapshot {
    /// What happened between `earlier` and this snapshot.
    pub fn since(&self, earlier: &Snapshot) -> Snapshot {
        Snapshot {
            calls: self.calls.saturating_sub(earlier.calls),
            errors: self.errors.saturating_sub(earlier.errors),
            buckets: self
                .buckets
                .iter()
                .enumerate()
                .map(|(i, n)| n.saturating_sub(earlier.buckets.get(i).copied().unwrap_or(0)))
                .collect(),
        }
    }

    /// The latency below which a fraction `q` (0..=1) of the calls finished, in milliseconds;
    /// `None` without calls.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total: u64 = self.buckets.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * total as f64).max(1.0);
        let mut seen = 0u64;
        for (i, &n) in self.buckets.iter().enumerate() {
            if n == 0 {
                continue;
            }
            if (seen + n) as f64 >= rank {
                let low = lower_us(i);
                let high = lower_us(i + 1);
                let within = (rank - seen as f64) / n as f64;
                return Some((low + (high - low) * within) / 1000.0);
            }
            seen += n;
        }
        Some(lower_us(BUCKETS) / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_bound_their_values() {
        let mut last = 0;
        for us in [
            1u64, 2, 3, 5, 7, 8, 100, 999, 1000, 1_500, 65_000, 10_000_000,
        ] {
            let b = bucket_of(us);
            assert!(b >= last, "{us} µs fell in bucket {b} < {last}");
            last = b;
            assert!(lower_us(b) <= us as f64, "{us} µs below its bucket {b}");
            assert!(lower_us(b + 1) > us as f64, "{us} µs above its bucket {b}");
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_are_within_a_bucket_of_the_truth() {
        let stats = ToolStats::default();
        // 90 calls of 2 ms and 10 of 40 ms: p50 is ~2 ms, p95 ~40 ms.
        for _ in 0..90 {
            stats.record(Duration::from_millis(2), false);
        }
        for _ in 0..10 {
            stats.record(Duration::from_millis(40), true);
        }
        let s = stats.snapshot();
        assert_eq!((s.calls, s.errors), (100, 10));
        // Within a bucket's width (a quarter of its value at most) of the truth.
        let near = |estimate: f64, truth: f64| (estimate - truth).abs() <= truth / 4.0;
        let p50 = s.quantile(0.5).unwrap();
        let p95 = s.quantile(0.95).unwrap();
        assert!(near(p50, 2.0), "p50 {p50}");
        assert!(near(p95, 40.0), "p95 {p95}");
        assert!(near(s.quantile(0.99).unwrap(), 40.0));
    }

    #[test]
    fn a_window_counts_only_what_happened_in_it() {
        let stats = ToolStats::default();
        stats.record(Duration::from_secs(1), false);
        let before = stats.snapshot();
        stats.record(Duration::from_millis(3), true);
        let window = stats.snapshot().since(&before);
        assert_eq!((window.calls, window.errors), (1, 1));
        let p95 = window.quantile(0.95).unwrap();
        assert!(
            (p95 - 3.0).abs() <= 0.75,
            "p95 {p95}: the 1 s call is outside the window"
        );
        assert_eq!(Snapshot::default().quantile(0.5), None);
    }
}
