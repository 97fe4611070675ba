//! The load checks, judged on the replay's figures per tool and window: the latency budget
//! (two consecutive windows over budget fail, one warns) and the retry ceiling (retries per
//! call over the ceiling, or retries per completed call growing window after window).

use serde::{Deserialize, Serialize};
use toolgate_replay::ReplayReport;

use super::{Check, CheckKind, Status, budget_text, num};
use crate::plan::{Budget, Budgets, RetryCeiling};

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

fn ms(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_owned(), |v| format!("{}ms", num(v)))
}
