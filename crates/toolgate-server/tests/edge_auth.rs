//! Proof that no HTTP path reaches a tool around authentication: with auth on, every way in
//! (initialize, a 2026-07-28 `tools/call` on the fast path, a legacy-session `tools/call` on
//! the fast path and on rmcp's path, the GET stream, DELETE, `/metrics`) is refused without a
//! token and with a bad one, and works with a good one; the tool itself reports the subject
//! it ran as, so the principal demonstrably reaches the pipeline. Sessions are bound to the
//! caller that opened them; stdio runs as the configured principal.

use std::sync::Arc;

use futures::future::BoxFuture;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use toolgate_core::catalog::{Catalog, ToolEntry, shared};
use toolgate_core::{
    AuthMethod, Authenticator, CallContext, Principal, ReadinessProbe, Refusal, ToolError,
    ToolHandler, Transport,
};
use toolgate_server::{AuthSettings, EdgeAuth, Gateway, HttpOptions, ServerIdentity};

/// Answers with the subject of the caller it runs for (`anonymous` without one).
struct WhoAmI {
    /// Served by rmcp (as a tool that talks back to the client is), never by the fast path.
    interactive: bool,
}

impl ToolHandler for WhoAmI {
    fn call(
        &self,
        ctx: &CallContext,
        _arguments: JsonObject,
    ) -> BoxFuture<'static, Result<CallToolResult, ToolError>> {
        let subject = ctx
            .principal
            .as_ref()
            .map_or("anonymous".to_owned(), |p| p.subject.clone());
        Box::pin(async move { Ok(CallToolResult::success(vec![ContentBlock::text(subject)])) })
    }

    fn interactive(&self) -> bool {
        self.interactive
    }
}

struct Ready;
impl ReadinessProbe for Ready {
    fn check(&self) -> BoxFuture<'static, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
}

/// Two fixed tokens, `alice-token` and `bob-token`.
struct FixedTokens;

impl Authenticator for FixedTokens {
    fn authenticate<'a>(
        &'a self,
        request: &'a http::request::Parts,
    ) -> BoxFuture<'a, Result<Arc<Principal>, Refusal>> {
        let header = request
            .headers
            .get(http::header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap_or("").to_owned());
        Box::pin(async move {
            let Some(header) = header else {
                return Err(Refusal::missing("send a bearer token"));
            };
            match header.strip_prefix("Bearer ") {
                Some("alice-token") => Ok(Arc::new(Principal::new(
                    "alice",
                    vec!["tools".into()],
                    AuthMethod::ApiKey,
                ))),
                Some("bob-token") => Ok(Arc::new(Principal::new(
                    "bob",
                    vec!["tools".into()],
                    AuthMethod::ApiKey,
                ))),
                _ => Err(Refusal::invalid_token(
                    "unknown",
                    "the token \"is\" not known",
                )),
            }
        })
    }
}

/// Calls that reached the pipeline, from a `/metrics` text.
fn calls_served(metrics: &toolgate_policy::Metrics) -> f64 {
    metrics
        .encode()
        .lines()
        .filter(|l| l.starts_with("toolgate_edge_calls_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn gateway() -> (Gateway, Arc<toolgate_policy::Metrics>) {
    let mut b = Catalog::builder();
    b.add_source(Arc::from("test"), Arc::new(Ready));
    for (name, interactive) in [("whoami", false), ("whoami_rmcp", true)] {
        b.add_tool(ToolEntry {
            tool: Tool::new(name, "who am I", Arc::new(JsonObject::new())),
            source: Arc::from("test"),
            handler: Arc::new(WhoAmI { interactive }),
            meta: Default::default(),
        })
        .unwrap();
    }
    let catalog = shared(b.build());
    let metrics = toolgate_policy::Metrics::new();
    let pipeline = toolgate_policy::stack::build(catalog.clone(), metrics.clone());
    let gateway = Gateway::new(
        pipeline,
        catalog,
        ServerIdentity::default(),
        Transport::Http,
    );
    (gateway, metrics)
}

struct Server {
    base: String,
    metrics: Arc<toolgate_policy::Metrics>,
}

async fn start(auth: EdgeAuth) -> Server {
    let (gateway, metrics) = gateway();
    let app = toolgate_server::gateway_app(
        gateway,
        &HttpOptions::default(),
        auth,
        metrics.clone(),
        CancellationToken::new(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Server {
        base: format!("http://{addr}"),
        metrics,
    }
}

fn auth_on() -> EdgeAuth {
    let settings = AuthSettings::new(
        Arc::new(FixedTokens),
        json!({
            "resource": "http://127.0.0.1/mcp",
            "authorization_servers": ["https://idp.example"],
            "scopes_supported": ["tools", "admin"],
            "bearer_methods_supported": ["header"],
        }),
        "http://gateway.example/mcp",
    );
    EdgeAuth::on(settings)
}

const ACCEPT: &str = "application/json, text/event-stream";

/// One request to the MCP endpoint.
struct Req<'a> {
    method: reqwest::Method,
    token: Option<&'a str>,
    session: Option<&'a str>,
    version: &'a str,
    extra: Vec<(&'static str, String)>,
    body: Option<Value>,
}

impl<'a> Req<'a> {
    fn post(body: Value) -> Self {
        Req {
            method: reqwest::Method::POST,
            token: None,
            session: None,
            version: "2025-11-25",
            extra: vec![],
            body: Some(body),
        }
    }
    fn token(mut self, token: Option<&'a str>) -> Self {
        self.token = token;
        self
    }
    fn session(mut self, session: &'a str) -> Self {
        self.session = Some(session);
        self
    }
    async fn send(self, base: &str) -> reqwest::Response {
        let client = reqwest::Client::new();
        let mut r = client
            .request(self.method, format!("{base}/mcp"))
            .header("accept", ACCEPT)
            .header("mcp-protocol-version", self.version);
        if let Some(t) = self.token {
            r = r.bearer_auth(t);
        }
        if let Some(s) = self.session {
            r = r.header("mcp-session-id", s);
        }
        for (k, v) in self.extra {
            r = r.header(k, v);
        }
        if let Some(body) = self.body {
            r = r.json(&body);
        }
        r.send().await.unwrap()
    }
}

fn initialize() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"}}})
}

fn call(name: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": name, "arguments": {}}})
}

/// A 2026-07-28 request the fast path takes (complete `_meta`, matching headers).
fn modern_call(token: Option<&str>) -> Req<'_> {
    let mut r = Req::post(json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "whoami", "arguments": {}, "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {}}}}))
    .token(token);
    r.version = "2026-07-28";
    r.extra = vec![
        ("mcp-method", "tools/call".to_owned()),
        ("mcp-name", "whoami".to_owned()),
    ];
    r
}

/// Opens a legacy session as `token`'s caller: its id.
async fn open_session(base: &str, token: Option<&str>) -> String {
    let r = Req::post(initialize()).token(token).send(base).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let id = r.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let mut done = Req::post(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .token(token)
        .session(&id);
    done.body = Some(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    assert_eq!(done.send(base).await.status(), 202);
    id
}

/// The text of a `tools/call` answer (JSON or one SSE event).
async fn tool_text(r: reqwest::Response) -> String {
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    let v: Value = std::iter::once(body.as_str())
        .chain(body.lines().filter_map(|l| l.strip_prefix("data:")))
        .find_map(|text| serde_json::from_str::<Value>(text.trim()).ok())
        .unwrap_or_else(|| panic!("no JSON-RPC answer in {body:?}"));
    v["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text in {v}"))
        .to_owned()
}

fn assert_challenge(r: &reqwest::Response, token_sent: bool) {
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.starts_with(
            "Bearer resource_metadata=\"http://gateway.example/.well-known/oauth-protected-resource/mcp\", scope=\"tools admin\""
        ),
        "{challenge}"
    );
    assert_eq!(
        challenge.contains("error=\"invalid_token\""),
        token_sent,
        "{challenge}"
    );
}

/// Every way in, without a token and with a bad one: refused with a challenge.
#[tokio::test]
async fn no_path_reaches_a_tool_without_a_good_token() {
    let server = start(auth_on()).await;
    let base = &server.base;
    let session = open_session(base, Some("alice-token")).await;
    for token in [None, Some("wrong-token")] {
        let sent = token.is_some();
        let r = Req::post(initialize()).token(token).send(base).await;
        assert_challenge(&r, sent);
        let body: Value = r.json().await.unwrap();
        assert!(!body.to_string().contains("wrong-token"), "{body}");
        if sent {
            assert_eq!(body["error"], "invalid_token");
            assert_eq!(body["error_description"], "the token \"is\" not known");
        }
        assert_challenge(&modern_call(token).send(base).await, sent);
        for tool in ["whoami", "whoami_rmcp"] {
            let r = Req::post(call(tool)).token(token).session(&session);
            assert_challenge(&r.send(base).await, sent);
        }
        for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
            let mut r = Req::post(json!({})).token(token).session(&session);
            r.method = method;
            r.body = None;
            assert_challenge(&r.send(base).await, sent);
        }
        let mut metrics = reqwest::Client::new().get(format!("{base}/metrics"));
        if let Some(t) = token {
            metrics = metrics.bearer_auth(t);
        }
        assert_challenge(&metrics.send().await.unwrap(), sent);
    }
    // Nothing ran: no call reached the pipeline.
    assert_eq!(
        calls_served(&server.metrics),
        0.0,
        "{}",
        server.metrics.encode()
    );
    // Open endpoints stay open.
    for path in [
        "/healthz",
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        let r = reqwest::get(format!("{base}{path}")).await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    let metadata: Value = reqwest::get(format!("{base}/.well-known/oauth-protected-resource/mcp"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["authorization_servers"][0], "https://idp.example");
}

/// With a good token every path works and the tool sees the caller.
#[tokio::test]
async fn every_path_carries_the_principal_to_the_tool() {
    let server = start(auth_on()).await;
    let base = &server.base;
    let alice = Some("alice-token");
    assert_eq!(
        tool_text(modern_call(alice).send(base).await).await,
        "alice"
    );
    let session = open_session(base, alice).await;
    for tool in ["whoami", "whoami_rmcp"] {
        let r = Req::post(call(tool)).token(alice).session(&session);
        assert_eq!(tool_text(r.send(base).await).await, "alice", "{tool}");
    }
    // Both paths served: two fast-path calls and one through rmcp.
    let text = server.metrics.encode();
    let served = |path: &str| {
        text.lines()
            .filter(|l| l.starts_with("toolgate_edge_calls_total{") && l.contains(path))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    assert_eq!(served(r#"path="fast""#), 2.0, "{text}");
    assert_eq!(served(r#"path="rmcp""#), 1.0, "{text}");
    let metrics = reqwest::Client::new()
        .get(format!("{base}/metrics"))
        .bearer_auth("alice-token")
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    let mut delete = Req::post(json!({})).token(alice).session(&session);
    delete.method = reqwest::Method::DELETE;
    delete.body = None;
    assert_eq!(delete.send(base).await.status(), 204);
}

/// A session is its opener's: another caller's token gets 404 (as for an unknown session) on
/// every method, and the session still works for its owner afterwards.
#[tokio::test]
async fn sessions_are_bound_to_the_caller_that_opened_them() {
    let server = start(auth_on()).await;
    let base = &server.base;
    let session = open_session(base, Some("alice-token")).await;
    for tool in ["whoami", "whoami_rmcp"] {
        let r = Req::post(call(tool))
            .token(Some("bob-token"))
            .session(&session);
        assert_eq!(r.send(base).await.status(), 404, "{tool}");
    }
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let mut r = Req::post(json!({}))
            .token(Some("bob-token"))
            .session(&session);
        r.method = method.clone();
        r.body = None;
        assert_eq!(r.send(base).await.status(), 404, "{method}");
    }
    let r = Req::post(call("whoami"))
        .token(Some("alice-token"))
        .session(&session);
    assert_eq!(tool_text(r.send(base).await).await, "alice");
}

/// With auth off everything works as before, anonymously, and a principal smuggled in by
/// another layer is dropped: the edge is the only place one is established.
#[tokio::test]
async fn auth_off_serves_anonymously() {
    let server = start(EdgeAuth::Off).await;
    let base = &server.base;
    assert_eq!(
        tool_text(modern_call(None).send(base).await).await,
        "anonymous"
    );
    let session = open_session(base, None).await;
    let r = Req::post(call("whoami_rmcp")).session(&session);
    assert_eq!(tool_text(r.send(base).await).await, "anonymous");
    let r = reqwest::get(format!("{base}/.well-known/oauth-protected-resource"))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        reqwest::get(format!("{base}/metrics"))
            .await
            .unwrap()
            .status(),
        200
    );
}

/// `auth.metrics: open` leaves `/metrics` readable without a token.
#[tokio::test]
async fn metrics_can_be_left_open() {
    let mut settings = AuthSettings::new(Arc::new(FixedTokens), json!({}), "http://x/mcp");
    settings.metrics = toolgate_server::MetricsAccess::Open;
    let server = start(EdgeAuth::on(settings)).await;
    let r = reqwest::get(format!("{}/metrics", server.base))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        Req::post(initialize()).send(&server.base).await.status(),
        401
    );
}

/// stdio has no credentials: every request runs as the configured principal.
#[tokio::test]
async fn stdio_runs_as_the_configured_principal() {
    let gateway = gateway().0.with_stdio_principal(Some(Principal::new(
        "stdio-user",
        vec![],
        AuthMethod::Configured,
    )));
    let (client_end, server_end) = tokio::io::duplex(64 * 1024);
    let (read, write) = tokio::io::split(server_end);
    tokio::spawn(toolgate_server::serve_stdio_streams(
        gateway.with_transport(Transport::Stdio),
        read,
        write,
        true,
    ));
    let (client_read, mut client_write) = tokio::io::split(client_end);
    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};
    let mut lines = tokio::io::BufReader::new(client_read).lines();
    for message in [
        initialize(),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        call("whoami"),
        {
            let mut c = call("whoami_rmcp");
            c["id"] = json!(9);
            c
        },
    ] {
        client_write
            .write_all(format!("{message}\n").as_bytes())
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let line = lines.next_line().await.unwrap().expect("an answer");
        let v: Value = serde_json::from_str(&line).unwrap();
        if v.get("id").is_some() {
            seen.push(v);
        }
    }
    for v in &seen[1..] {
        assert_eq!(v["result"]["content"][0]["text"], "stdio-user", "{v}");
    }
}
