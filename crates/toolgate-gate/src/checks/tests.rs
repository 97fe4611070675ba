//! The checks' rules on hand-made evidence.

use serde_json::json;

use super::*;
use crate::plan::{Budget, Budgets, ProbeExpect, RetryCeiling};

/// A window of a tool: (calls, p50, p95, retries, completion rate).
type W = (u64, f64, f64, u64, f64);

fn stats(window: Option<u32>, (calls, p50, p95, retries, completion): W) -> serde_json::Value {
    json!({"window": window, "calls": calls, "errors": 0, "error_rate": 0.0,
        "completion_rate": completion, "retries": retries,
        "retries_per_call": retries as f64 / calls as f64,
        "p50_ms": p50, "p95_ms": p95, "p99_ms": p95, "max_ms": p95})
}

fn replay(tools: &[(&str, &[W])]) -> ReplayReport {
    let windows = tools.first().map_or(0, |t| t.1.len());
    let tools: Vec<_> = tools
        .iter()
        .map(|(name, ws)| {
            let calls: u64 = ws.iter().map(|w| w.0).sum();
            let retries: u64 = ws.iter().map(|w| w.3).sum();
            json!({"tool": name,
                "total": stats(None, (calls, 0.0, 0.0, retries, 1.0)),
                "windows": ws.iter().enumerate().map(|(i, w)| stats(Some(i as u32), *w)).collect::<Vec<_>>()})
        })
        .collect();
    serde_json::from_value(json!({"format": 1,
        "input": {"kind": "workflow", "path": "w.yaml", "calls_per_pass": 1},
        "target": "http://127.0.0.1:1/mcp",
        "settings": {"mode": "stateless", "concurrency": 1, "windows": windows, "repeat": 1},
        "duration_seconds": 1.0, "calls": 1, "calls_per_second": 1.0,
        "tools": tools, "mismatches": [], "mismatched_calls": 0, "passed": true}))
    .unwrap()
}

fn budgets(p95: f64) -> Budgets {
    Budgets {
        default: Some(Budget {
            p50_ms: None,
            p95_ms: Some(p95),
        }),
        tools: Default::default(),
    }
}

#[test]
fn one_window_over_budget_warns_two_consecutive_fail() {
    // Over in window 1 only: a warning.
    let r = replay(&[(
        "get",
        &[
            (10, 5.0, 40.0, 0, 1.0),
            (10, 5.0, 80.0, 0, 1.0),
            (10, 5.0, 40.0, 0, 1.0),
        ],
    )]);
    let (check, rows) = latency_budget(Some(&budgets(50.0)), Some(&r));
    assert_eq!(check.status, Status::Pass, "{check:?}");
    assert_eq!(check.warnings.len(), 1, "{check:?}");
    assert!(!rows[0].failed);
    assert_eq!(check.metric.as_deref(), Some("p95_ms:get=80>50"));
    // Over in windows 0 and 2, not consecutive: still a warning.
    let r = replay(&[(
        "get",
        &[
            (10, 5.0, 80.0, 0, 1.0),
            (10, 5.0, 40.0, 0, 1.0),
            (10, 5.0, 80.0, 0, 1.0),
        ],
    )]);
    assert_eq!(
        latency_budget(Some(&budgets(50.0)), Some(&r)).0.status,
        Status::Pass
    );
    // Over in windows 1 and 2: fails.
    let r = replay(&[
        (
            "get",
            &[
                (10, 5.0, 40.0, 0, 1.0),
                (10, 5.0, 60.0, 0, 1.0),
                (10, 5.0, 412.0, 0, 1.0),
            ],
        ),
        (
            "list",
            &[
                (10, 5.0, 10.0, 0, 1.0),
                (10, 5.0, 10.0, 0, 1.0),
                (10, 5.0, 10.0, 0, 1.0),
            ],
        ),
    ]);
    let (check, rows) = latency_budget(Some(&budgets(50.0)), Some(&r));
    assert_eq!(check.status, Status::Fail);
    assert!(rows[0].failed && !rows[1].failed);
    assert_eq!(check.metric.as_deref(), Some("p95_ms:get=412>50"));
    assert!(check.summary.contains("get"), "{}", check.summary);
}

#[test]
fn a_tool_budget_overrides_the_default_and_p50_counts_too() {
    let r = replay(&[(
        "slow",
        &[(10, 30.0, 90.0, 0, 1.0), (10, 30.0, 90.0, 0, 1.0)],
    )]);
    let mut b = budgets(50.0);
    b.tools.insert(
        "slow".into(),
        Budget {
            p50_ms: None,
            p95_ms: Some(100.0),
        },
    );
    assert_eq!(latency_budget(Some(&b), Some(&r)).0.status, Status::Pass);
    b.tools.insert(
        "slow".into(),
        Budget {
            p50_ms: Some(20.0),
            p95_ms: Some(100.0),
        },
    );
    assert_eq!(latency_budget(Some(&b), Some(&r)).0.status, Status::Fail);
    // A budget for a tool never called is a warning.
    b.tools.insert(
        "gone".into(),
        Budget {
            p50_ms: Some(1.0),
            p95_ms: None,
        },
    );
    let (check, _) = latency_budget(Some(&b), Some(&r));
    assert!(
        check.warnings.iter().any(|w| w.contains("`gone`")),
        "{check:?}"
    );
    assert_eq!(latency_budget(None, Some(&r)).0.status, Status::Skipped);
}

#[test]
fn retries_over_the_ceiling_fail() {
    let ceiling = RetryCeiling {
        retries_per_call: 0.2,
        growth_tolerance: 0.01,
    };
    let r = replay(&[("get", &[(10, 1.0, 1.0, 1, 1.0), (10, 1.0, 1.0, 1, 1.0)])]);
    assert_eq!(retry_ceiling(Some(&ceiling), Some(&r)).status, Status::Pass);
    let r = replay(&[("get", &[(10, 1.0, 1.0, 3, 1.0), (10, 1.0, 1.0, 3, 1.0)])]);
    let check = retry_ceiling(Some(&ceiling), Some(&r));
    assert_eq!(check.status, Status::Fail);
    assert_eq!(
        check.metric.as_deref(),
        Some("retries_per_call:get=0.3>0.2")
    );
}

#[test]
fn retries_growing_faster_than_completions_fail() {
    let ceiling = RetryCeiling {
        retries_per_call: 0.5,
        growth_tolerance: 0.01,
    };
    // Retries 0 → 1 → 3 while completions stay at 10: under the ceiling, but growing.
    let r = replay(&[(
        "get",
        &[
            (10, 1.0, 1.0, 0, 1.0),
            (10, 1.0, 1.0, 1, 1.0),
            (10, 1.0, 1.0, 3, 1.0),
        ],
    )]);
    let check = retry_ceiling(Some(&ceiling), Some(&r));
    assert_eq!(check.status, Status::Fail, "{check:?}");
    assert_eq!(check.metric.as_deref(), Some("retry_growth=0.3>0.01"));
    // The same retries with completions growing as fast: fine.
    let r = replay(&[(
        "get",
        &[
            (10, 1.0, 1.0, 1, 1.0),
            (20, 1.0, 1.0, 2, 1.0),
            (40, 1.0, 1.0, 4, 1.0),
        ],
    )]);
    assert_eq!(retry_ceiling(Some(&ceiling), Some(&r)).status, Status::Pass);
    // A blip (up then down) is not a trend.
    let r = replay(&[(
        "get",
        &[
            (10, 1.0, 1.0, 0, 1.0),
            (10, 1.0, 1.0, 2, 1.0),
            (10, 1.0, 1.0, 1, 1.0),
        ],
    )]);
    assert_eq!(retry_ceiling(Some(&ceiling), Some(&r)).status, Status::Pass);
    // Completions falling while retries hold: retries per completed call grows.
    let r = replay(&[("get", &[(10, 1.0, 1.0, 2, 1.0), (10, 1.0, 1.0, 2, 0.5)])]);
    assert_eq!(retry_ceiling(Some(&ceiling), Some(&r)).status, Status::Fail);
}

#[test]
fn auth_cells_and_probes_must_match() {
    let cell = |tool: &str, expected: bool, allowed: Option<bool>| RoleCell {
        principal: "role=reader".into(),
        tool: tool.into(),
        expected_allowed: expected,
        allowed,
        why: "rule".into(),
    };
    let probe = |expect, refused| ProbeOutcome {
        name: "expired".into(),
        token: "env T".into(),
        tool: "list".into(),
        expect,
        answer: "http_401".into(),
        refused,
    };
    let ok = [
        cell("list", true, Some(true)),
        cell("delete", false, Some(false)),
        cell("gone", false, None),
    ];
    let check = auth_scope(true, &ok, &[probe(ProbeExpect::Refused, true)]);
    assert_eq!(check.status, Status::Pass, "{check:?}");
    let check = auth_scope(true, &[cell("delete", false, Some(true))], &[]);
    assert_eq!(check.status, Status::Fail);
    assert_eq!(check.metric.as_deref(), Some("auth_mismatches=1"));
    let check = auth_scope(
        true,
        &[cell("gone", true, None)],
        &[probe(ProbeExpect::Refused, false)],
    );
    assert_eq!(check.metric.as_deref(), Some("auth_mismatches=2"));
    assert_eq!(auth_scope(false, &[], &[]).status, Status::Skipped);
}

#[test]
fn the_drill_passes_only_rolled_back_and_within_target() {
    let drill = |rolled_back, recovery: Option<f64>| DrillResult {
        break_kind: "invalid_config".into(),
        trigger: "admin".into(),
        healthy_before: true,
        reload_outcome: "failure".into(),
        rolled_back,
        failed_calls: 0,
        recovery_seconds: recovery,
        target_seconds: 2.0,
        restored: true,
        detail: String::new(),
    };
    let check = rollback_drill(Some(&drill(true, Some(0.5))));
    assert_eq!(check.status, Status::Pass);
    assert_eq!(check.metric.as_deref(), Some("recovery_s=0.5<=2"));
    assert_eq!(
        rollback_drill(Some(&drill(true, Some(3.0))))
            .metric
            .as_deref(),
        Some("recovery_s=3>2")
    );
    assert_eq!(
        rollback_drill(Some(&drill(true, Some(3.0)))).status,
        Status::Fail
    );
    assert_eq!(
        rollback_drill(Some(&drill(false, Some(0.1)))).status,
        Status::Fail
    );
    assert_eq!(
        rollback_drill(Some(&drill(true, None))).status,
        Status::Fail
    );
    assert_eq!(rollback_drill(None).status, Status::Skipped);
}

#[test]
fn numbers_are_short() {
    assert_eq!(num(412.0), "412");
    assert_eq!(num(0.30000001), "0.3");
    assert_eq!(num(0.0), "0");
    assert_eq!(num(1.23456), "1.235");
}
