//! Which lifecycle rmcp picked on this stdio connection, as far as the fast path needs to
//! know, and learning it from the messages on both sides.
//!
//! rmcp picks a lifecycle on the first `initialize` or on the first request with a complete
//! 2026-07-28 `_meta` (`serve_server_with_ct_inner` in rmcp's `service/server.rs`; re-check
//! on an rmcp upgrade). Until it has, every line goes to rmcp, so the message that picks one
//! reaches it. The negotiated revision of a session is read from rmcp's own answer to
//! `initialize`. The differential tests in the toolgate crate (`e2e_stdio.rs`) check the
//! result against rmcp itself.

use rmcp::model::{
    ClientJsonRpcMessage, ClientRequest, GetMeta as _, JsonRpcMessage, ProtocolVersion,
};
use serde::Deserialize;
use serde_json::Value;

use crate::protocol::{self, Envelope, Revision};

/// What rmcp has picked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Lifecycle {
    /// rmcp has seen nothing that picks one: every line goes to it.
    Fresh,
    /// `initialize` (this id, as JSON) went to rmcp; its answer is not out yet.
    Initializing(String),
    /// rmcp answered `initialize`: requests without `_meta` get this revision's shape.
    Session(Revision),
    /// The stateless lifecycle, or a session this loop does not follow (a second
    /// `initialize`): only requests carrying their own 2026-07-28 `_meta` qualify.
    Inline,
}

impl Lifecycle {
    /// The revision the fast path would answer `env` in, if any.
    pub(crate) fn revision_for(&self, env: &Envelope<'_>) -> Option<Revision> {
        match self {
            Lifecycle::Fresh => None,
            _ if env.names_modern_revision() => Some(Revision::Modern),
            Lifecycle::Session(revision) => Some(*revision),
            Lifecycle::Initializing(_) | Lifecycle::Inline => None,
        }
    }

    /// The lifecycle after rmcp, still fresh, reads `line` (`None`: unchanged).
    pub(crate) fn picked_by(line: &[u8], supported: &[ProtocolVersion]) -> Option<Lifecycle> {
        let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        let Ok(JsonRpcMessage::Request(request)) =
            serde_json::from_slice::<ClientJsonRpcMessage>(line)
        else {
            // Unreadable lines are skipped; notifications and responses end rmcp.
            return None;
        };
        match &request.request {
            ClientRequest::InitializeRequest(_) => {
                Some(Lifecycle::Initializing(protocol::id_key(&request.id)))
            }
            ClientRequest::PingRequest(_) | ClientRequest::DiscoverRequest(_) => None,
            other => {
                let meta = other.get_meta();
                let complete = meta
                    .missing_required_keys(&ProtocolVersion::V_2026_07_28)
                    .is_empty();
                let supported = meta
                    .protocol_version()
                    .is_some_and(|v| supported.contains(&v));
                (complete && supported).then_some(Lifecycle::Inline)
            }
        }
    }

    /// The lifecycle after rmcp's output `line`, if it is the answer to `initialize` `id`.
    pub(crate) fn after_initialize(line: &[u8], id: &str) -> Option<Lifecycle> {
        #[derive(Deserialize)]
        struct Answer {
            id: Option<Value>,
            result: Option<InitializeResult>,
        }
        #[derive(Deserialize)]
        struct InitializeResult {
            #[serde(rename = "protocolVersion")]
            protocol_version: Option<String>,
        }
        let answer: Answer = serde_json::from_slice(line).ok()?;
        if protocol::id_key(answer.id.as_ref()?) != id {
            return None;
        }
        Some(
            match answer.result.and_then(|r| r.protocol_version).as_deref() {
                Some(version) => Lifecycle::Session(protocol::revision_of(version)),
                // A failed handshake ends rmcp; nothing more to serve.
                None => Lifecycle::Inline,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_initialize_answer_gives_the_session_revision() {
        let line = br#"{"jsonrpc":"2.0","id":7,"result":{"protocolVersion":"2025-11-25","capabilities":{},"serverInfo":{"name":"t","version":"1"}}}"#;
        assert_eq!(
            Lifecycle::after_initialize(line, "7"),
            Some(Lifecycle::Session(Revision::Legacy))
        );
        assert_eq!(Lifecycle::after_initialize(line, "8"), None);
        assert_eq!(
            Lifecycle::after_initialize(
                br#"{"jsonrpc":"2.0","id":7,"error":{"code":-32602,"message":"no"}}"#,
                "7"
            ),
            Some(Lifecycle::Inline)
        );
    }
}
