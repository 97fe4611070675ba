//! The verdict: from the checks to `next_step` and the one line CI and people read last,
//! `tool=… objective=… preview_result=pass|fail primary_metric=… next_step=rollout|patch|hold`.
//!
//! The rules (docs/gate.md, "The verdict"):
//! - **rollout**: no check failed (skipped checks are listed in the report, they do not block);
//! - **patch**: only the schema contract and/or auth scope failed — the fix is a change to the
//!   candidate (a migration note, a restored field, a corrected rule) and the gate is run again;
//! - **hold**: the latency budget, the retry ceiling or the rollback drill failed (alone or with
//!   others): the candidate must not go out until its behaviour under load or failure is
//!   understood.
//!
//! `primary_metric` is the metric of the first failed check in the order latency budget,
//! retry ceiling, rollback drill, schema contract, auth scope (the one that decided a hold
//! comes first); when nothing failed, the worst p95 against its budget, else
//! `checks_passed=N/M`.

use serde::{Deserialize, Serialize};

use crate::checks::{Check, CheckKind, Status};

/// What to do with the candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NextStep {
    /// Every judged check passed.
    Rollout,
    /// Contract or auth failures only: fix the candidate and gate again.
    Patch,
    /// Latency, retries or rollback failed.
    Hold,
}

impl NextStep {
    /// `rollout`, `patch`, `hold`.
    pub fn as_str(self) -> &'static str {
        match self {
            NextStep::Rollout => "rollout",
            NextStep::Patch => "patch",
            NextStep::Hold => "hold",
        }
    }
}

/// The gate's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// What is promoted.
    pub tool: String,
    /// Why.
    pub objective: String,
    /// `pass` (rollout) or `fail`.
    pub preview_result: String,
    /// The deciding figure.
    pub primary_metric: String,
    /// What to do.
    pub next_step: NextStep,
}

/// The next step the checks call for.
pub fn next_step(checks: &[Check]) -> NextStep {
    let failed = |k: CheckKind| {
        checks
            .iter()
            .any(|c| c.kind == k && c.status == Status::Fail)
    };
    let hold = [
        CheckKind::LatencyBudget,
        CheckKind::RetryCeiling,
        CheckKind::RollbackDrill,
    ];
    let patch = [CheckKind::SchemaContract, CheckKind::AuthScope];
    if hold.into_iter().any(failed) {
        NextStep::Hold
    } else if patch.into_iter().any(failed) {
        NextStep::Patch
    } else {
        NextStep::Rollout
    }
}

/// The order in which a failed check's metric becomes the primary metric.
const PRIORITY: [CheckKind; 5] = [
    CheckKind::LatencyBudget,
    CheckKind::RetryCeiling,
    CheckKind::RollbackDrill,
    CheckKind::SchemaContract,
    CheckKind::AuthScope,
];

/// The primary metric (see the module doc).
pub fn primary_metric(checks: &[Check]) -> String {
    let metric_of = |k: CheckKind, status: Status| {
        checks
            .iter()
            .find(|c| c.kind == k && c.status == status)
            .and_then(|c| c.metric.clone())
    };
    for k in PRIORITY {
        if let Some(m) = metric_of(k, Status::Fail) {
            return m;
        }
    }
    if let Some(failed) = checks.iter().find(|c| c.status == Status::Fail) {
        return format!("failed_check={}", failed.kind.as_str());
    }
    if let Some(m) = metric_of(CheckKind::LatencyBudget, Status::Pass) {
        return m;
    }
    let judged = checks
        .iter()
        .filter(|c| c.status != Status::Skipped)
        .count();
    let passed = checks.iter().filter(|c| c.status == Status::Pass).count();
    format!("checks_passed={passed}/{judged}")
}

impl Verdict {
    /// The verdict the checks give.
    pub fn decide(tool: &str, objective: &str, checks: &[Check]) -> Verdict {
        let next_step = next_step(checks);
        Verdict {
            tool: tool.to_owned(),
            objective: objective.to_owned(),
            preview_result: if next_step == NextStep::Rollout {
                "pass"
            } else {
                "fail"
            }
            .to_owned(),
            primary_metric: primary_metric(checks),
            next_step,
        }
    }

    /// The line: `tool=… objective=… preview_result=… primary_metric=… next_step=…`; a value
    /// with spaces, quotes or `=` is double-quoted (`\"` and `\\` escaped).
    pub fn line(&self) -> String {
        format!(
            "tool={} objective={} preview_result={} primary_metric={} next_step={}",
            value(&self.tool),
            value(&self.objective),
            self.preview_result,
            value(&self.primary_metric),
            self.next_step.as_str()
        )
    }
}

/// A `key=value` value: bare when it has no space, quote, backslash or control character.
fn value(v: &str) -> String {
    if !v.is_empty()
        && !v
            .chars()
            .any(|c| c.is_whitespace() || c == '"' || c == '\\' || c.is_control())
    {
        return v.to_owned();
    }
    let mut out = String::from("\"");
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(kind: CheckKind, status: Status, metric: &str) -> Check {
        Check {
            kind,
            status,
            summary: String::new(),
            metric: Some(metric.to_owned()),
            evidence: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn all(statuses: [Status; 5]) -> Vec<Check> {
        PRIORITY
            .iter()
            .zip(statuses)
            .map(|(k, s)| check(*k, s, k.as_str()))
            .collect()
    }

    use Status::{Fail, Pass, Skipped};

    #[test]
    fn all_pass_is_rollout_and_skipped_checks_do_not_block() {
        assert_eq!(next_step(&all([Pass; 5])), NextStep::Rollout);
        assert_eq!(
            next_step(&all([Pass, Skipped, Skipped, Pass, Skipped])),
            NextStep::Rollout
        );
    }

    #[test]
    fn contract_or_auth_failures_alone_are_patch() {
        // order: latency, retry, rollback, contract, auth
        assert_eq!(
            next_step(&all([Pass, Pass, Pass, Fail, Pass])),
            NextStep::Patch
        );
        assert_eq!(
            next_step(&all([Pass, Pass, Pass, Pass, Fail])),
            NextStep::Patch
        );
        assert_eq!(
            next_step(&all([Pass, Skipped, Pass, Fail, Fail])),
            NextStep::Patch
        );
    }

    #[test]
    fn latency_retry_or_rollback_failures_hold_even_with_contract_failures() {
        assert_eq!(
            next_step(&all([Fail, Pass, Pass, Pass, Pass])),
            NextStep::Hold
        );
        assert_eq!(
            next_step(&all([Pass, Fail, Pass, Pass, Pass])),
            NextStep::Hold
        );
        assert_eq!(
            next_step(&all([Pass, Pass, Fail, Pass, Pass])),
            NextStep::Hold
        );
        assert_eq!(
            next_step(&all([Pass, Pass, Fail, Fail, Fail])),
            NextStep::Hold
        );
    }

    #[test]
    fn the_primary_metric_is_the_deciding_failure_first() {
        let mut checks = all([Pass, Pass, Fail, Fail, Pass]);
        assert_eq!(primary_metric(&checks), "rollback_drill");
        checks[2].status = Pass;
        assert_eq!(primary_metric(&checks), "schema_contract");
        checks[3].status = Pass;
        // Nothing failed: the latency figure (worst p95 vs budget).
        assert_eq!(primary_metric(&checks), "latency_budget");
        checks[0].status = Skipped;
        assert_eq!(primary_metric(&checks), "checks_passed=4/4");
    }

    #[test]
    fn the_line_has_the_seed_form_and_quotes_values_with_spaces() {
        let checks = vec![check(
            CheckKind::LatencyBudget,
            Fail,
            "p95_ms:create_order=412>300",
        )];
        let v = Verdict::decide("toolgate", "promote orders-api v2", &checks);
        assert_eq!(
            v.line(),
            r#"tool=toolgate objective="promote orders-api v2" preview_result=fail primary_metric=p95_ms:create_order=412>300 next_step=hold"#
        );
        let v = Verdict::decide("a\"b", "x\\y\nz", &all([Pass; 5]));
        assert!(
            v.line()
                .starts_with(r#"tool="a\"b" objective="x\\y z" preview_result=pass"#),
            "{}",
            v.line()
        );
        assert!(v.line().ends_with("next_step=rollout"));
    }
}
