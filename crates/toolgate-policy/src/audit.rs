//! The audit log: one JSON line per call recording who called what, when, the authorization
//! decision and the outcome, to a file or stderr.
//!
//! A line: `{"ts", "subject", "auth_method", "transport", "mcp_method", "target", "decision",
//! "reason", "rule", "outcome", "correlation_id", "latency_ms"}`. It never holds a token,
//! arguments or results: only the principal's subject and how it authenticated.
//!
//! Lines are handed to a writer thread through a bounded queue, so a slow disk never blocks
//! a call; when the queue is full a line is dropped and counted (and the drop is logged).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::task::{Context, Poll};
use std::time::Instant;

use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use toolgate_core::{Decision, GatewayError, McpCall, McpRequest, McpResponse};
use tower::{Layer, Service};

use crate::outcome::outcome_label;

/// Lines waiting for the writer thread at most.
const QUEUE: usize = 8192;

/// How long dropping the log waits for queued lines to be written (a stuck output must not
/// hang shutdown).
pub const FINAL_FLUSH: std::time::Duration = std::time::Duration::from_secs(2);

/// The `audit:` section: an optional JSON-lines audit log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Write the audit log (default `false`).
    pub enabled: bool,
    /// Where: `stderr` (the default) or a file path (appended to; created if missing).
    pub file: Option<String>,
}

/// Where audit lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditTarget {
    /// The process's stderr.
    Stderr,
    /// A file, appended to.
    File(PathBuf),
}

impl AuditConfig {
    /// Where the lines go, if the log is enabled.
    pub fn target(&self) -> Option<AuditTarget> {
        if !self.enabled {
            return None;
        }
        Some(match self.file.as_deref() {
            None | Some("stderr") => AuditTarget::Stderr,
            Some(path) => AuditTarget::File(PathBuf::from(path)),
        })
    }
}

/// One audit record.
#[derive(Debug, Serialize)]
struct Line<'a> {
    ts: String,
    subject: Option<&'a str>,
    auth_method: Option<&'static str>,
    transport: &'static str,
    mcp_method: &'static str,
    target: Option<&'a str>,
    decision: Option<&'static str>,
    reason: Option<&'static str>,
    rule: Option<&'a str>,
    outcome: &'static str,
    correlation_id: &'a str,
    latency_ms: f64,
}

/// What the writer thread is sent.
enum Message {
    /// A line to write.
    Line(Vec<u8>),
    /// Answer once everything before it is written and flushed.
    Sync(SyncSender<()>),
}

/// The audit log's sink: a queue to the writer thread.
pub struct AuditLog {
    queue: SyncSender<Message>,
    dropped: AtomicU64,
}

impl AuditLog {
    /// Opens `target` and starts its writer thread.
    pub fn open(target: &AuditTarget) -> std::io::Result<Arc<AuditLog>> {
        let out: Box<dyn Write + Send> = match target {
            AuditTarget::Stderr => Box::new(std::io::stderr()),
            AuditTarget::File(path) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| {
                        std::io::Error::new(
                            e.kind(),
                            format!("cannot open audit log {}: {e}", path.display()),
                        )
                    })?,
            ),
        };
        let (queue, lines) = sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("toolgate-audit".to_owned())
            .spawn(move || write_lines(lines, out))?;
        Ok(Arc::new(AuditLog {
            queue,
            dropped: AtomicU64::new(0),
        }))
    }

    /// Waits until every line pushed before is written and flushed (shutdown, tests).
    pub fn sync(&self) {
        let (done, wait) = sync_channel(1);
        if self.queue.send(Message::Sync(done)).is_ok() {
            let _ = wait.recv();
        }
    }

    /// Lines dropped because the writer could not keep up.
    ///
    /// (When the log itself is dropped, at shutdown, it waits up to [`FINAL_FLUSH`] for the
    /// lines still queued to be written.)
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn push(&self, line: &Line<'_>) {
        let Ok(mut bytes) = serde_json::to_vec(line) else {
            return;
        };
        bytes.push(b'\n');
        match self.queue.try_send(Message::Line(bytes)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                if self.dropped.fetch_add(1, Ordering::Relaxed) == 0 {
                    tracing::warn!("audit log writer cannot keep up: dropping audit lines");
                }
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        let (done, wait) = sync_channel(1);
        if self.queue.try_send(Message::Sync(done)).is_ok() {
            let _ = wait.recv_timeout(FINAL_FLUSH);
        }
    }
}

/// The writer thread: writes lines as they come, flushing whenever the queue is empty.
fn write_lines(messages: Receiver<Message>, out: Box<dyn Write + Send>) {
    let mut out = std::io::BufWriter::new(out);
    let mut waiting = Vec::new();
    while let Ok(first) = messages.recv() {
        let mut ok = true;
        for message in std::iter::once(first).chain(std::iter::from_fn(|| messages.try_recv().ok()))
        {
            match message {
                Message::Line(line) => ok &= out.write_all(&line).is_ok(),
                Message::Sync(done) => waiting.push(done),
            }
        }
        ok &= out.flush().is_ok();
        if !ok {
            tracing::error!("cannot write the audit log");
        }
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
}

/// Writes an audit line for every call.
#[derive(Clone)]
pub struct AuditLayer {
    log: Arc<AuditLog>,
}

impl AuditLayer {
    /// Audits into `log`.
    pub fn new(log: Arc<AuditLog>) -> Self {
        AuditLayer { log }
    }
}

impl<S> Layer<S> for AuditLayer {
    type Service = AuditService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AuditService {
            inner,
            log: self.log.clone(),
        }
    }
}

/// Service produced by [`AuditLayer`].
#[derive(Clone)]
pub struct AuditService<S> {
    inner: S,
    log: Arc<AuditLog>,
}

/// What the call addresses, as the client named it.
fn target_of(request: &McpRequest) -> Option<String> {
    match request {
        McpRequest::CallTool { name, .. } | McpRequest::GetPrompt { name, .. } => {
            Some(name.clone())
        }
        McpRequest::ReadResource { uri } | McpRequest::Subscribe { uri, .. } => Some(uri.clone()),
        McpRequest::Complete { reference, .. } => match reference {
            rmcp::model::Reference::Prompt(p) => Some(p.name.clone()),
            rmcp::model::Reference::Resource(r) => Some(r.uri.clone()),
            _ => None,
        },
        McpRequest::ListTools { .. }
        | McpRequest::ListResources { .. }
        | McpRequest::ListResourceTemplates { .. }
        | McpRequest::ListPrompts { .. }
        | McpRequest::SetLogLevel { .. } => None,
    }
}

impl<S> Service<McpCall> for AuditService<S>
where
    S: Service<McpCall, Response = McpResponse, Error = GatewayError>,
    S::Future: Send + 'static,
{
    type Response = McpResponse;
    type Error = GatewayError;
    type Future = BoxFuture<'static, Result<McpResponse, GatewayError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut call: McpCall) -> Self::Future {
        let slot = call.decision.get_or_insert_with(Default::default).clone();
        let principal = call.ctx.principal.clone();
        let transport = call.ctx.transport.as_str();
        let correlation_id = call.ctx.correlation_id.clone();
        let mcp_method = call.request.method();
        let target = target_of(&call.request);
        let log = self.log.clone();
        let started = Instant::now();
        let fut = self.inner.call(call);
        Box::pin(async move {
            let result = fut.await;
            let decision: Option<&Decision> = slot.get();
            log.push(&Line {
                ts: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                subject: principal.as_ref().map(|p| p.subject.as_str()),
                auth_method: principal.as_ref().map(|p| p.method.as_str()),
                transport,
                mcp_method,
                target: target.as_deref(),
                decision: decision.map(|d| if d.allowed { "allowed" } else { "denied" }),
                reason: decision.map(|d| d.reason),
                rule: decision.and_then(|d| d.rule.as_deref()),
                outcome: outcome_label(&result),
                correlation_id: correlation_id.as_str(),
                latency_ms: started.elapsed().as_secs_f64() * 1000.0,
            });
            result
        })
    }
}
