//! Cross-cutting policies of the call pipeline, as `tower` layers over `McpCall`.
//!
//! Owns: the per-call log line, Prometheus metrics, retries under a budget
//! ([`retry`]), circuit breakers ([`breaker`]) and their configuration ([`resilience`]), and
//! [`stack::build`], which assembles the pipeline in one place. Later: authentication,
//! authorization and rate limits. Does not own: transports or sources.

pub mod breaker;
pub mod cache;
pub mod call_log;
pub mod metrics;
pub mod outcome;
pub mod resilience;
pub mod retry;
pub mod size;
pub mod stack;

pub use metrics::Metrics;
pub use outcome::outcome_label;
pub use resilience::{Resilience, ResilienceConfig};
