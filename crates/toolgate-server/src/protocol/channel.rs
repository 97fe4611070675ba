//! The channel back to the client of a 2026-07-28 `tools/call` served on the fast path, for
//! a tool whose source may talk back (an upstream MCP server).
//!
//! Such a request qualifies only when nothing can be owed to its client outside the answer
//! (see the rules in `super`): no progress token and no log level, so progress and log
//! messages are dropped exactly as rmcp's path drops them for the same request
//! (`crate::peer::PeerChannel`); and a 2026-07-28 client takes server requests only as
//! `input_required` rounds (the source's MRTR relay turns them into the answer), so the
//! channel accepts none. What it carries is what the relay needs: the client's capabilities
//! and revision, its session key, and the retry's `inputResponses`/`requestState`.
//!
//! Does not own: deciding that a request qualifies (`super::qualify`, the transports).

// Logging, sampling and roots are deprecated by SEP-2577 (2026-07-28) but remain part of the
// channel trait for 2025-11-25 clients.
#![allow(deprecated)]

use std::sync::Arc;

use futures::future::BoxFuture;
use rmcp::ErrorData;
use rmcp::model::{
    ClientCapabilities, ClientResult, LoggingLevel, LoggingMessageNotificationParam,
    ProgressNotificationParam, ProgressToken, ProtocolVersion, ServerNotification, ServerRequest,
};
use toolgate_core::{ClientChannel, CorrelationId, InputRetry};

use super::ModernClient;

/// The way back to the client of one 2026-07-28 fast-path request (see the module docs).
pub(crate) struct ModernChannel {
    session: Arc<str>,
    capabilities: ClientCapabilities,
    version: ProtocolVersion,
    retry: Option<InputRetry>,
}

impl ModernChannel {
    /// The channel of a stateless HTTP request: its own session, as rmcp's path keys it.
    pub(crate) fn http(client: ModernClient) -> Option<Self> {
        let session = Arc::from(format!("request:{}", CorrelationId::generate()));
        Self::new(client, session)
    }

    /// The channel of a request on the stdio connection (one client session).
    pub(crate) fn stdio(client: ModernClient) -> Option<Self> {
        Self::new(client, Arc::from("stdio"))
    }

    /// `None` when log messages may be owed to the request (rmcp's path sends them).
    fn new(client: ModernClient, session: Arc<str>) -> Option<Self> {
        if client.log_level {
            return None;
        }
        Some(ModernChannel {
            session,
            capabilities: client.capabilities,
            version: ProtocolVersion::V_2026_07_28,
            retry: (!client.retry.is_empty()).then_some(client.retry),
        })
    }
}

impl ClientChannel for ModernChannel {
    fn session_key(&self) -> &Arc<str> {
        &self.session
    }

    fn capabilities(&self) -> Option<&ClientCapabilities> {
        Some(&self.capabilities)
    }

    fn protocol_version(&self) -> Option<&ProtocolVersion> {
        Some(&self.version)
    }

    fn accepts_requests(&self) -> bool {
        false
    }

    fn input_retry(&self) -> Option<&InputRetry> {
        self.retry.as_ref()
    }

    fn progress_token(&self) -> Option<&ProgressToken> {
        None
    }

    fn log_level(&self) -> Option<LoggingLevel> {
        None
    }

    fn notify_progress(&self, _: ProgressNotificationParam) -> BoxFuture<'static, ()> {
        // The client asked for no progress.
        Box::pin(std::future::ready(()))
    }

    fn log(&self, _: LoggingMessageNotificationParam) -> BoxFuture<'static, ()> {
        // 2026-07-28: no log messages for a request that did not ask for them.
        Box::pin(std::future::ready(()))
    }

    fn request(&self, _: ServerRequest) -> BoxFuture<'static, Result<ClientResult, ErrorData>> {
        // Never called: sources ask `accepts_requests` first and relay through MRTR.
        Box::pin(std::future::ready(Err(ErrorData::internal_error(
            "a 2026-07-28 client takes server requests only as input_required rounds",
            None,
        ))))
    }

    fn notify(&self, _: ServerNotification) -> BoxFuture<'static, ()> {
        // Out-of-request notifications need a session (subscriptions never take this path).
        Box::pin(std::future::ready(()))
    }

    fn is_closed(&self) -> bool {
        // A stateless request's stream ends with its answer.
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(log_level: bool, retry: InputRetry) -> ModernClient {
        ModernClient {
            capabilities: ClientCapabilities::default(),
            retry,
            log_level,
        }
    }

    #[test]
    fn a_request_with_a_log_level_gets_no_fast_channel() {
        assert!(ModernChannel::http(client(true, InputRetry::default())).is_none());
        let channel = ModernChannel::http(client(false, InputRetry::default())).unwrap();
        assert!(!channel.accepts_requests());
        assert!(channel.input_retry().is_none());
        assert!(channel.session_key().starts_with("request:"));
    }

    #[test]
    fn a_retry_carries_its_state() {
        let retry = InputRetry {
            input_responses: None,
            request_state: Some("s".to_owned()),
        };
        let channel = ModernChannel::stdio(client(false, retry)).unwrap();
        assert_eq!(
            channel
                .input_retry()
                .and_then(|r| r.request_state.as_deref()),
            Some("s")
        );
        assert_eq!(&**channel.session_key(), "stdio");
    }
}
