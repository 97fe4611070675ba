//! Replay: runs recorded tool calls (a recording written by `toolgate serve`'s `recording`
//! section) or a workflow file (steps chaining tool calls, each fed by earlier results)
//! against an MCP server over streamable HTTP, and checks every answer's **shape** — error
//! vs success, the types and fields of the result — against the recording and, given a
//! contract snapshot, the tool's `outputSchema`; never its volatile values.
//!
//! Runs are burst-capable (`concurrency`, `rate`) and split into windows; per tool and window
//! the [`ReplayReport`] has p50/p95/p99 latency, error rate, retries per call and completion
//! rate. The report is a public serializable type: the release gate consumes it.
//!
//! Owns: input loading ([`input`]), workflow templating ([`template`]), answer checks
//! ([`check`]), statistics ([`stats`]), the report ([`report`]) and the runner ([`run()`]).
//! Does not own: the HTTP/MCP client (`toolgate_bench::client`, the load generator's), the
//! shape rules (`toolgate_contract::shape`), starting a target from a configuration (the
//! `toolgate` binary's `replay` command) or exit codes.

pub mod check;
pub mod input;
pub mod report;
mod run;
pub mod stats;
pub mod template;

pub use check::MismatchKind;
pub use input::Input;
pub use report::{Mismatch, ReplayReport};
pub use run::{ReplayOptions, run};
pub use toolgate_bench::client::{ClientOptions, HttpMode};

/// Why a replay could not run.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The input, contract or options are not usable (exit 2).
    #[error("{0}")]
    Input(String),
    /// The target could not be reached (exit 2: nothing was replayed).
    #[error("{0}")]
    Target(String),
}
