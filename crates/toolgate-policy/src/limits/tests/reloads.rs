//! Tests of what a reload changes in the limits (state carried over or reset) and of
//! per-source limits (`rate_limits.sources`), through the pipeline.

use super::*;

/// The pipeline applying `limits` (as a reload builds it).
fn pipeline_of(limits: &Arc<RateLimits>, metrics: &Arc<Metrics>) -> toolgate_core::Pipeline {
    build_with(
        shared(catalog()),
        metrics.clone(),
        Policies {
            limits: Some(limits.clone()),
            ..Policies::default()
        },
    )
}

#[tokio::test(start_paused = true)]
async fn a_reload_keeps_the_state_of_unchanged_limits_and_resets_changed_ones() {
    let limit_metrics = LimitMetrics::default();
    let metrics = Metrics::with_extra(|r| limit_metrics.register(r));
    let config = |rate: &str, extra: bool| -> RateLimitsConfig {
        let mut limits =
            vec![serde_json::json!({"name": "per-caller", "per": ["subject"], "rate": rate})];
        if extra {
            limits.push(serde_json::json!({"name": "other", "per": ["tool"], "rate": "100/min"}));
        }
        serde_json::from_value(serde_json::json!({ "limits": limits })).unwrap()
    };
    let first = RateLimits::new(&config("1/min", false), &limit_metrics).unwrap();
    let p = pipeline_of(&first, &metrics);
    assert!(outcome(&p, call_as("alice", "work", "ok")).await.is_none());
    assert!(outcome(&p, call_as("alice", "work", "ok")).await.is_some());

    // `per-caller` unchanged, another limit added: alice is still over hers.
    let second = first
        .reconfigured(&config("1/min", true), &limit_metrics)
        .unwrap();
    let p = pipeline_of(&second, &metrics);
    let refused = outcome(&p, call_as("alice", "work", "ok")).await.unwrap();
    assert!(
        refused.message.contains("`per-caller`"),
        "{}",
        refused.message
    );

    // Its rate changed: it starts afresh.
    let third = second
        .reconfigured(&config("2/min", true), &limit_metrics)
        .unwrap();
    let p = pipeline_of(&third, &metrics);
    assert!(outcome(&p, call_as("alice", "work", "ok")).await.is_none());
    assert!(outcome(&p, call_as("alice", "work", "ok")).await.is_none());
    assert!(outcome(&p, call_as("alice", "work", "ok")).await.is_some());

    // A bad limit is refused with its path, and nothing is built.
    let bad: RateLimitsConfig = serde_json::from_value(serde_json::json!({
        "limits": [{"name": "per-caller", "per": ["subject"], "rate": "lots"}]
    }))
    .unwrap();
    let problems = third.reconfigured(&bad, &limit_metrics).err().unwrap();
    assert!(
        problems.iter().any(|p| p.path == "limits[0].rate"),
        "{problems:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_reload_keeps_a_concurrency_cap_whose_maximum_did_not_change() {
    let limit_metrics = LimitMetrics::default();
    let metrics = Metrics::with_extra(|r| limit_metrics.register(r));
    let config = |max: u32| -> RateLimitsConfig {
        serde_json::from_value(serde_json::json!({"concurrency": {"per_tool": max}})).unwrap()
    };
    let first = RateLimits::new(&config(1), &limit_metrics).unwrap();
    let p = pipeline_of(&first, &metrics);
    // A call in flight holds the only slot.
    let hanging = tokio::spawn(outcome_owned(p.clone(), call_as("alice", "work", "hang")));
    tokio::task::yield_now().await;
    assert!(outcome(&p, call_as("bob", "work", "ok")).await.is_some());
    // Reloaded with the same maximum: the call in flight still counts.
    let same = first.reconfigured(&config(1), &limit_metrics).unwrap();
    let p2 = pipeline_of(&same, &metrics);
    assert!(outcome(&p2, call_as("bob", "work", "ok")).await.is_some());
    // With another maximum: a new cap, which the call in flight does not count against.
    let other = first.reconfigured(&config(2), &limit_metrics).unwrap();
    let p3 = pipeline_of(&other, &metrics);
    assert!(outcome(&p3, call_as("bob", "work", "ok")).await.is_none());
    hanging.abort();
}

async fn outcome_owned(pipeline: toolgate_core::Pipeline, call: McpCall) -> Option<ToolError> {
    outcome(&pipeline, call).await
}

#[tokio::test(start_paused = true)]
async fn a_source_override_replaces_a_limit_of_the_same_name_for_that_source_only() {
    let mut b = Catalog::builder();
    for source in ["api", "github"] {
        b.add_source(Arc::from(source), Arc::new(Ready));
        b.add_tool(ToolEntry {
            tool: Tool::new(
                format!("{source}_work"),
                "does work",
                Arc::new(JsonObject::new()),
            ),
            source: Arc::from(source),
            handler: Arc::new(Work),
            meta: Default::default(),
        })
        .unwrap();
    }
    let config: RateLimitsConfig = serde_json::from_value(serde_json::json!({
        "limits": [{"name": "per-caller", "per": ["subject"], "rate": "3/min"}],
        "sources": {"github": {"limits": [
            {"name": "per-caller", "per": ["subject"], "rate": "1/min"},
            {"name": "github-total", "per": ["global"], "rate": "100/min"}
        ]}}
    }))
    .unwrap();
    assert!(config.is_enabled());
    assert!(config.problems().is_empty(), "{:?}", config.problems());
    let limit_metrics = LimitMetrics::default();
    let metrics = Metrics::with_extra(|r| limit_metrics.register(r));
    let limits = RateLimits::new(&config, &limit_metrics).unwrap();
    let p = build_with(
        shared(b.build()),
        metrics.clone(),
        Policies {
            limits: Some(limits),
            ..Policies::default()
        },
    );
    // github: its own 1/min, not the shared 3/min.
    assert!(
        outcome(&p, call_as("alice", "github_work", "ok"))
            .await
            .is_none()
    );
    let refused = outcome(&p, call_as("alice", "github_work", "ok"))
        .await
        .unwrap();
    assert_eq!(
        refused.message,
        "rate limit for `github_work`: 1/min per caller (limit `per-caller@github`)."
    );
    // api: the shared 3/min, untouched by github's calls.
    for _ in 0..3 {
        assert!(
            outcome(&p, call_as("alice", "api_work", "ok"))
                .await
                .is_none()
        );
    }
    let refused = outcome(&p, call_as("alice", "api_work", "ok"))
        .await
        .unwrap();
    assert!(
        refused.message.contains("(limit `per-caller`)"),
        "{}",
        refused.message
    );
    let text = metrics.encode();
    assert!(
        text.contains(r#"toolgate_rate_limit_decisions_total{limit="github-total@github",outcome="allowed"} 1"#),
        "{text}"
    );
}

#[test]
fn source_overrides_are_checked_with_their_paths() {
    let config: RateLimitsConfig = serde_json::from_value(serde_json::json!({
        "sources": {"github": {"limits": [
            {"name": "x", "per": ["subject"], "rate": "fast",
             "applies_to": {"sources": ["github"]}},
            {"name": "x", "per": ["subject"], "rate": "1/s"}
        ]}}
    }))
    .unwrap();
    let paths: Vec<String> = config.problems().into_iter().map(|p| p.path).collect();
    assert_eq!(
        paths,
        [
            "sources.github.limits[0].rate",
            "sources.github.limits[1].name",
            "sources.github.limits[0].applies_to.sources"
        ]
    );
    let unknown = config.unknown_sources(&["api"]);
    assert_eq!(unknown[0].path, "sources.github");
    assert!(unknown[0].message.contains("names no configured source"));
}
