//! Classifies a finished pipeline call into a bounded outcome label.

use toolgate_core::{GatewayError, McpResponse};

/// The label value describing how a call ended: `ok`, a tool error kind, or a protocol error.
pub fn outcome_label(result: &Result<McpResponse, GatewayError>) -> &'static str {
    match result {
        Ok(resp) => match resp.tool_error() {
            Some(e) => e.kind.as_str(),
            None => match resp {
                McpResponse::ToolResult(Ok(r)) if r.is_error == Some(true) => "tool_error",
                _ => "ok",
            },
        },
        Err(e) => match e {
            GatewayError::UnknownTool(_) => "unknown_tool",
            GatewayError::UnknownPrompt(_) => "unknown_prompt",
            GatewayError::Unsupported(_) => "unsupported",
            GatewayError::ResourceNotFound(_) => "resource_not_found",
            GatewayError::InvalidCursor(_) => "invalid_cursor",
            GatewayError::InvalidParams(_) => "invalid_params",
            GatewayError::Refused(_) => "refused",
            GatewayError::Internal(_) => "internal",
        },
    }
}
