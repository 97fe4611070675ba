//! The calls a run replays, and their JSON-RPC request bodies, serialized once up front so
//! the hot loop only splices in the request id.

use std::path::Path;

use base64::Engine as _;
use bytes::{BufMut as _, Bytes, BytesMut};
use http::HeaderValue;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::BenchError;
use crate::args::McpMethod;

/// The protocol version of stateless (sessionless) requests.
pub(crate) const STATELESS_VERSION: &str = "2026-07-28";
/// The protocol version asked for in `initialize` by default.
pub(crate) const HANDSHAKE_VERSION: &str = "2025-11-25";

/// One tool call: a line of a `--calls-file`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Call {
    /// Tool name.
    pub name: String,
    /// Tool arguments.
    #[serde(default)]
    pub arguments: Map<String, Value>,
}

/// Reads a JSON Lines calls file; blank lines are skipped.
pub(crate) fn load_calls_file(path: &Path) -> Result<Vec<Call>, BenchError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        BenchError::Usage(format!("cannot read calls file {}: {e}", path.display()))
    })?;
    let mut calls = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let call: Call = serde_json::from_str(line).map_err(|e| {
            BenchError::Usage(format!(
                "{}:{}: expected {{\"name\": \"tool\", \"arguments\": {{...}}}}: {e}",
                path.display(),
                n + 1
            ))
        })?;
        calls.push(call);
    }
    if calls.is_empty() {
        return Err(BenchError::Usage(format!(
            "calls file {} has no calls",
            path.display()
        )));
    }
    Ok(calls)
}

/// Parses `--args`.
pub(crate) fn parse_arguments(text: &str) -> Result<Map<String, Value>, BenchError> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(BenchError::Usage(
            "--args must be a JSON object, e.g. '{\"id\": 1}'".to_owned(),
        )),
        Err(e) => Err(BenchError::Usage(format!("--args is not valid JSON: {e}"))),
    }
}

/// A request ready to send, but for its id.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    /// The JSON-RPC method, also the `Mcp-Method` header.
    pub method: &'static str,
    /// `Mcp-Name` header (tool name, encoded per SEP-2243), for `tools/call`.
    pub name_header: Option<HeaderValue>,
    /// Everything after the id: `,"method":...,"params":{...}}`.
    tail: Bytes,
}

const HEAD: &[u8] = br#"{"jsonrpc":"2.0","id":"#;

impl Prepared {
    /// Builds the request of `method` (with `call` for `tools/call`); with `meta_version`
    /// the params carry the 2026-07-28 `_meta`: protocol version, client capabilities, and
    /// client info, which clients SHOULD send (every SDK does, and so does the gateway to its
    /// upstreams: a server's cost per request depends on it).
    pub fn new(method: McpMethod, call: Option<&Call>, meta_version: Option<&str>) -> Self {
        let mut params = Map::new();
        let mut name_header = None;
        if let (McpMethod::ToolsCall, Some(call)) = (method, call) {
            params.insert("name".to_owned(), Value::String(call.name.clone()));
            params.insert(
                "arguments".to_owned(),
                Value::Object(call.arguments.clone()),
            );
            name_header = HeaderValue::from_str(&encode_header_value(&call.name)).ok();
        }
        if let Some(version) = meta_version {
            params.insert(
                "_meta".to_owned(),
                json!({
                    "io.modelcontextprotocol/protocolVersion": version,
                    "io.modelcontextprotocol/clientInfo": {
                        "name": "toolgate-bench", "version": env!("CARGO_PKG_VERSION"),
                    },
                    "io.modelcontextprotocol/clientCapabilities": {},
                }),
            );
        }
        let tail = format!(
            r#","method":{},"params":{}}}"#,
            Value::String(method.as_str().to_owned()),
            Value::Object(params)
        );
        Prepared {
            method: method.as_str(),
            name_header,
            tail: Bytes::from(tail),
        }
    }

    /// The request body with `id`.
    pub fn body(&self, id: u64) -> Bytes {
        let mut buf = BytesMut::with_capacity(HEAD.len() + 20 + self.tail.len() + 1);
        buf.put_slice(HEAD);
        buf.put_slice(id.to_string().as_bytes());
        buf.put_slice(&self.tail);
        buf.freeze()
    }

    /// The request as one stdio line (newline-terminated) with `id`.
    pub fn line(&self, id: u64) -> Vec<u8> {
        let mut buf = Vec::with_capacity(HEAD.len() + 20 + self.tail.len() + 1);
        buf.extend_from_slice(HEAD);
        buf.extend_from_slice(id.to_string().as_bytes());
        buf.extend_from_slice(&self.tail);
        buf.push(b'\n');
        buf
    }
}

/// Encodes a value for an `Mcp-Name` / `Mcp-Param-*` header: Base64 in the `=?base64?...?=`
/// sentinel when it would not survive as a header value (SEP-2243), verbatim otherwise.
pub(crate) fn encode_header_value(value: &str) -> String {
    const PREFIX: &str = "=?base64?";
    const SUFFIX: &str = "?=";
    let bytes = value.as_bytes();
    let needs = matches!(bytes.first(), Some(b' ' | b'\t'))
        || matches!(bytes.last(), Some(b' ' | b'\t'))
        || value
            .chars()
            .any(|c| (c as u32) < 0x20 || (c as u32) > 0x7E)
        || (value.starts_with(PREFIX) && value.ends_with(SUFFIX));
    if needs {
        format!(
            "{PREFIX}{}{SUFFIX}",
            base64::engine::general_purpose::STANDARD.encode(value)
        )
    } else {
        value.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_splices_the_id_into_valid_json() {
        let call = Call {
            name: "get_item".to_owned(),
            arguments: parse_arguments(r#"{"id": 7}"#).unwrap(),
        };
        let p = Prepared::new(McpMethod::ToolsCall, Some(&call), Some(STATELESS_VERSION));
        let v: Value = serde_json::from_slice(&p.body(42)).unwrap();
        assert_eq!(
            v,
            json!({
                "jsonrpc": "2.0", "id": 42, "method": "tools/call",
                "params": {
                    "name": "get_item", "arguments": {"id": 7},
                    "_meta": {
                        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                        "io.modelcontextprotocol/clientInfo": {
                            "name": "toolgate-bench", "version": env!("CARGO_PKG_VERSION"),
                        },
                        "io.modelcontextprotocol/clientCapabilities": {}
                    }
                }
            })
        );
        assert_eq!(p.name_header.as_ref().unwrap(), "get_item");
        let line = p.line(1);
        assert_eq!(line.last(), Some(&b'\n'));
    }

    #[test]
    fn header_values_that_would_not_survive_are_base64() {
        assert_eq!(encode_header_value("plain_name"), "plain_name");
        assert_eq!(encode_header_value(" lead"), "=?base64?IGxlYWQ=?=");
        assert_eq!(encode_header_value("é"), "=?base64?w6k=?=");
    }

    #[test]
    fn calls_file_reports_the_bad_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("calls.jsonl");
        std::fs::write(&path, "{\"name\":\"a\"}\n\n{\"nam\":1}\n").unwrap();
        let err = load_calls_file(&path).unwrap_err().to_string();
        assert!(err.contains("calls.jsonl:3"), "{err}");
        std::fs::write(
            &path,
            "{\"name\":\"a\"}\n{\"name\":\"b\",\"arguments\":{\"x\":1}}\n",
        )
        .unwrap();
        let calls = load_calls_file(&path).unwrap();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[1].arguments["x"], 1);
    }
}
