//! Backoff bounds, safety rules and settings checks.

use std::time::Duration;

use toolgate_core::{Delivery, ErrorOrigin, ToolError, ToolErrorKind};

use super::*;

#[test]
fn backoff_is_full_jitter_under_an_exponential_ceiling() {
    let config = RetryConfig {
        base_delay_ms: 100,
        max_delay_ms: 1_000,
        ..RetryConfig::default()
    };
    for (retry, ceiling) in [
        (1, 100),
        (2, 200),
        (3, 400),
        (4, 800),
        (5, 1_000),
        (40, 1_000),
    ] {
        let mut longest = Duration::ZERO;
        for _ in 0..500 {
            let d = config.backoff(retry);
            assert!(d <= Duration::from_millis(ceiling), "retry {retry}: {d:?}");
            longest = longest.max(d);
        }
        // Uniform over [0, ceiling]: 500 draws all in the lower half would be a broken jitter.
        assert!(
            longest > Duration::from_millis(ceiling / 2),
            "retry {retry}: {longest:?}"
        );
    }
}

#[test]
fn only_backend_failures_that_are_safe_to_resend_are_retried() {
    let status = |s| ToolError::new(ToolErrorKind::BackendStatus, "x").with_status(s);
    // Idempotent: retryable statuses and transport failures, whatever was sent.
    assert!(retryable(&status(503), true));
    assert!(retryable(&status(429), true));
    assert!(retryable(&status(502), true));
    assert!(!retryable(&status(500), true));
    assert!(!retryable(&status(404), true));
    assert!(retryable(
        &ToolError::new(ToolErrorKind::Timeout, "x"),
        true
    ));
    // Not idempotent: only when nothing reached the backend.
    assert!(!retryable(&status(503), false));
    assert!(!retryable(
        &ToolError::new(ToolErrorKind::Timeout, "x"),
        false
    ));
    assert!(!retryable(
        &ToolError::new(ToolErrorKind::Transport, "x").with_delivery(Delivery::MaybeSent),
        false
    ));
    assert!(retryable(
        &ToolError::new(ToolErrorKind::Connect, "x"),
        false
    ));
    assert!(retryable(
        &ToolError::new(ToolErrorKind::Timeout, "connect timeout").with_delivery(Delivery::NotSent),
        false
    ));
    // Made by the gateway (an open circuit, a full concurrency cap): never.
    assert!(!retryable(
        &ToolError::new(ToolErrorKind::Unavailable, "open").with_origin(ErrorOrigin::Gateway),
        true
    ));
    assert!(!retryable(
        &ToolError::new(ToolErrorKind::Overloaded, "x"),
        true
    ));
}

#[test]
fn settings_out_of_range_are_named_and_never_reach_the_budget() {
    let bad = RetryConfig {
        max_attempts: 0,
        base_delay_ms: 5_000,
        max_delay_ms: 100,
        budget: RetryBudgetConfig {
            ratio: -1.0,
            min_per_second: 1,
            window_secs: 0,
        },
        ..RetryConfig::default()
    };
    let fields: Vec<_> = bad.problems().into_iter().map(|(f, _)| f).collect();
    assert_eq!(
        fields,
        [
            "max_attempts",
            "base_delay_ms",
            "budget.ratio",
            "budget.window_secs"
        ]
    );
    // Clamped rather than a panic in tower's constructor.
    let _ = bad.make_budget();
    assert!(RetryConfig::default().problems().is_empty());
}
