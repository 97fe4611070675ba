//! The door every request to an upstream goes through ([`Inner::request`]): the connection
//! for the caller (the shared one, or the caller's own under `session: per_client`), the
//! lean path of a 2026-07-28 HTTP upstream's `tools/call` (`lean/`), the call timeout reset
//! by progress, the client's cancellation forwarded as
//! `notifications/cancelled`, every failure turned into a [`ToolError`] that names the
//! server, and the log level asked of the server.
//!
//! Does not own: the upstream's life (start, discovery, restarts: the parent module) or
//! routing what the server sends back (`routing.rs`, `ordered.rs`).

// Logging is deprecated by SEP-2577 (2026-07-28) but remains part of 2025-11-25.
#![allow(deprecated)]

use std::sync::{Arc, PoisonError};
use std::time::Duration;

use rmcp::model::{
    CancelledNotificationParam, ClientRequest, GetExtensions as _, LoggingLevel, RequestMetaObject,
    ServerResult, SetLevelRequest, SetLevelRequestParams,
};
use rmcp::service::{PeerRequestOptions, ServiceError};
use toolgate_core::{CallContext, ToolError, ToolErrorKind};

use super::lean::Lean;
use super::{Inner, Phase};
use crate::config::SessionModel;
use crate::connect::Connection;
use crate::declared::Declared;
use crate::routing::{Route, RouteMarker};
use tokio::time::Instant;

impl Inner {
    fn unavailable(&self) -> ToolError {
        let s = self.status.lock().unwrap_or_else(PoisonError::into_inner);
        let mut message = format!(
            "upstream MCP server `{}` is {}",
            self.name,
            s.phase.as_str()
        );
        if let Some(e) = &s.last_error {
            message.push_str(&format!(" ({e})"));
        }
        if let Some(wait) = s.retry_in {
            message.push_str(&format!(
                "; next start attempt in {} s",
                wait.as_secs().max(1)
            ));
        }
        ToolError::new(ToolErrorKind::Unavailable, message)
    }

    /// The shared session, starting a lazy server if needed.
    async fn shared_connection(&self) -> Result<Arc<Connection>, ToolError> {
        if let Some(c) = self.shared.load_full()
            && !c.is_ended()
        {
            return Ok(c);
        }
        let mut phase = self.phase.subscribe();
        if *phase.borrow() == Phase::Idle {
            self.wake.notify_one();
        }
        if matches!(*phase.borrow(), Phase::Idle | Phase::Starting) {
            let wait = Duration::from_millis(self.config.timeouts.connect_ms);
            let _ = tokio::time::timeout(
                wait,
                phase.wait_for(|p| matches!(p, Phase::Ready | Phase::Down | Phase::Stopped)),
            )
            .await;
        }
        match self.shared.load_full() {
            Some(c) if !c.is_ended() => Ok(c),
            _ => Err(self.unavailable()),
        }
    }

    /// Whether a call of `ctx` goes to a session that speaks 2026-07-28 or later (so sends
    /// no server requests), as far as the shared session says now; a per-client session is
    /// not looked up here (`false`: the relay serves either kind). Should the shared session
    /// be replaced by a 2025-11-25 one meanwhile, a server request of that call reaches the
    /// client, which declines it (a 2026-07-28 client takes none), and the call fails.
    pub(crate) fn stateless(&self, ctx: &CallContext) -> bool {
        if matches!(self.config.session, SessionModel::PerClient) && ctx.client.is_some() {
            return false;
        }
        self.shared.load().as_ref().is_some_and(|c| c.stateless)
    }

    /// The session of the caller of `ctx`.
    async fn connection(self: &Arc<Self>, ctx: &CallContext) -> Result<Arc<Connection>, ToolError> {
        let (SessionModel::PerClient, Some(client)) = (self.config.session, &ctx.client) else {
            return self.shared_connection().await;
        };
        let key = client.session_key().clone();
        let mut pool = self.pool.lock().await;
        pool.sessions.retain(|_, (c, _)| !c.is_ended());
        if let Some((conn, used)) = pool.sessions.get_mut(&key) {
            *used = Instant::now();
            conn.routes.set_owner(client.clone());
            return Ok(conn.clone());
        }
        if pool.sessions.len() >= self.config.max_client_sessions.max(1) {
            let idle = pool
                .sessions
                .iter()
                .filter(|(_, (c, _))| !c.routes.busy())
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone());
            match idle.and_then(|k| pool.sessions.remove(&k)) {
                Some((old, _)) => {
                    tokio::spawn(async move { old.stop().await });
                }
                None => {
                    return Err(ToolError::new(
                        ToolErrorKind::Overloaded,
                        format!(
                            "upstream `{}`: all {} client sessions are busy (max_client_sessions); retry shortly",
                            self.name, self.config.max_client_sessions
                        ),
                    ));
                }
            }
        }
        let capabilities = client.capabilities().cloned().unwrap_or_default();
        // Boxed: connecting is a large future, kept out of every call's.
        let conn = Box::pin(self.connect(capabilities)).await.map_err(|e| {
            ToolError::new(
                ToolErrorKind::Unavailable,
                format!(
                    "upstream `{}`: cannot open a session for this client: {e}",
                    self.name
                ),
            )
        })?;
        self.apply_log_level(&conn).await;
        conn.routes.set_owner(client.clone());
        pool.sessions.insert(key, (conn.clone(), Instant::now()));
        Ok(conn)
    }

    /// Sends `request` for the caller of `ctx` and waits for the answer (see the module
    /// docs); `method` labels metrics and messages.
    pub(crate) async fn request(
        self: &Arc<Self>,
        ctx: &CallContext,
        method: &'static str,
        mut request: ClientRequest,
    ) -> Result<ServerResult, ToolError> {
        let mut span = ctx
            .trace
            .as_ref()
            .map(|t| self.client_span(t, method, &mut request));
        let result = self.request_inner(ctx, request).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.kind.as_str(),
        };
        if let Some(span) = &mut span {
            match &result {
                Ok(ServerResult::CallToolResult(r)) if r.is_error == Some(true) => {
                    span.fail("tool_error")
                }
                Ok(_) => {}
                Err(e) => span.fail(e.kind.as_str()),
            }
        }
        self.metrics.request(&self.name, method, outcome);
        result
    }

    /// Starts the client span of one request to the server (OpenTelemetry's MCP convention:
    /// `{mcp.method.name} {target}`) and puts its trace context into the request's `_meta`
    /// (SEP-414), which the server continues over any transport.
    fn client_span(
        &self,
        trace: &toolgate_core::trace::CallTrace,
        method: &'static str,
        request: &mut ClientRequest,
    ) -> toolgate_core::trace::ClientSpan {
        use rmcp::model::GetMeta as _;
        use toolgate_core::trace::Attribute;
        let mut attributes = vec![
            Attribute::new("mcp.method.name", method),
            Attribute::new("toolgate.source", self.name.to_string()),
        ];
        let mut name = method.to_owned();
        if let ClientRequest::CallToolRequest(r) = &*request {
            attributes.push(Attribute::new(
                "gen_ai.tool.name",
                r.params.name.to_string(),
            ));
            name = format!("{method} {}", r.params.name);
        }
        match &self.config.transport {
            crate::config::Transport::Stdio { .. } => {
                attributes.push(Attribute::new("network.transport", "pipe"));
            }
            crate::config::Transport::Http { url, .. } => {
                attributes.push(Attribute::new("network.transport", "tcp"));
                if let Ok(url) = url::Url::parse(url) {
                    if let Some(host) = url.host_str() {
                        attributes.push(Attribute::new("server.address", host.to_owned()));
                    }
                    if let Some(port) = url.port_or_known_default() {
                        attributes.push(Attribute::new("server.port", i64::from(port)));
                    }
                }
            }
        }
        let span = trace.client(name, attributes);
        let meta = &mut request.get_meta_mut().0;
        meta.set_traceparent(span.traceparent());
        if let Some(state) = span.tracestate() {
            meta.set_tracestate(state);
        }
        span
    }

    async fn request_inner(
        self: &Arc<Self>,
        ctx: &CallContext,
        request: ClientRequest,
    ) -> Result<ServerResult, ToolError> {
        let conn = self.connection(ctx).await?;
        // A 2026-07-28 HTTP upstream's `tools/call` owed nothing but its answer: one POST
        // from this task (`lean/`).
        if let Some(lean) = &conn.lean
            && Lean::eligible(ctx, &request)
        {
            let timeout = Duration::from_millis(self.config.timeouts.call_ms);
            // Small: the call boxes its exchange.
            return lean.call(ctx, &self.name, request, timeout).await;
        }
        // Boxed too (rmcp's request futures are large), so that this future stays small for
        // the lean path.
        Box::pin(self.session_request(ctx, &conn, request)).await
    }

    /// `request` on the rmcp session `conn`, routed back to the caller of `ctx`.
    async fn session_request(
        self: &Arc<Self>,
        ctx: &CallContext,
        conn: &Arc<Connection>,
        mut request: ClientRequest,
    ) -> Result<ServerResult, ToolError> {
        // The transport registers the request before sending it (`ordered.rs`).
        let route = ctx.client.clone().map(Route::new);
        if let Some(route) = &route {
            request
                .extensions_mut()
                .insert(RouteMarker(Arc::downgrade(route)));
        }
        let t = &self.config.timeouts;
        let mut options = PeerRequestOptions::with_timeout(Duration::from_millis(t.call_ms))
            .reset_timeout_on_progress()
            .with_max_total_timeout(Duration::from_millis(t.max_call_ms));
        // A 2026-07-28 server is told, in this request, what its caller can do.
        if conn.stateless
            && let Some(client) = ctx.client.as_ref().and_then(|c| c.capabilities())
        {
            let declared = Declared::per_request(&conn.declared, Some(client));
            let mut meta = RequestMetaObject::default();
            meta.set_client_capabilities(declared.to_capabilities());
            options = options.with_meta(meta);
        }
        let handle = conn
            .peer
            .send_request_with_option(request, options)
            .await
            .map_err(|e| self.service_error(conn, e))?;
        let id = handle.id.clone();
        let route = route.map(|route| {
            conn.routes
                .register(id.clone(), handle.progress_token.clone(), route)
        });
        // In this order (no random start): the answer first, should the client cancel meanwhile.
        tokio::select! {
            biased;
            r = handle.await_response() => {
                if let Some(route) = &route {
                    route.settle().await;
                }
                r.map_err(|e| self.service_error(conn, e))
            }
            () = ctx.cancel.cancelled() => {
                let notice = CancelledNotificationParam::new(
                    Some(id),
                    Some("the client cancelled the request".to_owned()),
                );
                let _ = conn.peer.notify_cancelled(notice).await;
                Err(ToolError::new(ToolErrorKind::Cancelled, format!("the call to upstream `{}` was cancelled by the client", self.name)))
            }
        }
    }

    fn service_error(&self, conn: &Connection, e: ServiceError) -> ToolError {
        let name = &self.name;
        if let Some(fault) = conn.fault.get() {
            return ToolError::new(
                ToolErrorKind::Transport,
                format!("{fault}; it is restarted"),
            );
        }
        match e {
            ServiceError::McpError(error) => {
                ToolError::upstream_rpc(format!("upstream `{name}`: {}", error.message), error)
            }
            ServiceError::Timeout { timeout } => ToolError::new(
                ToolErrorKind::Timeout,
                format!(
                    "upstream `{name}` did not answer within {} ms (timeouts.call_ms, restarted by progress; timeouts.max_call_ms in total)",
                    timeout.as_millis()
                ),
            ),
            ServiceError::TransportClosed | ServiceError::TransportSend(_) => ToolError::new(
                ToolErrorKind::Transport,
                format!(
                    "the connection to upstream `{name}` was lost during the request (the server may have crashed); it is restarted"
                ),
            ),
            ServiceError::Cancelled { .. } => ToolError::new(
                ToolErrorKind::Cancelled,
                format!("the request to upstream `{name}` was cancelled"),
            ),
            other => ToolError::new(
                ToolErrorKind::Protocol,
                format!("upstream `{name}` broke the protocol: {other}"),
            ),
        }
    }

    /// Records the lowest level any client asked for and passes it to the server.
    pub(crate) async fn set_log_level(
        self: &Arc<Self>,
        ctx: &CallContext,
        level: LoggingLevel,
    ) -> Result<(), ToolError> {
        fn rank(l: LoggingLevel) -> u8 {
            [
                LoggingLevel::Debug,
                LoggingLevel::Info,
                LoggingLevel::Notice,
                LoggingLevel::Warning,
                LoggingLevel::Error,
                LoggingLevel::Critical,
                LoggingLevel::Alert,
                LoggingLevel::Emergency,
            ]
            .iter()
            .position(|x| *x == l)
            .unwrap_or(0) as u8
        }
        let effective = {
            let mut current = self
                .log_level
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let lowest = match *current {
                Some(c)
                    if rank(c) <= rank(level) && self.config.session == SessionModel::Shared =>
                {
                    c
                }
                _ => level,
            };
            *current = Some(lowest);
            lowest
        };
        let request = ClientRequest::SetLevelRequest(SetLevelRequest::new(
            SetLevelRequestParams::new(effective),
        ));
        match self.request(ctx, "logging/setLevel", request).await {
            Ok(_) => Ok(()),
            // A server that does not log has nothing to set.
            Err(e)
                if e.rpc_error
                    .as_ref()
                    .is_some_and(|r| r.code == rmcp::model::ErrorCode::METHOD_NOT_FOUND) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}
