//! Per tool and window figures: latency percentiles (nearest rank over every answered call,
//! exact, no histogram buckets), error rate, retries per call and completion rate.

use serde::{Deserialize, Serialize};

/// What one worker saw of one tool in one window; merged across workers.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Latencies of answered calls, in milliseconds.
    pub latencies_ms: Vec<f64>,
    /// Calls made.
    pub calls: u64,
    /// Calls answered with an error, or not answered.
    pub errors: u64,
    /// Calls answered as expected (error vs success as recorded or as the step expects).
    pub completed: u64,
    /// Retries the gateway made for these calls (`_meta."toolgate/attempts"` − 1).
    pub retries: u64,
}

impl Tally {
    /// Adds `other` into this one.
    pub fn merge(&mut self, other: Tally) {
        self.latencies_ms.extend(other.latencies_ms);
        self.calls += other.calls;
        self.errors += other.errors;
        self.completed += other.completed;
        self.retries += other.retries;
    }

    /// The figures of these calls (`window`: `None` for a whole run).
    pub fn stats(mut self, window: Option<u32>) -> WindowStats {
        self.latencies_ms.sort_by(f64::total_cmp);
        let ratio = |n: u64| {
            if self.calls == 0 {
                0.0
            } else {
                round(n as f64 / self.calls as f64, 4)
            }
        };
        WindowStats {
            window,
            calls: self.calls,
            errors: self.errors,
            error_rate: ratio(self.errors),
            completion_rate: ratio(self.completed),
            retries: self.retries,
            retries_per_call: ratio(self.retries),
            p50_ms: percentile(&self.latencies_ms, 50.0).map(|v| round(v, 3)),
            p95_ms: percentile(&self.latencies_ms, 95.0).map(|v| round(v, 3)),
            p99_ms: percentile(&self.latencies_ms, 99.0).map(|v| round(v, 3)),
            max_ms: self.latencies_ms.last().map(|v| round(*v, 3)),
        }
    }
}

/// The figures of one tool in one window (or the whole run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowStats {
    /// The window (0-based), or absent for the whole run.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub window: Option<u32>,
    /// Calls made.
    pub calls: u64,
    /// Calls answered with an error (`isError`, a JSON-RPC error) or not answered.
    pub errors: u64,
    /// `errors / calls`.
    pub error_rate: f64,
    /// Calls answered as expected / calls.
    pub completion_rate: f64,
    /// Retries made by the gateway for these calls (from `_meta."toolgate/attempts"`).
    pub retries: u64,
    /// `retries / calls`.
    pub retries_per_call: f64,
    /// Median latency of answered calls.
    pub p50_ms: Option<f64>,
    /// 95th percentile latency.
    pub p95_ms: Option<f64>,
    /// 99th percentile latency.
    pub p99_ms: Option<f64>,
    /// Slowest answered call.
    pub max_ms: Option<f64>,
}

/// The nearest-rank percentile `p` (0–100] of `sorted` (ascending); `None` when empty.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn round(v: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (v * f).round() / f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 95.0), Some(95.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&v, 100.0), Some(100.0));
        assert_eq!(percentile(&[3.0], 99.0), Some(3.0));
        assert_eq!(percentile(&[], 50.0), None);
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&v, 50.0), Some(2.0));
        assert_eq!(percentile(&v, 51.0), Some(3.0));
        assert_eq!(percentile(&v, 0.0), Some(1.0));
    }

    #[test]
    fn tallies_merge_into_rates() {
        let mut a = Tally {
            latencies_ms: vec![5.0, 1.0],
            calls: 2,
            errors: 1,
            completed: 1,
            retries: 2,
        };
        a.merge(Tally {
            latencies_ms: vec![3.0, 2.0],
            calls: 2,
            errors: 0,
            completed: 2,
            retries: 0,
        });
        let s = a.stats(Some(1));
        assert_eq!(s.calls, 4);
        assert_eq!(s.error_rate, 0.25);
        assert_eq!(s.completion_rate, 0.75);
        assert_eq!(s.retries_per_call, 0.5);
        assert_eq!(s.p50_ms, Some(2.0));
        assert_eq!(s.max_ms, Some(5.0));
        assert_eq!(Tally::default().stats(None).error_rate, 0.0);
    }
}
