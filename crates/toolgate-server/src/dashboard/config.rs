//! The `dashboard` section of the configuration: whether the live page is served, and the
//! latency budgets each tool's p50/p95 is drawn against.
//!
//! `budgets` has the shape of the release gate plan's `budgets` (`toolgate gate --plan`), so
//! an operator copies one into the other: a `default` budget and per-tool overrides, each
//! with an optional `p50_ms` and `p95_ms`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The built-in live dashboard (`GET /admin/dashboard`, docs/observability.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DashboardConfig {
    /// Serve the dashboard page and its data (`/admin/dashboard`, `/admin/dashboard/data`)
    /// on the HTTP port. The data is protected like `POST /admin/reload`: an admin bearer
    /// with authentication on, loopback clients of the gateway's own origin with it off.
    pub enabled: bool,
    /// Latency budgets per tool, drawn as the budget line of the p50/p95 plots and flagged
    /// when exceeded; the same shape as the release gate plan's `budgets`.
    pub budgets: LatencyBudgets,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        DashboardConfig {
            enabled: true,
            budgets: LatencyBudgets::default(),
        }
    }
}

/// Latency budgets: a default for every tool and overrides by tool name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LatencyBudgets {
    /// The budget of every tool without one of its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<LatencyBudget>,
    /// Budgets by served tool name; a field left out falls back to `default`'s.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tools: BTreeMap<String, LatencyBudget>,
}

/// The latency a tool's calls should stay under, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LatencyBudget {
    /// Median latency budget (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub p50_ms: Option<f64>,
    /// 95th percentile latency budget (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub p95_ms: Option<f64>,
}

impl LatencyBudgets {
    /// The budget of `tool`: its own fields, else the default's.
    pub fn of(&self, tool: &str) -> LatencyBudget {
        let default = self.default.unwrap_or_default();
        match self.tools.get(tool) {
            Some(own) => LatencyBudget {
                p50_ms: own.p50_ms.or(default.p50_ms),
                p95_ms: own.p95_ms.or(default.p95_ms),
            },
            None => default,
        }
    }

    /// Problems of the budgets (a negative or non-finite number), as (path, message).
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut check = |path: String, budget: &LatencyBudget| {
            for (field, v) in [("p50_ms", budget.p50_ms), ("p95_ms", budget.p95_ms)] {
                if let Some(v) = v
                    && !(v.is_finite() && v >= 0.0)
                {
                    out.push((
                        format!("{path}.{field}"),
                        format!("a latency budget is a number of milliseconds ≥ 0, not {v}"),
                    ));
                }
            }
        };
        if let Some(d) = &self.default {
            check("dashboard.budgets.default".to_owned(), d);
        }
        for (name, b) in &self.tools {
            check(format!("dashboard.budgets.tools.{name}"), b);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tool_budget_falls_back_field_by_field_to_the_default() {
        let budgets: LatencyBudgets = serde_json::from_value(serde_json::json!({
            "default": {"p50_ms": 50, "p95_ms": 200},
            "tools": {"slow": {"p95_ms": 900}}
        }))
        .unwrap();
        assert_eq!(
            budgets.of("slow"),
            LatencyBudget {
                p50_ms: Some(50.0),
                p95_ms: Some(900.0)
            }
        );
        assert_eq!(budgets.of("other").p95_ms, Some(200.0));
        assert!(budgets.problems().is_empty());
        let bad: LatencyBudgets =
            serde_json::from_value(serde_json::json!({"tools": {"x": {"p50_ms": -1}}})).unwrap();
        assert_eq!(bad.problems()[0].0, "dashboard.budgets.tools.x.p50_ms");
    }

    #[test]
    fn the_dashboard_is_on_by_default_and_refuses_unknown_fields() {
        let c: DashboardConfig = serde_json::from_value(serde_json::json!({})).unwrap();
        assert!(c.enabled);
        assert!(
            serde_json::from_value::<DashboardConfig>(serde_json::json!({"budget": {}})).is_err()
        );
    }
}
