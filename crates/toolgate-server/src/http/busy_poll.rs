//! Busy polling while the endpoint is lightly loaded (`http.busy_poll_us`): for a short
//! window after an HTTP call starts or ends, while at most [`MAX_IN_FLIGHT`] calls are in
//! flight, the runtime keeps polling its sockets instead of going to sleep.
//!
//! Why: on a quiet machine, and above all in a VM, what a proxy hop costs at low concurrency
//! is mostly waking up: the thread that sleeps in `epoll_wait` must be woken by the kernel
//! (on a VM, an idle virtual CPU is woken by the hypervisor), and it then runs on cold
//! caches. A call through the gateway wakes it twice (the client's request, the upstream's
//! answer). A thread that is still polling when the bytes arrive is not woken at all: the
//! kernel only queues the event. BENCHMARKS.md, "Busy polling", has the measurements.
//!
//! How: one task per router ([`BusyPoll::start`]) that, once a call starts, yields to the
//! runtime in a loop; tokio answers a yield by polling the I/O driver without blocking
//! (`epoll_wait` with a zero timeout) before running the task again, so events are picked up
//! as they arrive. It stops, and waits for the next call, once no call started or ended for
//! the window, or as soon as more than [`MAX_IN_FLIGHT`] calls are in flight: under higher
//! concurrency the thread is rarely idle, a wake-up brings several events at once, and a
//! polling thread would take CPU time the rest of the machine (the upstreams, the clients)
//! needs.
//!
//! What counts as a call: every POST to the MCP endpoint (the fast path and rmcp's), from the
//! moment it is admitted until its response is handed to the HTTP server (or the client goes
//! away). GET streams, which stay open, do not count.
//!
//! The cost: CPU time, at most the window after each call plus the time calls wait on their
//! sources within the window. Off (`0`) it is one branch per POST. It runs only on a
//! runtime with one worker thread (`toolgate serve`'s default): with more, every yield would
//! wake another worker to steal the task, so it is then ignored, with a warning. Does not
//! own: the runtime.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The most calls in flight with which the runtime still polls. Measured on a 2-core VM
/// (BENCHMARKS.md, "Busy polling"): with one, calls from two clients at once gained nothing
/// (+187 µs p50 over the direct call either way); with four, two clients' calls went to
/// +19 µs and four clients' from +156 to +13 µs.
pub(crate) const MAX_IN_FLIGHT: usize = 4;

/// The busy polling of one router; dropping it stops its task.
pub(crate) struct BusyPoll {
    shared: Arc<Shared>,
}

struct Shared {
    /// How long to keep polling after a call started or ended, in nanoseconds.
    window_ns: u64,
    /// What [`Shared::until_ns`] counts from.
    origin: Instant,
    /// Until when to poll (a window after a call last started or ended), in nanoseconds
    /// since `origin`.
    until_ns: AtomicU64,
    /// Calls in flight.
    in_flight: AtomicUsize,
    /// Wakes the task when a call starts with at most [`MAX_IN_FLIGHT`] in flight.
    wake: Notify,
    /// Set when the router is dropped.
    closed: AtomicBool,
}

/// A call in flight, for as long as it is held.
pub(crate) struct InFlight(Arc<Shared>);

impl BusyPoll {
    /// Starts busy polling `window` long after each call on the current runtime, until
    /// `shutdown`; `None` when the window is zero or there is no runtime to poll on.
    pub(crate) fn start(window: Duration, shutdown: CancellationToken) -> Option<BusyPoll> {
        if window.is_zero() {
            return None;
        }
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let workers = runtime.metrics().num_workers();
        if workers > 1 {
            // Each yield would wake another worker to steal the polling task: two threads
            // busy instead of one, and a futex call per yield.
            tracing::warn!(
                workers,
                "http.busy_poll_us is ignored: busy polling needs the default single worker thread"
            );
            return None;
        }
        tracing::info!(
            window_us = window.as_micros() as u64,
            "busy polling around HTTP calls while few are in flight (http.busy_poll_us)"
        );
        let shared = Arc::new(Shared {
            window_ns: u64::try_from(window.as_nanos()).unwrap_or(u64::MAX),
            origin: Instant::now(),
            until_ns: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            wake: Notify::new(),
            closed: AtomicBool::new(false),
        });
        runtime.spawn(shared.clone().run(shutdown));
        Some(BusyPoll { shared })
    }

    /// Counts a call in flight until the returned guard is dropped.
    pub(crate) fn enter(&self) -> InFlight {
        let shared = &self.shared;
        shared.touch();
        if shared.in_flight.fetch_add(1, Ordering::AcqRel) < MAX_IN_FLIGHT {
            // A stored permit when the task is still polling: it then polls once more.
            shared.wake.notify_one();
        }
        InFlight(shared.clone())
    }
}

impl Drop for BusyPoll {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.wake.notify_one();
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Shared {
    fn now_ns(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn touch(&self) {
        let until = self.now_ns().saturating_add(self.window_ns);
        self.until_ns.store(until, Ordering::Release);
    }

    /// Whether the runtime should keep polling: at most [`MAX_IN_FLIGHT`] calls in flight,
    /// and one started or ended within the window.
    fn polling(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) <= MAX_IN_FLIGHT
            && self.now_ns() <= self.until_ns.load(Ordering::Acquire)
    }

    async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = self.wake.notified() => {}
                () = shutdown.cancelled() => return,
            }
            while self.polling() {
                if self.closed.load(Ordering::Acquire) || shutdown.is_cancelled() {
                    return;
                }
                tokio::task::yield_now().await;
            }
            if self.closed.load(Ordering::Acquire) {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_window_no_task() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            assert!(BusyPoll::start(Duration::ZERO, CancellationToken::new()).is_none());
        });
        // Outside a runtime there is nothing to poll on.
        assert!(BusyPoll::start(Duration::from_micros(50), CancellationToken::new()).is_none());
    }

    #[test]
    fn ignored_on_a_runtime_with_more_than_one_worker() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            assert!(
                BusyPoll::start(Duration::from_micros(300), CancellationToken::new()).is_none()
            );
        });
        let one = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        one.block_on(async {
            assert!(
                BusyPoll::start(Duration::from_micros(300), CancellationToken::new()).is_some()
            );
        });
    }

    #[tokio::test]
    async fn polls_within_the_window_of_few_calls_and_not_under_concurrency() {
        let poll = BusyPoll::start(Duration::from_secs(60), CancellationToken::new()).unwrap();
        let shared = poll.shared.clone();
        assert!(!shared.polling(), "no call yet");
        let first = poll.enter();
        assert!(shared.polling(), "one call in flight, within the window");
        let mut more: Vec<InFlight> = (1..MAX_IN_FLIGHT).map(|_| poll.enter()).collect();
        assert!(shared.polling(), "{MAX_IN_FLIGHT} calls in flight");
        more.push(poll.enter());
        assert!(
            !shared.polling(),
            "more than {MAX_IN_FLIGHT} calls in flight: no polling"
        );
        more.clear();
        assert!(shared.polling(), "back to one call");
        drop(first);
        assert!(shared.polling(), "the window after the last call");
        shared.until_ns.store(0, Ordering::Release);
        assert!(!shared.polling(), "past the window");
    }

    /// How many times the runtime's thread went to sleep so far.
    fn parks() -> u64 {
        tokio::runtime::Handle::current()
            .metrics()
            .worker_park_count(0)
    }

    #[tokio::test]
    async fn the_thread_stays_awake_while_polling_and_sleeps_after_the_window() {
        let poll = BusyPoll::start(Duration::from_secs(60), CancellationToken::new()).unwrap();
        // Nothing to do: each of these sleeps puts the thread to sleep.
        let before = parks();
        tokio::time::sleep(Duration::from_millis(5)).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(parks() > before, "an idle runtime should sleep");
        let call = poll.enter();
        tokio::task::yield_now().await;
        let polling = parks();
        // The timer wakes this test while the task keeps the thread polling.
        tokio::time::sleep(Duration::from_millis(5)).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(
            parks(),
            polling,
            "the thread slept while a call was in flight"
        );
        drop(call);
        // Past the window: the task waits for the next call and the thread sleeps again.
        poll.shared.until_ns.store(0, Ordering::Release);
        tokio::task::yield_now().await;
        let after = parks();
        tokio::time::sleep(Duration::from_millis(5)).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(
            parks() > after,
            "the thread should sleep again after the window"
        );
    }

    #[tokio::test]
    async fn dropping_it_ends_the_task() {
        let poll = BusyPoll::start(Duration::from_secs(60), CancellationToken::new()).unwrap();
        let shared = Arc::downgrade(&poll.shared);
        let call = poll.enter();
        drop(call);
        drop(poll);
        for _ in 0..100 {
            if shared.upgrade().is_none() {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("the task kept running after its router was dropped");
    }
}
