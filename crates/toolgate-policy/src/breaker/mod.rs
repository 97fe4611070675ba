//! Circuit breakers: one per source, so a backend that is failing gets a rest and its callers
//! an immediate answer instead of a stall.
//!
//! States (the `toolgate_circuit_state{source}` gauge):
//! - **closed** (0): calls pass; each attempt's outcome is recorded in a sliding window of
//!   `window_ms` (ten buckets). Once the window holds at least `minimum_calls` outcomes and the
//!   share of failures reaches `failure_rate`, the circuit opens.
//! - **open** (1): calls fail at once with an `unavailable` tool error naming the backend and
//!   when it will be tried again; nothing is sent. After `open_ms` the next call moves it to
//!   half-open.
//! - **half-open** (2): up to `half_open_probes` calls pass as probes (others fail at once as
//!   while open). When that many probes succeed the circuit closes with an empty window; the
//!   first failed probe opens it again for `open_ms`.
//!
//! A failure is what says the backend is unhealthy: connect errors, timeouts, broken
//! exchanges, `unavailable` (an upstream MCP server that is down) and 5xx answers. A 4xx answer
//! (the backend is up and said no), a refusal by the gateway itself, a credential provider's
//! failure and a cancelled call are not failures; the first two count as successes, the rest
//! are not counted at all.
//!
//! Hand-written rather than taken from a crate: the state must be reported per source in
//! `/readyz` and `/metrics`, run on tokio's clock (so tests can pause time), classify
//! outcomes by [`ToolError`] and bound half-open probes; the state machine is small.
//! The layer that applies it is [`crate::retry::layer`], per attempt.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use toolgate_core::{ErrorOrigin, GatewayError, McpResponse, ToolError, ToolErrorKind};

use crate::resilience::ResilienceMetrics;

/// When a source's circuit opens, how long it stays open and how it closes again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// Whether the circuit breaker applies (set `false` in a per-source override to exempt
    /// one source).
    pub enabled: bool,
    /// Share of failed calls in the window that opens the circuit, in (0, 1].
    pub failure_rate: f64,
    /// Calls the window must hold before the failure rate is judged (a few failures of a
    /// quiet source do not open it).
    pub minimum_calls: u32,
    /// Length of the sliding window of recent outcomes, in milliseconds.
    pub window_ms: u64,
    /// How long the circuit stays open before probe calls are let through, in milliseconds.
    pub open_ms: u64,
    /// Probe calls let through while half-open; that many successes close the circuit.
    pub half_open_probes: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            enabled: true,
            failure_rate: 0.5,
            minimum_calls: 20,
            window_ms: 30_000,
            open_ms: 30_000,
            half_open_probes: 3,
        }
    }
}

impl BreakerConfig {
    /// Problems with these settings, as (field, message) pairs.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if !(self.failure_rate > 0.0 && self.failure_rate <= 1.0) {
            out.push((
                "failure_rate",
                format!(
                    "must be a share in (0, 1] such as 0.5, not {}",
                    self.failure_rate
                ),
            ));
        }
        if self.minimum_calls == 0 {
            out.push(("minimum_calls", "must be at least 1".to_owned()));
        }
        if self.window_ms < 10 {
            out.push(("window_ms", "must be at least 10 ms".to_owned()));
        }
        if self.open_ms == 0 {
            out.push(("open_ms", "must be at least 1 ms".to_owned()));
        }
        if self.half_open_probes == 0 {
            out.push(("half_open_probes", "must be at least 1".to_owned()));
        }
        out
    }
}

/// A circuit's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    /// Calls pass.
    Closed,
    /// Calls fail at once.
    Open,
    /// A few probe calls pass.
    HalfOpen,
}

impl CircuitState {
    /// Snake-case name for `/readyz`, logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half_open",
        }
    }

    /// The value of the `toolgate_circuit_state` gauge.
    pub fn gauge_value(self) -> i64 {
        match self {
            CircuitState::Closed => 0,
            CircuitState::Open => 1,
            CircuitState::HalfOpen => 2,
        }
    }
}

/// How one attempt through the breaker ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The backend answered (including a 4xx refusal).
    Success,
    /// The backend looks unhealthy.
    Failure,
    /// Says nothing about the backend (a gateway refusal, a cancellation).
    Ignored,
}

/// The verdict on a finished call.
pub fn verdict(result: &Result<McpResponse, GatewayError>) -> Verdict {
    match result {
        Ok(response) => match response.tool_error() {
            None => Verdict::Success,
            Some(e) => error_verdict(e),
        },
        Err(_) => Verdict::Ignored,
    }
}

/// The verdict on a tool failure (see the module docs).
pub fn error_verdict(e: &ToolError) -> Verdict {
    match e.origin {
        ErrorOrigin::Backend => {}
        ErrorOrigin::Gateway | ErrorOrigin::CredentialProvider => return Verdict::Ignored,
    }
    match e.kind {
        ToolErrorKind::Connect
        | ToolErrorKind::Timeout
        | ToolErrorKind::Transport
        | ToolErrorKind::Unavailable => Verdict::Failure,
        ToolErrorKind::BackendStatus => match e.status {
            Some(s) if s >= 500 => Verdict::Failure,
            _ => Verdict::Success,
        },
        ToolErrorKind::Cancelled | ToolErrorKind::InputRequired => Verdict::Ignored,
        ToolErrorKind::Protocol
        | ToolErrorKind::InvalidArguments
        | ToolErrorKind::TooLarge
        | ToolErrorKind::Overloaded
        | ToolErrorKind::Rejected
        | ToolErrorKind::Internal => Verdict::Success,
    }
}

/// Buckets of the sliding window.
const BUCKETS: usize = 10;

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// Which slice of time (since the breaker was made) the counts belong to.
    epoch: u64,
    calls: u32,
    failures: u32,
}

#[derive(Debug)]
enum State {
    Closed,
    Open { until: Instant },
    HalfOpen { started: u32, succeeded: u32 },
}

#[derive(Debug)]
struct Inner {
    state: State,
    buckets: [Bucket; BUCKETS],
    /// The failure count and call count that opened the circuit last (for messages).
    opened_on: (u32, u32),
    /// The bucket epoch of the last failure recorded while closed (a success is judged only
    /// when one is still in the window).
    last_failure: Option<u64>,
}

/// The circuit breaker of one source.
pub struct Breaker {
    source: Arc<str>,
    config: BreakerConfig,
    born: Instant,
    bucket_nanos: u64,
    inner: Mutex<Inner>,
    /// Whether `inner.state` is `Closed`, written under the lock at every transition: a
    /// closed circuit (the usual case) grants a permit without the lock or a clock read. A
    /// permit granted just before the circuit opens is one the lock would have granted a
    /// moment earlier; its outcome is then stale and ignored, as for any such attempt.
    closed: AtomicBool,
    metrics: ResilienceMetrics,
}

impl std::fmt::Debug for Breaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Breaker")
            .field("source", &self.source)
            .field("state", &self.state())
            .finish()
    }
}

/// Leave to send one attempt; settle it with [`Permit::record`].
#[derive(Debug)]
pub struct Permit {
    probe: bool,
}

/// A snapshot of a breaker for `/readyz`.
#[derive(Debug, Clone)]
pub struct BreakerReport {
    /// The state now.
    pub state: CircuitState,
    /// While open: how long until probe calls are let through.
    pub retry_in: Option<Duration>,
    /// Calls and failures in the current window.
    pub window_calls: u32,
    /// Failures among them.
    pub window_failures: u32,
}

impl Breaker {
    /// A closed breaker for `source`.
    pub fn new(source: Arc<str>, config: BreakerConfig, metrics: ResilienceMetrics) -> Self {
        let bucket_nanos = (config.window_ms / BUCKETS as u64).max(1) * 1_000_000;
        metrics.set_circuit_state(&source, CircuitState::Closed);
        Breaker {
            source,
            config,
            born: Instant::now(),
            bucket_nanos,
            inner: Mutex::new(Inner {
                state: State::Closed,
                buckets: [Bucket::default(); BUCKETS],
                opened_on: (0, 0),
                last_failure: None,
            }),
            closed: AtomicBool::new(true),
            metrics,
        }
    }

    /// The source this breaker guards.
    pub fn source(&self) -> &Arc<str> {
        &self.source
    }

    /// The settings in force.
    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    /// The state now (an open circuit whose time is up reports half-open only once a call
    /// arrives).
    pub fn state(&self) -> CircuitState {
        match self.lock().state {
            State::Closed => CircuitState::Closed,
            State::Open { .. } => CircuitState::Open,
            State::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    /// A snapshot for `/readyz`.
    pub fn report(&self) -> BreakerReport {
        let now = Instant::now();
        let inner = self.lock();
        let (calls, failures) = self.window_counts(&inner, now);
        let (state, retry_in) = match inner.state {
            State::Closed => (CircuitState::Closed, None),
            State::Open { until } => (
                CircuitState::Open,
                Some(until.saturating_duration_since(now)),
            ),
            State::HalfOpen { .. } => (CircuitState::HalfOpen, None),
        };
        BreakerReport {
            state,
            retry_in,
            window_calls: calls,
            window_failures: failures,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn epoch(&self, now: Instant) -> u64 {
        // u64 nanoseconds (584 years) rather than `as_nanos()`'s u128: no 128-bit division
        // on every recorded outcome.
        let since = now.saturating_duration_since(self.born);
        let nanos = since.as_secs() * 1_000_000_000 + u64::from(since.subsec_nanos());
        nanos / self.bucket_nanos
    }

    fn window_counts(&self, inner: &Inner, now: Instant) -> (u32, u32) {
        Self::counts_at(inner, self.epoch(now))
    }

    fn counts_at(inner: &Inner, epoch: u64) -> (u32, u32) {
        inner
            .buckets
            .iter()
            .filter(|b| b.epoch + (BUCKETS as u64) > epoch && b.epoch <= epoch)
            .fold((0, 0), |(c, f), b| (c + b.calls, f + b.failures))
    }

    /// Asks to send one attempt: a permit, or the error to answer at once.
    pub fn acquire(&self) -> Result<Permit, ToolError> {
        if self.closed.load(Ordering::Acquire) {
            return Ok(Permit { probe: false });
        }
        let now = Instant::now();
        let mut inner = self.lock();
        match inner.state {
            State::Closed => Ok(Permit { probe: false }),
            State::Open { until } if now < until => {
                Err(self.open_error(until.saturating_duration_since(now), &inner))
            }
            State::Open { .. } => {
                inner.state = State::HalfOpen {
                    started: 1,
                    succeeded: 0,
                };
                drop(inner);
                self.transition(CircuitState::HalfOpen);
                Ok(Permit { probe: true })
            }
            State::HalfOpen {
                ref mut started, ..
            } => {
                if *started < self.config.half_open_probes {
                    *started += 1;
                    Ok(Permit { probe: true })
                } else {
                    Err(self.probing_error())
                }
            }
        }
    }

    /// Settles an attempt sent under `permit`.
    pub fn record(&self, permit: Permit, verdict: Verdict) {
        let now = Instant::now();
        let mut inner = self.lock();
        match (&mut inner.state, permit.probe) {
            (State::HalfOpen { started, succeeded }, true) => match verdict {
                Verdict::Success => {
                    *succeeded += 1;
                    if *succeeded >= self.config.half_open_probes {
                        inner.state = State::Closed;
                        self.closed.store(true, Ordering::Release);
                        inner.buckets = [Bucket::default(); BUCKETS];
                        inner.last_failure = None;
                        drop(inner);
                        self.transition(CircuitState::Closed);
                    }
                }
                Verdict::Failure => {
                    inner.state = State::Open {
                        until: now + Duration::from_millis(self.config.open_ms),
                    };
                    inner.opened_on = (1, 1);
                    drop(inner);
                    self.transition(CircuitState::Open);
                }
                // The probe slot is given back.
                Verdict::Ignored => *started = started.saturating_sub(1),
            },
            (State::Closed, false) => {
                if verdict == Verdict::Ignored {
                    return;
                }
                let epoch = self.epoch(now);
                let bucket = &mut inner.buckets[(epoch % BUCKETS as u64) as usize];
                if bucket.epoch != epoch {
                    *bucket = Bucket {
                        epoch,
                        ..Bucket::default()
                    };
                }
                bucket.calls += 1;
                if verdict == Verdict::Failure {
                    bucket.failures += 1;
                    inner.last_failure = Some(epoch);
                } else if inner
                    .last_failure
                    .is_none_or(|e| e + (BUCKETS as u64) <= epoch)
                {
                    // No failure in the window: nothing to judge (the common case).
                    return;
                }
                let (calls, failures) = Self::counts_at(&inner, epoch);
                if calls >= self.config.minimum_calls
                    && f64::from(failures) >= self.config.failure_rate * f64::from(calls)
                    && failures > 0
                {
                    inner.state = State::Open {
                        until: now + Duration::from_millis(self.config.open_ms),
                    };
                    self.closed.store(false, Ordering::Release);
                    inner.opened_on = (failures, calls);
                    drop(inner);
                    self.transition(CircuitState::Open);
                }
            }
            // An attempt admitted in another state (before the circuit opened, or a probe of
            // an earlier half-open period): its outcome is stale.
            _ => {}
        }
    }

    fn transition(&self, to: CircuitState) {
        match to {
            CircuitState::Open => tracing::warn!(
                target: "toolgate::circuit",
                source = %self.source,
                open_ms = self.config.open_ms,
                "circuit opened: calls to this source fail at once until it is probed again"
            ),
            CircuitState::HalfOpen => tracing::info!(
                target: "toolgate::circuit",
                source = %self.source,
                probes = self.config.half_open_probes,
                "circuit half-open: probing the backend"
            ),
            CircuitState::Closed => tracing::info!(
                target: "toolgate::circuit",
                source = %self.source,
                "circuit closed: the backend answers again"
            ),
        }
        self.metrics.set_circuit_state(&self.source, to);
        self.metrics.circuit_transition(&self.source, to);
    }

    fn open_error(&self, left: Duration, inner: &Inner) -> ToolError {
        let (failures, calls) = inner.opened_on;
        let secs = left.as_secs_f64().ceil().max(1.0) as u64;
        let mut err = ToolError::new(
            ToolErrorKind::Unavailable,
            format!(
                "the circuit breaker for backend `{}` is open ({failures} of the last {calls} \
                 calls failed); nothing was sent. The gateway tries the backend again in {secs} s",
                self.source
            ),
        )
        .with_origin(ErrorOrigin::Gateway);
        err.retryable = false;
        err.retry_after = Some(Duration::from_secs(secs));
        err
    }

    fn probing_error(&self) -> ToolError {
        let mut err = ToolError::new(
            ToolErrorKind::Unavailable,
            format!(
                "the circuit breaker for backend `{}` is half-open: {} probe calls are testing \
                 whether it recovered; nothing was sent. Call again in a moment",
                self.source, self.config.half_open_probes
            ),
        )
        .with_origin(ErrorOrigin::Gateway);
        err.retryable = false;
        err.retry_after = Some(Duration::from_secs(1));
        err
    }
}

#[cfg(test)]
mod tests;
