//! Cross-cutting policies of the call pipeline, as `tower` layers over `McpCall`.
//!
//! Owns: the per-call log line, Prometheus metrics, authorization (`authz`) and the audit log
//! (`audit`), rate limits and concurrency caps ([`limits`]), and [`stack::build`], which
//! assembles the pipeline in one place. Does not own: transports or sources.

pub mod audit;
pub mod authz;
pub mod call_log;
pub mod limits;
pub mod metrics;
pub mod outcome;
pub mod stack;

pub use metrics::Metrics;
pub use outcome::outcome_label;
