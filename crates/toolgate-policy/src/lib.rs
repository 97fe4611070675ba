//! Cross-cutting policies of the call pipeline, as `tower` layers over `McpCall`.
//!
//! Owns: the per-call log line, Prometheus metrics, rate limits and concurrency caps
//! ([`limits`]), and [`stack::build`], which assembles the pipeline in one place. Later:
//! authentication, authorization, retries and circuit breakers. Does not own: transports or sources.

pub mod call_log;
pub mod limits;
pub mod metrics;
pub mod outcome;
pub mod stack;

pub use metrics::Metrics;
pub use outcome::outcome_label;
