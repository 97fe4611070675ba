//! The in-memory limiter: one `governor` GCRA limiter per configured limit, keyed by the
//! limit's key string, on tokio's clock (so tests run on paused time).
//!
//! Memory stays bounded: a background task drops, every [`EVICT_EVERY`], the keys whose state
//! is indistinguishable from a fresh one (governor's `retain_recent`), so only keys active
//! within one replenishment period are kept. Does not own: Redis ([`super::redis`]) or which
//! limits apply to a call.

use std::num::NonZeroU32;
use std::sync::{Arc, Weak};
use std::time::Duration;

use governor::clock::Clock;
use governor::nanos::Nanos;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};

use super::config::Rate;

/// How often idle keys are dropped.
pub(crate) const EVICT_EVERY: Duration = Duration::from_secs(10);

/// tokio's clock for governor: nanoseconds since the limiter was created. Under
/// `tokio::time::pause` it moves only when the test advances it.
#[derive(Debug, Clone)]
pub(crate) struct TokioClock {
    start: tokio::time::Instant,
}

impl TokioClock {
    fn new() -> Self {
        TokioClock {
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(self.start.elapsed())
    }
}

/// Keys hashed with foldhash (seeded at random per limiter, as the other per-call maps)
/// rather than SipHash: the keys are short and looked up on every call.
type Keyed<K> = RateLimiter<
    K,
    DashMapStateStore<K, hashbrown::DefaultHashBuilder>,
    TokioClock,
    governor::middleware::NoOpMiddleware<Nanos>,
>;

/// The outcome of one limit for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The call conforms; a cell was taken.
    Allow,
    /// The call does not conform; the earliest time it could is this far away.
    Deny(Duration),
}

/// One limit's in-memory GCRA state for every key: keys are strings for call limits, and
/// addresses for the HTTP request limits (`super::http`), which then allocate nothing.
pub(crate) struct LocalLimiter<K = String>
where
    K: std::hash::Hash + Eq + Clone,
{
    limiter: Keyed<K>,
    clock: TokioClock,
}

impl<K> LocalLimiter<K>
where
    K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
{
    /// A limiter admitting `rate` sustained with bursts of `burst`.
    pub(crate) fn new(rate: Rate, burst: NonZeroU32) -> Arc<Self> {
        let clock = TokioClock::new();
        // `emission_interval` is at least 1 ns (checked with the configuration).
        let quota = Quota::with_period(rate.emission_interval())
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
            .allow_burst(burst);
        let limiter = Arc::new(LocalLimiter {
            limiter: RateLimiter::dashmap_with_clock_and_hasher(
                quota,
                clock.clone(),
                hashbrown::DefaultHashBuilder::default(),
            ),
            clock,
        });
        spawn_eviction(&limiter);
        limiter
    }

    /// Takes a cell for `key`, or says how long until one is free.
    pub(crate) fn check(&self, key: &K) -> Verdict {
        match self.limiter.check_key(key) {
            Ok(()) => Verdict::Allow,
            Err(not_until) => Verdict::Deny(not_until.wait_time_from(self.clock.now())),
        }
    }

    /// Keys currently held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.limiter.len()
    }

    /// Drops the keys whose state equals a fresh one.
    pub(crate) fn evict_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// Evicts idle keys of `limiter` every [`EVICT_EVERY`] until it is dropped (no task when
/// there is no runtime, e.g. a configuration check).
fn spawn_eviction<K>(limiter: &Arc<LocalLimiter<K>>)
where
    K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
{
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let weak: Weak<LocalLimiter<K>> = Arc::downgrade(limiter);
    runtime.spawn(async move {
        let mut tick = tokio::time::interval(EVICT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            match weak.upgrade() {
                Some(l) => l.evict_idle(),
                None => return,
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(text: &str) -> Rate {
        Rate::parse(text).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn gcra_admits_the_burst_then_one_per_emission_interval() {
        // 60/min = one cell per second, burst 3.
        let l = LocalLimiter::new(rate("60/min"), NonZeroU32::new(3).unwrap());
        let k = "k".to_owned();
        for _ in 0..3 {
            assert_eq!(l.check(&k), Verdict::Allow);
        }
        assert_eq!(l.check(&k), Verdict::Deny(Duration::from_secs(1)));
        tokio::time::advance(Duration::from_millis(400)).await;
        assert_eq!(l.check(&k), Verdict::Deny(Duration::from_millis(600)));
        tokio::time::advance(Duration::from_millis(600)).await;
        assert_eq!(l.check(&k), Verdict::Allow);
        assert_eq!(l.check(&k), Verdict::Deny(Duration::from_secs(1)));
        // Other keys are counted apart.
        assert_eq!(l.check(&"other".to_owned()), Verdict::Allow);
        // A quiet period refills the whole burst, never more.
        tokio::time::advance(Duration::from_secs(60)).await;
        for _ in 0..3 {
            assert_eq!(l.check(&k), Verdict::Allow);
        }
        assert!(matches!(l.check(&k), Verdict::Deny(_)));
    }

    #[tokio::test(start_paused = true)]
    async fn over_a_window_at_most_burst_plus_rate_times_window_pass() {
        let l = LocalLimiter::new(rate("10/s"), NonZeroU32::new(5).unwrap());
        let k = "k".to_owned();
        let mut admitted = 0;
        // One attempt per millisecond for 10 s.
        for _ in 0..10_000 {
            if l.check(&k) == Verdict::Allow {
                admitted += 1;
            }
            tokio::time::advance(Duration::from_millis(1)).await;
        }
        // The burst at 0, then one at each 100 ms from 100 to 9 900.
        assert_eq!(admitted, 5 + 99);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_keys_are_evicted() {
        let l = LocalLimiter::new(rate("1/s"), NonZeroU32::new(1).unwrap());
        for i in 0..100 {
            l.check(&format!("k{i}"));
        }
        assert_eq!(l.len(), 100);
        // The eviction task runs on its own once the keys are fully replenished.
        tokio::time::sleep(EVICT_EVERY * 2 + Duration::from_millis(1)).await;
        assert_eq!(l.len(), 0);
    }
}
