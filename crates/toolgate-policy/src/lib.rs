//! Cross-cutting policies of the call pipeline, as `tower` layers over `McpCall`.
//!
//! Owns: the per-call log line, Prometheus metrics, and [`stack::build`], which assembles the
//! pipeline in one place. Authorization (`authz`) and the audit log
//! (`audit`). Later: rate limits, retries and
//! circuit breakers. Does not own: transports or sources.

pub mod audit;
pub mod authz;
pub mod call_log;
pub mod metrics;
pub mod outcome;
pub mod stack;

pub use metrics::Metrics;
pub use outcome::outcome_label;
