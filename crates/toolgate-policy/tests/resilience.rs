//! Retries and circuit breakers as `stack::build_with` assembles them, against a scripted
//! backend that counts what reaches it, on tokio's paused clock.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool, ToolAnnotations};
use tokio::time::Instant;
use toolgate_core::Principal;
use toolgate_core::catalog::{Catalog, ToolEntry, shared};
use toolgate_core::{
    CallContext, Delivery, McpCall, McpRequest, McpResponse, ReadinessProbe, ToolError,
    ToolErrorKind, ToolHandler, wire,
};
use toolgate_policy::breaker::BreakerConfig;
use toolgate_policy::cache::ToolCacheConfig;
use toolgate_policy::resilience::{Resilience, ResilienceConfig};
use toolgate_policy::retry::{RetryBudgetConfig, RetryConfig};
use toolgate_policy::size::ToolResponseConfig;
use toolgate_policy::{Metrics, stack};
use tower::ServiceExt as _;

type Script = dyn Fn(u32, &CallContext) -> Result<CallToolResult, ToolError> + Send + Sync;

/// A backend answering attempt `n` (from 1) as its script says, counting attempts.
struct Scripted {
    calls: Arc<AtomicU32>,
    script: Box<Script>,
}

impl ToolHandler for Scripted {
    fn call(
        &self,
        ctx: &CallContext,
        _arguments: JsonObject,
    ) -> BoxFuture<'static, Result<CallToolResult, ToolError>> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let r = (self.script)(n, ctx);
        Box::pin(async move { r })
    }
}

struct Ready;
impl ReadinessProbe for Ready {
    fn check(&self) -> BoxFuture<'static, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
}

fn ok() -> Result<CallToolResult, ToolError> {
    Ok(CallToolResult::success(vec![ContentBlock::text("ok")]))
}

fn status(code: u16) -> ToolError {
    ToolError::new(ToolErrorKind::BackendStatus, format!("backend said {code}")).with_status(code)
}

struct Harness {
    pipeline: toolgate_core::Pipeline,
    calls: Arc<AtomicU32>,
    metrics: Arc<Metrics>,
}

/// A gateway with one tool `work` of source `api`, idempotent or not.
fn harness(
    config: ResilienceConfig,
    idempotent: bool,
    script: impl Fn(u32, &CallContext) -> Result<CallToolResult, ToolError> + Send + Sync + 'static,
) -> Harness {
    harness_with(
        config,
        ToolAnnotations::new()
            .idempotent(idempotent)
            .read_only(false),
        script,
    )
}

fn harness_with(
    config: ResilienceConfig,
    annotations: ToolAnnotations,
    script: impl Fn(u32, &CallContext) -> Result<CallToolResult, ToolError> + Send + Sync + 'static,
) -> Harness {
    let calls = Arc::new(AtomicU32::new(0));
    let mut b = Catalog::builder();
    b.add_source(Arc::from("api"), Arc::new(Ready));
    let mut tool = Tool::new("work", "does work", Arc::new(JsonObject::new()));
    tool.annotations = Some(annotations);
    b.add_tool(ToolEntry {
        tool,
        source: Arc::from("api"),
        handler: Arc::new(Scripted {
            calls: calls.clone(),
            script: Box::new(script),
        }),
        meta: Default::default(),
    })
    .unwrap();
    let resilience = Resilience::new(config, ["api"]);
    let r2 = resilience.clone();
    let metrics = Metrics::with_extra(|reg| r2.register(reg));
    let pipeline = stack::build_with(
        shared(b.build()),
        metrics.clone(),
        stack::Policies {
            resilience: Some(resilience),
            ..Default::default()
        },
    );
    Harness {
        pipeline,
        calls,
        metrics,
    }
}

fn retries(attempts: u32) -> RetryConfig {
    RetryConfig {
        max_attempts: attempts,
        base_delay_ms: 100,
        max_delay_ms: 1_000,
        budget: RetryBudgetConfig {
            ratio: 0.2,
            min_per_second: 10,
            window_secs: 10,
        },
        ..RetryConfig::default()
    }
}

fn with_retry(r: RetryConfig) -> ResilienceConfig {
    ResilienceConfig {
        retry: Some(r),
        ..ResilienceConfig::default()
    }
}

fn work() -> McpCall {
    work_with(CallContext::in_process())
}

fn work_with(ctx: CallContext) -> McpCall {
    McpCall::new(
        ctx,
        McpRequest::CallTool {
            name: "work".into(),
            arguments: JsonObject::new(),
        },
    )
}

async fn outcome(h: &Harness, call: McpCall) -> Result<CallToolResult, ToolError> {
    match h.pipeline.clone().oneshot(call).await.unwrap() {
        McpResponse::ToolResult(r) => r,
        other => panic!("not a tool result: {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn an_idempotent_call_is_retried_until_it_succeeds_and_says_how_many_attempts() {
    let h = harness(with_retry(retries(3)), true, |n, _| {
        if n < 3 { Err(status(503)) } else { ok() }
    });
    let result = outcome(&h, work()).await;
    let result = result.expect("third attempt succeeds");
    assert_eq!(h.calls.load(Ordering::SeqCst), 3);
    assert_eq!(wire::attempts_of(&result), Some(3));
    let text = h.metrics.encode();
    assert!(
        text.contains(r#"toolgate_retries_total{source="api",outcome="ok"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"toolgate_retries_total{source="api",outcome="failed"} 1"#),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn attempts_per_call_are_bounded_and_the_final_error_says_how_many() {
    let h = harness(with_retry(retries(3)), true, |_, _| Err(status(502)));
    let err = outcome(&h, work()).await.unwrap_err();
    assert_eq!(h.calls.load(Ordering::SeqCst), 3);
    assert_eq!(err.attempts, 3);
    let shown = wire::tool_error_result(&err);
    assert_eq!(wire::attempts_of(&shown), Some(3));
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured() {
    let h = harness(with_retry(retries(2)), true, |n, _| {
        if n == 1 {
            let mut e = status(429);
            e.retry_after = Some(Duration::from_secs(3));
            Err(e)
        } else {
            ok()
        }
    });
    let started = Instant::now();
    outcome(&h, work()).await.unwrap();
    // Backoff alone would wait at most 100 ms.
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(h.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_longer_than_allowed_ends_the_retries() {
    let mut r = retries(3);
    r.max_retry_after_ms = 1_000;
    let h = harness(with_retry(r), true, |_, _| {
        let mut e = status(503);
        e.retry_after = Some(Duration::from_secs(60));
        Err(e)
    });
    let err = outcome(&h, work()).await.unwrap_err();
    assert_eq!(h.calls.load(Ordering::SeqCst), 1);
    assert_eq!(err.retry_after, Some(Duration::from_secs(60)));
}

#[tokio::test(start_paused = true)]
async fn a_request_that_may_have_reached_the_backend_is_not_resent_unless_idempotent() {
    for kind in [ToolErrorKind::Timeout, ToolErrorKind::Transport] {
        let h = harness(with_retry(retries(3)), false, move |_, _| {
            Err(ToolError::new(kind, "broke").with_delivery(Delivery::MaybeSent))
        });
        outcome(&h, work()).await.unwrap_err();
        assert_eq!(h.calls.load(Ordering::SeqCst), 1, "{kind:?}");
    }
    let h = harness(with_retry(retries(3)), false, |_, _| Err(status(503)));
    outcome(&h, work()).await.unwrap_err();
    assert_eq!(h.calls.load(Ordering::SeqCst), 1, "a 503 to a POST");
    // Nothing sent: safe to send again whatever the operation.
    let h = harness(with_retry(retries(3)), false, |n, _| {
        if n == 1 {
            Err(ToolError::new(ToolErrorKind::Connect, "refused"))
        } else {
            ok()
        }
    });
    outcome(&h, work()).await.unwrap();
    assert_eq!(h.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn the_budget_caps_retries_under_a_failure_storm() {
    // No reserve: only the 20 % of calls made.
    let mut r = retries(3);
    r.budget.min_per_second = 0;
    let h = harness(with_retry(r), true, |_, _| Err(status(503)));
    let calls = 200u32;
    for _ in 0..calls {
        outcome(&h, work()).await.unwrap_err();
    }
    let sent = h.calls.load(Ordering::SeqCst);
    let retried = sent - calls;
    // 20 % of 200 calls; without the budget it would be 400 retries.
    assert!(retried <= calls / 5, "{retried} retries for {calls} calls");
    assert!(
        retried >= calls / 5 - 2,
        "{retried} retries for {calls} calls"
    );
    let text = h.metrics.encode();
    assert!(
        text.contains(r#"toolgate_retries_denied_total{source="api",reason="budget"}"#),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn no_wait_runs_past_the_deadline() {
    let h = harness(with_retry(retries(3)), true, |_, _| {
        let mut e = status(503);
        e.retry_after = Some(Duration::from_secs(2));
        Err(e)
    });
    let mut ctx = CallContext::in_process();
    ctx.deadline = Some(Instant::now() + Duration::from_secs(1));
    let started = Instant::now();
    outcome(&h, work_with(ctx)).await.unwrap_err();
    assert_eq!(h.calls.load(Ordering::SeqCst), 1);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn cancellation_stops_retrying() {
    let h = harness(with_retry(retries(5)), true, |_, ctx| {
        ctx.cancel.cancel();
        Err(status(503))
    });
    outcome(&h, work()).await.unwrap_err();
    assert_eq!(h.calls.load(Ordering::SeqCst), 1);
}

fn breaker() -> BreakerConfig {
    BreakerConfig {
        enabled: true,
        failure_rate: 0.5,
        minimum_calls: 4,
        window_ms: 10_000,
        open_ms: 5_000,
        half_open_probes: 2,
    }
}

#[tokio::test(start_paused = true)]
async fn an_open_circuit_answers_at_once_and_recovers_through_probes() {
    let healthy = Arc::new(Mutex::new(false));
    let flag = healthy.clone();
    let config = ResilienceConfig {
        circuit_breaker: Some(breaker()),
        ..ResilienceConfig::default()
    };
    let h = harness(config, false, move |_, _| {
        if *flag.lock().unwrap() {
            ok()
        } else {
            Err(ToolError::new(ToolErrorKind::Connect, "refused"))
        }
    });
    for _ in 0..4 {
        outcome(&h, work()).await.unwrap_err();
    }
    assert_eq!(h.calls.load(Ordering::SeqCst), 4);
    let err = outcome(&h, work()).await.unwrap_err();
    assert_eq!(err.kind, ToolErrorKind::Unavailable);
    assert!(err.message.contains("`api`"), "{}", err.message);
    assert_eq!(h.calls.load(Ordering::SeqCst), 4, "nothing sent while open");
    assert!(
        h.metrics
            .encode()
            .contains(r#"toolgate_circuit_state{source="api"} 1"#)
    );
    *healthy.lock().unwrap() = true;
    tokio::time::advance(Duration::from_millis(5_000)).await;
    outcome(&h, work()).await.unwrap();
    outcome(&h, work()).await.unwrap();
    let text = h.metrics.encode();
    assert!(
        text.contains(r#"toolgate_circuit_state{source="api"} 0"#),
        "{text}"
    );
    for to in ["open", "half_open", "closed"] {
        assert!(
            text.contains(&format!(
                r#"toolgate_circuit_transitions_total{{source="api",to="{to}"}} 1"#
            )),
            "{text}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn retries_stop_when_the_circuit_opens_under_them() {
    let config = ResilienceConfig {
        retry: Some(RetryConfig {
            budget: RetryBudgetConfig {
                ratio: 1.0,
                min_per_second: 100,
                window_secs: 10,
            },
            ..retries(10)
        }),
        circuit_breaker: Some(BreakerConfig {
            minimum_calls: 3,
            ..breaker()
        }),
        ..ResilienceConfig::default()
    };
    let h = harness(config, true, |_, _| Err(status(503)));
    let err = outcome(&h, work()).await.unwrap_err();
    // Three attempts opened the circuit; the fourth was refused by it and not retried.
    assert_eq!(h.calls.load(Ordering::SeqCst), 3);
    assert_eq!(err.kind, ToolErrorKind::Unavailable);
    assert_eq!(err.attempts, 4);
}

#[tokio::test(start_paused = true)]
async fn a_source_override_replaces_the_defaults() {
    let mut config = with_retry(retries(3));
    config.sources.insert(
        "api".into(),
        toolgate_policy::resilience::SourceResilience {
            retry: Some(RetryConfig {
                enabled: false,
                ..RetryConfig::default()
            }),
            circuit_breaker: None,
        },
    );
    let h = harness(config, true, |_, _| Err(status(503)));
    outcome(&h, work()).await.unwrap_err();
    assert_eq!(h.calls.load(Ordering::SeqCst), 1);
}

fn responses(tool: ToolResponseConfig) -> ResilienceConfig {
    let mut config = ResilienceConfig::default();
    config.responses.tools.insert("work".into(), tool);
    config
}

#[tokio::test]
async fn a_result_over_the_tool_limit_is_cut_without_structured_content() {
    let h = harness(
        responses(ToolResponseConfig {
            max_bytes: Some(300),
            cache: None,
        }),
        true,
        |_, _| {
            let rows: Vec<String> = (0..100).map(|i| format!("row {i}")).collect();
            let mut r = CallToolResult::structured(serde_json::json!({ "rows": rows }));
            r.content = vec![ContentBlock::text(rows.join("\n"))];
            Ok(r)
        },
    );
    let r = outcome(&h, work()).await.unwrap();
    assert!(r.structured_content.is_none());
    let text = &r.content[0].as_text().unwrap().text;
    assert!(text.len() <= 300 && text.ends_with('\n'), "{text:?}");
    assert!(r.content[1].as_text().unwrap().text.contains("cut to"));
}

fn cached(shared: bool) -> ResilienceConfig {
    responses(ToolResponseConfig {
        max_bytes: None,
        cache: Some(ToolCacheConfig {
            ttl_ms: 60_000,
            shared,
            ignore_cache_control: false,
        }),
    })
}

fn as_subject(subject: &str, arguments: serde_json::Value) -> McpCall {
    let mut ctx = CallContext::in_process();
    ctx.principal = Some(Arc::new(Principal::new(
        subject,
        vec![],
        toolgate_core::AuthMethod::Configured,
    )));
    McpCall::new(
        ctx,
        McpRequest::CallTool {
            name: "work".into(),
            arguments: serde_json::from_value(arguments).unwrap(),
        },
    )
}

fn read_only() -> ToolAnnotations {
    ToolAnnotations::new().read_only(true)
}

#[tokio::test]
async fn read_only_results_are_cached_per_subject_and_arguments() {
    let h = harness_with(cached(false), read_only(), |n, _| {
        Ok(CallToolResult::success(vec![ContentBlock::text(format!(
            "answer {n}"
        ))]))
    });
    let args = serde_json::json!({"a": 1, "b": [1, 2]});
    let same = serde_json::json!({"b": [1, 2], "a": 1});
    let first = outcome(&h, as_subject("alice", args.clone()))
        .await
        .unwrap();
    let again = outcome(&h, as_subject("alice", same)).await.unwrap();
    assert_eq!(first.content, again.content);
    assert_eq!(h.calls.load(Ordering::SeqCst), 1);
    // Another subject, other arguments, or no subject at all: the backend answers.
    outcome(&h, as_subject("bob", args.clone())).await.unwrap();
    outcome(&h, as_subject("alice", serde_json::json!({"a": 2})))
        .await
        .unwrap();
    outcome(&h, work()).await.unwrap();
    outcome(&h, work()).await.unwrap();
    assert_eq!(h.calls.load(Ordering::SeqCst), 5);
    let text = h.metrics.encode();
    assert!(
        text.contains(r#"toolgate_cache_lookups_total{tool="work",result="hit"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"toolgate_cache_lookups_total{tool="work",result="bypass"} 2"#),
        "{text}"
    );
}

#[tokio::test]
async fn errors_no_store_answers_and_tools_that_are_not_read_only_are_never_cached() {
    let h = harness_with(cached(true), read_only(), |n, _| match n {
        1 => Err(status(503)),
        2 => {
            let mut r = CallToolResult::success(vec![ContentBlock::text("private")]);
            wire::set_no_store(&mut r);
            Ok(r)
        }
        _ => ok(),
    });
    for _ in 0..4 {
        let _ = outcome(&h, work()).await;
    }
    // 1: error, 2: no-store, 3: stored, 4: served from the cache.
    assert_eq!(h.calls.load(Ordering::SeqCst), 3);
    let h = harness_with(
        cached(true),
        ToolAnnotations::new().read_only(false),
        |_, _| ok(),
    );
    outcome(&h, work()).await.unwrap();
    outcome(&h, work()).await.unwrap();
    assert_eq!(h.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn entries_expire_after_their_ttl() {
    let mut config = cached(true);
    config
        .responses
        .tools
        .get_mut("work")
        .unwrap()
        .cache
        .as_mut()
        .unwrap()
        .ttl_ms = 50;
    let h = harness_with(config, read_only(), |_, _| ok());
    outcome(&h, work()).await.unwrap();
    outcome(&h, work()).await.unwrap();
    assert_eq!(h.calls.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    outcome(&h, work()).await.unwrap();
    assert_eq!(h.calls.load(Ordering::SeqCst), 2);
}
