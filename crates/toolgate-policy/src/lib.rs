//! Cross-cutting policies of the call pipeline, as `tower` layers over `McpCall`.
//!
//! Owns: the per-call log line, Prometheus metrics, authorization (`authz`) and the audit log
//! (`audit`), the call recording for replay ([`record`]), rate limits and concurrency caps ([`limits`]), retries under a budget
//! ([`retry`]), circuit breakers ([`breaker`]), response size limits and caching, their
//! configuration ([`resilience`]), [`stack::build`], which assembles the pipeline in one
//! place, and [`live`], the pipeline in force, swapped whole by a reload. Does not own: transports or sources.

pub mod audit;
pub mod authz;
pub mod breaker;
pub mod cache;
pub mod call_log;
pub mod limits;
pub mod live;
pub mod meta;
pub mod metrics;
pub mod outcome;
pub mod record;
pub mod resilience;
pub mod retry;
pub mod size;
pub mod stack;
pub mod tool_stats;

pub use metrics::Metrics;
pub use outcome::outcome_label;
pub use resilience::{Resilience, ResilienceConfig};
