//! Reading JSON-RPC answers (plain JSON or inside an SSE stream) and classifying each call.

use std::fmt;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;

/// Why a call did not succeed. The report counts calls by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorKind {
    /// A non-2xx HTTP status.
    Http(u16),
    /// A JSON-RPC error answer, by code.
    JsonRpc(i64),
    /// A tool result with `isError: true`.
    ToolError,
    /// Connecting, writing or reading failed, or the server went away.
    Transport,
    /// No answer within `--timeout`.
    Timeout,
    /// An answer that is not a JSON-RPC response to the request.
    BadResponse,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Http(status) => write!(f, "http_{status}"),
            ErrorKind::JsonRpc(code) => write!(f, "jsonrpc_{code}"),
            ErrorKind::ToolError => f.write_str("tool_error"),
            ErrorKind::Transport => f.write_str("transport"),
            ErrorKind::Timeout => f.write_str("timeout"),
            ErrorKind::BadResponse => f.write_str("bad_response"),
        }
    }
}

impl ErrorKind {
    /// Whether the server answered at all (the call's latency is meaningful).
    pub fn answered(self) -> bool {
        match self {
            ErrorKind::Http(_)
            | ErrorKind::JsonRpc(_)
            | ErrorKind::ToolError
            | ErrorKind::BadResponse => true,
            ErrorKind::Transport | ErrorKind::Timeout => false,
        }
    }
}

/// Just enough of a JSON-RPC message to classify it; everything else is skipped unparsed.
#[derive(Deserialize)]
pub(crate) struct Probe {
    #[serde(default)]
    pub id: Option<Value>,
    #[serde(default)]
    pub method: Option<IgnoredAny>,
    #[serde(default)]
    pub result: Option<ResultProbe>,
    #[serde(default)]
    pub error: Option<ErrorProbe>,
}

#[derive(Deserialize)]
pub(crate) struct ResultProbe {
    #[serde(rename = "isError", default)]
    pub is_error: Option<bool>,
}

#[derive(Deserialize)]
pub(crate) struct ErrorProbe {
    pub code: i64,
    #[serde(default)]
    pub message: String,
}

impl Probe {
    /// A response (not a request or notification) to a request with a numeric id.
    pub fn response_id(&self) -> Option<u64> {
        if self.method.is_some() || (self.result.is_none() && self.error.is_none()) {
            return None;
        }
        self.id.as_ref().and_then(Value::as_u64)
    }

    /// The call's outcome if this is its response.
    pub fn outcome(&self) -> Result<(), (ErrorKind, String)> {
        if let Some(e) = &self.error {
            return Err((ErrorKind::JsonRpc(e.code), e.message.clone()));
        }
        match &self.result {
            Some(ResultProbe {
                is_error: Some(true),
            }) => Err((
                ErrorKind::ToolError,
                "tool result with isError: true".to_owned(),
            )),
            Some(_) => Ok(()),
            None => Err((
                ErrorKind::BadResponse,
                "JSON-RPC message with neither result nor error".to_owned(),
            )),
        }
    }
}

/// The `data:` payloads of the complete events in an SSE stream read so far.
pub(crate) fn sse_data(buf: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut data: Vec<u8> = Vec::new();
    let mut has_data = false;
    let mut rest = buf;
    // Only lines terminated by a newline are complete; an event ends at a blank line.
    while let Some(pos) = rest.iter().position(|&b| b == b'\n') {
        let mut line = &rest[..pos];
        rest = &rest[pos + 1..];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        if line.is_empty() {
            // An event whose data is empty (a priming event) is not dispatched.
            if has_data && !data.is_empty() {
                out.push(std::mem::take(&mut data));
            }
            data.clear();
            has_data = false;
        } else if let Some(v) = line.strip_prefix(b"data:") {
            let v = v.strip_prefix(b" ").unwrap_or(v);
            if has_data {
                data.push(b'\n');
            }
            data.extend_from_slice(v);
            has_data = true;
        }
    }
    out
}

/// Finds the response to request `id` in a JSON body or in the SSE events read so far.
pub(crate) fn find_response(body: &[u8], sse: bool, id: u64) -> Option<Probe> {
    if !sse {
        return serde_json::from_slice::<Probe>(body).ok();
    }
    sse_data(body)
        .into_iter()
        .filter_map(|d| serde_json::from_slice::<Probe>(&d).ok())
        .find(|p| p.response_id() == Some(id))
}

/// The whole JSON-RPC response to request `id` in a JSON body or in the SSE events read so far.
pub(crate) fn find_message(body: &[u8], sse: bool, id: u64) -> Option<Value> {
    let is_answer = |v: &Value| {
        v.get("method").is_none()
            && (v.get("result").is_some() || v.get("error").is_some())
            && v.get("id").and_then(Value::as_u64) == Some(id)
    };
    if !sse {
        return serde_json::from_slice::<Value>(body).ok().filter(is_answer);
    }
    sse_data(body)
        .into_iter()
        .filter_map(|d| serde_json::from_slice::<Value>(&d).ok())
        .find(is_answer)
}

/// Classifies an HTTP answer to request `id`.
pub(crate) fn classify_http(
    status: http::StatusCode,
    content_type: Option<&str>,
    body: &[u8],
    id: u64,
) -> Result<(), (ErrorKind, String)> {
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
        return Err((ErrorKind::Http(status.as_u16()), text));
    }
    let sse = content_type.is_some_and(|v| v.starts_with("text/event-stream"));
    match find_response(body, sse, id) {
        Some(p) => p.outcome(),
        None => Err((
            ErrorKind::BadResponse,
            format!(
                "no JSON-RPC response to id {id} in the {} body ({} bytes)",
                if sse { "SSE" } else { "JSON" },
                body.len()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_are_split_and_joined() {
        let buf =
            b"id: 1\ndata: \n\nevent: message\ndata: {\"a\":\r\ndata: 1}\r\n\r\ndata: {\"partial\"";
        let events = sse_data(buf);
        assert_eq!(events, vec![b"{\"a\":\n1}".to_vec()]);
    }

    #[test]
    fn responses_are_classified() {
        let ok = br#"{"jsonrpc":"2.0","id":3,"result":{"content":[],"isError":false}}"#;
        assert!(classify_http(http::StatusCode::OK, Some("application/json"), ok, 3).is_ok());
        let tool = br#"{"jsonrpc":"2.0","id":3,"result":{"content":[],"isError":true}}"#;
        assert_eq!(
            classify_http(http::StatusCode::OK, None, tool, 3)
                .unwrap_err()
                .0,
            ErrorKind::ToolError
        );
        let rpc = br#"{"jsonrpc":"2.0","id":3,"error":{"code":-32602,"message":"bad"}}"#;
        assert_eq!(
            classify_http(http::StatusCode::OK, None, rpc, 3)
                .unwrap_err()
                .0
                .to_string(),
            "jsonrpc_-32602"
        );
        assert_eq!(
            classify_http(http::StatusCode::BAD_REQUEST, None, rpc, 3)
                .unwrap_err()
                .0
                .to_string(),
            "http_400"
        );
        let sse = b"data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\ndata: {\"jsonrpc\":\"2.0\",\"id\":9,\"result\":{}}\n\n";
        assert!(classify_http(http::StatusCode::OK, Some("text/event-stream"), sse, 9).is_ok());
        assert_eq!(
            classify_http(http::StatusCode::OK, Some("text/event-stream"), sse, 8)
                .unwrap_err()
                .0,
            ErrorKind::BadResponse
        );
    }
}
