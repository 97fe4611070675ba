//! The release gate (`toolgate gate --plan gate.yaml`, docs/gate.md "The gate"): the plan a
//! release manager writes ([`plan`]), the checks that judge the evidence ([`checks`]), the
//! verdict and its one-line summary ([`verdict`]), and the reports ([`report`]: text and
//! versioned JSON; [`html`]: one self-contained HTML file).
//!
//! Everything here is pure: the checks take what was measured (a contract diff, a replay
//! report, the role matrix the candidate's configuration gives, probe answers, the rollback
//! drill's measurements) and decide. Does not own: starting the candidate, replaying,
//! computing the role matrix, probing or drilling (the `toolgate` binary's `gate_cmd`), file
//! I/O or exit codes.

pub mod checks;
pub mod html;
pub mod plan;
pub mod report;
pub mod verdict;

pub use checks::{Check, CheckKind, Status};
pub use plan::{Plan, PlanError};
pub use report::GateReport;
pub use verdict::{NextStep, Verdict};
