//! What rate limits add to a call through the pipeline: the same in-process `tools/call` of a
//! tool that answers at once, with no limits, with in-memory limits, and with limits in Redis.
//!
//! ```sh
//! cargo run --release -p toolgate-policy --example limits_cost [-- CALLS [REDIS_URL]]
//! ```
//!
//! Prints ns per call at one call in flight (the added latency), and calls/s with 16 in flight
//! (Redis decisions of concurrent calls share one multiplexed connection). Indicative only on
//! a shared machine: run it a few times.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool};
use toolgate_core::catalog::{Catalog, ToolEntry, shared};
use toolgate_core::{
    AuthMethod, CallContext, McpCall, McpRequest, Pipeline, Principal, ReadinessProbe, ToolError,
    ToolHandler,
};
use toolgate_policy::Metrics;
use toolgate_policy::limits::{LimitMetrics, RateLimits, RateLimitsConfig};
use toolgate_policy::stack::{Policies, build_with};
use tower::ServiceExt as _;

struct Instant0;
impl ToolHandler for Instant0 {
    fn call(
        &self,
        _ctx: &CallContext,
        _arguments: JsonObject,
    ) -> BoxFuture<'static, Result<CallToolResult, ToolError>> {
        Box::pin(std::future::ready(Ok(CallToolResult::success(vec![
            ContentBlock::text("ok"),
        ]))))
    }
}

struct Ready;
impl ReadinessProbe for Ready {
    fn check(&self) -> BoxFuture<'static, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
}

fn pipeline(limits: Option<Arc<RateLimits>>, metrics: Arc<Metrics>) -> Pipeline {
    let mut b = Catalog::builder();
    b.add_source(Arc::from("api"), Arc::new(Ready));
    b.add_tool(ToolEntry {
        tool: Tool::new("get_item", "", Arc::new(JsonObject::new())),
        source: Arc::from("api"),
        handler: Arc::new(Instant0),
        meta: Default::default(),
    })
    .unwrap();
    build_with(
        shared(b.build()),
        metrics,
        Policies {
            limits,
            ..Policies::default()
        },
    )
}

fn call(principal: &Arc<Principal>) -> McpCall {
    let mut ctx = CallContext::in_process();
    ctx.principal = Some(principal.clone());
    McpCall::new(
        ctx,
        McpRequest::CallTool {
            name: "get_item".into(),
            arguments: JsonObject::new(),
        },
    )
}

/// ns per call, one at a time.
async fn sequential(p: &Pipeline, calls: u32) -> f64 {
    let principal = Arc::new(Principal::new("alice", vec![], AuthMethod::ApiKey));
    for _ in 0..calls / 10 {
        p.clone().oneshot(call(&principal)).await.unwrap();
    }
    let started = Instant::now();
    for _ in 0..calls {
        p.clone().oneshot(call(&principal)).await.unwrap();
    }
    started.elapsed().as_nanos() as f64 / calls as f64
}

/// calls/s with 16 in flight.
async fn concurrent(p: &Pipeline, calls: u32) -> f64 {
    let started = Instant::now();
    let tasks = (0..16).map(|w| {
        let p = p.clone();
        tokio::spawn(async move {
            let principal = Arc::new(Principal::new(
                format!("user{w}"),
                vec![],
                AuthMethod::ApiKey,
            ));
            for _ in 0..calls / 16 {
                p.clone().oneshot(call(&principal)).await.unwrap();
            }
        })
    });
    futures::future::join_all(tasks).await;
    (calls / 16 * 16) as f64 / started.elapsed().as_secs_f64()
}

fn limits_config(backend: serde_json::Value) -> RateLimitsConfig {
    // Limits that never refuse (so every call does the full work), two per call as a typical
    // policy has: per caller and tool, and per source.
    serde_json::from_value(serde_json::json!({
        "backend": backend,
        "limits": [
            {"name": "per-caller-tool", "per": ["subject", "tool"], "rate": "1000000000/s"},
            {"name": "per-source", "per": ["source"], "rate": "1000000000/s"}
        ]
    }))
    .unwrap()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let calls: u32 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let redis_url = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned());
    let off = pipeline(None, Metrics::new());
    let lm = LimitMetrics::default();
    let memory = pipeline(
        Some(RateLimits::new(&limits_config(serde_json::json!({"type": "memory"})), &lm).unwrap()),
        Metrics::new(),
    );
    let prefix = format!("toolgate-bench-{}", std::process::id());
    let redis_limits = RateLimits::new(
        &limits_config(serde_json::json!({
            "type": "redis", "url": redis_url, "prefix": prefix, "timeout_ms": 1000,
            "on_unavailable": "fail_closed"
        })),
        &lm,
    )
    .unwrap();
    let redis_up = redis_limits.connected(Duration::from_secs(2)).await;
    let redis = pipeline(Some(redis_limits), Metrics::new());

    let base = sequential(&off, calls).await;
    let mem = sequential(&memory, calls).await;
    println!("c=1   policies off     {base:>9.0} ns/call");
    println!(
        "c=1   memory limits    {mem:>9.0} ns/call  (+{:.0} ns)",
        mem - base
    );
    let redis_calls = (calls / 20).max(1000);
    if redis_up {
        let r = sequential(&redis, redis_calls).await;
        println!(
            "c=1   Redis limits     {r:>9.0} ns/call  (+{:.1} µs; two limits, decided concurrently)",
            (r - base) / 1000.0
        );
    } else {
        println!("Redis not reachable: Redis rows skipped");
    }
    let off16 = concurrent(&off, calls).await;
    let mem16 = concurrent(&memory, calls).await;
    println!("c=16  policies off     {off16:>9.0} calls/s");
    println!(
        "c=16  memory limits    {mem16:>9.0} calls/s  ({:.1} % of off)",
        100.0 * mem16 / off16
    );
    if redis_up {
        let r16 = concurrent(&redis, redis_calls).await;
        println!(
            "c=16  Redis limits     {r16:>9.0} calls/s  ({:.1} % of off)",
            100.0 * r16 / off16
        );
    }
}
