//! Tests of the recorder through the pipeline (`stack::build_with`): what a line holds, the
//! redaction of arguments and result shapes, sampling, and configuration errors.

use std::sync::Arc;

use futures::future::BoxFuture;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool};
use serde_json::{Value, json};
use toolgate_core::catalog::{Catalog, ToolEntry, shared};
use toolgate_core::{
    CallContext, McpCall, McpRequest, Principal, ReadinessProbe, ToolError, ToolHandler,
};
use tower::ServiceExt as _;

use super::*;
use crate::stack::{Policies, build_with};

/// Answers its arguments back as structured content (so a secret argument would show up in
/// a result's values), or `isError` when called with `{"fail": true}`.
struct Echo;

impl ToolHandler for Echo {
    fn call(
        &self,
        _ctx: &CallContext,
        arguments: JsonObject,
    ) -> BoxFuture<'static, Result<CallToolResult, ToolError>> {
        Box::pin(async move {
            if arguments.get("fail") == Some(&json!(true)) {
                return Ok(CallToolResult::error(vec![ContentBlock::text("failed")]));
            }
            let value = json!({"echo": arguments, "n": 1, "items": [{"a": "x"}]});
            Ok(CallToolResult::structured(value))
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
    for name in ["login", "echo"] {
        b.add_tool(ToolEntry {
            tool: Tool::new(name, "echoes", Arc::new(JsonObject::new())),
            source: Arc::from("api"),
            handler: Arc::new(Echo),
            meta: Default::default(),
        })
        .unwrap();
    }
    b.build()
}

fn config(path: &std::path::Path, sample: f64) -> RecordingConfig {
    serde_json::from_value(json!({
        "path": path.to_str().unwrap(),
        "sample": sample,
        "redact": {"log*": ["/arguments/password", "/arguments/keys/*/k", "/result/echo"]},
    }))
    .unwrap()
}

async fn call(pipeline: &toolgate_core::Pipeline, tool: &str, arguments: Value) {
    let mut ctx = CallContext::in_process();
    ctx.principal = Some(Arc::new(Principal::new(
        "alice",
        vec![],
        toolgate_core::AuthMethod::Configured,
    )));
    let Value::Object(arguments) = arguments else {
        panic!()
    };
    let call = McpCall::new(
        ctx,
        McpRequest::CallTool {
            name: tool.to_owned(),
            arguments,
        },
    );
    pipeline.clone().oneshot(call).await.unwrap();
}

fn lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn lines_hold_redacted_arguments_and_result_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rec.jsonl");
    let recorder = Recorder::open(&config(&path, 1.0)).unwrap();
    let pipeline = build_with(
        shared(catalog()),
        Metrics::new(),
        Policies {
            recording: Some(recorder.clone()),
            ..Policies::default()
        },
    );
    let canary = "canary-7f3a9";
    call(
        &pipeline,
        "login",
        json!({"user": "a", "password": canary, "keys": [{"k": canary}]}),
    )
    .await;
    call(&pipeline, "echo", json!({"fail": true})).await;
    let list = McpCall::new(
        CallContext::in_process(),
        McpRequest::ListTools { cursor: None },
    );
    pipeline.clone().oneshot(list).await.unwrap();
    recorder.sync();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains(canary), "{text}");
    let lines = lines(&path);
    assert_eq!(lines.len(), 2, "only tool calls are recorded: {text}");
    let login = &lines[0];
    assert_eq!(login["v"], 1);
    assert_eq!(login["tool"], "login");
    assert_eq!(login["subject"], "alice");
    assert_eq!(login["arguments"]["password"], REDACTED);
    assert_eq!(login["arguments"]["keys"][0]["k"], REDACTED);
    assert_eq!(login["arguments"]["user"], "a");
    assert_eq!(login["is_error"], false);
    assert_eq!(login["outcome"], "ok");
    assert_eq!(login["attempts"], 1);
    assert_eq!(
        login["shape"],
        json!({"object": {"fields": {
            "echo": "redacted",
            "items": {"array": {"object": {"fields": {"a": "string"}}}},
            "n": "integer"
        }}})
    );
    assert!(
        login["correlation_id"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
    );
    assert!(login["latency_ms"].as_f64().is_some());
    let failed = &lines[1];
    assert_eq!(failed["is_error"], true);
    assert_eq!(failed["outcome"], "tool_error");
    assert!(failed.get("shape").is_none());
}

#[tokio::test]
async fn sampling_zero_records_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rec.jsonl");
    let recorder = Recorder::open(&config(&path, 0.0)).unwrap();
    let pipeline = build_with(
        shared(catalog()),
        Metrics::new(),
        Policies {
            recording: Some(recorder.clone()),
            ..Policies::default()
        },
    );
    for _ in 0..20 {
        call(&pipeline, "echo", json!({})).await;
    }
    recorder.sync();
    assert!(lines(&path).is_empty());
}

#[test]
fn every_problem_of_the_section_is_reported() {
    let config: RecordingConfig = serde_json::from_value(json!({
        "path": "",
        "sample": 1.5,
        "redact": {"a[": ["/arguments/x"], "b": ["password", "/body/x"]},
    }))
    .unwrap();
    let Err(RecordError::Invalid(problems)) = Recorder::open(&config) else {
        panic!("accepted")
    };
    let text = problems.join("\n");
    for needle in [
        "recording.sample",
        "recording.path",
        "recording.redact.a[",
        "`password`",
        "`/body/x`",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
}
