//! 2026-07-28 clients and upstreams that need input during a call (MRTR, SEP-2322).
//!
//! A 2026-07-28 client takes no server requests: a server that needs input answers the call
//! with `{resultType: "input_required", inputRequests: {key: request}, requestState}` and the
//! client retries (new JSON-RPC id, same params) with `inputResponses` and the exact
//! `requestState`; this holds for `tools/call`, `prompts/get` and `resources/read`, which
//! the gateway forwards through [`Parking::call`] for such clients. Two kinds of upstream
//! meet them:
//!
//! - **A 2025-11-25 upstream** sends `sampling/createMessage`, `elicitation/create` or
//!   `roots/list` during the call. The upstream call runs in a task of its own with a
//!   [`RelayChannel`] as its client, which hands each server request to the call's driver
//!   ([`Parking::call`]). The driver answers the client's call with `input_required` holding
//!   the request under a key and a sealed `requestState` (`state.rs`: HMAC-SHA256, bound to
//!   the principal, the upstream and tool, an expiry, and the handle of the parked call), and
//!   parks the call (the upstream's request still pending) in a bounded table. The retry is
//!   verified, `inputResponses[key]` becomes the upstream's answer, and the driver waits
//!   again: for the next server request (another round) or the final result. A parked call
//!   that is not resumed within [`TTL`] is dropped: the upstream's request gets an error and
//!   the call is cancelled (`notifications/cancelled`).
//! - **A 2026-07-28 upstream** answers `input_required` itself: passed through with its
//!   `requestState` wrapped inside the gateway's sealed one (so a retry can only come back to
//!   the same upstream, tool and principal), and the retry's `inputResponses` forwarded as
//!   they are, with the upstream's state unwrapped ([`Parking::call`] too).
//!
//! Clients that take server requests (2025-11-25, stdio) are not served here: a 2026-07-28
//! upstream's `input_required` is answered for them by the bridge (`bridge.rs`), which asks
//! them the real server requests.
//!
//! Parked calls live in this process only (the key is per process too): retries must reach
//! the same gateway instance; a state from elsewhere is refused with an error saying so. The
//! retry's arguments are not compared with the first request's: a parked call keeps those it
//! was started with. Does not own: sending requests (`upstream/calls.rs`) or routing what the
//! server sends (`client.rs`, `routing.rs`).

// Sampling and roots are deprecated by SEP-2577 (2026-07-28) but part of 2025-11-25.
#![allow(deprecated)]

pub(crate) mod bridge;
mod relay;
pub(crate) mod state;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use futures::future::BoxFuture;
use rmcp::ErrorData;
use rmcp::model::{
    ClientResult, CreateMessageResult, ElicitResult, InputRequest, InputRequests,
    InputRequiredResult, InputResponses, ListRootsResult, ServerRequest, ServerResult,
};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::{CancellationToken, DropGuard};
use toolgate_core::{
    CallContext, ClientChannel, Delivery, ErrorOrigin, InputRetry, ToolError, ToolErrorKind,
};

use relay::{Ask, RelayChannel};
use state::{Claims, Sealer, now_ms};

/// How long a parked call waits for the client's retry.
pub(crate) const TTL: Duration = Duration::from_secs(60);
/// Calls one principal may have parked on one upstream at a time.
pub(crate) const MAX_PER_PRINCIPAL: usize = 16;
/// Calls parked on one upstream at a time, all principals together.
pub(crate) const MAX_PARKED: usize = 1024;

/// Sends the upstream request (`tools/call`, `prompts/get`, `resources/read`) with the given
/// context (its client is the relay) and, on the retry of a 2026-07-28 upstream's
/// `input_required`, what to send it back.
pub(crate) type Start = Box<
    dyn FnOnce(CallContext, InputRetry) -> BoxFuture<'static, Result<ServerResult, ToolError>>
        + Send,
>;

/// What a verified retry continues.
enum Resumed {
    /// The parked call, its server request answered.
    Parked(Flight),
    /// A 2026-07-28 upstream's own round: its state, to send back with the answers.
    Upstream(Option<String>),
}

/// An upstream call running in its own task, relayed to the client.
struct Flight {
    channel: Arc<RelayChannel>,
    asks: mpsc::Receiver<Ask>,
    done: oneshot::Receiver<Result<ServerResult, ToolError>>,
    /// Cancels the upstream call when the flight is dropped (expired, refused, abandoned).
    _cancel: DropGuard,
}

/// What a parked call waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AskKind {
    Sampling,
    Elicitation,
    Roots,
}

impl AskKind {
    fn key(self) -> &'static str {
        match self {
            AskKind::Sampling => "sampling",
            AskKind::Elicitation => "elicitation",
            AskKind::Roots => "roots",
        }
    }

    /// The client's answer as the result the upstream waits for.
    fn answer(self, value: &serde_json::Value) -> Result<ClientResult, String> {
        let value = value.clone();
        let r = match self {
            AskKind::Sampling => serde_json::from_value::<CreateMessageResult>(value)
                .map(|r| ClientResult::CreateMessageResult(Box::new(r))),
            AskKind::Elicitation => {
                serde_json::from_value::<ElicitResult>(value).map(ClientResult::ElicitResult)
            }
            AskKind::Roots => {
                serde_json::from_value::<ListRootsResult>(value).map(ClientResult::ListRootsResult)
            }
        };
        r.map_err(|e| e.to_string())
    }
}

/// Who and what a state is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Binding {
    principal: String,
    tool: String,
}

impl Binding {
    fn of(ctx: &CallContext, upstream: &str, tool: &str) -> Binding {
        Binding {
            principal: match &ctx.principal {
                Some(p) => format!("subject:{}", p.subject),
                None => "anonymous".to_owned(),
            },
            tool: format!("{upstream}/{tool}"),
        }
    }
}

/// A call waiting for the client's retry.
struct Parked {
    binding: Binding,
    kind: AskKind,
    reply: oneshot::Sender<Result<ClientResult, ErrorData>>,
    flight: Flight,
}

/// The calls of one upstream waiting for input (see the module docs).
pub(crate) struct Parking {
    upstream: Arc<str>,
    sealer: Result<Arc<Sealer>, String>,
    ttl: Duration,
    per_principal: usize,
    overall: usize,
    table: Mutex<HashMap<u64, Parked>>,
}

/// Handles of parked calls, unique in the process (one key seals the states of every
/// upstream, including those a reload replaced, so a handle is never reused).
static NEXT_HANDLE: AtomicU64 = AtomicU64::new(1);

/// A `-32602` error about the retry's `requestState` or `inputResponses`.
fn invalid(message: String, reason: &str) -> ToolError {
    ToolError::upstream_rpc(
        message.clone(),
        ErrorData::invalid_params(message, Some(json!({ "reason": reason }))),
    )
    .with_origin(ErrorOrigin::Gateway)
    .with_delivery(Delivery::NotSent)
}

impl Parking {
    /// The table of upstream `upstream`, with the process's key and the documented limits.
    pub(crate) fn new(upstream: Arc<str>) -> Self {
        Self::with(
            upstream,
            Sealer::process(),
            TTL,
            MAX_PER_PRINCIPAL,
            MAX_PARKED,
        )
    }

    fn with(
        upstream: Arc<str>,
        sealer: Result<Arc<Sealer>, String>,
        ttl: Duration,
        per_principal: usize,
        overall: usize,
    ) -> Self {
        Parking {
            upstream,
            sealer,
            ttl,
            per_principal,
            overall,
            table: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Parked>> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many calls wait for input.
    #[cfg(test)]
    fn parked(&self) -> usize {
        self.lock().len()
    }

    /// Whether calls of `ctx` take the MRTR path: its client speaks 2026-07-28.
    pub(crate) fn applies(ctx: &CallContext) -> bool {
        ctx.client.as_ref().is_some_and(|c| !c.accepts_requests())
    }

    fn sealer(&self) -> Result<&Sealer, ToolError> {
        self.sealer.as_deref().map_err(|e| {
            ToolError::new(
                ToolErrorKind::Internal,
                format!("the gateway cannot protect requestState: {e}"),
            )
        })
    }

    /// A request for `tool` (the server's tool name, or `prompt <name>`, `resource <uri>`)
    /// from a 2026-07-28 client: a first attempt (`start` sends it upstream) or a retry with
    /// `inputResponses` and `requestState`. An `input_required` answer for the client is
    /// `Err` of kind `InputRequired`.
    pub(crate) async fn call(
        self: &Arc<Self>,
        ctx: &CallContext,
        tool: &str,
        start: Start,
    ) -> Result<ServerResult, ToolError> {
        self.call_with(ctx, tool, start, true).await
    }

    /// [`Parking::call`] to an upstream that speaks 2026-07-28 itself: it sends no server
    /// requests (it answers `input_required`), so there is nothing to relay and the call runs
    /// inline, on the caller's task with its client, instead of in a task of its own. Its
    /// `input_required` is wrapped and a retry unwrapped as in [`Parking::call`]; a state of
    /// a call parked before (the upstream spoke 2025-11-25 then) still resumes it.
    pub(crate) async fn call_stateless(
        self: &Arc<Self>,
        ctx: &CallContext,
        tool: &str,
        start: Start,
    ) -> Result<ServerResult, ToolError> {
        self.call_with(ctx, tool, start, false).await
    }

    async fn call_with(
        self: &Arc<Self>,
        ctx: &CallContext,
        tool: &str,
        start: Start,
        relay: bool,
    ) -> Result<ServerResult, ToolError> {
        let Some(client) = ctx.client.clone() else {
            return start(ctx.clone(), InputRetry::default()).await;
        };
        // Made only when needed (a retry, input asked for): most calls need none.
        let binding = || Binding::of(ctx, &self.upstream, tool);
        let retry = client.input_retry().cloned().unwrap_or_default();
        let forward = match retry.request_state.as_deref() {
            Some(state) => match self.resume(ctx, &binding(), state, &retry)? {
                Resumed::Parked(flight) => Err(flight),
                Resumed::Upstream(upstream_state) => Ok(InputRetry {
                    input_responses: retry.input_responses.clone(),
                    request_state: upstream_state,
                }),
            },
            None => Ok(InputRetry::default()),
        };
        let result = match forward {
            Err(flight) => self.drive(ctx, tool, flight).await,
            Ok(forward) if relay => {
                let flight = self.launch(ctx, client, start, forward);
                self.drive(ctx, tool, flight).await
            }
            Ok(forward) => tokio::select! {
                r = start(ctx.clone(), forward) => r,
                () = ctx.cancel.cancelled() => Err(self.cancelled()),
            },
        };
        match result {
            Ok(ServerResult::InputRequiredResult(r)) => Err(self.wrap(&binding(), r)),
            other => other,
        }
    }

    fn cancelled(&self) -> ToolError {
        ToolError::new(
            ToolErrorKind::Cancelled,
            format!(
                "the call to upstream `{}` was cancelled by the client",
                self.upstream
            ),
        )
    }

    /// A 2026-07-28 upstream's `input_required` for the client: its `requestState` sealed
    /// inside the gateway's, its `inputRequests` as they are.
    fn wrap(&self, binding: &Binding, mut result: InputRequiredResult) -> ToolError {
        let sealer = match self.sealer() {
            Ok(s) => s,
            Err(e) => return e,
        };
        let claims = Claims {
            instance: String::new(),
            handle: None,
            expires_ms: now_ms().saturating_add(self.ttl.as_millis() as u64),
            principal: binding.principal.clone(),
            tool: binding.tool.clone(),
            key: String::new(),
            upstream_state: result.request_state.take(),
        };
        result.request_state = Some(sealer.seal(&claims));
        ToolError::input_required(
            format!("upstream `{}` needs input from the client", self.upstream),
            result,
        )
    }

    /// Starts the upstream call in its own task, with a relay as its client.
    fn launch(
        &self,
        ctx: &CallContext,
        client: Arc<dyn ClientChannel>,
        start: Start,
        forward: InputRetry,
    ) -> Flight {
        let (tx, asks) = mpsc::channel(1);
        let channel = Arc::new(RelayChannel {
            session: client.session_key().clone(),
            capabilities: client.capabilities().cloned(),
            version: client.protocol_version().cloned(),
            progress_token: client.progress_token().cloned(),
            current: Mutex::new(client),
            asks: tx,
        });
        let cancel = CancellationToken::new();
        let mut upstream_ctx = ctx.clone();
        upstream_ctx.client = Some(channel.clone());
        upstream_ctx.cancel = cancel.clone();
        upstream_ctx.deadline = None;
        let (done_tx, done) = oneshot::channel();
        let call = start(upstream_ctx, forward);
        tokio::spawn(async move {
            let _ = done_tx.send(call.await);
        });
        Flight {
            channel,
            asks,
            done,
            _cancel: cancel.drop_guard(),
        }
    }

    /// Waits for the call's next step: its result, or a request for input (parked, bound to
    /// `tool`).
    async fn drive(
        self: &Arc<Self>,
        ctx: &CallContext,
        tool: &str,
        mut flight: Flight,
    ) -> Result<ServerResult, ToolError> {
        enum Next {
            Done(Result<ServerResult, ToolError>),
            Ask(Ask),
            Cancelled,
        }
        // In this order (no random start): the answer first, should the client cancel meanwhile.
        let next = tokio::select! {
            biased;
            r = &mut flight.done => Next::Done(r.unwrap_or_else(|_| Err(ToolError::new(
                ToolErrorKind::Internal,
                format!("the call to upstream `{}` ended without an answer", self.upstream),
            )))),
            Some(ask) = flight.asks.recv() => Next::Ask(ask),
            () = ctx.cancel.cancelled() => Next::Cancelled,
        };
        match next {
            Next::Done(r) => r,
            Next::Ask(ask) => self.park(Binding::of(ctx, &self.upstream, tool), flight, ask),
            Next::Cancelled => Err(self.cancelled()),
        }
    }

    /// Parks the call on the server request `ask` and gives the client its `input_required`.
    fn park(
        self: &Arc<Self>,
        binding: Binding,
        flight: Flight,
        ask: Ask,
    ) -> Result<ServerResult, ToolError> {
        let name = &self.upstream;
        let Ask { request, reply } = ask;
        let (kind, input) = match request {
            ServerRequest::CreateMessageRequest(r) => {
                (AskKind::Sampling, InputRequest::CreateMessage(r))
            }
            ServerRequest::ElicitRequest(r) => (AskKind::Elicitation, InputRequest::Elicitation(r)),
            ServerRequest::ListRootsRequest(r) => (AskKind::Roots, InputRequest::ListRoots(r)),
            _ => {
                let _ = reply.send(Err(ErrorData::new(
                    rmcp::model::ErrorCode::METHOD_NOT_FOUND,
                    "only sampling, elicitation and roots reach a 2026-07-28 client",
                    None,
                )));
                return Err(ToolError::new(
                    ToolErrorKind::Protocol,
                    format!("upstream `{name}` sent a request a 2026-07-28 client cannot take"),
                ));
            }
        };
        let sealer = match self.sealer() {
            Ok(s) => s,
            Err(e) => {
                let _ = reply.send(Err(ErrorData::internal_error(e.message.clone(), None)));
                return Err(e);
            }
        };
        let handle = NEXT_HANDLE.fetch_add(1, Ordering::Relaxed);
        let claims = Claims {
            instance: String::new(),
            handle: Some(handle),
            expires_ms: now_ms().saturating_add(self.ttl.as_millis() as u64),
            principal: binding.principal.clone(),
            tool: binding.tool.clone(),
            key: kind.key().to_owned(),
            upstream_state: None,
        };
        let refused = {
            let mut table = self.lock();
            let mine = table
                .values()
                .filter(|p| p.binding.principal == binding.principal)
                .count();
            if mine >= self.per_principal || table.len() >= self.overall {
                Some((reply, flight, mine))
            } else {
                table.insert(
                    handle,
                    Parked {
                        binding,
                        kind,
                        reply,
                        flight,
                    },
                );
                None
            }
        };
        if let Some((reply, flight, mine)) = refused {
            let why = format!(
                "{mine} calls of this client already wait for input on upstream `{name}` (at most {} per client, {} in all)",
                self.per_principal, self.overall
            );
            let _ = reply.send(Err(ErrorData::internal_error(
                format!("the client cannot be asked now: {why}"),
                None,
            )));
            drop(flight);
            return Err(ToolError::new(
                ToolErrorKind::Overloaded,
                format!(
                    "upstream `{name}` asked for {} during the call, but {why}; answer or abandon those first, then call again",
                    kind.key()
                ),
            ));
        }
        // The call is dropped (its request refused, the upstream call cancelled) if no retry
        // takes it in time.
        let parking: Weak<Parking> = Arc::downgrade(self);
        let ttl = self.ttl;
        tokio::spawn(async move {
            tokio::time::sleep(ttl).await;
            let expired = parking.upgrade().and_then(|p| p.lock().remove(&handle));
            if let Some(expired) = expired {
                tracing::info!(
                    upstream = %expired.binding.tool,
                    "a call waiting for the client's input expired; the upstream call is cancelled"
                );
            }
        });
        let mut requests = InputRequests::new();
        requests.insert(kind.key().to_owned(), input);
        Err(ToolError::input_required(
            format!("upstream `{name}` needs {} from the client", kind.key()),
            InputRequiredResult::new(Some(requests), Some(sealer.seal(&claims))),
        ))
    }

    /// Verifies a retry and hands its answer to the parked call; the call's flight.
    fn resume(
        &self,
        ctx: &CallContext,
        binding: &Binding,
        state: &str,
        retry: &InputRetry,
    ) -> Result<Resumed, ToolError> {
        let claims = self
            .sealer()?
            .open(state)
            .map_err(|e| invalid(e.to_string(), "state_invalid"))?;
        if now_ms() >= claims.expires_ms {
            return Err(invalid(
                format!(
                    "requestState expired ({} s after it was issued): the call that waited for this input was dropped; call the tool again without requestState",
                    self.ttl.as_secs()
                ),
                "state_expired",
            ));
        }
        if claims.principal != binding.principal {
            return Err(invalid(
                "requestState was issued to another principal: only the caller that received it may answer it".to_owned(),
                "state_principal",
            ));
        }
        if claims.tool != binding.tool {
            return Err(invalid(
                format!(
                    "requestState was issued for `{}`, not `{}`: retry the same tool with the same params",
                    claims.tool, binding.tool
                ),
                "state_tool",
            ));
        }
        let Some(handle) = claims.handle else {
            return Ok(Resumed::Upstream(claims.upstream_state));
        };
        let mut table = self.lock();
        let Some(parked) = table.remove(&handle) else {
            return Err(invalid(
                "no call waits under this requestState: it was answered already, or expired, or the gateway restarted; call the tool again without requestState".to_owned(),
                "state_unknown",
            ));
        };
        let key = parked.kind.key();
        let value = retry.input_responses.as_ref().and_then(|r| r.get(key));
        let answer = match value.map(|v| parked.kind.answer(v)) {
            Some(Ok(answer)) => answer,
            problem => {
                let message = match problem {
                    Some(Err(e)) => format!(
                        "inputResponses.{key} is not a valid answer to the {key} request: {e}"
                    ),
                    _ => format!(
                        "inputResponses has no `{key}`: answer the request the input_required result holds under that key (have: {})",
                        keys(retry.input_responses.as_ref())
                    ),
                };
                // The call keeps waiting for a correct retry.
                table.insert(handle, parked);
                return Err(invalid(message, "input_response"));
            }
        };
        drop(table);
        if let Some(client) = ctx.client.clone() {
            parked.flight.channel.serve(client);
        }
        let _ = parked.reply.send(Ok(answer));
        Ok(Resumed::Parked(parked.flight))
    }
}

fn keys(responses: Option<&InputResponses>) -> String {
    match responses {
        Some(r) if !r.is_empty() => r.keys().cloned().collect::<Vec<_>>().join(", "),
        _ => "none".to_owned(),
    }
}
