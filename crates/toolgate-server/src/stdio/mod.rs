//! MCP over stdin/stdout: nothing but protocol on stdout (logs go to stderr, set up by the
//! binary), exit when the client closes stdin.
//!
//! rmcp's stdio service spawns a task per request, talks to it over channels and serializes
//! rmcp's large message enums, which costs more than the rest of a gateway hop (see
//! BENCHMARKS.md). So, as the HTTP guard does, this module reads the input itself:
//!
//! - a `tools/call` or `tools/list` that qualifies (the rules of [`crate::protocol`], in the
//!   revision the [`lifecycle`] rmcp picked gives) runs straight through the pipeline, via
//!   the one request edge, in a task of its own, and is answered exactly as rmcp would;
//! - a `notifications/cancelled` naming such a call cancels it;
//! - every other line goes, untouched, to an rmcp service running over an in-memory pipe,
//!   so the rest of the protocol (`initialize`, `ping`, notifications, progress tokens,
//!   malformed input, ...) and its error behaviour stay rmcp's;
//! - one writer owns stdout ([`writer`]).
//!
//! A task per call and a writer task, rather than one loop that drives the calls and writes
//! their answers itself: the single loop measured slower (3.0k against 4.2k calls/s at
//! concurrency 1, 20k against 23.5k at 16, on 2 shared cores).
//!
//! Does not own: the protocol itself (rmcp) or what a call does (the pipeline).

mod framing;
mod lifecycle;
mod writer;

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use rmcp::ServiceExt as _;
use rmcp::model::ProtocolVersion;
use serde::Deserialize;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};
use tokio::sync::mpsc;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;
use toolgate_core::{ClientChannel, EdgePath, McpRequest, Transport};

use self::framing::{Frame, LineCodec, MAX_LINE_BYTES, trim_cr};
use self::lifecycle::Lifecycle;
use crate::gateway::{Arrival, Gateway};
use crate::protocol::channel::ModernChannel;
use crate::protocol::{self, Cancellations, Envelope, Revision, reply};
use crate::trace::{RequestEdge, RpcId};

/// Serves `gateway` on stdin/stdout until the client disconnects, with the fast path on.
pub async fn serve_stdio(gateway: Gateway) -> io::Result<()> {
    serve_stdio_with(gateway, true).await
}

/// Serves `gateway` on stdin/stdout until the client disconnects; `fast_path: false` leaves
/// every message to rmcp (same answers, more work).
pub async fn serve_stdio_with(gateway: Gateway, fast_path: bool) -> io::Result<()> {
    // Non-blocking pipe I/O when the client launched us with pipes (the usual case), instead
    // of a hand-off to tokio's blocking pool on every read and write.
    let (read, write) = rmcp::transport::stdio_pipes();
    serve_stdio_streams(gateway, read, write, fast_path).await
}

/// Buffer of the in-memory pipe between this loop and rmcp, each way.
const PIPE_BYTES: usize = 256 * 1024;
/// Answers waiting for the writer (back-pressure on calls when stdout is slow).
const OUT_QUEUE: usize = 1024;
/// How long answers may still come after stdin closed (rmcp's own drain time).
const DRAIN: Duration = Duration::from_secs(5);

/// Serves `gateway` over newline-delimited JSON-RPC read from `read` and written to `write`
/// (the stdio transport on any byte streams; tests use in-memory pipes).
pub async fn serve_stdio_streams<R, W>(
    gateway: Gateway,
    read: R,
    write: W,
    fast_path: bool,
) -> io::Result<()>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let gateway = gateway.with_transport(Transport::Stdio);
    if !fast_path {
        return run_rmcp(gateway, read, write).await;
    }
    let (rmcp_end, our_end) = tokio::io::duplex(PIPE_BYTES);
    let (from_rmcp, mut to_rmcp) = tokio::io::split(our_end);
    let (rmcp_read, rmcp_write) = tokio::io::split(rmcp_end);
    let mut rmcp = tokio::spawn(run_rmcp(gateway.clone(), rmcp_read, rmcp_write));

    let (out, out_rx) = mpsc::channel::<Vec<u8>>(OUT_QUEUE);
    let writer = tokio::spawn(writer::write_out(write, out_rx));
    let lifecycle = Arc::new(Mutex::new(Lifecycle::Fresh));
    tokio::spawn(writer::relay_rmcp_output(
        from_rmcp,
        out.clone(),
        lifecycle.clone(),
        PIPE_BYTES,
    ));

    let mut reader = Reader {
        gateway: gateway.clone(),
        supported: rmcp::ServerHandler::supported_protocol_versions(&gateway).into_owned(),
        lifecycle,
        calls: Arc::default(),
        scope: Arc::from("stdio"),
        out,
    };
    let mut lines = FramedRead::with_capacity(read, LineCodec::new(), 64 * 1024);
    let mut ended_early = None;
    loop {
        let frame = tokio::select! {
            biased;
            // rmcp stops on its own only when the client broke the protocol before
            // initializing (as before, the process then ends with rmcp's error).
            r = &mut rmcp => {
                ended_early = Some(r);
                break;
            }
            frame = lines.next() => frame,
        };
        let line = match frame {
            Some(Ok(Frame::Line(line))) => line,
            Some(Ok(Frame::Oversized)) => {
                tracing::error!(
                    max_line_length = MAX_LINE_BYTES,
                    "Incoming message exceeded the maximum line length, discarding it"
                );
                continue;
            }
            None => break,
            Some(Err(e)) => {
                tracing::error!("Error reading from stdin: {e}");
                break;
            }
        };
        let text = trim_cr(&line);
        if text.is_empty() {
            continue;
        }
        if reader.route(text) == Route::Rmcp {
            let written = async {
                to_rmcp.write_all(&line).await?;
                to_rmcp.write_all(b"\n").await
            };
            if written.await.is_err() {
                // rmcp is gone; its task says why.
                break;
            }
        }
    }

    // Stdin closed: close rmcp's input so it drains and ends; the writer ends once rmcp's
    // output is relayed and every fast-path call has answered.
    drop(reader);
    let _ = to_rmcp.shutdown().await;
    let result = match ended_early {
        Some(r) => r,
        None => rmcp.await,
    }
    .unwrap_or_else(|e| Err(io::Error::other(e)));
    if tokio::time::timeout(DRAIN, writer).await.is_err() {
        tracing::warn!("calls still in progress after stdin closed; exiting without their answers");
    }
    result
}

/// rmcp on `read`/`write`; `Ok` also when the client left before initializing.
async fn run_rmcp<R, W>(gateway: Gateway, read: R, write: W) -> io::Result<()>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let running = match gateway.serve((read, write)).await {
        Ok(running) => running,
        // The client went away before initializing (e.g. a probe, or stdin closed): nothing
        // was asked, so nothing failed.
        Err(rmcp::service::ServerInitializeError::ConnectionClosed(_)) => {
            tracing::info!("stdin closed before the client initialized; exiting");
            return Ok(());
        }
        Err(e) => return Err(io::Error::other(e)),
    };
    running.waiting().await.map_err(io::Error::other)?;
    Ok(())
}

/// Where a line went.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    /// Served on the fast path, or a cancellation of a fast-path call.
    Handled,
    /// To be handed to rmcp unchanged.
    Rmcp,
}

/// The input side of the loop: decides per line between the fast path and rmcp.
struct Reader {
    gateway: Gateway,
    supported: Vec<ProtocolVersion>,
    lifecycle: Arc<Mutex<Lifecycle>>,
    calls: Arc<Cancellations>,
    /// The registry scope of this connection's calls.
    scope: Arc<str>,
    out: mpsc::Sender<Vec<u8>>,
}

impl Reader {
    fn route(&mut self, text: &[u8]) -> Route {
        let mut lifecycle = self.lifecycle.lock().unwrap_or_else(|e| e.into_inner());
        if *lifecycle == Lifecycle::Fresh {
            if let Some(next) = Lifecycle::picked_by(text, &self.supported) {
                *lifecycle = next;
            }
            return Route::Rmcp;
        }
        let Some(env) = Envelope::parse(text) else {
            if method_of(text).as_deref() == Some("initialize") {
                *lifecycle = Lifecycle::Inline;
            }
            return Route::Rmcp;
        };
        match env.method() {
            // A second handshake may change what rmcp answers; leave sessions to it.
            "initialize" => {
                *lifecycle = Lifecycle::Inline;
                Route::Rmcp
            }
            "notifications/cancelled" => {
                drop(lifecycle);
                match env.cancelled_request() {
                    Some(id) if self.calls.cancel(&self.scope, id) => {
                        tracing::info!(id = %protocol::id_key(id), "cancelled");
                        Route::Handled
                    }
                    _ => Route::Rmcp,
                }
            }
            _ => {
                let Some(revision) = lifecycle.revision_for(&env) else {
                    return Route::Rmcp;
                };
                drop(lifecycle);
                let parent = if self.gateway.traced() {
                    env.trace_context()
                } else {
                    None
                };
                let Some(protocol::Qualified {
                    id,
                    request,
                    client,
                }) = protocol::qualify(env, revision)
                else {
                    return Route::Rmcp;
                };
                // A tool whose source talks back to the client needs a channel: the fast
                // path has one only for a 2026-07-28 request owed nothing but its answer.
                let channel = if self
                    .gateway
                    .needs_client_channel(&request, self.gateway.stdio_principal())
                {
                    match client.and_then(ModernChannel::stdio) {
                        Some(channel) => Some(Arc::new(channel) as Arc<dyn ClientChannel>),
                        None => return Route::Rmcp,
                    }
                } else {
                    None
                };
                self.spawn(id, request, revision, parent, channel);
                Route::Handled
            }
        }
    }

    /// Runs one fast-path call in a task of its own; its answer goes to the writer unless
    /// the client cancelled it (rmcp drops those answers too).
    /// `parent`: the trace context of the request's `_meta`, read when traces are on;
    /// `client`: the channel of a tool that talks back (`protocol::channel`).
    fn spawn(
        &mut self,
        id: Value,
        request: McpRequest,
        revision: Revision,
        parent: Option<toolgate_core::trace::SpanContext>,
        client: Option<Arc<dyn ClientChannel>>,
    ) {
        let cancel = CancellationToken::new();
        let registered = self.calls.register(self.scope.clone(), &id, cancel.clone());
        let gateway = self.gateway.clone();
        let out = self.out.clone();
        tokio::spawn(async move {
            let ctx =
                gateway.context_with_client(Arrival::Stdio, EdgePath::Fast, cancel.clone(), client);
            let edge = RequestEdge {
                meta_parent: parent.as_ref(),
                ..RequestEdge::new(RpcId::Json(&id))
            };
            let answer = reply::answer(&gateway, ctx, &id, request, revision, edge).await;
            drop(registered);
            if cancel.is_cancelled() {
                tracing::debug!(id = %protocol::id_key(&id), "dropping the answer to a cancelled request");
                return;
            }
            let _ = out.send(answer).await;
        });
    }
}

/// The `method` of a message whose other fields did not fit an [`Envelope`].
fn method_of(text: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct MethodOnly {
        method: Option<String>,
    }
    serde_json::from_slice::<MethodOnly>(text).ok()?.method
}
