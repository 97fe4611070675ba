//! The channel back to the client of a request rmcp serves: [`ClientChannel`] over rmcp's
//! `Peer<RoleServer>` of that request.
//!
//! Progress goes out with the client's own token, so rmcp routes it onto the request's SSE
//! stream; server-to-client requests (sampling, elicitation, roots) carry the request's id as
//! their originating request (SEP-2260), so rmcp sends them on that stream too even when they
//! are sent from another task (an upstream MCP server's); one the caller stops waiting for is
//! withdrawn with `notifications/cancelled`. Log messages are filtered by the
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
    CancelledNotificationParam, ClientCapabilities, ClientResult, GetExtensions as _, LoggingLevel,
    LoggingMessageNotificationParam, ProgressNotificationParam, ProgressToken, ProtocolVersion,
    RequestId, ServerNotification, ServerRequest,
};
use rmcp::service::{OriginatingRequestId, PeerRequestOptions, RequestContext, ServiceError};
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

/// A server request whose answer is awaited: dropped before the answer (the call that asked
/// was cancelled, or stopped waiting), it tells the client with `notifications/cancelled`, so
/// the client can stop (close a dialog) and rmcp forgets the request.
struct Withdraw(Option<(Peer<RoleServer>, RequestId)>);

impl Drop for Withdraw {
    fn drop(&mut self) {
        let Some((peer, id)) = self.0.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            let notice = CancelledNotificationParam::new(
                Some(id),
                Some("the call that asked no longer waits for the answer".to_owned()),
            );
            let _ = peer.notify_cancelled(notice).await;
        });
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
        Box::pin(async move {
            let handle = peer
                .send_request_with_option(request, PeerRequestOptions::no_options())
                .await
                .map_err(service_error)?;
            let mut pending = Withdraw(Some((peer, handle.id.clone())));
            let answer = handle.await_response().await;
            // Answered (or the connection is gone): nothing to withdraw.
            pending.0 = None;
            answer.map_err(service_error)
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ClientCapabilities, ClientConfig,
        ElicitRequest, ElicitRequestParams, ElicitResult, ElicitationSchema, ServerCapabilities,
        ServerConfig,
    };
    use rmcp::service::RoleClient;
    use rmcp::{ClientHandler, ServerHandler, ServiceExt as _};
    use std::time::Duration;
    use tokio::sync::{Notify, mpsc};

    /// Its tool asks the client for an elicitation on a [`PeerChannel`] and stops waiting as
    /// soon as the client has it.
    struct Asker {
        asked: Arc<Notify>,
    }

    impl ServerHandler for Asker {
        fn get_info(&self) -> ServerConfig {
            ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
        }

        async fn call_tool(
            &self,
            _request: CallToolRequestParams,
            cx: RequestContext<RoleServer>,
        ) -> Result<CallToolResponse, ErrorData> {
            let channel = PeerChannel::new(&cx, Arc::from("s"), &LogLevels::default());
            let request = ServerRequest::ElicitRequest(ElicitRequest::new(
                ElicitRequestParams::FormElicitationParams {
                    meta: None,
                    message: "?".to_owned(),
                    requested_schema: ElicitationSchema::builder().build().unwrap(),
                },
            ));
            tokio::select! {
                _ = channel.request(request) => panic!("the client never answers"),
                () = self.asked.notified() => {}
            }
            Ok(CallToolResult::success(vec![]).into())
        }
    }

    /// Keeps every elicitation until it is cancelled, and reports the cancellation.
    struct Patient {
        asked: Arc<Notify>,
        cancelled: mpsc::UnboundedSender<()>,
    }

    impl ClientHandler for Patient {
        fn get_info(&self) -> ClientConfig {
            let mut caps = ClientCapabilities::default();
            caps.elicitation = Some(Default::default());
            ClientConfig::new(caps, Default::default())
        }

        async fn create_elicitation(
            &self,
            _params: ElicitRequestParams,
            cx: rmcp::service::RequestContext<RoleClient>,
        ) -> Result<ElicitResult, ErrorData> {
            self.asked.notify_one();
            cx.ct.cancelled().await;
            let _ = self.cancelled.send(());
            Err(ErrorData::internal_error("cancelled", None))
        }
    }

    /// A server request the call stopped waiting for reaches the client as
    /// `notifications/cancelled` (before, the client kept it forever, and rmcp its responder).
    #[tokio::test]
    async fn a_request_nobody_waits_for_is_withdrawn_from_the_client() {
        let (server_io, client_io) = tokio::io::duplex(64 * 1024);
        let asked = Arc::new(Notify::new());
        let server = tokio::spawn({
            let asked = asked.clone();
            async move {
                let running = Asker { asked }.serve(server_io).await.unwrap();
                let _ = running.waiting().await;
            }
        });
        let (tx, mut cancelled) = mpsc::unbounded_channel();
        let client = Patient {
            asked,
            cancelled: tx,
        }
        .serve(client_io)
        .await
        .unwrap();
        client
            .call_tool(CallToolRequestParams::new("ask"))
            .await
            .unwrap();
        // A bound against a hang only: the notice follows the answer at once.
        tokio::time::timeout(Duration::from_secs(30), cancelled.recv())
            .await
            .expect("the client was told")
            .unwrap();
        client.cancel().await.unwrap();
        server.abort();
    }
}
