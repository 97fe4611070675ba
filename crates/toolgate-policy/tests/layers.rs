//! The observing layers of the pipeline, as `stack::build` assembles them: what the call log
//! writes, what the metrics count, and that both settle a call whose future is dropped before
//! it finishes (the client went away) instead of leaking it.

use std::io::Write;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool};
use toolgate_core::catalog::{Catalog, ToolEntry, shared};
use toolgate_core::{
    CallContext, McpCall, McpRequest, Principal, ReadinessProbe, ToolError, ToolHandler,
};
use toolgate_policy::{Metrics, stack};
use tower::ServiceExt as _;

/// A tool that answers `ok`, fails, or never answers, after its name.
struct Behaves;

impl ToolHandler for Behaves {
    fn call(
        &self,
        _ctx: &CallContext,
        arguments: JsonObject,
    ) -> BoxFuture<'static, Result<CallToolResult, ToolError>> {
        let mode = arguments
            .get("mode")
            .and_then(|v| v.as_str())
            .unwrap_or("ok")
            .to_owned();
        Box::pin(async move {
            match mode.as_str() {
                "hang" => std::future::pending().await,
                "fail" => Err(ToolError::new(
                    toolgate_core::ToolErrorKind::BackendStatus,
                    "backend said no",
                )
                .with_status(500)),
                _ => Ok(CallToolResult::success(vec![ContentBlock::text("ok")])),
            }
        })
    }
}

struct Ready;
impl ReadinessProbe for Ready {
    fn check(&self) -> BoxFuture<'static, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
}

fn catalog() -> Catalog {
    let mut b = Catalog::builder();
    b.add_source(Arc::from("api"), Arc::new(Ready));
    b.add_tool(ToolEntry {
        tool: Tool::new("work", "does work", Arc::new(JsonObject::new())),
        source: Arc::from("api"),
        handler: Arc::new(Behaves),
        meta: Default::default(),
    })
    .unwrap();
    b.build()
}

fn call(mode: &str) -> McpCall {
    let mut arguments = JsonObject::new();
    arguments.insert("mode".into(), mode.into());
    let mut ctx = CallContext::in_process();
    ctx.principal = Some(Arc::new(Principal::new(
        "alice",
        vec![],
        toolgate_core::AuthMethod::Configured,
    )));
    McpCall::new(
        ctx,
        McpRequest::CallTool {
            name: "work".into(),
            arguments,
        },
    )
}

/// Log lines written while `f` runs (on this thread's subscriber).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

fn capture() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_writer(move || writer.clone())
        .finish();
    (captured, tracing::subscriber::set_default(subscriber))
}

fn lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_dropped_call_is_settled_in_metrics_and_the_log() {
    let (logs, _guard) = capture();
    let metrics = Metrics::new();
    let pipeline = stack::build(shared(catalog()), metrics.clone());
    let pending = pipeline.oneshot(call("hang"));
    // The call starts and hangs; the client goes away (its future is dropped).
    assert!(
        tokio::time::timeout(std::time::Duration::from_secs(1), pending)
            .await
            .is_err()
    );
    let text = metrics.encode();
    assert!(text.contains("toolgate_calls_in_flight 0"), "{text}");
    assert!(
        text.contains(
            r#"toolgate_calls_total{method="tools/call",tool="work",outcome="dropped"} 1"#
        ),
        "{text}"
    );
    let lines = lines(&logs.text());
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["outcome"], "dropped");
    assert_eq!(lines[0]["tool"], "\"work\"");
    assert_eq!(lines[0]["source"], "api");
}

#[tokio::test(flavor = "current_thread")]
async fn finished_calls_are_counted_once_and_logged_with_their_fields() {
    let (logs, _guard) = capture();
    let metrics = Metrics::new();
    let pipeline = stack::build(shared(catalog()), metrics.clone());
    pipeline.clone().oneshot(call("ok")).await.unwrap();
    pipeline.clone().oneshot(call("fail")).await.unwrap();
    let text = metrics.encode();
    assert!(text.contains("toolgate_calls_in_flight 0"), "{text}");
    for outcome in ["ok", "backend_status"] {
        assert!(
            text.contains(&format!(
                r#"toolgate_calls_total{{method="tools/call",tool="work",outcome="{outcome}"}} 1"#
            )),
            "{text}"
        );
    }
    assert!(
        text.contains(r#"toolgate_edge_calls_total{transport="in_process",path="rmcp"} 2"#),
        "{text}"
    );
    assert!(!text.contains("dropped"), "{text}");
    let lines = lines(&logs.text());
    assert_eq!(lines.len(), 2, "{lines:?}");
    let ok = &lines[0];
    assert_eq!(ok["level"], "INFO");
    assert_eq!(ok["message"], "call finished");
    assert_eq!(ok["method"], "tools/call");
    assert_eq!(ok["transport"], "in_process");
    assert_eq!(ok["path"], "rmcp");
    assert_eq!(ok["subject"], "\"alice\"");
    assert_eq!(ok["outcome"], "ok");
    assert!(ok["correlation_id"].as_str().is_some_and(|c| c.len() == 32));
    assert!(ok["latency_ms"].as_str().is_some());
    let failed = &lines[1];
    assert_eq!(failed["level"], "WARN");
    assert_eq!(failed["outcome"], "backend_status");
    // What the log keeps of a failure: its classification, never the text the model got.
    assert_eq!(
        failed["error"],
        "backend_status (origin backend, sent) status 500"
    );
    // Arguments are never logged.
    assert!(!logs.text().contains("mode"), "{}", logs.text());
}

#[tokio::test(flavor = "current_thread")]
async fn a_name_with_control_characters_cannot_forge_a_log_line() {
    let (logs, _guard) = capture();
    let pipeline = stack::build(shared(catalog()), Metrics::new());
    let forged = McpCall::new(
        CallContext::in_process(),
        McpRequest::CallTool {
            name: "x\n{\"outcome\":\"ok\"}".into(),
            arguments: JsonObject::new(),
        },
    );
    let _ = pipeline.oneshot(forged).await;
    assert_eq!(lines(&logs.text()).len(), 1, "{}", logs.text());
}
