//! Retries under a ceiling: a failed attempt is sent again only when that is safe, useful and
//! affordable.
//!
//! - **Safe**: the failure says nothing reached the backend (`Delivery::NotSent`), or the
//!   operation is idempotent (a tool annotated `idempotentHint` or `readOnlyHint`: for an
//!   OpenAPI source, GET/HEAD/OPTIONS/PUT/DELETE unless overridden; resource reads). A request
//!   that may have reached the backend is never sent twice otherwise.
//! - **Useful**: the backend's failure is retryable (connect errors, timeouts, broken
//!   exchanges, `unavailable`, 408/429/502/503/504). Failures made by the gateway itself
//!   (validation, limits, an open circuit) are never retried.
//! - **Affordable**, bounded three ways: `max_attempts` per call; the call's deadline (no wait
//!   that would end past it); and a retry budget per source ([`budget`], as in Finagle and
//!   linkerd): retries ≤ `budget.ratio` × calls over the last
//!   `budget.window_secs`, plus `budget.min_per_second`, so a failing backend gets at most
//!   that much extra traffic however many callers there are.
//!
//! The wait is exponential backoff with full jitter (uniform in `[0, min(max_delay,
//! base_delay × 2^(n-1))]`), or the backend's `Retry-After` when it is longer (a longer
//! `Retry-After` than `max_retry_after_ms` ends the retries: the model sees it instead).
//! Cancellation stops the wait. The layer is [`layer`].

pub mod budget;
pub mod layer;

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use toolgate_core::{Delivery, ErrorOrigin, McpRequest, Resolved, ToolError};

pub use layer::{AttemptsLayer, AttemptsService};

/// How failed calls to a source are retried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Whether retries apply (set `false` in a per-source override to exempt one source).
    pub enabled: bool,
    /// Attempts per call, the first included (3 = at most two retries).
    pub max_attempts: u32,
    /// Backoff before the first retry, in milliseconds (doubled for each further retry).
    pub base_delay_ms: u64,
    /// Longest backoff between two attempts, in milliseconds.
    pub max_delay_ms: u64,
    /// Longest `Retry-After` (from a 429 or 503) the gateway waits out before retrying, in
    /// milliseconds; a longer one ends the retries and reaches the model.
    pub max_retry_after_ms: u64,
    /// The ceiling on retries per source.
    pub budget: RetryBudgetConfig,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            enabled: true,
            max_attempts: 3,
            base_delay_ms: 50,
            max_delay_ms: 2_000,
            max_retry_after_ms: 5_000,
            budget: RetryBudgetConfig::default(),
        }
    }
}

/// The retry budget of a source: how much extra traffic retries may add.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RetryBudgetConfig {
    /// Retries allowed per call made, over the window (0.2 = one retry per five calls).
    pub ratio: f32,
    /// Retries allowed per second regardless of traffic (so a quiet source can still retry).
    pub min_per_second: u32,
    /// How long a call counts toward the budget, in seconds (1 to 60).
    pub window_secs: u64,
}

impl Default for RetryBudgetConfig {
    fn default() -> Self {
        RetryBudgetConfig {
            ratio: 0.2,
            min_per_second: 10,
            window_secs: 10,
        }
    }
}

impl RetryConfig {
    /// Problems with these settings, as (field, message) pairs.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if !(1..=10).contains(&self.max_attempts) {
            out.push((
                "max_attempts",
                format!(
                    "must be between 1 and 10 (the first attempt included), not {}",
                    self.max_attempts
                ),
            ));
        }
        if self.base_delay_ms > self.max_delay_ms {
            out.push((
                "base_delay_ms",
                format!(
                    "{} is over max_delay_ms ({}); lower it or raise max_delay_ms",
                    self.base_delay_ms, self.max_delay_ms
                ),
            ));
        }
        let b = &self.budget;
        if !(b.ratio >= 0.0 && b.ratio <= 1000.0) {
            out.push((
                "budget.ratio",
                format!("must be between 0 and 1000 (0.2 = 20 %), not {}", b.ratio),
            ));
        }
        if !(1..=60).contains(&b.window_secs) {
            out.push((
                "budget.window_secs",
                format!("must be between 1 and 60, not {}", b.window_secs),
            ));
        }
        if b.min_per_second >= i32::MAX as u32 {
            out.push(("budget.min_per_second", "is too large".to_owned()));
        }
        out
    }

    /// The budget these settings describe (values out of range, which
    /// [`RetryConfig::problems`] reports, are clamped).
    pub(crate) fn make_budget(&self) -> budget::RetryBudget {
        let b = &self.budget;
        budget::RetryBudget::new(
            Duration::from_secs(b.window_secs.clamp(1, 60)),
            b.min_per_second,
            if b.ratio.is_finite() {
                b.ratio.clamp(0.0, 1000.0)
            } else {
                0.0
            },
        )
    }

    /// The backoff before retry number `retry` (1 for the first), with full jitter.
    pub fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .base_delay_ms
            .saturating_mul(1u64 << retry.saturating_sub(1).min(32));
        let ceiling = exp.min(self.max_delay_ms);
        Duration::from_millis(fastrand::u64(0..=ceiling))
    }
}

/// Whether a call's operation may be applied twice without harm.
pub fn idempotent(request: &McpRequest, resolved: Option<&Resolved>) -> bool {
    match request {
        McpRequest::CallTool { .. } => resolved
            .and_then(Resolved::tool)
            .and_then(|t| t.tool.annotations.as_ref())
            .is_some_and(|a| a.idempotent_hint == Some(true) || a.read_only_hint == Some(true)),
        McpRequest::ReadResource { .. } | McpRequest::GetPrompt { .. } => true,
        McpRequest::Complete { .. } => true,
        McpRequest::Subscribe { .. }
        | McpRequest::SetLogLevel { .. }
        | McpRequest::ListTools { .. }
        | McpRequest::ListResources { .. }
        | McpRequest::ListResourceTemplates { .. }
        | McpRequest::ListPrompts { .. } => false,
    }
}

/// Whether `err` may be retried: a retryable failure of the backend, and safe to send again.
pub fn retryable(err: &ToolError, idempotent: bool) -> bool {
    err.retryable
        && err.origin == ErrorOrigin::Backend
        && (idempotent || err.delivery == Delivery::NotSent)
}

#[cfg(test)]
mod tests;
