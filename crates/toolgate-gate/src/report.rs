//! The gate report: one serializable, versioned document (`format: toolgate-gate/1`) with the
//! verdict, every check and the evidence behind them (the contract diff, the replay report,
//! latency per tool and window, the role matrix, probes, the drill), and its text summary.
//! Tokens never reach it: probes and the drill name where a token came from, not the token.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use toolgate_replay::ReplayReport;

use crate::checks::{self, Check, DrillResult, LatencyRow, ProbeOutcome, RoleCell, Status};
use crate::verdict::Verdict;

/// The report format (`format`).
pub const FORMAT: &str = "toolgate-gate/1";

/// Everything the gate found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateReport {
    /// Always [`FORMAT`].
    pub format: String,
    /// The toolgate version that ran the gate.
    pub toolgate_version: String,
    /// When it ran (RFC 3339, UTC).
    pub generated_at: String,
    /// The plan file.
    pub plan: String,
    /// The verdict.
    pub verdict: Verdict,
    /// The candidate (its configuration file or URL).
    pub candidate: String,
    /// The baseline snapshot, when the plan names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    /// The five checks, in a fixed order.
    pub checks: Vec<Check>,
    /// The contract diff (`toolgate contract diff --format json`'s document).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract_diff: Option<Value>,
    /// The replay report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<ReplayReport>,
    /// Latency per tool and window with budgets.
    #[serde(default)]
    pub latency: Vec<LatencyRow>,
    /// The expected role matrix and what the candidate gives.
    #[serde(default)]
    pub role_matrix: Vec<RoleCell>,
    /// Live probes.
    #[serde(default)]
    pub probes: Vec<ProbeOutcome>,
    /// The rollback drill.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<DrillResult>,
}

impl GateReport {
    /// The check of `kind`.
    pub fn check(&self, kind: checks::CheckKind) -> Option<&Check> {
        self.checks.iter().find(|c| c.kind == kind)
    }

    /// The text summary; the verdict line comes last.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "gate: {} — {}",
            self.verdict.tool, self.verdict.objective
        );
        let _ = writeln!(out, "  candidate: {}", self.candidate);
        if let Some(b) = &self.baseline {
            let _ = writeln!(out, "  baseline:  {b}");
        }
        for c in &self.checks {
            let mark = match c.status {
                Status::Pass => "PASS",
                Status::Fail => "FAIL",
                Status::Skipped => "SKIP",
            };
            let _ = writeln!(out, "\n{mark:4} {:15} {}", c.kind.as_str(), c.summary);
            let shown = 12;
            for e in c
                .evidence
                .iter()
                .filter(|e| e.starts_with("FAIL") || e.starts_with("BREAKING"))
                .take(shown)
            {
                let _ = writeln!(out, "     - {e}");
            }
            let failing = c
                .evidence
                .iter()
                .filter(|e| e.starts_with("FAIL") || e.starts_with("BREAKING"))
                .count();
            if failing > shown {
                let _ = writeln!(
                    out,
                    "     … and {} more (see the JSON or HTML report)",
                    failing - shown
                );
            }
            for w in c.warnings.iter().take(shown) {
                let _ = writeln!(out, "     warning: {w}");
            }
        }
        if !self.latency.is_empty() {
            let _ = writeln!(out, "\nlatency per window (p50 / p95 ms; * over budget):");
            let width = self.latency.iter().map(|r| r.tool.len()).max().unwrap_or(4);
            for r in &self.latency {
                let budget = r
                    .budget
                    .map_or_else(|| "no budget".to_owned(), |b| checks::budget_text(&b));
                let cells: Vec<String> = r
                    .windows
                    .iter()
                    .map(|w| {
                        format!(
                            "{}/{}{}",
                            w.p50_ms.map_or("-".into(), checks::num),
                            w.p95_ms.map_or("-".into(), checks::num),
                            if w.over { "*" } else { "" }
                        )
                    })
                    .collect();
                let _ = writeln!(out, "  {:width$}  {}  ({budget})", r.tool, cells.join("  "));
            }
        }
        let _ = writeln!(out, "\n{}", self.verdict.line());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::CheckKind;

    #[test]
    fn the_json_round_trips_and_the_text_ends_with_the_verdict_line() {
        let checks = vec![
            Check::skipped(CheckKind::SchemaContract, "no baseline"),
            checks::rollback_drill(Some(&DrillResult {
                break_kind: "invalid_config".into(),
                trigger: "admin".into(),
                healthy_before: true,
                reload_outcome: "failure: rolled back".into(),
                rolled_back: true,
                failed_calls: 0,
                recovery_seconds: Some(0.25),
                target_seconds: 5.0,
                restored: true,
                detail: String::new(),
            })),
        ];
        let report = GateReport {
            format: FORMAT.into(),
            toolgate_version: "0.1.0".into(),
            generated_at: "2026-12-04T00:00:00Z".into(),
            plan: "gate.yaml".into(),
            verdict: Verdict::decide("todo", "promote v2", &checks),
            candidate: "todo.yaml".into(),
            baseline: None,
            checks,
            contract_diff: None,
            replay: None,
            latency: Vec::new(),
            role_matrix: Vec::new(),
            probes: Vec::new(),
            rollback: None,
        };
        let text = serde_json::to_string(&report).unwrap();
        let back: GateReport = serde_json::from_str(&text).unwrap();
        assert_eq!(back, report);
        let summary = report.render_text();
        assert_eq!(
            summary.trim_end().lines().last().unwrap(),
            "tool=todo objective=\"promote v2\" preview_result=pass primary_metric=checks_passed=1/1 next_step=rollout"
        );
        assert!(summary.contains("SKIP schema_contract"), "{summary}");
        assert!(
            summary.contains("recovery") || summary.contains("0.25 s"),
            "{summary}"
        );
    }
}
