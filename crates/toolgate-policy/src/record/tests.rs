//! Tests of the recorder through the pipeline (`stack::build_with`): what a line holds, the
//! redaction of arguments and result shapes, the shape cache, sampling, and configuration
//! errors.

use std::sync::Arc;

use futures::future::BoxFuture;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool};
use serde_json::{Value, json};
use toolgate_contract::shape::Shape;
use toolgate_core::catalog::{Catalog, ToolEntry, shared};
use toolgate_core::{
    CallContext, McpCall, McpRequest, Principal, ReadinessProbe, ToolError, ToolHandler,
};
use tower::ServiceExt as _;

use super::*;
use crate::Metrics;
use crate::stack::{Policies, build_with};

/// Answers its arguments back as structured content (so a secret argument would show up in
/// a result's values), or `isError` when called with `{"fail": true}`; `{"result": R}` answers
/// `R` as structured content and `{"text": T}` answers the text `T` alone.
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
            if let Some(result) = arguments.get("result") {
                return Ok(CallToolResult::structured(result.clone()));
            }
            if let Some(Value::String(text)) = arguments.get("text") {
                return Ok(CallToolResult::success(vec![ContentBlock::text(
                    text.clone(),
                )]));
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
    for name in ["login", "echo", "mirror"] {
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
    call_as(pipeline, "alice", tool, arguments).await.unwrap();
}

/// Calls `tool` as `subject`; the answer (an unknown tool is an error).
async fn call_as(
    pipeline: &toolgate_core::Pipeline,
    subject: &str,
    tool: &str,
    arguments: Value,
) -> Result<toolgate_core::McpResponse, toolgate_core::GatewayError> {
    let mut ctx = CallContext::in_process();
    ctx.principal = Some(Arc::new(Principal::new(
        subject,
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
    pipeline.clone().oneshot(call).await
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

fn pipeline_recording(recorder: &Arc<Recorder>) -> toolgate_core::Pipeline {
    build_with(
        shared(catalog()),
        Metrics::new(),
        Policies {
            recording: Some(recorder.clone()),
            ..Policies::default()
        },
    )
}

#[tokio::test]
async fn lines_are_the_json_serde_json_writes_for_tricky_strings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rec.jsonl");
    let recorder = Recorder::open(&config(&path, 1.0)).unwrap();
    let pipeline = pipeline_recording(&recorder);
    let tricky = "q\"uote \\ back\nnew\tline\u{1}\u{1f}\u{7f} é 漢字 🦀 \u{2028} </x>";
    let arguments = json!({
        tricky: tricky, "n": -3, "f": 0.25, "big": u64::MAX, "list": [null, true, {"k": tricky}]
    });
    call_as(&pipeline, tricky, "echo", arguments.clone())
        .await
        .unwrap();
    call_as(
        &pipeline,
        "bob",
        "login",
        json!({"password": tricky, "user": tricky}),
    )
    .await
    .unwrap();
    recorder.sync();
    let text = std::fs::read_to_string(&path).unwrap();
    let raw: Vec<&str> = text.lines().collect();
    assert_eq!(raw.len(), 2, "{text}");
    for line in &raw {
        // Byte for byte what serde_json writes for the same value (key order kept).
        let value: Value = serde_json::from_str(line).unwrap();
        assert_eq!(&serde_json::to_string(&value).unwrap(), line);
    }
    let echo: Value = serde_json::from_str(raw[0]).unwrap();
    assert_eq!(echo["subject"], tricky);
    assert_eq!(echo["arguments"], arguments);
    assert_eq!(
        echo["shape"]["object"]["fields"]["echo"]["object"]["fields"][tricky],
        "string"
    );
    let keys: Vec<&str> = echo
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "v",
            "ts",
            "correlation_id",
            "subject",
            "transport",
            "path",
            "tool",
            "arguments",
            "outcome",
            "is_error",
            "shape",
            "content",
            "latency_ms",
            "attempts"
        ]
    );
    assert!(
        chrono::DateTime::parse_from_rfc3339(echo["ts"].as_str().unwrap()).is_ok(),
        "{}",
        echo["ts"]
    );
    let login: Value = serde_json::from_str(raw[1]).unwrap();
    assert_eq!(
        login["arguments"],
        json!({"password": REDACTED, "user": tricky})
    );
}

#[tokio::test]
async fn the_shape_cache_never_returns_a_stale_shape() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rec.jsonl");
    let recorder = Recorder::open(&config(&path, 1.0)).unwrap();
    let pipeline = pipeline_recording(&recorder);
    // Each result differs from the one before in one way a shape sees, or repeats an earlier
    // shape with other values (served from the cache).
    let results = [
        json!({"id": 1, "name": "a"}),
        json!({"id": 2, "name": "b"}),
        json!({"id": 2.5, "name": "b"}),
        json!({"id": 2, "name": null}),
        json!({"id": 2, "name": "b", "extra": true}),
        json!({"id": 2}),
        json!({"id": 2, "nom": "b"}),
        json!({"id": 3, "name": "c"}),
        json!({"items": []}),
        json!({"items": [1]}),
        json!({"items": [1, 2]}),
        json!({"items": [1.5]}),
        json!({"items": [1, "x"]}),
        json!({"items": [1, "x"]}),
        json!({"items": [{"a": 1}, {}]}),
        json!({"items": [{"a": 1}, {}]}),
        json!({"items": [{"a": 1}, {"a": 2}]}),
        json!({"items": [[{"a": 1}], []]}),
        json!([{"a": "x"}]),
        json!([{"a": 1}]),
        json!({"id": 9, "name": "z"}),
    ];
    for result in &results {
        call(&pipeline, "mirror", json!({"result": result})).await;
    }
    // The text path (upstream MCP servers) shares the tool's cache.
    let texts = [r#"{"id": 1, "name": "a"}"#, r#"{"id": "1"}"#, "[1, 2]"];
    for text in texts {
        call(&pipeline, "mirror", json!({"text": text})).await;
    }
    // A redacted result part stays redacted when the shape is served from the cache.
    for args in [
        json!({"user": "a"}),
        json!({"user": "b"}),
        json!({"user": 1}),
    ] {
        call(&pipeline, "login", args).await;
    }
    recorder.sync();
    let lines = lines(&path);
    let expected: Vec<Value> = results
        .iter()
        .cloned()
        .chain(texts.iter().map(|t| serde_json::from_str(t).unwrap()))
        .map(|r| serde_json::to_value(Shape::of(&r)).unwrap())
        .collect();
    for (i, want) in expected.iter().enumerate() {
        assert_eq!(
            &lines[i]["shape"], want,
            "call {i}: {}",
            lines[i]["arguments"]
        );
    }
    for login in &lines[expected.len()..] {
        assert_eq!(login["shape"]["object"]["fields"]["echo"], "redacted");
        assert_eq!(login["shape"]["object"]["fields"]["n"], "integer");
    }
}

#[tokio::test]
async fn only_tools_that_answered_with_a_shape_are_remembered() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rec.jsonl");
    let recorder = Recorder::open(&config(&path, 1.0)).unwrap();
    let pipeline = pipeline_recording(&recorder);
    for i in 0..5 {
        let name = format!("made \"up\"\n{i}");
        let answer = call_as(&pipeline, "alice", &name, json!({})).await;
        assert!(answer.is_err());
    }
    call(&pipeline, "echo", json!({"fail": true})).await;
    assert_eq!(recorder.tools.len(), 0);
    call(&pipeline, "echo", json!({})).await;
    call(&pipeline, "echo", json!({})).await;
    assert_eq!(recorder.tools.len(), 1);
    recorder.sync();
    let lines = lines(&path);
    assert_eq!(lines.len(), 8);
    assert_eq!(lines[0]["outcome"], "unknown_tool");
    assert_eq!(lines[0]["tool"], "made \"up\"\n0");
    assert_eq!(lines[0]["is_error"], true);
}
