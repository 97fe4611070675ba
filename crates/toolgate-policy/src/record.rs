//! Recording tool calls for replay (`recording:`): one JSON line per sampled `tools/call`,
//! written by a thread behind a bounded queue.
//!
//! A line (format 1): `{"v": 1, "ts", "correlation_id", "subject", "transport", "path",
//! "tool", "arguments", "outcome", "is_error", "status", "shape", "content", "latency_ms",
//! "attempts"}`. `arguments` are the call's arguments after redaction; the result is kept as
//! its **shape** only (types and fields, `toolgate_contract::shape`), never its values, so a
//! recording holds no response data; `subject` is the principal's subject, never a token.
//!
//! Redaction (`recording.redact`) maps tool names or globs to JSON pointers into the line:
//! `/arguments/...` replaces an argument's value with `"[redacted]"`, `/result/...` marks a
//! part of the result's shape `redacted` (replay never compares it). `*` matches every array
//! item or object field.
//!
//! The call's task only clones what the line needs and hands it over; redaction, the shape
//! and serialization happen on the writer thread, so recording costs a call little. When the
//! queue is full the line is dropped and counted (`toolgate_recording_discarded_total`); a
//! call is never made to wait. Dropping the recorder (a normal stop, or a reload that changes
//! the section) writes what is queued first, waiting at most [`FINAL_FLUSH`].
//!
//! Does not own: replaying (`toolgate-replay`).

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::task::{Context, Poll};
use std::time::Instant;

use futures::future::{BoxFuture, Either};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use toolgate_contract::shape::{self, Shape};
use toolgate_core::{GatewayError, McpCall, McpRequest, McpResponse};
use tower::{Layer, Service};

use crate::Metrics;
use crate::outcome::outcome_label;

/// Lines waiting for the writer thread at most.
const QUEUE: usize = 16_384;

/// How long dropping the recorder waits for queued lines to be written.
pub const FINAL_FLUSH: std::time::Duration = std::time::Duration::from_secs(5);

/// The format version written in each line's `v`.
pub const RECORD_FORMAT: u32 = 1;

/// What replaces a redacted argument value.
pub const REDACTED: &str = "[redacted]";

/// The `recording:` section: record tool calls to JSON Lines for `toolgate replay`
/// (docs/gate.md, "Recording"). Absent: nothing is recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordingConfig {
    /// The JSON Lines file calls are appended to (created if missing).
    pub path: String,
    /// The fraction of tool calls recorded, from 0 to 1 (default 1: every call).
    #[serde(default = "every_call")]
    pub sample: f64,
    /// Redaction: tool names or globs (`*`, `?`, `[a-z]`, `{a,b}`) mapped to JSON pointers
    /// into the line: `/arguments/password` replaces that argument's value with
    /// `"[redacted]"`; `/result/token` marks that part of the result's shape redacted. `*`
    /// in a pointer matches every array item or field. Every matching entry applies.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub redact: BTreeMap<String, Vec<String>>,
}

fn every_call() -> f64 {
    1.0
}

/// A problem in the `recording` section or with its file.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Settings that do not make sense, each with its location.
    #[error("{}", .0.join("\n"))]
    Invalid(Vec<String>),
    /// The file cannot be opened.
    #[error("recording.path: cannot open {path}: {cause}")]
    Open {
        /// The configured path.
        path: String,
        /// Why.
        cause: std::io::Error,
    },
}

/// One redaction rule, compiled.
struct Rule {
    tools: globset::GlobMatcher,
    arguments: Vec<Vec<String>>,
    result: Vec<Vec<String>>,
}

/// The compiled redaction rules.
struct Redaction {
    rules: Vec<Rule>,
}

impl Redaction {
    fn compile(config: &BTreeMap<String, Vec<String>>) -> Result<Redaction, Vec<String>> {
        let mut rules = Vec::new();
        let mut problems = Vec::new();
        for (glob, pointers) in config {
            let tools = match globset::Glob::new(glob) {
                Ok(g) => g.compile_matcher(),
                Err(e) => {
                    problems.push(format!("recording.redact.{glob}: not a tool glob: {e}"));
                    continue;
                }
            };
            let mut rule = Rule {
                tools,
                arguments: Vec::new(),
                result: Vec::new(),
            };
            for pointer in pointers {
                let tokens = shape::pointer_tokens(pointer).unwrap_or_default();
                match tokens.split_first() {
                    Some((first, rest)) if first == "arguments" && !rest.is_empty() => {
                        rule.arguments.push(rest.to_vec());
                    }
                    Some((first, rest)) if first == "result" => rule.result.push(rest.to_vec()),
                    _ => problems.push(format!(
                        "recording.redact.{glob}: `{pointer}` must be a JSON pointer under \
                         /arguments (e.g. /arguments/password) or /result (e.g. /result/token)"
                    )),
                }
            }
            rules.push(rule);
        }
        if problems.is_empty() {
            Ok(Redaction { rules })
        } else {
            Err(problems)
        }
    }
}

/// What the call's task hands the writer thread.
struct Entry {
    ts: chrono::DateTime<chrono::Utc>,
    correlation_id: toolgate_core::CorrelationId,
    subject: Option<Arc<toolgate_core::Principal>>,
    transport: &'static str,
    path: &'static str,
    tool: String,
    arguments: Value,
    outcome: &'static str,
    is_error: bool,
    status: Option<u16>,
    structured: Option<Value>,
    /// The text of a result without structured content (its shape is taken if it is JSON).
    text: Option<String>,
    content: Vec<&'static str>,
    latency_ms: f64,
    attempts: u32,
}

/// One line of a recording, as written.
#[derive(Debug, Serialize)]
struct Line<'a> {
    v: u32,
    ts: String,
    correlation_id: &'a str,
    subject: Option<&'a str>,
    transport: &'static str,
    path: &'static str,
    tool: &'a str,
    arguments: &'a Value,
    outcome: &'static str,
    is_error: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shape: Option<Shape>,
    content: &'a [&'static str],
    latency_ms: f64,
    attempts: u32,
}

/// What the writer thread is sent.
enum Message {
    Entry(Box<Entry>),
    /// Answer once everything before it is written and flushed.
    Sync(SyncSender<()>),
}

/// The recording's sink: a sampler and a queue to the writer thread.
pub struct Recorder {
    config: RecordingConfig,
    queue: SyncSender<Message>,
    /// Whether a discarded line was logged already (once per recorder).
    warned: std::sync::atomic::AtomicBool,
}

impl Recorder {
    /// Checks `config` (reporting every problem), opens its file and starts the writer.
    pub fn open(config: &RecordingConfig) -> Result<Arc<Recorder>, RecordError> {
        let mut problems = Vec::new();
        if !(0.0..=1.0).contains(&config.sample) {
            problems.push(format!(
                "recording.sample: must be between 0 and 1 (a fraction of calls), not {}",
                config.sample
            ));
        }
        if config.path.trim().is_empty() {
            problems.push("recording.path: must name a file".to_owned());
        }
        let redaction = match Redaction::compile(&config.redact) {
            Ok(r) => Some(r),
            Err(p) => {
                problems.extend(p);
                None
            }
        };
        let Some(redaction) = redaction.filter(|_| problems.is_empty()) else {
            return Err(RecordError::Invalid(problems));
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&config.path)
            .map_err(|cause| RecordError::Open {
                path: config.path.clone(),
                cause,
            })?;
        let (queue, entries) = sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("toolgate-record".to_owned())
            .spawn(move || write_lines(entries, file, redaction))
            .map_err(|cause| RecordError::Open {
                path: config.path.clone(),
                cause,
            })?;
        Ok(Arc::new(Recorder {
            config: config.clone(),
            queue,
            warned: std::sync::atomic::AtomicBool::new(false),
        }))
    }

    /// The settings it records with.
    pub fn config(&self) -> &RecordingConfig {
        &self.config
    }

    /// Whether this call is recorded.
    fn sampled(&self) -> bool {
        self.config.sample >= 1.0
            || (self.config.sample > 0.0 && fastrand::f64() < self.config.sample)
    }

    /// Waits until every line pushed before is written and flushed (shutdown, tests).
    /// Waits at most [`FINAL_FLUSH`].
    pub fn sync(&self) {
        let deadline = Instant::now() + FINAL_FLUSH;
        let (done, wait) = sync_channel(1);
        let mut message = Message::Sync(done);
        loop {
            match self.queue.try_send(message) {
                Ok(()) => break,
                Err(TrySendError::Disconnected(_)) => return,
                Err(TrySendError::Full(m)) if Instant::now() < deadline => {
                    message = m;
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                Err(TrySendError::Full(_)) => return,
            }
        }
        let _ = wait.recv_timeout(deadline.saturating_duration_since(Instant::now()));
    }

    /// Queues a line; false when the queue is full (the line is dropped).
    fn push(&self, entry: Entry) -> bool {
        match self.queue.try_send(Message::Entry(Box::new(entry))) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => true,
            Err(TrySendError::Full(_)) => {
                if !self.warned.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    tracing::warn!(
                        path = %self.config.path,
                        "the recording's writer cannot keep up: discarding lines \
                         (counted in toolgate_recording_discarded_total)"
                    );
                }
                false
            }
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.sync();
    }
}

/// How often the writer drains the queue while calls keep coming.
const DRAIN_EVERY: std::time::Duration = std::time::Duration::from_millis(10);

/// The writer thread. Idle, it blocks on the queue, so the first line after a quiet spell is
/// written at once. Busy, it sleeps [`DRAIN_EVERY`] between drains instead of blocking: a call
/// that queues a line then finds no parked receiver to wake, so recording costs a call no
/// futex wake-up and no context switch, and the file gets one write per drain rather than one
/// per call (waking the writer per call cost about 40 µs of CPU per call at c=16 on the 2-core
/// benchmark VM: `bench/recording.sh`, BENCHMARKS.md). The queue (`QUEUE` lines) holds far
/// more than one interval of calls at any rate this machine serves.
fn write_lines(messages: Receiver<Message>, file: std::fs::File, redaction: Redaction) {
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, file);
    let mut writer = Writer {
        waiting: Vec::new(),
        buf: Vec::with_capacity(1024),
        redacted: Value::String(REDACTED.to_owned()),
        redaction,
    };
    while let Ok(first) = messages.recv() {
        let mut ok = writer.take(first, &mut out);
        loop {
            let mut drained = 0usize;
            let connected = loop {
                match messages.try_recv() {
                    Ok(message) => {
                        ok &= writer.take(message, &mut out);
                        drained += 1;
                    }
                    Err(std::sync::mpsc::TryRecvError::Empty) => break true,
                    Err(std::sync::mpsc::TryRecvError::Disconnected) => break false,
                }
            };
            ok &= out.flush().is_ok();
            if !ok {
                tracing::error!("cannot write the recording");
                ok = true;
            }
            for done in writer.waiting.drain(..) {
                let _ = done.send(());
            }
            if !connected {
                return;
            }
            if drained == 0 {
                break;
            }
            std::thread::sleep(DRAIN_EVERY);
        }
    }
}

/// The writer thread's state between messages.
struct Writer {
    /// `sync` callers to answer after the next flush.
    waiting: Vec<SyncSender<()>>,
    /// One line, reused.
    buf: Vec<u8>,
    redacted: Value,
    redaction: Redaction,
}

impl Writer {
    /// Writes an entry's line (or remembers a sync request); false when the write failed.
    fn take(&mut self, message: Message, out: &mut impl Write) -> bool {
        match message {
            Message::Entry(entry) => {
                self.buf.clear();
                line(*entry, &self.redaction, &self.redacted, &mut self.buf);
                out.write_all(&self.buf).is_ok()
            }
            Message::Sync(done) => {
                self.waiting.push(done);
                true
            }
        }
    }
}

/// Redacts `entry`, takes its result's shape and serializes its line into `buf`.
fn line(mut entry: Entry, redaction: &Redaction, redacted: &Value, buf: &mut Vec<u8>) {
    let mut shape = match (&entry.structured, &entry.text) {
        (Some(v), _) => Some(Shape::of(v)),
        (None, Some(text)) => serde_json::from_str::<Value>(text)
            .ok()
            .filter(|v| v.is_object() || v.is_array())
            .map(|v| Shape::of(&v)),
        (None, None) => None,
    };
    for rule in redaction
        .rules
        .iter()
        .filter(|r| r.tools.is_match(&entry.tool))
    {
        for pointer in &rule.arguments {
            shape::redact_value(&mut entry.arguments, pointer, redacted);
        }
        if let Some(shape) = &mut shape {
            for pointer in &rule.result {
                shape.redact(pointer);
            }
        }
    }
    let line = Line {
        v: RECORD_FORMAT,
        ts: entry
            .ts
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        correlation_id: entry.correlation_id.as_str(),
        subject: entry.subject.as_ref().map(|p| p.subject.as_str()),
        transport: entry.transport,
        path: entry.path,
        tool: &entry.tool,
        arguments: &entry.arguments,
        outcome: entry.outcome,
        is_error: entry.is_error,
        status: entry.status,
        shape,
        content: &entry.content,
        latency_ms: (entry.latency_ms * 1000.0).round() / 1000.0,
        attempts: entry.attempts,
    };
    if serde_json::to_writer(&mut *buf, &line).is_ok() {
        buf.push(b'\n');
    } else {
        buf.clear();
    }
}

/// Records sampled tool calls.
#[derive(Clone)]
pub struct RecordLayer {
    recorder: Arc<Recorder>,
    metrics: Arc<Metrics>,
}

impl RecordLayer {
    /// Records into `recorder`, counting drops in `metrics`.
    pub fn new(recorder: Arc<Recorder>, metrics: Arc<Metrics>) -> Self {
        RecordLayer { recorder, metrics }
    }
}

impl<S> Layer<S> for RecordLayer {
    type Service = RecordService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RecordService {
            inner,
            recorder: self.recorder.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

/// Service produced by [`RecordLayer`].
#[derive(Clone)]
pub struct RecordService<S> {
    inner: S,
    recorder: Arc<Recorder>,
    metrics: Arc<Metrics>,
}

/// What of the result goes into the line: (is_error, status, structured, text, content kinds).
type ResultParts = (
    bool,
    Option<u16>,
    Option<Value>,
    Option<String>,
    Vec<&'static str>,
);

fn result_parts(result: &Result<McpResponse, GatewayError>) -> ResultParts {
    match result {
        Ok(McpResponse::ToolResult(Ok(r))) => {
            let is_error = r.is_error == Some(true);
            let content: Vec<&'static str> = r.content.iter().map(content_kind).collect();
            let text = match (&r.structured_content, r.content.first()) {
                (None, Some(rmcp::model::ContentBlock::Text(t)))
                    if !is_error && t.text.trim_start().starts_with(['{', '[']) =>
                {
                    Some(t.text.clone())
                }
                _ => None,
            };
            let structured = if is_error {
                None
            } else {
                r.structured_content.clone()
            };
            (is_error, None, structured, text, content)
        }
        Ok(other) => (
            true,
            other.tool_error().and_then(|e| e.status),
            None,
            None,
            Vec::new(),
        ),
        Err(_) => (true, None, None, None, Vec::new()),
    }
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
        if !self.recorder.sampled() {
            return Either::Left(self.inner.call(call));
        }
        let ts = chrono::Utc::now();
        let tool = name.clone();
        let arguments = Value::Object(arguments.clone());
        let correlation_id = call.ctx.correlation_id.clone();
        let subject = call.ctx.principal.clone();
        let transport = call.ctx.transport.as_str();
        let path = call.ctx.path.as_str();
        let recorder = self.recorder.clone();
        let metrics = self.metrics.clone();
        let started = Instant::now();
        let fut = self.inner.call(call);
        Either::Right(Box::pin(async move {
            let result = fut.await;
            let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
            let (is_error, status, structured, text, content) = result_parts(&result);
            let entry = Entry {
                ts,
                correlation_id,
                subject,
                transport,
                path,
                tool,
                arguments,
                outcome: outcome_label(&result),
                is_error,
                status,
                structured,
                text,
                content,
                latency_ms,
                attempts: crate::retry::layer::attempts(&result),
            };
            if !recorder.push(entry) {
                metrics.recording_discarded();
            }
            result
        }))
    }
}

#[cfg(test)]
mod tests;
