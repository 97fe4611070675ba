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

use crate::plan::{Budget, Budgets, ProbeExpect, RetryCeiling};

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

/// A tool's latency in one window against its budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowLatency {
    /// The window.
    pub window: u32,
    /// Calls.
    pub calls: u64,
    /// Median, ms.
    pub p50_ms: Option<f64>,
    /// 95th percentile, ms.
    pub p95_ms: Option<f64>,
    /// Over budget (p50 or p95).
    pub over: bool,
}

/// A tool's latency per window, with its budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyRow {
    /// The tool.
    pub tool: String,
    /// Its budget (absent: none applies).
    pub budget: Option<Budget>,
    /// Per window.
    pub windows: Vec<WindowLatency>,
    /// Over budget in two consecutive windows.
    pub failed: bool,
}

fn over(budget: &Budget, p50: Option<f64>, p95: Option<f64>) -> bool {
    let above =
        |v: Option<f64>, limit: Option<f64>| matches!((v, limit), (Some(v), Some(l)) if v > l);
    above(p50, budget.p50_ms) || above(p95, budget.p95_ms)
}

/// Latency budget: every tool the replay called, per window; two consecutive windows over
/// budget fail, one warns. The metric is the worst p95 against its budget.
pub fn latency_budget(
    budgets: Option<&Budgets>,
    replay: Option<&ReplayReport>,
) -> (Check, Vec<LatencyRow>) {
    let kind = CheckKind::LatencyBudget;
    let Some(budgets) = budgets else {
        return (
            Check::skipped(kind, "the plan has no `budgets`"),
            rows(&Budgets::default(), replay),
        );
    };
    let Some(replay) = replay else {
        return (Check::skipped(kind, "no replay ran"), Vec::new());
    };
    let rows = rows(budgets, Some(replay));
    let mut check = Check::judged(kind, rows.iter().any(|r| r.failed), String::new());
    let mut worst: Option<(f64, String)> = None;
    for row in &rows {
        let Some(b) = row.budget else {
            check.warnings.push(format!(
                "`{}`: no budget applies (no `default`, no entry in `tools`)",
                row.tool
            ));
            continue;
        };
        let over_windows: Vec<u32> = row
            .windows
            .iter()
            .filter(|w| w.over)
            .map(|w| w.window)
            .collect();
        let figures: Vec<String> = row
            .windows
            .iter()
            .map(|w| {
                format!(
                    "w{} p50 {} p95 {}{}",
                    w.window,
                    ms(w.p50_ms),
                    ms(w.p95_ms),
                    if w.over { " OVER" } else { "" }
                )
            })
            .collect();
        let line = format!(
            "`{}` budget {}: {}",
            row.tool,
            budget_text(&b),
            figures.join(", ")
        );
        if row.failed {
            check
                .evidence
                .push(format!("FAIL {line} (over in consecutive windows)"));
        } else if !over_windows.is_empty() {
            check
                .warnings
                .push(format!("{line} (over in one window only)"));
        } else {
            check.evidence.push(line);
        }
        if let Some(limit) = b.p95_ms {
            for w in &row.windows {
                if let Some(p95) = w.p95_ms {
                    let ratio = p95 / limit;
                    let rel = if p95 > limit { ">" } else { "<=" };
                    let text = format!("p95_ms:{}={}{rel}{}", row.tool, num(p95), num(limit));
                    if worst.as_ref().is_none_or(|(r, _)| ratio > *r) {
                        worst = Some((ratio, text));
                    }
                }
            }
        }
    }
    for tool in budgets.tools.keys() {
        if !rows.iter().any(|r| &r.tool == tool) {
            check.warnings.push(format!(
                "budget for `{tool}`, which the replay never called"
            ));
        }
    }
    let failed: Vec<&str> = rows
        .iter()
        .filter(|r| r.failed)
        .map(|r| r.tool.as_str())
        .collect();
    check.summary = if failed.is_empty() {
        format!(
            "{} tool(s) within budget in every pair of consecutive windows",
            rows.iter().filter(|r| r.budget.is_some()).count()
        )
    } else {
        format!(
            "over budget in two consecutive windows: {}",
            failed.join(", ")
        )
    };
    check.metric = worst.map(|(_, t)| t);
    (check, rows)
}

fn rows(budgets: &Budgets, replay: Option<&ReplayReport>) -> Vec<LatencyRow> {
    let Some(replay) = replay else {
        return Vec::new();
    };
    replay
        .tools
        .iter()
        .map(|t| {
            let budget = budgets.of(&t.tool).copied();
            let windows: Vec<WindowLatency> = t
                .windows
                .iter()
                .enumerate()
                .map(|(i, w)| WindowLatency {
                    window: w.window.unwrap_or(i as u32),
                    calls: w.calls,
                    p50_ms: w.p50_ms,
                    p95_ms: w.p95_ms,
                    over: budget.is_some_and(|b| over(&b, w.p50_ms, w.p95_ms)),
                })
                .collect();
            let failed = windows.windows(2).any(|p| p[0].over && p[1].over);
            LatencyRow {
                tool: t.tool.clone(),
                budget,
                windows,
                failed,
            }
        })
        .collect()
}

/// Retry ceiling: retries per call over the ceiling (per tool or overall) fails; so do
/// retries per completed call that grow in every window, by more than the tolerance overall.
pub fn retry_ceiling(ceiling: Option<&RetryCeiling>, replay: Option<&ReplayReport>) -> Check {
    let kind = CheckKind::RetryCeiling;
    let Some(ceiling) = ceiling else {
        return Check::skipped(kind, "the plan has no `retry_ceiling`");
    };
    let Some(replay) = replay else {
        return Check::skipped(kind, "no replay ran");
    };
    let limit = ceiling.retries_per_call;
    let mut check = Check::judged(kind, false, String::new());
    let mut worst: Option<(f64, String)> = None;
    let (mut calls, mut retries) = (0u64, 0u64);
    for t in &replay.tools {
        calls += t.total.calls;
        retries += t.total.retries;
        let rpc = t.total.retries_per_call;
        let line = format!(
            "`{}`: {} retries in {} calls ({} per call)",
            t.tool,
            t.total.retries,
            t.total.calls,
            num(rpc)
        );
        if rpc > limit {
            check.status = Status::Fail;
            check.evidence.push(format!("FAIL {line} > {}", num(limit)));
        } else {
            check.evidence.push(line);
        }
        if worst.as_ref().is_none_or(|(w, _)| rpc > *w) {
            worst = Some((
                rpc,
                format!(
                    "retries_per_call:{}={}{}{}",
                    t.tool,
                    num(rpc),
                    if rpc > limit { ">" } else { "<=" },
                    num(limit)
                ),
            ));
        }
    }
    let overall = if calls == 0 {
        0.0
    } else {
        retries as f64 / calls as f64
    };
    // Per window over all tools: retries per completed call.
    let windows = replay.settings.windows as usize;
    let per_window: Vec<(u64, f64)> = (0..windows)
        .map(|i| {
            let (mut r, mut done) = (0u64, 0f64);
            for t in &replay.tools {
                if let Some(w) = t.windows.get(i) {
                    r += w.retries;
                    done += w.completion_rate * w.calls as f64;
                }
            }
            (r, done)
        })
        .collect();
    let rate: Vec<f64> = per_window
        .iter()
        .map(|&(r, done)| {
            if done > 0.0 {
                r as f64 / done
            } else {
                r as f64
            }
        })
        .collect();
    check.evidence.push(format!(
        "per window, retries / completed calls: {}",
        per_window
            .iter()
            .zip(&rate)
            .enumerate()
            .map(|(i, ((r, d), x))| format!("w{i} {r}/{} = {}", d.round(), num(*x)))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let growing = rate.len() >= 2 && rate.windows(2).all(|p| p[1] > p[0]);
    let growth = match (rate.first(), rate.last()) {
        (Some(a), Some(b)) => b - a,
        _ => 0.0,
    };
    let runaway = growing && growth > ceiling.growth_tolerance;
    if runaway {
        check.status = Status::Fail;
        check.evidence.push(format!(
            "FAIL retries grow faster than completions: retries per completed call rose in every window, by {} (tolerance {})",
            num(growth),
            num(ceiling.growth_tolerance)
        ));
    }
    check.summary = format!(
        "{retries} retries in {calls} calls ({} per call, ceiling {}){}",
        num(overall),
        num(limit),
        if runaway {
            "; retries growing faster than completions"
        } else {
            ""
        }
    );
    check.metric = if runaway && worst.as_ref().is_none_or(|(w, _)| *w <= limit) {
        Some(format!(
            "retry_growth={}>{}",
            num(growth),
            num(ceiling.growth_tolerance)
        ))
    } else {
        worst.map(|(_, t)| t)
    };
    check
}

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

fn ms(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_owned(), |v| format!("{}ms", num(v)))
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
#[path = "checks_tests.rs"]
mod tests;
