//! The channel back to the MCP client a request came from: progress and log notifications,
//! server-to-client requests (sampling, elicitation, roots) and notifications outside any
//! request (resource updates).
//!
//! A source that may talk to the client during a call (an upstream MCP server) reads
//! [`crate::CallContext::client`]. The transport edge implements [`ClientChannel`] over its
//! protocol machinery (rmcp's peer of the request, in `toolgate-server`); the fast path has
//! only a 2026-07-28 request's channel, which takes no server requests and is owed no
//! notification, so tools of sources that use it ([`crate::ToolEntry::interactive`]) take the
//! fast path only in such requests.
//!
//! Does not own: which client a message from an upstream belongs to (the upstream source
//! decides from the request it is serving) or the protocol encoding (the transport).

// Logging, sampling and roots are deprecated by SEP-2577 (2026-07-28) but remain part of
// 2025-11-25, which toolgate serves and passes through.
#![allow(deprecated)]

use std::sync::Arc;

use futures::future::BoxFuture;
use rmcp::ErrorData;
use rmcp::model::{
    ClientCapabilities, ClientResult, InputResponses, LoggingLevel,
    LoggingMessageNotificationParam, ProgressNotificationParam, ProgressToken, ProtocolVersion,
    ServerNotification, ServerRequest,
};

/// What a 2026-07-28 client sent back on the retry of a request that was answered
/// `input_required` (MRTR, SEP-2322): its answers by key and the exact `requestState` it was
/// given. Untrusted: the source that issued the state verifies it.
#[derive(Debug, Clone, Default)]
pub struct InputRetry {
    /// `inputResponses`: the client's result for each key of the `inputRequests`.
    pub input_responses: Option<InputResponses>,
    /// `requestState`, as echoed by the client.
    pub request_state: Option<String>,
}

impl InputRetry {
    /// Whether the request carried neither field (a first attempt).
    pub fn is_empty(&self) -> bool {
        self.input_responses.is_none() && self.request_state.is_none()
    }
}

/// The way back to the client of one request (see the module docs). Cheap to clone behind
/// an `Arc`; valid after the request ends for out-of-request notifications (resource
/// updates) as long as the client's session lives.
pub trait ClientChannel: Send + Sync + 'static {
    /// Identifies the client's session (stable across its requests): the key of per-client
    /// state such as subscriptions and upstream sessions of the `per_client` model.
    fn session_key(&self) -> &Arc<str>;

    /// What the client declared it supports, if known.
    fn capabilities(&self) -> Option<&ClientCapabilities>;

    /// The protocol revision the client speaks, if known.
    fn protocol_version(&self) -> Option<&ProtocolVersion>;

    /// Whether the client may receive server-to-client requests on this request (false for
    /// 2026-07-28 clients, which get them only through MRTR).
    fn accepts_requests(&self) -> bool;

    /// `inputResponses` and `requestState` of this request, when it retries one answered
    /// `input_required` (2026-07-28 MRTR). The default: none.
    fn input_retry(&self) -> Option<&InputRetry> {
        None
    }

    /// The progress token the client put on this request, if it asked for progress.
    fn progress_token(&self) -> Option<&ProgressToken>;

    /// The lowest log level the client wants (`None`: it did not say).
    fn log_level(&self) -> Option<LoggingLevel>;

    /// Sends `notifications/progress` for this request (the token is replaced by the
    /// client's own). Does nothing when the client asked for no progress.
    fn notify_progress(&self, progress: ProgressNotificationParam) -> BoxFuture<'static, ()>;

    /// Sends `notifications/message` on this request's stream when the level is at or above
    /// the client's.
    fn log(&self, message: LoggingMessageNotificationParam) -> BoxFuture<'static, ()>;

    /// Sends a server-to-client request (sampling, elicitation, roots) associated with this
    /// request, and waits for the client's answer.
    fn request(
        &self,
        request: ServerRequest,
    ) -> BoxFuture<'static, Result<ClientResult, ErrorData>>;

    /// Sends a notification outside any request (e.g. `notifications/resources/updated`).
    fn notify(&self, notification: ServerNotification) -> BoxFuture<'static, ()>;

    /// Whether the client's connection is gone (nothing sent on it arrives).
    fn is_closed(&self) -> bool;
}

/// Whether a message at `level` passes a client's `threshold` (RFC 5424 order).
pub fn level_passes(level: LoggingLevel, threshold: Option<LoggingLevel>) -> bool {
    fn rank(l: LoggingLevel) -> u8 {
        match l {
            LoggingLevel::Debug => 0,
            LoggingLevel::Info => 1,
            LoggingLevel::Notice => 2,
            LoggingLevel::Warning => 3,
            LoggingLevel::Error => 4,
            LoggingLevel::Critical => 5,
            LoggingLevel::Alert => 6,
            LoggingLevel::Emergency => 7,
        }
    }
    threshold.is_none_or(|t| rank(level) >= rank(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_compare_in_rfc5424_order() {
        assert!(level_passes(
            LoggingLevel::Error,
            Some(LoggingLevel::Warning)
        ));
        assert!(!level_passes(
            LoggingLevel::Info,
            Some(LoggingLevel::Warning)
        ));
        assert!(level_passes(LoggingLevel::Debug, None));
    }
}
