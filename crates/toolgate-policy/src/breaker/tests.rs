//! The breaker's state machine on tokio's paused clock.

use std::time::Duration;

use toolgate_core::{ToolError, ToolErrorKind};

use super::*;

fn breaker(config: BreakerConfig) -> Breaker {
    Breaker::new(Arc::from("api"), config, ResilienceMetrics::default())
}

fn config() -> BreakerConfig {
    BreakerConfig {
        enabled: true,
        failure_rate: 0.5,
        minimum_calls: 4,
        window_ms: 10_000,
        open_ms: 5_000,
        half_open_probes: 2,
    }
}

fn run(b: &Breaker, verdict: Verdict) -> Result<(), ToolError> {
    let permit = b.acquire()?;
    b.record(permit, verdict);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn opens_on_the_failure_rate_once_the_window_holds_enough_calls() {
    let b = breaker(config());
    run(&b, Verdict::Failure).unwrap();
    run(&b, Verdict::Failure).unwrap();
    run(&b, Verdict::Failure).unwrap();
    // Three failures, but fewer than minimum_calls: still closed.
    assert_eq!(b.state(), CircuitState::Closed);
    run(&b, Verdict::Success).unwrap();
    // 3 of 4 failed (75 % ≥ 50 %).
    assert_eq!(b.state(), CircuitState::Open);
    let err = b.acquire().unwrap_err();
    assert_eq!(err.kind, ToolErrorKind::Unavailable);
    assert_eq!(err.origin, ErrorOrigin::Gateway);
    assert!(!err.retryable);
    assert!(err.message.contains("backend `api`"), "{}", err.message);
    assert!(err.message.contains("in 5 s"), "{}", err.message);
    assert!(err.message.contains("3 of the last 4"), "{}", err.message);
}

#[tokio::test(start_paused = true)]
async fn a_healthy_share_keeps_it_closed_and_ignored_outcomes_do_not_count() {
    let b = breaker(config());
    for _ in 0..10 {
        run(&b, Verdict::Success).unwrap();
        run(&b, Verdict::Ignored).unwrap();
    }
    for _ in 0..9 {
        run(&b, Verdict::Failure).unwrap();
    }
    // 9 failures of 19 counted calls: under 50 %.
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(b.report().window_calls, 19);
}

#[tokio::test(start_paused = true)]
async fn old_failures_leave_the_window() {
    let b = breaker(config());
    for _ in 0..3 {
        run(&b, Verdict::Failure).unwrap();
    }
    tokio::time::advance(Duration::from_millis(10_500)).await;
    // The three failures are out of the 10 s window: one more failure is 1 of 1 calls,
    // under minimum_calls.
    run(&b, Verdict::Failure).unwrap();
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(b.report().window_failures, 1);
}

fn open(b: &Breaker) {
    for _ in 0..4 {
        run(b, Verdict::Failure).unwrap();
    }
    assert_eq!(b.state(), CircuitState::Open);
}

#[tokio::test(start_paused = true)]
async fn closed_open_half_open_closed() {
    let b = breaker(config());
    open(&b);
    tokio::time::advance(Duration::from_millis(4_900)).await;
    assert!(b.acquire().is_err(), "still open before open_ms");
    assert_eq!(b.report().retry_in, Some(Duration::from_millis(100)));
    tokio::time::advance(Duration::from_millis(100)).await;
    // Two probes pass, a third call is refused while they run.
    let p1 = b.acquire().unwrap();
    assert_eq!(b.state(), CircuitState::HalfOpen);
    let p2 = b.acquire().unwrap();
    let refused = b.acquire().unwrap_err();
    assert!(refused.message.contains("half-open"), "{}", refused.message);
    b.record(p1, Verdict::Success);
    assert_eq!(b.state(), CircuitState::HalfOpen);
    b.record(p2, Verdict::Success);
    assert_eq!(b.state(), CircuitState::Closed);
    // The window starts empty: one failure does not reopen it.
    run(&b, Verdict::Failure).unwrap();
    assert_eq!(b.state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_failed_probe_opens_it_again_for_open_ms() {
    let b = breaker(config());
    open(&b);
    tokio::time::advance(Duration::from_millis(5_000)).await;
    let p1 = b.acquire().unwrap();
    b.record(p1, Verdict::Failure);
    assert_eq!(b.state(), CircuitState::Open);
    assert_eq!(b.report().retry_in, Some(Duration::from_millis(5_000)));
    tokio::time::advance(Duration::from_millis(5_000)).await;
    assert!(b.acquire().is_ok());
}

#[tokio::test(start_paused = true)]
async fn an_abandoned_probe_gives_its_slot_back() {
    let b = breaker(config());
    open(&b);
    tokio::time::advance(Duration::from_millis(5_000)).await;
    let p1 = b.acquire().unwrap();
    let p2 = b.acquire().unwrap();
    b.record(p1, Verdict::Ignored);
    let p3 = b
        .acquire()
        .expect("the abandoned probe's slot is free again");
    b.record(p2, Verdict::Success);
    b.record(p3, Verdict::Success);
    assert_eq!(b.state(), CircuitState::Closed);
}

#[test]
fn what_counts_as_a_failure() {
    let status = |s| ToolError::new(ToolErrorKind::BackendStatus, "x").with_status(s);
    assert_eq!(error_verdict(&status(503)), Verdict::Failure);
    assert_eq!(error_verdict(&status(500)), Verdict::Failure);
    assert_eq!(error_verdict(&status(404)), Verdict::Success);
    assert_eq!(error_verdict(&status(429)), Verdict::Success);
    for kind in [
        ToolErrorKind::Connect,
        ToolErrorKind::Timeout,
        ToolErrorKind::Transport,
        ToolErrorKind::Unavailable,
    ] {
        assert_eq!(
            error_verdict(&ToolError::new(kind, "x")),
            Verdict::Failure,
            "{kind:?}"
        );
    }
    assert_eq!(
        error_verdict(&ToolError::new(ToolErrorKind::InvalidArguments, "x")),
        Verdict::Ignored
    );
    assert_eq!(
        error_verdict(&ToolError::new(ToolErrorKind::Cancelled, "x")),
        Verdict::Ignored
    );
    assert_eq!(
        error_verdict(
            &ToolError::new(ToolErrorKind::Timeout, "x")
                .with_origin(ErrorOrigin::CredentialProvider)
        ),
        Verdict::Ignored
    );
}

#[test]
fn settings_out_of_range_are_named() {
    let bad = BreakerConfig {
        failure_rate: 1.5,
        minimum_calls: 0,
        half_open_probes: 0,
        ..BreakerConfig::default()
    };
    let fields: Vec<_> = bad.problems().into_iter().map(|(f, _)| f).collect();
    assert_eq!(
        fields,
        ["failure_rate", "minimum_calls", "half_open_probes"]
    );
    assert!(BreakerConfig::default().problems().is_empty());
}
