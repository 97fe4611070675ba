//! The channel back to the client of a request rmcp serves: [`ClientChannel`] over rmcp's
//! `Peer<RoleServer>` of that request.
//!
//! Progress goes out with the client's own token, so rmcp routes it onto the request's SSE
//! stream; server-to-client requests (sampling, elicitation, roots) carry the request's id as
//! their originating request (SEP-2260), so rmcp sends them on that stream too even when they
//! are sent from another task (an upstream MCP server's). Log messages are filtered by the
//! client's level: the one it set with `logging/setLevel` in its session, or the one in the
//! request's `_meta` (2026-07-28, which sends none without it). Does not own: deciding which
//! client a message belongs to (the source).

// Logging, sampling and roots are deprecated by SEP-2577 (2026-07-28) but remain part of
// 2025-11-25, which toolgate serves and passes through.
#![allow(deprecated)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use futures::future::BoxFuture;
use rmcp::model::{
    ClientCapabilities, ClientResult, GetExtensions as _, LoggingLevel,
    LoggingMessageNotificationParam, ProgressNotificationParam, ProgressToken, ProtocolVersion,
    RequestId, ServerNotification, ServerRequest,
};
use rmcp::service::{OriginatingRequestId, RequestContext, ServiceError};
use rmcp::{ErrorData, Peer, RoleServer};
use toolgate_core::client::level_passes;
use toolgate_core::{ClientChannel, InputRetry};

/// The log level each legacy session asked for with `logging/setLevel`.
#[derive(Default)]
pub(crate) struct LogLevels(Mutex<HashMap<Arc<str>, LoggingLevel>>);

impl LogLevels {
    pub(crate) fn set(&self, session: Arc<str>, level: LoggingLevel) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(session, level);
    }

    fn get(&self, session: &str) -> Option<LoggingLevel> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(session)
            .copied()
    }
}

/// The way back to the client of one request rmcp serves.
pub(crate) struct PeerChannel {
    peer: Peer<RoleServer>,
    origin: RequestId,
    session: Arc<str>,
    capabilities: Option<ClientCapabilities>,
    version: Option<ProtocolVersion>,
    progress_token: Option<ProgressToken>,
    log_level: Option<LoggingLevel>,
    modern: bool,
    retry: Option<InputRetry>,
}

impl PeerChannel {
    /// The channel of the request `cx`, in the client session `session`.
    pub(crate) fn new(
        cx: &RequestContext<RoleServer>,
        session: Arc<str>,
        levels: &LogLevels,
    ) -> Self {
        let version = cx.protocol_version();
        let modern = version
            .as_ref()
            .is_some_and(|v| *v >= ProtocolVersion::V_2026_07_28);
        let log_level = if modern {
            cx.meta.log_level()
        } else {
            levels.get(&session)
        };
        PeerChannel {
            peer: cx.peer.clone(),
            origin: cx.id.clone(),
            session,
            capabilities: cx.client_capabilities(),
            version,
            progress_token: cx.meta.get_progress_token(),
            log_level,
            modern,
            retry: None,
        }
    }

    /// The channel with the `inputResponses`/`requestState` of a 2026-07-28 retry.
    pub(crate) fn with_retry(mut self, retry: InputRetry) -> Self {
        if !retry.is_empty() {
            self.retry = Some(retry);
        }
        self
    }
}

fn service_error(e: ServiceError) -> ErrorData {
    match e {
        ServiceError::McpError(e) => e,
        other => ErrorData::internal_error(format!("the client did not answer: {other}"), None),
    }
}

impl ClientChannel for PeerChannel {
    fn session_key(&self) -> &Arc<str> {
        &self.session
    }

    fn capabilities(&self) -> Option<&ClientCapabilities> {
        self.capabilities.as_ref()
    }

    fn protocol_version(&self) -> Option<&ProtocolVersion> {
        self.version.as_ref()
    }

    fn accepts_requests(&self) -> bool {
        !self.modern
    }

    fn input_retry(&self) -> Option<&InputRetry> {
        self.retry.as_ref()
    }

    fn progress_token(&self) -> Option<&ProgressToken> {
        self.progress_token.as_ref()
    }

    fn log_level(&self) -> Option<LoggingLevel> {
        self.log_level
    }

    fn notify_progress(&self, mut progress: ProgressNotificationParam) -> BoxFuture<'static, ()> {
        let Some(token) = self.progress_token.clone() else {
            return Box::pin(std::future::ready(()));
        };
        progress.progress_token = token;
        let peer = self.peer.clone();
        Box::pin(async move {
            let _ = peer.notify_progress(progress).await;
        })
    }

    fn log(&self, message: LoggingMessageNotificationParam) -> BoxFuture<'static, ()> {
        // 2026-07-28: no log messages for a request that did not ask for them.
        let wanted = if self.modern {
            self.log_level
                .is_some_and(|l| level_passes(message.level, Some(l)))
        } else {
            level_passes(message.level, self.log_level)
        };
        if !wanted {
            return Box::pin(std::future::ready(()));
        }
        let peer = self.peer.clone();
        Box::pin(async move {
            let _ = peer.notify_logging_message(message).await;
        })
    }

    fn request(
        &self,
        mut request: ServerRequest,
    ) -> BoxFuture<'static, Result<ClientResult, ErrorData>> {
        request
            .extensions_mut()
            .insert(OriginatingRequestId(self.origin.clone()));
        let peer = self.peer.clone();
        Box::pin(async move { peer.send_request(request).await.map_err(service_error) })
    }

    fn notify(&self, notification: ServerNotification) -> BoxFuture<'static, ()> {
        let peer = self.peer.clone();
        Box::pin(async move {
            let _ = peer.send_notification(notification).await;
        })
    }

    fn is_closed(&self) -> bool {
        self.peer.is_transport_closed()
    }
}
