//! The one place where errors become MCP wire values.
//!
//! Tool failures become `CallToolResult { isError: true }` with a text the model can act on;
//! gateway errors become JSON-RPC errors with the codes the MCP specification assigns. Both
//! matches are exhaustive on purpose: a new error kind must decide how it is shown.

use rmcp::ErrorData;
use rmcp::model::{CallToolResult, ContentBlock, ErrorCode};
use serde_json::json;

use crate::error::{GatewayError, ToolError, ToolErrorKind};

/// Turns a tool failure into the result the client sees.
pub fn tool_error_result(err: &ToolError) -> CallToolResult {
    let hint = match err.kind {
        ToolErrorKind::InvalidArguments => {
            "Fix the arguments listed above and call the tool again."
        }
        ToolErrorKind::BackendStatus => match err.status {
            Some(400..=499) => {
                "The API rejected the request; check the arguments against the tool's input schema."
            }
            _ => "The API failed to handle the request.",
        },
        ToolErrorKind::Timeout => "The API did not answer in time; you may retry later.",
        ToolErrorKind::Connect => "The API could not be reached; you may retry later.",
        ToolErrorKind::Transport => {
            "The connection to the API broke during the call; the operation may or may not have \
             been applied, so check its effect before repeating it."
        }
        ToolErrorKind::TooLarge => "Reduce the size of the request or ask for less data.",
        ToolErrorKind::Overloaded => "The API is busy; retry shortly.",
        ToolErrorKind::Rejected => "The gateway refused this call.",
        ToolErrorKind::Cancelled => "The call was cancelled.",
        ToolErrorKind::Protocol => {
            "The MCP server behind this tool answered with an error or an invalid message."
        }
        ToolErrorKind::Unavailable => {
            "The server behind this tool is unavailable right now; you may retry later."
        }
        ToolErrorKind::Internal => "The gateway failed unexpectedly.",
    };
    let mut text = err.message.clone();
    if let Some(after) = err.retry_after {
        text.push_str(&format!(" Retry after {} s.", after.as_secs().max(1)));
    }
    text.push('\n');
    text.push_str(hint);
    CallToolResult::error(vec![ContentBlock::text(text)])
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
        | ToolErrorKind::Internal => ErrorCode::INTERNAL_ERROR,
    };
    ErrorData::new(
        code,
        format!("{method} failed: {}", err.message),
        Some(json!({ "kind": err.kind.as_str() })),
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
        | ToolErrorKind::Internal => ErrorCode::INTERNAL_ERROR,
    };
    ErrorData::new(
        code,
        format!("reading {uri} failed: {}", err.message),
        Some(json!({ "uri": uri, "kind": err.kind.as_str() })),
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
