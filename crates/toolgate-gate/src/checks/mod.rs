//! The five checks of the gate, each a pure function from what was measured to a [`Check`]
//! (pass, fail or skipped, with a summary, evidence lines, warnings and the metric the
//! verdict line can quote).
//!
//! - schema contract: uncovered breaking changes against the baseline, replay mismatches;
//! - auth scope: the role matrix the candidate's configuration gives vs the plan's, probes;
//! - latency budget: a tool over budget in two consecutive windows fails, one window warns;
//! - retry ceiling: retries per call over the ceiling, or retries per completed call growing
//!   window after window;
//! - rollback drill: rolled back (or restarted) and answering again within the target.

use serde::{Deserialize, Serialize};
use toolgate_contract::DiffReport;
use toolgate_replay::ReplayReport;

use crate::plan::Budget;

mod latency;
mod ops;

pub use latency::{LatencyRow, WindowLatency, latency_budget, retry_ceiling};
pub use ops::{DrillResult, ProbeOutcome, RoleCell, auth_scope, rollback_drill};

/// A check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Judged, and fine.
    Pass,
    /// Judged, and not fine.
    Fail,
    /// Not judged: the plan does not ask for it.
    Skipped,
}

impl Status {
    /// `pass`, `fail`, `skipped`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Skipped => "skipped",
        }
    }
}

/// Which check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// Contract diff and replay shapes.
    SchemaContract,
    /// Role matrix and probes.
    AuthScope,
    /// p50/p95 per tool and window.
    LatencyBudget,
    /// Retries per call and their growth.
    RetryCeiling,
    /// Break, reload, recover.
    RollbackDrill,
}

impl CheckKind {
    /// The name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::SchemaContract => "schema_contract",
            CheckKind::AuthScope => "auth_scope",
            CheckKind::LatencyBudget => "latency_budget",
            CheckKind::RetryCeiling => "retry_ceiling",
            CheckKind::RollbackDrill => "rollback_drill",
        }
    }
}

/// One check's outcome and evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// Which.
    pub kind: CheckKind,
    /// The outcome.
    pub status: Status,
    /// One line.
    pub summary: String,
    /// The figure the verdict line quotes (`p95_ms:get_task=412>300`), without spaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// What it is based on, one line each.
    #[serde(default)]
    pub evidence: Vec<String>,
    /// Not failing, but worth a look (one window over budget, a budget for an unseen tool).
    #[serde(default)]
    pub warnings: Vec<String>,
}

impl Check {
    /// A check the plan does not ask for.
    pub fn skipped(kind: CheckKind, why: &str) -> Check {
        Check {
            kind,
            status: Status::Skipped,
            summary: format!("skipped: {why}"),
            metric: None,
            evidence: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn judged(kind: CheckKind, failed: bool, summary: String) -> Check {
        Check {
            kind,
            status: if failed { Status::Fail } else { Status::Pass },
            summary,
            metric: None,
            evidence: Vec::new(),
            warnings: Vec::new(),
        }
    }
}

/// Schema contract: fails on an uncovered breaking change or a replay mismatch.
pub fn schema_contract(diff: Option<&DiffReport>, replay: Option<&ReplayReport>) -> Check {
    if diff.is_none() && replay.is_none() {
        return Check::skipped(
            CheckKind::SchemaContract,
            "the plan has no `baseline` and no `replay`",
        );
    }
    let breaking = diff.map_or(0, |d| d.counts().breaking);
    let mismatched = replay.map_or(0, |r| r.mismatched_calls);
    let mut parts = Vec::new();
    let mut check = Check::judged(
        CheckKind::SchemaContract,
        breaking > 0 || mismatched > 0,
        String::new(),
    );
    if let Some(d) = diff {
        let c = d.counts();
        parts.push(format!(
            "{} → {}: {} breaking, {} covered by migration notes, {} compatible, {} info",
            d.old.name(),
            d.new.name(),
            c.breaking,
            c.covered,
            c.compatible,
            c.info
        ));
        for f in d.findings.iter().filter(|f| f.fails()) {
            check.evidence.push(format!(
                "BREAKING {} tool `{}` {}: {}",
                f.rule, f.component, f.pointer, f.reason
            ));
        }
        for f in d.findings.iter().filter(|f| f.covered_by.is_some()) {
            check.evidence.push(format!(
                "covered {} tool `{}` {} by {}",
                f.rule,
                f.component,
                f.pointer,
                f.covered_by.as_deref().unwrap_or_default()
            ));
        }
        for m in &d.unused_migrations {
            check
                .warnings
                .push(format!("migration note matches no breaking change: {m}"));
        }
    } else {
        check
            .warnings
            .push("no `baseline`: the contract diff was not run".into());
    }
    if let Some(r) = replay {
        parts.push(format!(
            "replay: {} of {} calls with mismatches",
            r.mismatched_calls, r.calls
        ));
        for m in &r.mismatches {
            check.evidence.push(format!(
                "replay {} [{}] at {}: expected {}, got {} ({}×, first: {})",
                m.tool,
                serde_json::to_value(m.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                if m.pointer.is_empty() {
                    "/"
                } else {
                    &m.pointer
                },
                m.expected,
                m.actual,
                m.count,
                m.first_call
            ));
        }
    }
    check.summary = parts.join("; ");
    check.metric = Some(if breaking > 0 || diff.is_some() && mismatched == 0 {
        format!("breaking_changes={breaking}")
    } else {
        format!("replay_mismatches={mismatched}")
    });
    check
}

/// A number for reports: at most 3 decimals, no trailing zeros.
pub fn num(x: f64) -> String {
    let s = format!("{x:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-0" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

/// `p50 ≤ 20 ms, p95 ≤ 50 ms`.
pub fn budget_text(b: &Budget) -> String {
    let mut parts = Vec::new();
    if let Some(v) = b.p50_ms {
        parts.push(format!("p50 ≤ {} ms", num(v)));
    }
    if let Some(v) = b.p95_ms {
        parts.push(format!("p95 ≤ {} ms", num(v)));
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests;
