//! The client of an upstream call relayed to a 2026-07-28 client (`super`): what the server
//! sends goes to the client request being served now (the first, then each retry), except
//! server requests (sampling, elicitation, roots), which go to the call's driver as [`Ask`]s
//! and wait for the answer the driver gets from the client's retry.
//!
//! Does not own: parking or the `input_required` rounds (`super`).

// Sampling and roots are deprecated by SEP-2577 (2026-07-28) but part of 2025-11-25.
#![allow(deprecated)]

use std::sync::{Arc, Mutex, PoisonError};

use futures::future::BoxFuture;
use rmcp::ErrorData;
use rmcp::model::{
    ClientCapabilities, ClientResult, LoggingLevel, LoggingMessageNotificationParam,
    ProgressNotificationParam, ProgressToken, ProtocolVersion, ServerNotification, ServerRequest,
};
use tokio::sync::{mpsc, oneshot};
use toolgate_core::ClientChannel;

/// A server request of the upstream call, waiting for the client's answer.
pub(super) struct Ask {
    pub(super) request: ServerRequest,
    pub(super) reply: oneshot::Sender<Result<ClientResult, ErrorData>>,
}

/// The client of a relayed upstream call: what the upstream sends goes to the client request
/// being served now (the first, then each retry), except server requests, which go to the
/// driver (see the module docs).
pub(super) struct RelayChannel {
    pub(super) current: Mutex<Arc<dyn ClientChannel>>,
    pub(super) session: Arc<str>,
    pub(super) capabilities: Option<ClientCapabilities>,
    pub(super) version: Option<ProtocolVersion>,
    pub(super) progress_token: Option<ProgressToken>,
    pub(super) asks: mpsc::Sender<Ask>,
}

impl RelayChannel {
    fn current(&self) -> Arc<dyn ClientChannel> {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(super) fn serve(&self, client: Arc<dyn ClientChannel>) {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = client;
    }
}

impl ClientChannel for RelayChannel {
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
        true
    }
    fn progress_token(&self) -> Option<&ProgressToken> {
        self.progress_token.as_ref()
    }
    fn log_level(&self) -> Option<LoggingLevel> {
        self.current().log_level()
    }
    fn notify_progress(&self, progress: ProgressNotificationParam) -> BoxFuture<'static, ()> {
        self.current().notify_progress(progress)
    }
    fn log(&self, message: LoggingMessageNotificationParam) -> BoxFuture<'static, ()> {
        self.current().log(message)
    }
    fn request(
        &self,
        request: ServerRequest,
    ) -> BoxFuture<'static, Result<ClientResult, ErrorData>> {
        let asks = self.asks.clone();
        Box::pin(async move {
            let gone = || {
                ErrorData::internal_error(
                    "the client did not answer: the call stopped waiting for its input (expired, cancelled or refused by the gateway)",
                    None,
                )
            };
            let (reply, answer) = oneshot::channel();
            asks.send(Ask { request, reply })
                .await
                .map_err(|_| gone())?;
            answer.await.map_err(|_| gone())?
        })
    }
    fn notify(&self, notification: ServerNotification) -> BoxFuture<'static, ()> {
        self.current().notify(notification)
    }
    fn is_closed(&self) -> bool {
        false
    }
}
