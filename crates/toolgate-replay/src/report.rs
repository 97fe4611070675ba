//! The replay report: a public, serializable type (the release gate reads it), its text
//! summary, and how mismatches are grouped (one entry per tool, kind, place and difference,
//! with a count and the first call that showed it).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::check::{Found, MismatchKind};
use crate::stats::WindowStats;

/// The report format version (`format`).
pub const REPORT_FORMAT: u32 = 1;

/// The mismatch groups listed at most (the total is always counted).
pub const MAX_MISMATCHES: usize = 200;

/// What a replay found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayReport {
    /// Always [`REPORT_FORMAT`].
    pub format: u32,
    /// What was replayed.
    pub input: InputSummary,
    /// The target's MCP URL.
    pub target: String,
    /// How it was run.
    pub settings: Settings,
    /// Wall time of all windows, in seconds.
    pub duration_seconds: f64,
    /// Calls made.
    pub calls: u64,
    /// `calls / duration_seconds`.
    pub calls_per_second: f64,
    /// Per tool: the whole run and each window, sorted by tool name.
    pub tools: Vec<ToolReport>,
    /// Whole-workflow figures (workflow input only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<WorkflowReport>,
    /// Mismatches, grouped (at most [`MAX_MISMATCHES`] groups, most frequent first).
    pub mismatches: Vec<Mismatch>,
    /// Calls with at least one mismatch.
    pub mismatched_calls: u64,
    /// No mismatch at all.
    pub passed: bool,
}

/// What was replayed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputSummary {
    /// `recording` or `workflow`.
    pub kind: String,
    /// The file.
    pub path: String,
    /// The workflow's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Calls in one pass (recorded calls, or workflow steps).
    pub calls_per_pass: usize,
}

/// How the replay ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// `stateless` (2026-07-28) or `session` (2025-11-25).
    pub mode: String,
    /// Calls in flight at once (one connection each).
    pub concurrency: usize,
    /// Calls per second at most (absent: as fast as answers come).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Windows run one after another.
    pub windows: u32,
    /// Passes over the recording (or workflow iterations) per window.
    pub repeat: u32,
    /// The contract snapshot's label and hash, when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract: Option<String>,
}

/// One tool's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolReport {
    /// The tool.
    pub tool: String,
    /// Over the whole run.
    pub total: WindowStats,
    /// Per window, in order.
    pub windows: Vec<WindowStats>,
}

/// Whole workflow iterations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowReport {
    /// Iterations started.
    pub iterations: u64,
    /// Iterations whose every step answered as expected.
    pub completed: u64,
    /// `completed / iterations`.
    pub completion_rate: f64,
    /// Per window: (iterations, completed).
    pub windows: Vec<WorkflowWindow>,
}

/// Workflow iterations of one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowWindow {
    /// The window.
    pub window: u32,
    /// Iterations started.
    pub iterations: u64,
    /// Iterations completed.
    pub completed: u64,
    /// `completed / iterations`.
    pub completion_rate: f64,
}

/// A group of identical differences.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mismatch {
    /// The tool.
    pub tool: String,
    /// Why.
    pub kind: MismatchKind,
    /// Where in the result (JSON pointer, `*` for array items; empty: the whole answer).
    pub pointer: String,
    /// What was expected.
    pub expected: String,
    /// What came.
    pub actual: String,
    /// More, from the first occurrence (an error message, a schema violation).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// How many calls showed it.
    pub count: u64,
    /// The first call that showed it: `line N` of a recording (with the recorded correlation
    /// id) or `step ID` of a workflow.
    pub first_call: String,
    /// Its window.
    pub first_window: u32,
}

/// Groups mismatches as calls report them.
#[derive(Debug, Default)]
pub struct Mismatches {
    groups: BTreeMap<(String, MismatchKind, String, String, String), Mismatch>,
    /// Calls with at least one mismatch.
    pub calls: u64,
}

impl Mismatches {
    /// Adds what one call showed.
    pub fn add(&mut self, tool: &str, found: Vec<Found>, call: &dyn Fn() -> String, window: u32) {
        if found.is_empty() {
            return;
        }
        self.calls += 1;
        for f in found {
            let key = (
                tool.to_owned(),
                f.kind,
                f.pointer.clone(),
                f.expected.clone(),
                f.actual.clone(),
            );
            self.groups
                .entry(key)
                .or_insert_with(|| Mismatch {
                    tool: tool.to_owned(),
                    kind: f.kind,
                    pointer: f.pointer,
                    expected: f.expected,
                    actual: f.actual,
                    detail: f.detail,
                    count: 0,
                    first_call: call(),
                    first_window: window,
                })
                .count += 1;
        }
    }

    /// Adds another worker's.
    pub fn merge(&mut self, other: Mismatches) {
        self.calls += other.calls;
        for (key, m) in other.groups {
            match self.groups.get_mut(&key) {
                Some(mine) => {
                    mine.count += m.count;
                    if m.first_window < mine.first_window {
                        mine.first_window = m.first_window;
                        mine.first_call = m.first_call;
                    }
                }
                None => {
                    self.groups.insert(key, m);
                }
            }
        }
    }

    /// The groups, most frequent first, at most [`MAX_MISMATCHES`].
    pub fn into_list(self) -> Vec<Mismatch> {
        let mut list: Vec<Mismatch> = self.groups.into_values().collect();
        list.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.tool.cmp(&b.tool)));
        list.truncate(MAX_MISMATCHES);
        list
    }
}

impl ReplayReport {
    /// The summary for people.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let name = self
            .input
            .name
            .as_deref()
            .map(|n| format!(" \"{n}\""))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "replay of {} {}{} against {}",
            self.input.kind, self.input.path, name, self.target
        );
        let s = &self.settings;
        let _ = writeln!(
            out,
            "  {} calls in {:.2} s ({:.0} calls/s), {} window(s) × {} pass(es), concurrency {}, mode {}{}{}",
            self.calls,
            self.duration_seconds,
            self.calls_per_second,
            s.windows,
            s.repeat,
            s.concurrency,
            s.mode,
            s.rate.map(|r| format!(", rate {r}/s")).unwrap_or_default(),
            s.contract
                .as_deref()
                .map(|c| format!(", contract {c}"))
                .unwrap_or_default(),
        );
        let _ = writeln!(out);
        let width = self
            .tools
            .iter()
            .map(|t| t.tool.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let _ = writeln!(
            out,
            "  {:<width$}  {:>6}  {:>6}  {:>8}  {:>8}  {:>8}  {:>6}  {:>7}  {:>8}",
            "tool",
            "window",
            "calls",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "errors",
            "retries",
            "complete"
        );
        let ms = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.2}"));
        for t in &self.tools {
            let rows = t
                .windows
                .iter()
                .map(|w| (w.window.map_or("all".to_owned(), |n| n.to_string()), w))
                .chain((t.windows.len() > 1).then(|| ("all".to_owned(), &t.total)));
            for (window, w) in rows {
                let _ = writeln!(
                    out,
                    "  {:<width$}  {:>6}  {:>6}  {:>8}  {:>8}  {:>8}  {:>5.1}%  {:>7.2}  {:>7.1}%",
                    t.tool,
                    window,
                    w.calls,
                    ms(w.p50_ms),
                    ms(w.p95_ms),
                    ms(w.p99_ms),
                    w.error_rate * 100.0,
                    w.retries_per_call,
                    w.completion_rate * 100.0,
                );
            }
        }
        if let Some(w) = &self.workflow {
            let _ = writeln!(
                out,
                "\n  workflow: {} of {} iterations completed ({:.1}%)",
                w.completed,
                w.iterations,
                w.completion_rate * 100.0
            );
        }
        let _ = writeln!(out);
        if self.mismatches.is_empty() {
            let _ = writeln!(out, "no mismatches: every answer has the expected shape");
        } else {
            let _ = writeln!(
                out,
                "{} call(s) with mismatches ({} kind(s)):",
                self.mismatched_calls,
                self.mismatches.len()
            );
            for m in &self.mismatches {
                let at = if m.pointer.is_empty() {
                    String::new()
                } else {
                    format!(" at {}", m.pointer)
                };
                let _ = writeln!(
                    out,
                    "  - {} [{}]{}: expected {}, got {} ({}×, first: {}, window {}){}",
                    m.tool,
                    serde_json::to_value(m.kind)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    at,
                    m.expected,
                    m.actual,
                    m.count,
                    m.first_call,
                    m.first_window,
                    if m.detail.is_empty() {
                        String::new()
                    } else {
                        format!("\n      {}", m.detail)
                    }
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(pointer: &str) -> Found {
        Found {
            kind: MismatchKind::Shape,
            pointer: pointer.to_owned(),
            expected: "string".to_owned(),
            actual: "missing".to_owned(),
            detail: String::new(),
        }
    }

    #[test]
    fn mismatches_group_and_count() {
        let mut a = Mismatches::default();
        a.add(
            "t",
            vec![found("/a"), found("/b")],
            &|| "line 1".to_owned(),
            1,
        );
        a.add("t", vec![], &|| unreachable!(), 1);
        let mut b = Mismatches::default();
        b.add("t", vec![found("/a")], &|| "line 9".to_owned(), 0);
        a.merge(b);
        assert_eq!(a.calls, 2);
        let list = a.into_list();
        assert_eq!(list.len(), 2);
        assert_eq!((list[0].pointer.as_str(), list[0].count), ("/a", 2));
        assert_eq!(
            (list[0].first_call.as_str(), list[0].first_window),
            ("line 9", 0)
        );
    }
}
