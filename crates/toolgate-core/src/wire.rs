//! The one place where errors become MCP wire values, and where what a client sees of a tool
//! failure is separated from what the log keeps.
//!
//! Tool failures become `CallToolResult { isError: true }` with a text the model can act on:
//! the error's message, `Retry after N s.` when a delay is known, then one hint saying what to
//! do, chosen by kind (a `BackendStatus` error's source writes the hint for its status class
//! into the message, because only the source knows, for instance, whose credentials a 401
//! refused). Gateway errors become JSON-RPC errors with the codes the MCP specification
//! assigns. Every match is exhaustive on purpose: a new error kind must decide how it is
//! shown.
//!
//! [`tool_error_log`] is what a log line should carry of a tool failure: its classification
//! and its cause chain, never the client text, which quotes argument values and up to 2 KB of
//! the backend's body.

use std::fmt;

use rmcp::ErrorData;
use rmcp::model::{CallToolResult, ContentBlock, ErrorCode};
use serde_json::json;

use crate::error::{Delivery, GatewayError, ToolError, ToolErrorKind};

/// Turns a tool failure into the result the client sees. A known retry delay is also in
/// `_meta.retryAfter` (whole seconds), for clients and agents that act on it.
pub fn tool_error_result(err: &ToolError) -> CallToolResult {
    let mut result = CallToolResult::error(vec![ContentBlock::text(tool_error_text(err))]);
    if let Some(after) = err.retry_after {
        let mut meta = rmcp::model::JsonObject::new();
        meta.insert("retryAfter".to_owned(), json!(retry_after_secs(after)));
        result.meta = Some(rmcp::model::MetaObject(meta));
    }
    if err.attempts > 1 {
        set_attempts(&mut result, err.attempts);
    }
    result
}

/// A retry delay in whole seconds, rounded up (at least 1): waiting that long is enough.
pub fn retry_after_secs(after: std::time::Duration) -> u64 {
    after.as_nanos().div_ceil(1_000_000_000).max(1) as u64
}

/// The `data` of a JSON-RPC error for a failure of `kind`, with its retry delay when known.
fn error_data(err: &ToolError, mut data: serde_json::Value) -> Option<serde_json::Value> {
    if let (Some(after), Some(map)) = (err.retry_after, data.as_object_mut()) {
        map.insert("retryAfter".to_owned(), json!(retry_after_secs(after)));
    }
    Some(data)
}

/// The `_meta` key saying how many times a retried call was sent.
pub const ATTEMPTS_META_KEY: &str = "toolgate/attempts";

/// Records in `result`'s `_meta` that the call was sent `attempts` times.
pub fn set_attempts(result: &mut CallToolResult, attempts: u32) {
    result
        .meta
        .get_or_insert_with(Default::default)
        .insert(ATTEMPTS_META_KEY.to_owned(), json!(attempts));
}

/// The `_meta` key set on a result its backend said must not be stored
/// (`Cache-Control: no-store` or `private`): response caches skip it.
pub const NO_STORE_META_KEY: &str = "toolgate/no-store";

/// Marks `result` as not to be stored by caches.
pub fn set_no_store(result: &mut CallToolResult) {
    result
        .meta
        .get_or_insert_with(Default::default)
        .insert(NO_STORE_META_KEY.to_owned(), json!(true));
}

/// Whether `result` is marked not to be stored.
pub fn is_no_store(result: &CallToolResult) -> bool {
    result
        .meta
        .as_ref()
        .and_then(|m| m.get(NO_STORE_META_KEY))
        .is_some_and(|v| v == true)
}

/// How many times the call behind `result` was sent, when a retry policy recorded it.
pub fn attempts_of(result: &CallToolResult) -> Option<u32> {
    result
        .meta
        .as_ref()?
        .get(ATTEMPTS_META_KEY)?
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
}

/// The text of a failed tool call: message, known retry delay, hint.
pub fn tool_error_text(err: &ToolError) -> String {
    let mut text = err.message.clone();
    if let Some(after) = err.retry_after {
        text.push_str(&format!(" Retry after {} s.", retry_after_secs(after)));
    }
    if let Some(hint) = hint(err) {
        text.push('\n');
        text.push_str(hint);
    }
    text
}

/// What the model should do about a failure of this kind, when its message does not say.
fn hint(err: &ToolError) -> Option<&'static str> {
    match err.kind {
        ToolErrorKind::InvalidArguments => {
            Some("Fix the arguments listed above and call the tool again.")
        }
        // The source ends the message with the hint of the status class.
        ToolErrorKind::BackendStatus => None,
        ToolErrorKind::Timeout | ToolErrorKind::Connect => Some("You may call again later."),
        ToolErrorKind::Transport => match err.delivery {
            Delivery::NotSent => Some("The request did not reach the API; you may call again."),
            Delivery::MaybeSent | Delivery::Sent => Some(
                "The operation may or may not have been applied; check its effect before \
                 calling again.",
            ),
        },
        // Their messages name the limit and what to change.
        ToolErrorKind::TooLarge | ToolErrorKind::Overloaded => None,
        ToolErrorKind::Rejected => match err.retry_after {
            Some(_) => Some("The gateway refused this call; wait that long before calling again."),
            None => Some("The gateway refused this call."),
        },
        ToolErrorKind::Cancelled => Some("The call was cancelled."),
        ToolErrorKind::Protocol => {
            Some("The MCP server behind this tool answered with an error or an invalid message.")
        }
        ToolErrorKind::Unavailable => {
            Some("The server behind this tool is unavailable right now; you may call again later.")
        }
        ToolErrorKind::InputRequired => Some(
            "The server behind this tool needs input from the client (2026-07-28 input_required), which this request cannot receive.",
        ),
        ToolErrorKind::Internal => Some("The gateway failed unexpectedly."),
    }
}

/// What a log line carries of a tool failure: kind, origin, delivery, status, where argument
/// validation failed (paths only: argument values stay out of logs), and the cause chain,
/// whose texts are written to be logged (a backend answer appears there as its status and a
/// bounded, one-line summary). Never the client text.
pub fn tool_error_log(err: &ToolError) -> impl fmt::Display + '_ {
    LogText(err)
}

struct LogText<'a>(&'a ToolError);

impl fmt::Display for LogText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let err = self.0;
        write!(
            f,
            "{} (origin {}, {})",
            err.kind.as_str(),
            err.origin.as_str(),
            err.delivery.as_str()
        )?;
        if let Some(status) = err.status {
            write!(f, " status {status}")?;
        }
        if err.attempts > 1 {
            write!(f, " after {} attempts", err.attempts)?;
        }
        if !err.violations.is_empty() {
            let paths: Vec<&str> = err
                .violations
                .iter()
                .map(|v| {
                    if v.path.is_empty() {
                        "/"
                    } else {
                        v.path.as_str()
                    }
                })
                .collect();
            write!(f, " at {}", paths.join(", "))?;
        }
        let mut node = err
            .cause
            .as_deref()
            .map(|c| c as &(dyn std::error::Error + 'static));
        while let Some(cause) = node {
            write!(f, ": {cause}")?;
            node = cause.source();
        }
        Ok(())
    }
}

/// The answer to a failed `tools/call`: an `isError: true` result, except when an upstream
/// MCP server answered the call with a JSON-RPC error, which is passed through as one (same
/// code and data, the message naming the source).
pub fn tool_failure(err: &ToolError) -> Result<CallToolResult, ErrorData> {
    match upstream_error(err) {
        Some(e) => Err(e),
        None => Ok(tool_error_result(err)),
    }
}

/// An upstream's JSON-RPC error carried by `err`, with the gateway's message.
fn upstream_error(err: &ToolError) -> Option<ErrorData> {
    match (err.kind, &err.rpc_error) {
        (ToolErrorKind::Protocol, Some(upstream)) => Some(ErrorData::new(
            upstream.code,
            err.message.clone(),
            upstream.data.clone(),
        )),
        _ => None,
    }
}

/// Turns the failure of a request other than `tools/call` (`prompts/get`, `completion/complete`,
/// `resources/subscribe`, `logging/setLevel`) into a JSON-RPC error.
pub fn request_error_data(method: &str, err: &ToolError) -> ErrorData {
    if let Some(e) = upstream_error(err) {
        return e;
    }
    let code = match err.kind {
        ToolErrorKind::InvalidArguments => ErrorCode::INVALID_PARAMS,
        ToolErrorKind::BackendStatus
        | ToolErrorKind::Timeout
        | ToolErrorKind::Connect
        | ToolErrorKind::Transport
        | ToolErrorKind::TooLarge
        | ToolErrorKind::Overloaded
        | ToolErrorKind::Rejected
        | ToolErrorKind::Cancelled
        | ToolErrorKind::Protocol
        | ToolErrorKind::Unavailable
        | ToolErrorKind::InputRequired
        | ToolErrorKind::Internal => ErrorCode::INTERNAL_ERROR,
    };
    ErrorData::new(
        code,
        format!("{method} failed: {}", err.message),
        error_data(err, json!({ "kind": err.kind.as_str() })),
    )
}

/// Turns a gateway error into a JSON-RPC error.
pub fn gateway_error_data(err: &GatewayError) -> ErrorData {
    match err {
        GatewayError::UnknownTool(name) => ErrorData::invalid_params(
            format!("Unknown tool: {name}"),
            Some(json!({ "tool": name })),
        ),
        GatewayError::UnknownPrompt(name) => ErrorData::invalid_params(
            format!("Unknown prompt: {name}"),
            Some(json!({ "prompt": name })),
        ),
        GatewayError::Unsupported(what) => {
            ErrorData::new(ErrorCode::METHOD_NOT_FOUND, what.clone(), None)
        }
        GatewayError::ResourceNotFound(uri) => ErrorData::new(
            ErrorCode::RESOURCE_NOT_FOUND,
            format!("Resource not found: {uri}"),
            Some(json!({ "uri": uri })),
        ),
        GatewayError::InvalidCursor(msg) => ErrorData::invalid_params(msg.clone(), None),
        GatewayError::InvalidParams(msg) => ErrorData::invalid_params(msg.clone(), None),
        GatewayError::Refused(msg) => ErrorData::new(ErrorCode(-32001), msg.clone(), None),
        GatewayError::Internal(id) => ErrorData::internal_error(
            format!("internal error; see the gateway log for correlation id {id}"),
            None,
        ),
    }
}

/// Turns a failed resource read into a JSON-RPC error (resources have no `isError`). An
/// upstream's own error keeps its code (e.g. `-32002` resource not found).
pub fn resource_error_data(uri: &str, err: &ToolError) -> ErrorData {
    if let Some(e) = upstream_error(err) {
        return e;
    }
    let code = match err.kind {
        ToolErrorKind::BackendStatus if err.status == Some(404) => ErrorCode::RESOURCE_NOT_FOUND,
        ToolErrorKind::InvalidArguments => ErrorCode::INVALID_PARAMS,
        ToolErrorKind::BackendStatus
        | ToolErrorKind::Timeout
        | ToolErrorKind::Connect
        | ToolErrorKind::Transport
        | ToolErrorKind::TooLarge
        | ToolErrorKind::Overloaded
        | ToolErrorKind::Rejected
        | ToolErrorKind::Cancelled
        | ToolErrorKind::Protocol
        | ToolErrorKind::Unavailable
        | ToolErrorKind::InputRequired
        | ToolErrorKind::Internal => ErrorCode::INTERNAL_ERROR,
    };
    ErrorData::new(
        code,
        format!("reading {uri} failed: {}", err.message),
        error_data(err, json!({ "uri": uri, "kind": err.kind.as_str() })),
    )
}

/// A body that is not JSON: JSON-RPC's parse error.
pub fn parse_error(detail: impl std::fmt::Display) -> ErrorData {
    ErrorData::new(
        ErrorCode::PARSE_ERROR,
        format!("Parse error: the body is not valid JSON ({detail})"),
        None,
    )
}

/// A body that is JSON but not a JSON-RPC message this server reads: `reason` says why.
pub fn invalid_request(reason: impl std::fmt::Display) -> ErrorData {
    ErrorData::new(
        ErrorCode::INVALID_REQUEST,
        format!("Invalid Request: {reason}"),
        None,
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::error::ArgumentViolation;

    #[test]
    fn retry_after_is_said_once_after_the_message() {
        let mut err = ToolError::new(
            ToolErrorKind::BackendStatus,
            "backend returned 429 Too Many Requests for GET /t (tool `t`)\nThe API is limiting \
             the rate of calls; wait before calling again.",
        )
        .with_status(429);
        err.retry_after = Some(Duration::from_secs(7));
        let text = tool_error_text(&err);
        assert_eq!(
            text,
            "backend returned 429 Too Many Requests for GET /t (tool `t`)\nThe API is limiting \
             the rate of calls; wait before calling again. Retry after 7 s."
        );
        assert_eq!(text.matches("etry after").count(), 1);
    }

    #[test]
    fn a_known_retry_delay_is_in_meta_and_in_rpc_error_data() {
        let mut err = ToolError::new(ToolErrorKind::Rejected, "rate limit for `t`: 60/min.");
        err.retry_after = Some(Duration::from_millis(11_200));
        let result = tool_error_result(&err);
        let value = serde_json::to_value(&result).unwrap();
        assert_eq!(value["_meta"]["retryAfter"], 12);
        assert_eq!(value["isError"], true);
        assert!(
            tool_error_text(&err).starts_with("rate limit for `t`: 60/min. Retry after 12 s.\n"),
            "{}",
            tool_error_text(&err)
        );
        let rpc = request_error_data("prompts/get", &err);
        assert_eq!(rpc.data.unwrap()["retryAfter"], 12);
        let without = ToolError::new(ToolErrorKind::Rejected, "no");
        assert!(tool_error_result(&without).meta.is_none());
    }

    #[test]
    fn transport_hints_follow_how_far_the_request_got() {
        let lost = ToolError::new(ToolErrorKind::Transport, "the connection broke.");
        assert!(tool_error_text(&lost).ends_with("check its effect before calling again."));
        let unsent = lost.clone().with_delivery(Delivery::NotSent);
        assert!(tool_error_text(&unsent).ends_with("did not reach the API; you may call again."));
    }

    #[test]
    fn the_log_text_carries_classification_and_cause_never_the_client_text() {
        #[derive(Debug, thiserror::Error)]
        #[error("backend answered 500: boom")]
        struct Reply;
        let err = ToolError::new(
            ToolErrorKind::BackendStatus,
            "backend returned 500 for GET /users/alice@example.com: <html>stack trace</html>",
        )
        .with_status(500)
        .with_cause(Reply);
        let log = tool_error_log(&err).to_string();
        assert_eq!(
            log,
            "backend_status (origin backend, sent) status 500: backend answered 500: boom"
        );
        let invalid = ToolError::invalid_arguments(
            "t",
            vec![ArgumentViolation {
                path: "/email".into(),
                message: "\"alice@example.com\" is not a \"email\"".into(),
            }],
        );
        let log = tool_error_log(&invalid).to_string();
        assert_eq!(
            log,
            "invalid_arguments (origin gateway, not_sent) at /email"
        );
    }
}
