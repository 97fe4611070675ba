//! The MCP rules of the one request edge, shared by every transport: which messages the
//! fast path serves and in which revision's shape, the registry that lets a client cancel a
//! fast-path call, and the answers (results shaped per revision, JSON-RPC errors).
//!
//! toolgate serves the hot requests (`tools/call`, `tools/list`) itself instead of through
//! rmcp's per-request service task and channels, which cost more than the rest of a gateway
//! hop (see BENCHMARKS.md). Everything else, including every malformed or unusual message,
//! goes to rmcp, so the protocol's error behaviour stays rmcp's. A message qualifies only
//! when every rule below holds, for HTTP and stdio alike ([`qualify`]):
//!
//! - JSON-RPC 2.0, a string or integer id, `params` an object (or absent for a legacy
//!   `tools/list`);
//! - `tools/call` with a name and an arguments object (or none), or `tools/list` with an
//!   optional cursor;
//! - modern (2026-07-28): `_meta` names 2026-07-28 and carries what rmcp requires of it
//!   (rmcp's own `missing_required_keys` decides, so the rule cannot drift from rmcp's);
//! - legacy (older revisions, inside a session): no `_meta` at all;
//! - never a `progressToken`: the fast path has no channel to send progress on.
//!
//! A `tools/call` of a tool whose source may talk back to the client (an upstream MCP
//! server: progress, log messages, sampling, elicitation, roots) qualifies only as a
//! 2026-07-28 request without a `_meta` log level: such a client takes server requests only
//! as `input_required` rounds (MRTR), which are answers, and is owed no notification, so the
//! fast path's [`channel::ModernChannel`] (which carries the retry's `inputResponses` and
//! `requestState`) is all the call needs. Anything else of such a tool goes to rmcp.
//!
//! The transports add their own framing rules (HTTP headers in `http::fast`, the lifecycle
//! on stdio in `stdio::lifecycle`) and build the call's context at the one edge
//! (`Gateway::context`).
//!
//! rmcp is pinned to the exact version these rules mirror (`=3.9.0` in the workspace
//! manifest). On an upgrade, re-check: `RequestMetaObject::missing_required_keys`, how rmcp
//! strips `resultType` and caching hints for older revisions (`reply::shape_result_type`),
//! the field order of `ListToolsResult` (the splice in `reply::tools_list_reply` has a
//! fallback and a test), the lifecycle rules in `stdio::lifecycle`, and the session internals
//! `sessions.rs` touches; the differential tests and the differential fuzz target
//! (`tests/differential.rs` in the toolgate crate) compare both paths byte for byte.

pub(crate) mod channel;
pub(crate) mod envelope;
pub(crate) mod reply;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use rmcp::model::{ClientCapabilities, JsonObject};
use serde::Serialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use toolgate_core::{InputRetry, McpRequest};

pub(crate) use envelope::Envelope;
use envelope::{Meta, Params};

/// The stateless protocol revision.
pub(crate) const MODERN: &str = "2026-07-28";

/// The result shape an answer takes, after the revision the client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Revision {
    /// 2026-07-28: `resultType: "complete"` and caching hints on every result.
    Modern,
    /// 2025-11-25 and older: neither (rmcp strips them for such peers).
    Legacy,
}

/// The result shape rmcp gives a session that negotiated `version` at `initialize`.
pub(crate) fn revision_of(version: &str) -> Revision {
    // rmcp compares revisions as ISO dates, lexically.
    if version >= MODERN {
        Revision::Modern
    } else {
        Revision::Legacy
    }
}

/// Whether `meta` carries what a 2026-07-28 request must: rmcp's rule
/// (`RequestMetaObject::missing_required_keys`: the version and the client capabilities are
/// present and decode), with the version being 2026-07-28 itself. The capabilities were
/// decoded while reading the message (one that does not decode never gets here); a unit test
/// compares the decision with rmcp's own on every kind of `_meta`.
pub(crate) fn modern_meta_complete(meta: &Meta<'_>) -> bool {
    meta.version.as_deref() == Some(MODERN) && meta.capabilities.is_some()
}

/// A message the fast path may serve: its id, the request, and for a 2026-07-28
/// `tools/call` what its client said of itself.
pub(crate) struct Qualified {
    pub(crate) id: Value,
    pub(crate) request: McpRequest,
    pub(crate) client: Option<ModernClient>,
}

/// What a qualifying 2026-07-28 `tools/call` tells of its client: enough for the channel a
/// tool that talks back gets on the fast path ([`channel::ModernChannel`]).
pub(crate) struct ModernClient {
    pub(crate) capabilities: ClientCapabilities,
    pub(crate) retry: InputRetry,
    /// Whether `_meta` names a log level: log messages may then be owed, which only rmcp's
    /// path can send.
    pub(crate) log_level: bool,
}

/// The message the fast path will run, if it satisfies every rule of `revision` (see the
/// module docs).
pub(crate) fn qualify(env: Envelope<'_>, revision: Revision) -> Option<Qualified> {
    if env.jsonrpc != "2.0" {
        return None;
    }
    let id = env
        .id
        .filter(|id| id.is_string() || id.is_i64() || id.is_u64())?;
    let params = match (revision, env.params) {
        (_, Some(params)) => params,
        (Revision::Legacy, None) if env.method == "tools/list" => Params::default(),
        (_, None) => return None,
    };
    let meta_ok = match (revision, &params.meta) {
        (Revision::Modern, Some(meta)) => !meta.progress_token && modern_meta_complete(meta),
        (Revision::Modern, None) => false,
        (Revision::Legacy, Some(meta)) => meta.entries == 0,
        (Revision::Legacy, None) => true,
    };
    if !meta_ok {
        return None;
    }
    let mut client = None;
    let request = match env.method.as_ref() {
        "tools/call" => {
            let name = params.name?;
            let arguments = match params.arguments {
                None => JsonObject::new(),
                Some(Value::Object(map)) => map,
                Some(_) => return None,
            };
            if let (Revision::Modern, Some(meta)) = (revision, params.meta) {
                client = Some(ModernClient {
                    capabilities: meta.capabilities.unwrap_or_default(),
                    retry: InputRetry {
                        input_responses: params.input_responses,
                        request_state: params.request_state,
                    },
                    log_level: meta.log_level,
                });
            }
            McpRequest::CallTool { name, arguments }
        }
        "tools/list" => McpRequest::ListTools {
            cursor: params.cursor,
        },
        _ => return None,
    };
    Some(Qualified {
        id,
        request,
        client,
    })
}

/// A JSON-RPC id as a map key (its JSON text: `1` and `"1"` differ, as they do to rmcp).
pub(crate) fn id_key(id: &impl Serialize) -> String {
    serde_json::to_string(id).unwrap_or_default()
}

/// Registered calls: (scope, id as JSON) → (registration number, cancellation).
type CallTable = HashMap<(Arc<str>, String), (u64, CancellationToken)>;

/// Fast-path calls in progress that a client may cancel with `notifications/cancelled`, by
/// scope (a stdio connection, or a legacy HTTP session) and request id.
#[derive(Default)]
pub(crate) struct Cancellations {
    calls: Mutex<CallTable>,
    next: std::sync::atomic::AtomicU64,
}

/// Removes a call from its registry when it ends, however it ends.
pub(crate) struct Registered {
    registry: Arc<Cancellations>,
    key: (Arc<str>, String),
    seq: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        let mut calls = self.registry.lock();
        if calls.get(&self.key).is_some_and(|(s, _)| *s == self.seq) {
            calls.remove(&self.key);
        }
    }
}

impl Cancellations {
    fn lock(&self) -> std::sync::MutexGuard<'_, CallTable> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers call `id` of `scope`, cancelled through `cancel`, until the guard drops.
    pub(crate) fn register(
        self: &Arc<Self>,
        scope: Arc<str>,
        id: &Value,
        cancel: CancellationToken,
    ) -> Registered {
        let seq = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let key = (scope, id_key(id));
        self.lock().insert(key.clone(), (seq, cancel));
        Registered {
            registry: self.clone(),
            key,
            seq,
        }
    }

    /// Cancels call `id` of `scope`; false when no such call is in progress.
    pub(crate) fn cancel(&self, scope: &Arc<str>, id: &Value) -> bool {
        let key = (scope.clone(), id_key(id));
        match self.lock().remove(&key) {
            Some((_, token)) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    /// Whether no call is registered.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use rmcp::model::{ProtocolVersion, RequestMetaObject};

    use super::*;

    const META: &str = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}"#;

    fn qualifies(text: &str, revision: Revision) -> bool {
        Envelope::parse(text.as_bytes()).is_some_and(|env| qualify(env, revision).is_some())
    }

    #[test]
    fn a_legacy_tools_list_qualifies_with_or_without_params() {
        assert!(qualifies(
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
            Revision::Legacy
        ));
        assert!(qualifies(
            r#" {"jsonrpc":"2.0","id":"a","method":"tools/list","params":{"cursor":"x"}}"#,
            Revision::Legacy
        ));
        assert!(qualifies(
            &format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"t",{META}}}}}"#
            ),
            Revision::Modern
        ));
    }

    /// rmcp refuses these; the fast path used to answer them (serde's derived structs also
    /// read JSON arrays).
    #[test]
    fn arrays_for_the_message_or_its_params_do_not_qualify() {
        assert!(!qualifies(r#"["2.0",1,"tools/list"]"#, Revision::Legacy));
        assert!(!qualifies(
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":[]}"#,
            Revision::Legacy
        ));
        assert!(!qualifies(
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":null}"#,
            Revision::Legacy
        ));
    }

    #[test]
    fn client_capabilities_that_rmcp_cannot_decode_do_not_qualify() {
        let bad = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"roots":5}}}}"#;
        assert!(!qualifies(bad, Revision::Modern));
    }

    /// The fast path has no channel for progress notifications: a request asking for them
    /// must reach rmcp, in either revision.
    #[test]
    fn a_progress_token_never_qualifies() {
        let modern = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","_meta":{"progressToken":"p1","io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;
        assert!(!qualifies(modern, Revision::Modern));
        let legacy = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","_meta":{"progressToken":7}}}"#;
        assert!(!qualifies(legacy, Revision::Legacy));
    }

    /// The one rule for a complete 2026-07-28 `_meta` is rmcp's: compared here with rmcp's
    /// own check on the whole `_meta` object, for metas with and without each key.
    #[test]
    fn the_modern_meta_rule_is_rmcps() {
        let candidates = [
            r#"{}"#,
            r#"{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}"#,
            r#"{"io.modelcontextprotocol/clientCapabilities":{}}"#,
            r#"{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}"#,
            r#"{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"c","version":"1"}}"#,
            r#"{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"sampling":{}}}"#,
            r#"{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":[]}"#,
            r#"{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"roots":5}}"#,
            r#"{"io.modelcontextprotocol/protocolVersion":7,"io.modelcontextprotocol/clientCapabilities":{}}"#,
            r#"{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":null}"#,
            r#"{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"experimental":{"x":{}},"roots":{"listChanged":true},"elicitation":{"form":{}}}}"#,
            r#"{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"experimental":5}}"#,
            r#"{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":"x"}"#,
        ];
        for text in candidates {
            // A `_meta` the edge cannot read (version not a string, undecodable capabilities)
            // is not complete for it either: the message goes to rmcp.
            let ours = serde_json::from_str::<Meta<'_>>(text)
                .map(|m| modern_meta_complete(&m))
                .unwrap_or(false);
            let theirs: RequestMetaObject = serde_json::from_str(text).unwrap();
            let rmcp_says = theirs
                .missing_required_keys(&ProtocolVersion::V_2026_07_28)
                .is_empty()
                && theirs.protocol_version().as_ref().map(|v| v.as_str()) == Some(MODERN);
            assert_eq!(ours, rmcp_says, "{text}");
        }
    }

    #[test]
    fn revisions_compare_as_dates() {
        assert_eq!(revision_of("2025-11-25"), Revision::Legacy);
        assert_eq!(revision_of("2026-07-28"), Revision::Modern);
    }

    #[test]
    fn a_cancelled_call_leaves_the_registry_and_a_finished_one_cannot_be_cancelled() {
        let registry = Arc::new(Cancellations::default());
        let scope: Arc<str> = Arc::from("s");
        let token = CancellationToken::new();
        let guard = registry.register(scope.clone(), &Value::from(1), token.clone());
        assert!(!registry.cancel(&scope, &Value::from("1")), "ids are typed");
        assert!(registry.cancel(&scope, &Value::from(1)));
        assert!(token.is_cancelled());
        drop(guard);
        let guard = registry.register(scope.clone(), &Value::from(2), CancellationToken::new());
        drop(guard);
        assert!(registry.is_empty());
        assert!(!registry.cancel(&scope, &Value::from(2)));
    }
}
