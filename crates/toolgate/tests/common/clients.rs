//! MCP over streamable HTTP spoken by hand, for tests that need exact control of headers and
//! bodies: a legacy (2025-11-25) session client and stateless 2026-07-28 requests.

use serde_json::Value;

/// The legacy revision these clients speak.
pub const LEGACY: &str = "2025-11-25";

/// A raw HTTP client speaking the 2025-11-25 session protocol.
pub struct LegacyClient {
    /// The MCP endpoint.
    pub url: String,
    /// The session id.
    pub session: String,
    /// The HTTP client.
    pub http: reqwest::Client,
}

impl LegacyClient {
    /// Opens a session (initialize + initialized).
    pub async fn connect(url: &str) -> Self {
        let http = reqwest::Client::new();
        let resp = http
            .post(url)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .body(format!(
                r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"{LEGACY}","capabilities":{{}},"clientInfo":{{"name":"diff","version":"1"}}}}}}"#
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "initialize");
        let session = resp
            .headers()
            .get("mcp-session-id")
            .expect("a session id")
            .to_str()
            .unwrap()
            .to_owned();
        let client = LegacyClient {
            url: url.to_owned(),
            session,
            http,
        };
        let (status, _) = client
            .post(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
            .await;
        assert_eq!(status, 202, "initialized notification");
        client
    }

    /// POSTs `body` in the session: the status and the JSON-RPC message, whether it came as
    /// JSON or as an SSE stream.
    pub async fn post(&self, body: &str) -> (u16, Value) {
        let resp = self
            .http
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-protocol-version", LEGACY)
            .header("mcp-session-id", &self.session)
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, message_of(&text))
    }

    /// Ends the session (HTTP DELETE): the status.
    pub async fn delete(&self) -> u16 {
        self.http
            .delete(&self.url)
            .header("mcp-session-id", &self.session)
            .header("mcp-protocol-version", LEGACY)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

/// The JSON-RPC message in a response body: the body itself, or the SSE `data:` line that
/// carries one (rmcp's priming event has empty data).
pub fn message_of(text: &str) -> Value {
    if let Ok(v) = serde_json::from_str(text) {
        return v;
    }
    text.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .find(|d| !d.is_empty())
        .and_then(|d| serde_json::from_str(d).ok())
        .unwrap_or_else(|| Value::String(text.to_owned()))
}

/// A complete 2026-07-28 `_meta`.
pub const MODERN_META: &str = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"diff","version":"1"}}"#;

/// POSTs a 2026-07-28 request: the status and the parsed answer.
pub async fn modern_post(
    url: &str,
    method: &str,
    name: Option<&str>,
    body: String,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method);
    if let Some(n) = name {
        req = req.header("mcp-name", n);
    }
    let resp = req.body(body).send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// [`modern_post`] with owned arguments, for a spawned task.
pub async fn modern_post_owned(
    url: String,
    method: &'static str,
    name: Option<&'static str>,
    body: String,
) -> (u16, Value) {
    modern_post(&url, method, name, body).await
}
