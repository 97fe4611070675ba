//! The recording layer: writes a sampled call's line while the call runs and queues it when
//! the answer is known.
//!
//! The line's first half (timestamp, caller, tool, arguments) is written before the call is
//! passed on, from the request itself, so the arguments are never copied (only a tool with
//! `/arguments` redaction copies them, to redact the copy); the second half (outcome, the
//! result's shape, latency) after, from a reference to the answer.
//!
//! Does not own: the JSON writing (`line`), shapes and redaction per tool (`tools`), the queue
//! (`Recorder`).

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use futures::future::{BoxFuture, Either};
use serde_json::Value;
use toolgate_contract::shape;
use toolgate_core::{CallContext, GatewayError, McpCall, McpRequest, McpResponse};
use tower::{Layer, Service};

use super::line::{
    write_bare, write_label, write_millis, write_object, write_str, write_timestamp, write_uint,
    write_value,
};
use super::tools::Tool;
use super::{RECORD_FORMAT, REDACTED, Recorder};
use crate::Metrics;
use crate::outcome::outcome_label;

/// A line's usual size and then some (a few hundred bytes), so one allocation holds it.
const LINE_CAPACITY: usize = 512;

/// What every recorded call needs: the recorder and where to count discarded lines.
struct Shared {
    recorder: Arc<Recorder>,
    metrics: Arc<Metrics>,
}

/// Records sampled tool calls.
#[derive(Clone)]
pub struct RecordLayer {
    shared: Arc<Shared>,
}

impl RecordLayer {
    /// Records into `recorder`, counting drops in `metrics`.
    pub fn new(recorder: Arc<Recorder>, metrics: Arc<Metrics>) -> Self {
        RecordLayer {
            shared: Arc::new(Shared { recorder, metrics }),
        }
    }
}

impl<S> Layer<S> for RecordLayer {
    type Service = RecordService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RecordService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// Service produced by [`RecordLayer`].
#[derive(Clone)]
pub struct RecordService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Service<McpCall> for RecordService<S>
where
    S: Service<McpCall, Response = McpResponse, Error = GatewayError>,
    S::Future: Send + 'static,
{
    type Response = McpResponse;
    type Error = GatewayError;
    type Future = Either<S::Future, BoxFuture<'static, Result<McpResponse, GatewayError>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, call: McpCall) -> Self::Future {
        let McpRequest::CallTool { name, arguments } = &call.request else {
            return Either::Left(self.inner.call(call));
        };
        if !self.shared.recorder.sampled() {
            return Either::Left(self.inner.call(call));
        }
        let (tool, known) = self.shared.recorder.tools.get(name);
        let mut line = Vec::with_capacity(LINE_CAPACITY);
        write_call(&mut line, SystemTime::now(), &call.ctx, arguments, &tool);
        // Remembered once it answers with a shape (so made-up names are never kept).
        let unknown = (!known).then(|| name.clone());
        let shared = self.shared.clone();
        let started = Instant::now();
        let fut = self.inner.call(call);
        Either::Right(Box::pin(async move {
            let result = fut.await;
            let elapsed = started.elapsed();
            let shaped = write_answer(&mut line, &result, &tool, elapsed);
            if let Some(name) = unknown.filter(|_| shaped) {
                shared.recorder.tools.remember(&name, tool);
            }
            if !shared.recorder.push(line) {
                shared.metrics.recording_discarded();
            }
            result
        }))
    }
}

/// Writes the line's first half, up to and including `arguments` (redacted for `tool`).
pub(super) fn write_call(
    line: &mut Vec<u8>,
    at: SystemTime,
    ctx: &CallContext,
    arguments: &serde_json::Map<String, Value>,
    tool: &Tool,
) {
    const _: () = assert!(RECORD_FORMAT == 1, "the line's first bytes say v 1");
    line.extend_from_slice(b"{\"v\":1,\"ts\":\"");
    write_timestamp(line, at);
    line.extend_from_slice(b"\",\"correlation_id\":");
    write_str(line, ctx.correlation_id.as_str());
    line.extend_from_slice(b",\"subject\":");
    match &ctx.principal {
        Some(p) => write_str(line, &p.subject),
        None => line.extend_from_slice(b"null"),
    }
    line.extend_from_slice(b",\"transport\":\"");
    write_bare(line, ctx.transport.as_str());
    line.extend_from_slice(b"\",\"path\":\"");
    write_bare(line, ctx.path.as_str());
    line.extend_from_slice(b"\",\"tool\":");
    line.extend_from_slice(&tool.name_json);
    line.extend_from_slice(b",\"arguments\":");
    if tool.arguments.is_empty() {
        write_object(line, arguments);
    } else {
        let mut copy = Value::Object(arguments.clone());
        let redacted = Value::String(REDACTED.to_owned());
        for pointer in &tool.arguments {
            shape::redact_value(&mut copy, pointer, &redacted);
        }
        write_value(line, &copy);
    }
}

/// Writes the line's second half from the answer, newline included; true when the result
/// had a shape (the tool exists and answered).
pub(super) fn write_answer(
    line: &mut Vec<u8>,
    result: &Result<McpResponse, GatewayError>,
    tool: &Tool,
    elapsed: Duration,
) -> bool {
    line.extend_from_slice(b",\"outcome\":\"");
    write_bare(line, outcome_label(result));
    line.push(b'"');
    let mut shaped = false;
    match result {
        Ok(McpResponse::ToolResult(Ok(r))) => {
            let is_error = r.is_error == Some(true);
            line.extend_from_slice(if is_error {
                b",\"is_error\":true"
            } else {
                b",\"is_error\":false"
            });
            if !is_error {
                // The shape of the structured content, or of a text that is a JSON object or
                // array (upstream MCP servers).
                let parsed;
                let value = match (&r.structured_content, r.content.first()) {
                    (Some(v), _) => Some(v),
                    (None, Some(rmcp::model::ContentBlock::Text(t)))
                        if t.text.trim_start().starts_with(['{', '[']) =>
                    {
                        parsed = serde_json::from_str::<Value>(&t.text)
                            .ok()
                            .filter(|v| v.is_object() || v.is_array());
                        parsed.as_ref()
                    }
                    _ => None,
                };
                if let Some(value) = value {
                    line.extend_from_slice(b",\"shape\":");
                    tool.write_shape(value, line);
                    shaped = true;
                }
            }
            line.extend_from_slice(b",\"content\":[");
            for (i, block) in r.content.iter().enumerate() {
                if i > 0 {
                    line.push(b',');
                }
                write_label(line, content_kind(block));
            }
            line.push(b']');
        }
        Ok(other) => {
            line.extend_from_slice(b",\"is_error\":true");
            if let Some(status) = other.tool_error().and_then(|e| e.status) {
                line.extend_from_slice(b",\"status\":");
                write_uint(line, status);
            }
            line.extend_from_slice(b",\"content\":[]");
        }
        Err(_) => line.extend_from_slice(b",\"is_error\":true,\"content\":[]"),
    }
    line.extend_from_slice(b",\"latency_ms\":");
    write_millis(line, elapsed);
    line.extend_from_slice(b",\"attempts\":");
    write_uint(line, crate::retry::layer::attempts(result));
    line.extend_from_slice(b"}\n");
    shaped
}

fn content_kind(block: &rmcp::model::ContentBlock) -> &'static str {
    match block {
        rmcp::model::ContentBlock::Text(_) => "text",
        rmcp::model::ContentBlock::Image(_) => "image",
        rmcp::model::ContentBlock::Audio(_) => "audio",
        rmcp::model::ContentBlock::Resource(_) => "resource",
        rmcp::model::ContentBlock::ResourceLink(_) => "resource_link",
        _ => "other",
    }
}
