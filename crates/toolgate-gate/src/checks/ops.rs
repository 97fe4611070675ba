//! The operational checks: the auth scope (the expected role matrix against what the
//! candidate's rules give, and live probes) and the rollback drill (rolled back, or restarted,
//! and answering again within the target).

use serde::{Deserialize, Serialize};

use super::{Check, CheckKind, Status, num};
use crate::plan::ProbeExpect;

/// One cell of the expected role matrix and what the candidate gives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleCell {
    /// The principal (`role=reader`).
    pub principal: String,
    /// The tool.
    pub tool: String,
    /// What the plan expects.
    pub expected_allowed: bool,
    /// What the candidate's rules give (`None`: the candidate does not serve the tool).
    pub allowed: Option<bool>,
    /// Why (the deciding rule).
    pub why: String,
}

/// A live probe's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeOutcome {
    /// The probe's name.
    pub name: String,
    /// Where its token came from (`env X`; never the token).
    pub token: String,
    /// The tool called.
    pub tool: String,
    /// What had to happen.
    pub expect: ProbeExpect,
    /// What happened (`http_401`, `jsonrpc_-32602`, `tool_error`, `ok`, …).
    pub answer: String,
    /// Whether it was refused.
    pub refused: bool,
}

impl ProbeOutcome {
    /// Whether the probe got what it expected.
    pub fn passed(&self) -> bool {
        self.refused == (self.expect == ProbeExpect::Refused)
    }
}

/// Auth scope: every expected cell matches the candidate's rules and every probe gets what
/// it expects. A tool the plan names that the candidate does not serve is a mismatch when
/// the plan says `may`.
pub fn auth_scope(configured: bool, cells: &[RoleCell], probes: &[ProbeOutcome]) -> Check {
    let kind = CheckKind::AuthScope;
    if !configured {
        return Check::skipped(kind, "the plan has no `auth`");
    }
    let mut wrong = 0usize;
    let mut check = Check::judged(kind, false, String::new());
    for c in cells {
        let ok = match c.allowed {
            Some(a) => a == c.expected_allowed,
            None => !c.expected_allowed,
        };
        let got = match c.allowed {
            Some(true) => "allowed",
            Some(false) => "refused",
            None => "not served",
        };
        let line = format!(
            "{} `{}`: expected {}, {got} ({})",
            c.principal,
            c.tool,
            if c.expected_allowed { "may" } else { "may not" },
            c.why
        );
        if ok {
            check.evidence.push(line);
        } else {
            wrong += 1;
            check.evidence.push(format!("FAIL {line}"));
        }
    }
    for p in probes {
        let line = format!(
            "probe `{}` ({}, tool `{}`): expected {}, got {}",
            p.name,
            p.token,
            p.tool,
            if p.expect == ProbeExpect::Refused {
                "refused"
            } else {
                "allowed"
            },
            p.answer
        );
        if p.passed() {
            check.evidence.push(line);
        } else {
            wrong += 1;
            check.evidence.push(format!("FAIL {line}"));
        }
    }
    if wrong > 0 {
        check.status = Status::Fail;
    }
    check.summary = format!(
        "{} role-matrix cell(s) and {} probe(s): {wrong} not as expected",
        cells.len(),
        probes.len()
    );
    check.metric = Some(format!("auth_mismatches={wrong}"));
    check
}

/// What the rollback drill measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrillResult {
    /// `invalid_config`, `config FILE` or `restart`.
    pub break_kind: String,
    /// `admin`, `sighup` or `restart`.
    pub trigger: String,
    /// The probe answered before the break.
    pub healthy_before: bool,
    /// What the reload said (`failure: …` when it refused the broken config), or the restart.
    pub reload_outcome: String,
    /// The gateway kept (or came back to) the last known good state.
    pub rolled_back: bool,
    /// Probe calls that failed between the break and recovery.
    pub failed_calls: u64,
    /// Seconds from the break to the first successful call after it (`None`: never).
    pub recovery_seconds: Option<f64>,
    /// The target.
    pub target_seconds: f64,
    /// The candidate's own configuration was put back and reloaded afterwards.
    pub restored: bool,
    /// More, in words.
    pub detail: String,
}

/// Rollback drill: rolled back and answering again within the target.
pub fn rollback_drill(drill: Option<&DrillResult>) -> Check {
    let kind = CheckKind::RollbackDrill;
    let Some(d) = drill else {
        return Check::skipped(kind, "the plan has no `rollback`");
    };
    let within = d.recovery_seconds.is_some_and(|s| s <= d.target_seconds);
    let failed = !(d.healthy_before && d.rolled_back && within);
    let mut check = Check::judged(kind, failed, String::new());
    check.summary = match d.recovery_seconds {
        Some(s) => format!(
            "{} via {}: {}; calls succeeded again after {} s (target {} s)",
            d.break_kind,
            d.trigger,
            d.reload_outcome,
            num(s),
            num(d.target_seconds)
        ),
        None => format!(
            "{} via {}: {}; calls did not succeed again (target {} s)",
            d.break_kind,
            d.trigger,
            d.reload_outcome,
            num(d.target_seconds)
        ),
    };
    check.evidence = vec![
        format!("healthy before the break: {}", d.healthy_before),
        format!(
            "kept / restored the last known good state: {}",
            d.rolled_back
        ),
        format!("probe calls failed during the drill: {}", d.failed_calls),
        format!(
            "candidate configuration restored afterwards: {}",
            d.restored
        ),
    ];
    if !d.detail.is_empty() {
        check.evidence.push(d.detail.clone());
    }
    check.metric = Some(match d.recovery_seconds {
        Some(s) => format!(
            "recovery_s={}{}{}",
            num(s),
            if within { "<=" } else { ">" },
            num(d.target_seconds)
        ),
        None => format!("recovery_s=never>{}", num(d.target_seconds)),
    });
    check
}
