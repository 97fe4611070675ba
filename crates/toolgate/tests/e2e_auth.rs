//! Authentication end to end, through the `toolgate` binary, against a real OpenID provider
//! (the npm package `oidc-provider`, started by `tests/e2e/oidc_provider.mjs`):
//!
//! - the official MCP Python SDK client, with its own client-credentials OAuth provider, is
//!   refused with 401, follows toolgate's RFC 9728 metadata to the provider, gets a token for
//!   toolgate's resource and lists and calls tools, in both protocol eras;
//! - the call log names the subject and never the token; `/metrics` counts the decisions;
//! - the attack suite: forged tokens (alg none, HS/RS confusion, unknown kid, a key not in the
//!   JWKS, expired, not yet valid, no exp, wrong audience or issuer, malformed, 16 KB), a
//!   token in the query string, another subject's session, and a flood of unknown kids (the
//!   provider counts its JWKS fetches): each refused with the right status, never a 5xx, and
//!   a good call still works afterwards.

mod common;

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use base64::Engine as _;
use common::{Captured, Guard, TOOLGATE_BIN, dependency, free_port, spawn_capturing};
use serde_json::{Value, json};

/// The running OpenID provider.
struct Idp {
    _child: Guard,
    issuer: String,
    forged: serde_json::Map<String, Value>,
}

impl Idp {
    /// Starts the provider issuing tokens for `resource`; `None` when Node or the packages
    /// are missing (a failure under CI).
    fn start(resource: &str) -> Option<Idp> {
        let node = dependency("TOOLGATE_TEST_NODE22")?;
        let modules = dependency("TOOLGATE_TEST_NODE_MODULES")?;
        let mut child = Command::new(node)
            .arg(common::repo_root().join("tests/e2e/oidc_provider.mjs"))
            .arg(resource)
            .env("TOOLGATE_TEST_NODE_MODULES", modules)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let ready: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("oidc_provider.mjs did not start ({e}): {line:?}"));
        Some(Idp {
            _child: Guard(child),
            issuer: ready["issuer"].as_str().unwrap().to_owned(),
            forged: ready["forged"].as_object().unwrap().clone(),
        })
    }

    /// A token from the client credentials grant.
    fn token(&self, client: &str, secret: &str, resource: &str) -> String {
        let r = reqwest::blocking::Client::new()
            .post(format!("{}/token", self.issuer))
            .basic_auth(client, Some(secret))
            .form(&[("grant_type", "client_credentials"), ("resource", resource)])
            .send()
            .unwrap();
        assert!(r.status().is_success(), "token request: {}", r.status());
        r.json::<Value>().unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A token from the client credentials grant with `scope` requested.
    fn scoped_token(&self, client: &str, secret: &str, resource: &str, scope: &str) -> String {
        let r = reqwest::blocking::Client::new()
            .post(format!("{}/token", self.issuer))
            .basic_auth(client, Some(secret))
            .form(&[
                ("grant_type", "client_credentials"),
                ("resource", resource),
                ("scope", scope),
            ])
            .send()
            .unwrap();
        assert!(r.status().is_success(), "token request: {}", r.status());
        r.json::<Value>().unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// How many times the JWKS was fetched so far.
    fn jwks_fetches(&self) -> u64 {
        reqwest::blocking::get(format!("{}/test/jwks-fetches", self.issuer))
            .unwrap()
            .json::<Value>()
            .unwrap()["fetches"]
            .as_u64()
            .unwrap()
    }
}

/// A running gateway with authentication on, over an in-process Todo API.
struct Gateway {
    _child: Guard,
    captured: Captured,
    base: String,
    mcp: String,
    /// The Todo API behind it.
    api: String,
    _dir: tempfile::TempDir,
}

/// Starts the Todo API (on its own runtime thread) and `toolgate serve` in front of it,
/// authenticating against `issuer`, on `port`.
fn start_gateway(port: u16, issuer: &str) -> Gateway {
    let api_addr = common::todo_api_thread();
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("todo.json");
    std::fs::write(&spec, todo_api::openapi().to_string()).unwrap();
    let config = dir.path().join("toolgate.yaml");
    std::fs::write(
        &config,
        format!(
            "http:\n  bind: 127.0.0.1:{port}\nauth:\n  issuer: {issuer}\n  jwt: {{}}\n  scopes_supported: [\"tools:read\", \"tools:call\"]\nauthorization:\n  rules:\n    - name: callers\n      principals: {{scopes: [tools:call]}}\n      tools: {{}}\n    - name: readers\n      principals: {{scopes: [tools:read]}}\n      tools: {{read_only: true}}\nsources:\n  - name: todo\n    spec: {}\n    base_url: http://{api_addr}\n",
            spec.display()
        ),
    )
    .unwrap();
    let mut command = Command::new(TOOLGATE_BIN);
    command
        .args(["serve", "--config"])
        .arg(&config)
        .env("RUST_LOG", "info");
    let (child, _, captured) = spawn_capturing(command, "toolgate: serving")
        .unwrap_or_else(|output| panic!("toolgate did not start:\n{output}"));
    let base = format!("http://127.0.0.1:{port}");
    Gateway {
        _child: child,
        captured,
        mcp: format!("{base}/mcp"),
        base,
        api: format!("http://{api_addr}"),
        _dir: dir,
    }
}

/// Both, or `None` when a dependency is missing.
fn start() -> Option<(Idp, Gateway)> {
    let port = free_port();
    let resource = format!("http://127.0.0.1:{port}/mcp");
    let idp = Idp::start(&resource)?;
    let gateway = start_gateway(port, &idp.issuer);
    Some((idp, gateway))
}

fn initialize() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "attack", "version": "1"}}})
}

/// POSTs `body` to `url` with `token` (if any) as a bearer token.
fn post(
    url: &str,
    token: Option<&str>,
    session: Option<&str>,
    body: &Value,
) -> reqwest::blocking::Response {
    let mut r = reqwest::blocking::Client::new()
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .json(body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(s) = session {
        r = r.header("mcp-session-id", s);
    }
    r.send().unwrap()
}

/// Opens a session with `token`: its id.
fn open_session(url: &str, token: &str) -> String {
    let r = post(url, Some(token), None, &initialize());
    assert_eq!(r.status(), 200);
    let id = r.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let done = post(
        url,
        Some(token),
        Some(&id),
        &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    );
    assert_eq!(done.status(), 202);
    id
}

fn list_tools() -> Value {
    json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}})
}

fn python_check(python: &Path, args: &[&str]) -> Value {
    let script = common::repo_root().join("tests/e2e/auth_client_check.py");
    let out = Command::new(python)
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "python client failed for {args:?}:\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap()
}

#[test]
fn python_sdk_client_authenticates_with_a_real_openid_provider() {
    let Some(python) = dependency("TOOLGATE_TEST_PYTHON") else {
        return;
    };
    let Some((idp, gateway)) = start() else {
        return;
    };
    // Unauthenticated: 401 with the challenge pointing at the metadata.
    let r = post(&gateway.mcp, None, None, &initialize());
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    let metadata_url = format!("{}/.well-known/oauth-protected-resource/mcp", gateway.base);
    assert!(
        challenge.starts_with(&format!("Bearer resource_metadata=\"{metadata_url}\"")),
        "{challenge}"
    );
    assert!(
        !challenge.contains("error="),
        "no token, no error code: {challenge}"
    );
    // The metadata names the resource and the provider.
    for url in [
        metadata_url.clone(),
        format!("{}/.well-known/oauth-protected-resource", gateway.base),
    ] {
        let metadata: Value = reqwest::blocking::get(&url).unwrap().json().unwrap();
        assert_eq!(metadata["resource"], gateway.mcp, "{url}: {metadata}");
        assert_eq!(
            metadata["authorization_servers"][0], idp.issuer,
            "{metadata}"
        );
    }
    // The SDK client does the OAuth dance and calls tools, in both eras.
    for mode in ["2026-07-28", "legacy"] {
        let summary = python_check(
            &python,
            &[
                "--url",
                &gateway.mcp,
                "--issuer",
                &idp.issuer,
                "--client-id",
                "full",
                "--client-secret",
                "full-secret",
                "--mode",
                mode,
                "--call",
                "create_user",
                "--arguments",
                r#"{"name": "Ada", "email": "ada@example.com"}"#,
            ],
        );
        let tools = summary["tools"].as_array().unwrap();
        assert!(tools.iter().any(|t| t == "create_user"), "{summary}");
        assert_eq!(summary["result"]["email"], "ada@example.com", "{summary}");
    }
    // A direct call: the log names the subject (the client id) and never the token.
    let token = idp.token("full", "full-secret", &gateway.mcp);
    let session = open_session(&gateway.mcp, &token);
    let r = post(&gateway.mcp, Some(&token), Some(&session), &list_tools());
    assert_eq!(r.status(), 200);
    let metrics = reqwest::blocking::Client::new()
        .get(format!("{}/metrics", gateway.base))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("toolgate_auth_decisions_total"),
        "{metrics}"
    );
    let logs = gateway.captured.all();
    assert!(
        logs.lines()
            .any(|l| l.contains("call finished") && l.contains(r#"subject="full""#)),
        "{logs}"
    );
    assert!(!logs.contains(&token), "the token was logged");
    assert!(logs.contains("authentication on"), "{logs}");
    // The example configuration is valid against this provider, as `serve` would build it.
    let example =
        std::fs::read_to_string(common::repo_root().join("examples/configs/auth-oidc.yaml"))
            .unwrap()
            .replace("https://idp.example.com/realms/main", &idp.issuer)
            .replace("http://127.0.0.1:8000", &gateway.api);
    let file = gateway._dir.path().join("auth-oidc.yaml");
    std::fs::write(&file, example).unwrap();
    let out = Command::new(TOOLGATE_BIN)
        .arg("check-config")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "examples/configs/auth-oidc.yaml: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // A second client with fewer scopes (`reader`: tools:read, its token from the same
    // provider) sees fewer tools: the read-only ones (the `authorization` rules above).
    let tools_of = |client: &str, secret: &str, scope: &str| -> Vec<String> {
        let token = idp.scoped_token(client, secret, &gateway.mcp, scope);
        let session = open_session(&gateway.mcp, &token);
        let r = post(&gateway.mcp, Some(&token), Some(&session), &list_tools());
        assert_eq!(r.status(), 200);
        let body = r.text().unwrap();
        let message = common::clients::message_of(&body);
        message["result"]["tools"]
            .as_array()
            .unwrap_or_else(|| panic!("{body}"))
            .iter()
            .map(|t| t["name"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let full = tools_of("full", "full-secret", "tools:read tools:call");
    let reader = tools_of("reader", "reader-secret", "tools:read");
    assert!(reader.len() < full.len(), "{reader:?} vs {full:?}");
    assert!(reader.contains(&"list_users".to_owned()), "{reader:?}");
    assert!(!reader.contains(&"create_user".to_owned()), "{reader:?}");
}

#[test]
fn attacks_are_refused_and_the_server_keeps_serving() {
    let Some((idp, gateway)) = start() else {
        return;
    };
    let url = &gateway.mcp;
    let good = idp.token("full", "full-secret", url);
    // Warm the key cache, so the flood below is measured against a cached JWKS.
    assert_eq!(post(url, Some(&good), None, &initialize()).status(), 200);
    for (name, token) in &idp.forged {
        let token = token.as_str().unwrap();
        let r = post(url, Some(token), None, &initialize());
        let status = r.status().as_u16();
        let challenge = r
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = r.text().unwrap();
        eprintln!("{name}: {status} {body}");
        assert!(
            status == 401 || status == 400,
            "{name}: status {status} {body}"
        );
        assert!(challenge.contains("error="), "{name}: {challenge}");
        assert!(!body.contains(token), "{name}: the token was echoed");
        assert!(!challenge.contains(token), "{name}: the token was echoed");
    }
    // A token in the query string is not a credential.
    let r = post(
        &format!("{url}?access_token={good}"),
        None,
        None,
        &initialize(),
    );
    let status = r.status().as_u16();
    eprintln!("token in the query string: {status} {}", r.text().unwrap());
    assert!(matches!(status, 400 | 401), "{status}");
    // Another subject's session is not found.
    let reader = idp.token("reader", "reader-secret", url);
    let session = open_session(url, &good);
    let r = post(url, Some(&reader), Some(&session), &list_tools());
    assert_eq!(r.status(), 404);
    let r = post(url, None, Some(&session), &list_tools());
    assert_eq!(r.status(), 401);
    // A flood of unknown kids costs the provider at most one JWKS fetch.
    let before = idp.jwks_fetches();
    let template = idp.forged["unknown_kid"].as_str().unwrap();
    let (_, rest) = template.split_once('.').unwrap();
    for i in 0..100 {
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(json!({"alg": "RS256", "kid": format!("flood-{i}")}).to_string());
        let status = post(url, Some(&format!("{header}.{rest}")), None, &initialize()).status();
        assert_eq!(status, 401, "flood token {i}");
    }
    let fetched = idp.jwks_fetches() - before;
    eprintln!("JWKS fetches caused by 100 unknown kids: {fetched}");
    assert!(
        fetched <= 1,
        "the flood made toolgate fetch the JWKS {fetched} times"
    );
    // Still serving.
    let r = post(url, Some(&good), Some(&session), &list_tools());
    assert_eq!(r.status(), 200);
    let logs = gateway.captured.all();
    assert!(!logs.contains(&good), "a token was logged");
}

/// stdio carries no credential: with `auth.stdio`, calls run (and are logged) as that caller.
#[test]
fn stdio_runs_as_the_configured_principal() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("todo.json");
    std::fs::write(&spec, todo_api::openapi().to_string()).unwrap();
    let config = dir.path().join("toolgate.yaml");
    std::fs::write(
        &config,
        format!(
            "auth:\n  issuer: http://127.0.0.1:9\n  jwt: {{}}\n  stdio:\n    subject: ci-bot\n    scopes: [tools:read]\nauthorization:\n  rules:\n    - name: callers\n      principals: {{scopes: [tools:call]}}\n      tools: {{}}\n    - name: readers\n      principals: {{scopes: [tools:read]}}\n      tools: {{read_only: true}}\nsources:\n  - name: todo\n    spec: {}\n    base_url: http://127.0.0.1:9\n",
            spec.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(TOOLGATE_BIN)
        .args(["serve", "--stdio", "--config"])
        .arg(&config)
        .env("RUST_LOG", "info")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut send = |message: Value| {
        writeln!(stdin, "{message}").unwrap();
        stdin.flush().unwrap();
    };
    send(initialize());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(line.contains("serverInfo"), "{line}");
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}));
    line.clear();
    stdout.read_line(&mut line).unwrap();
    // `tools:read` only: the read-only tools (authorization rules above).
    assert!(
        line.contains("list_users") && !line.contains("create_user"),
        "{line}"
    );
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(
        logs.lines()
            .any(|l| l.contains("call finished") && l.contains("ci-bot")),
        "{logs}"
    );
}

/// `check-config` builds the verifier as `serve` does and names the path of each problem;
/// `--offline` checks the shape only.
#[test]
fn check_config_reports_auth_problems_at_their_paths() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("todo.json");
    std::fs::write(&spec, todo_api::openapi().to_string()).unwrap();
    let cases = [
        (
            "auth:\n  jwt:\n    hs_secret: short\n".to_owned(),
            "auth.jwt.hs_secret",
        ),
        ("auth:\n  issuer: x\n".to_owned(), "auth: no way"),
    ];
    for (auth, needle) in cases {
        let config = dir.path().join("toolgate.yaml");
        std::fs::write(
            &config,
            format!(
                "{auth}sources:\n  - name: todo\n    spec: {}\n    base_url: http://127.0.0.1:9\n",
                spec.display()
            ),
        )
        .unwrap();
        let out = Command::new(TOOLGATE_BIN)
            .arg("check-config")
            .arg(&config)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("{text}");
        assert_eq!(out.status.code(), Some(2), "{auth}: {text}");
        assert!(text.contains(&format!("  - {needle}")), "{auth}: {text}");
        assert!(!text.contains("short"), "the secret was printed: {text}");
        let offline = Command::new(TOOLGATE_BIN)
            .args(["check-config", "--offline"])
            .arg(&config)
            .output()
            .unwrap();
        assert!(offline.status.success(), "{auth}: offline");
    }
}
