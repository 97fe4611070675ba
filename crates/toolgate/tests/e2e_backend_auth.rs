//! The quick start with backend credentials, through the real binary over stdio:
//! `serve --openapi URL --username-env … --password-env … --api-key-env …` against a backend
//! that serves the OpenAPI document a real FastAPI app generates with every FastAPI security
//! class (the compiler's fixture `fastapi_security.json`). The gateway logs in with the
//! password grant, the login operation is not a tool, and each endpoint gets its credential.
//!
//! Module `identity`: the caller's identity at the backend (claims as headers, minted JWTs
//! verified against toolgate's JWKS, RFC 8693 token exchange), end to end through the
//! gateway's handlers into a real HTTP backend and token endpoint.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rmcp::ServiceExt as _;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_toolgate");
const PASSWORD: &str = "correct horse&battery";

#[derive(Default)]
struct Seen {
    logins: AtomicUsize,
}

/// The FastAPI app's behaviour, enough of it: login, `users/me`, an API key endpoint.
async fn backend(State((spec, seen)): State<(Arc<Value>, Arc<Seen>)>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let header = |n: &str| {
        parts
            .headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    match parts.uri.path() {
        "/openapi.json" => axum::Json((*spec).clone()).into_response(),
        "/api/v1/login/access-token" => {
            let form: Vec<(String, String)> =
                url::form_urlencoded::parse(&body).into_owned().collect();
            let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
            if get("grant_type") == Some("password")
                && get("username") == Some("svc@example.com")
                && get("password") == Some(PASSWORD)
            {
                seen.logins.fetch_add(1, Ordering::SeqCst);
                axum::Json(json!({"access_token": "tok-1", "token_type": "bearer"})).into_response()
            } else {
                (
                    StatusCode::BAD_REQUEST,
                    axum::Json(json!({"detail": "Incorrect email or password"})),
                )
                    .into_response()
            }
        }
        "/api/v1/users/me" => match header("authorization").as_deref() {
            Some("Bearer tok-1") => axum::Json(json!({"email": "svc@example.com"})).into_response(),
            _ => (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"detail": "Not authenticated"})),
            )
                .into_response(),
        },
        "/key-header" => axum::Json(json!({"key": header("x-api-key")})).into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn start_backend() -> (String, Arc<Seen>) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../toolgate-openapi/tests/fixtures/fastapi_security.json");
    let spec: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let seen = Arc::new(Seen::default());
    let app = axum::Router::new()
        .fallback(backend)
        .with_state((Arc::new(spec), seen.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/openapi.json"), seen)
}

#[tokio::test]
async fn serve_openapi_logs_in_with_credentials_named_on_the_command_line() {
    let (spec_url, seen) = start_backend().await;
    let transport = TokioChildProcess::new(tokio::process::Command::new(BIN).configure(|c| {
        c.args([
            "serve",
            "--openapi",
            &spec_url,
            "--stdio",
            "--username-env",
            "SVC_USER",
            "--password-env",
            "SVC_PASSWORD",
            "--api-key-env",
            "APIKeyHeader=SVC_KEY",
        ])
        .env("SVC_USER", "svc@example.com")
        .env("SVC_PASSWORD", PASSWORD)
        .env("SVC_KEY", "key-1");
    }))
    .unwrap();
    let client = ().serve(transport).await.expect("initialize over stdio");
    let tools: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    assert!(tools.contains(&"read_user_me".to_owned()), "{tools:?}");
    assert!(
        !tools.iter().any(|t| t.contains("login")),
        "the login operation is not a tool: {tools:?}"
    );

    let me = client
        .call_tool(CallToolRequestParams::new("read_user_me"))
        .await
        .unwrap();
    assert_ne!(me.is_error, Some(true), "{me:?}");
    assert_eq!(me.structured_content.unwrap()["email"], "svc@example.com");
    let key = client
        .call_tool(CallToolRequestParams::new("with_key_header"))
        .await
        .unwrap();
    assert_eq!(key.structured_content.unwrap()["key"], "key-1");
    client
        .call_tool(CallToolRequestParams::new("read_user_me"))
        .await
        .unwrap();
    assert_eq!(seen.logins.load(Ordering::SeqCst), 1, "the token is reused");
    client.cancel().await.unwrap();
}

#[test]
fn a_missing_credential_variable_is_a_clear_input_error() {
    let out = std::process::Command::new(BIN)
        .args([
            "serve",
            "--openapi",
            "http://127.0.0.1:9/openapi.json",
            "--stdio",
            "--bearer-token-env",
            "TOOLGATE_TEST_UNSET_TOKEN",
        ])
        .env_remove("TOOLGATE_TEST_UNSET_TOKEN")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "--bearer-token-env TOOLGATE_TEST_UNSET_TOKEN: environment variable `TOOLGATE_TEST_UNSET_TOKEN` is not set"
        ),
        "{stderr}"
    );
}

// ---------------------------------------------------------------------------------------------
// The caller's identity at the backend (`backend.identity`): claims as headers, JWTs minted by
// toolgate and verified against the JWKS it serves, RFC 8693 token exchange. The principal is
// injected into the call context as the authentication layer would set it, and the calls go
// through the gateway's catalog handlers into a real HTTP backend that records what it got.

mod identity {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, OnceLock};

    use axum::extract::{Request, State};
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Response};
    use base64::Engine as _;
    use rmcp::model::JsonObject;
    use serde_json::{Value, json};
    use toolgate_core::context::{AuthMethod, CallContext, Credential, Principal};

    const EXCHANGE_SECRET: &str = "exchange-secret-7Qp2";

    /// The backend: `GET /whoami` answers with the identity headers it received (and, when a
    /// JWKS URL is known, the verified claims of its bearer token); `POST /token` is an RFC
    /// 8693 token endpoint that checks the request and counts exchanges.
    struct Backend {
        jwks_url: OnceLock<String>,
        exchanges: AtomicUsize,
        first_exchange: tokio::sync::Notify,
        release: tokio::sync::watch::Sender<bool>,
    }

    fn spec() -> Value {
        json!({
            "openapi": "3.0.3",
            "info": {"title": "who", "version": "1"},
            "paths": {"/whoami": {"get": {
                "operationId": "whoami",
                "parameters": [{"name": "X-User-Id", "in": "header", "schema": {"type": "string"}}],
                "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"type": "object"}}}}}
            }}}
        })
    }

    async fn handle(State(b): State<Arc<Backend>>, req: Request) -> Response {
        let (parts, body) = req.into_parts();
        let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        let header = |n: &str| {
            parts
                .headers
                .get(n)
                .map(|v| Value::from(v.to_str().unwrap()))
                .unwrap_or(Value::Null)
        };
        match parts.uri.path() {
            "/openapi.json" => axum::Json(spec()).into_response(),
            "/whoami" if header("authorization") == "Bearer exchanged-for-dave" => {
                (StatusCode::UNAUTHORIZED, "token revoked").into_response()
            }
            "/whoami" => {
                let mut seen = json!({
                    "x-user-id": header("x-user-id"),
                    "x-user-scopes": header("x-user-scopes"),
                    "x-tenant": header("x-tenant"),
                    "x-display": header("x-display"),
                    "x-admin": header("x-admin"),
                    "authorization": header("authorization"),
                });
                if let (Some(url), Some(auth)) = (b.jwks_url.get(), seen["authorization"].as_str())
                {
                    seen["verified"] = verify(url, auth.strip_prefix("Bearer ").unwrap()).await;
                }
                axum::Json(seen).into_response()
            }
            "/token" => {
                let form: Vec<(String, String)> =
                    url::form_urlencoded::parse(&body).into_owned().collect();
                let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
                let basic = format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD
                        .encode(format!("toolgate:{EXCHANGE_SECRET}"))
                );
                let authorized = parts
                    .headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    == Some(basic.as_str());
                let well_formed = get("grant_type")
                    == Some("urn:ietf:params:oauth:grant-type:token-exchange")
                    && get("subject_token_type")
                        == Some("urn:ietf:params:oauth:token-type:access_token")
                    && get("audience") == Some("who-api")
                    && get("scope") == Some("who:read");
                let subject_token = get("subject_token").unwrap_or_default().to_owned();
                if !authorized || !well_formed {
                    return (
                        StatusCode::BAD_REQUEST,
                        axum::Json(json!({"error": "invalid_request", "error_description": format!("{form:?}")})),
                    )
                        .into_response();
                }
                if subject_token == "caller-token-revoked" {
                    return (
                        StatusCode::BAD_REQUEST,
                        axum::Json(json!({
                            "error": "invalid_grant",
                            "error_description": format!("subject_token {subject_token} is not active")
                        })),
                    )
                        .into_response();
                }
                b.exchanges.fetch_add(1, Ordering::SeqCst);
                b.first_exchange.notify_one();
                let mut release = b.release.subscribe();
                let _ = release.wait_for(|open| *open).await;
                let who = subject_token.strip_prefix("caller-token-").unwrap_or("?");
                axum::Json(json!({
                    "access_token": format!("exchanged-for-{who}"),
                    "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
                    "token_type": "Bearer",
                    "expires_in": 300
                }))
                .into_response()
            }
            _ => StatusCode::NOT_FOUND.into_response(),
        }
    }

    /// What a backend does with a minted token: fetch toolgate's JWKS, pick the key by `kid`,
    /// verify signature, issuer, audience and expiry.
    async fn verify(jwks_url: &str, token: &str) -> Value {
        let jwks: jsonwebtoken::jwk::JwkSet =
            reqwest::get(jwks_url).await.unwrap().json().await.unwrap();
        let kid = jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
        let jwk = jwks.find(&kid).expect("the token's kid is in the JWKS");
        let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
        validation.set_audience(&["who-api"]);
        validation.set_issuer(&["https://toolgate.test"]);
        match jsonwebtoken::decode::<Value>(token, &key, &validation) {
            Ok(data) => data.claims,
            Err(e) => json!({"error": e.to_string()}),
        }
    }

    async fn start_backend() -> (String, Arc<Backend>) {
        let (release, _) = tokio::sync::watch::channel(true);
        let state = Arc::new(Backend {
            jwks_url: OnceLock::new(),
            exchanges: AtomicUsize::new(0),
            first_exchange: tokio::sync::Notify::new(),
            release,
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}"), state)
    }

    async fn gateway(base: &str, identity: &str) -> toolgate::run::Assembled {
        let yaml = format!(
            "sources:\n  - name: who\n    spec: {base}/openapi.json\n    base_url: {base}\n    backend:\n      identity:\n{identity}"
        );
        let env = [("EXCHANGE_SECRET".to_owned(), EXCHANGE_SECRET.to_owned())].into();
        let config = toolgate::config::load(&yaml, "<test>", &env).unwrap();
        toolgate::run::assemble(&config, std::path::Path::new("."))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn alice() -> Principal {
        let mut p = Principal::new(
            "alice",
            vec!["todos:read".into(), "todos:write".into()],
            AuthMethod::Jwt,
        );
        p.claims = Arc::new(
            json!({"sub": "alice", "email": "alice@example.com", "org": {"id": 7}, "name": "Zoë\r\nX-Admin: yes"})
                .as_object()
                .unwrap()
                .clone(),
        );
        p.credential = Some(Credential::new("caller-token-alice"));
        p
    }

    fn with_token(subject: &str, token: &str) -> Principal {
        let mut p = Principal::new(subject, vec![], AuthMethod::Jwt);
        p.credential = Some(Credential::new(token));
        p
    }

    /// Calls `whoami` as `principal` with `arguments`: the backend's answer, or the error.
    async fn call(
        gw: &toolgate::run::Assembled,
        principal: Option<Principal>,
        arguments: Value,
    ) -> Result<Value, String> {
        let handler = gw
            .gateway
            .catalog()
            .load()
            .tool("whoami")
            .expect("the whoami tool")
            .handler
            .clone();
        let mut ctx = CallContext::in_process();
        ctx.principal = principal.map(Arc::new);
        let args: JsonObject = serde_json::from_value(arguments).unwrap();
        match handler.call(&ctx, args).await {
            Ok(r) => Ok(r.structured_content.expect("a JSON answer")),
            Err(e) => Err(e.message),
        }
    }

    /// The name of the `X-User-Id` header parameter as a tool argument.
    fn spoof_argument(gw: &toolgate::run::Assembled) -> String {
        let catalog = gw.gateway.catalog().load();
        let tool = catalog.tool("whoami").unwrap();
        let props = tool.tool.input_schema["properties"].as_object().unwrap();
        props
            .keys()
            .find(|k| k.to_lowercase().contains("user"))
            .unwrap_or_else(|| panic!("no header argument in {props:?}"))
            .clone()
    }

    #[tokio::test]
    async fn claims_become_sanitized_headers_and_client_values_for_them_are_dropped() {
        let (base, _) = start_backend().await;
        let gw = gateway(
            &base,
            "        headers:\n          X-User-Id: \"{sub}\"\n          X-User-Scopes: \"{scopes}\"\n          X-Tenant: \"org-{claims.org.id}\"\n          X-Display: \"{claims.name}\"\n",
        )
        .await;
        let spoof = spoof_argument(&gw);

        let seen = call(&gw, Some(alice()), json!({ &spoof: "mallory" }))
            .await
            .unwrap();
        assert_eq!(
            seen["x-user-id"], "alice",
            "the client's value is replaced: {seen}"
        );
        assert_eq!(seen["x-user-scopes"], "todos:read todos:write");
        assert_eq!(seen["x-tenant"], "org-7");
        assert_eq!(
            seen["x-display"], "Zo%C3%AB%0D%0AX-Admin: yes",
            "CR/LF and non-ASCII are percent-encoded, never a header break"
        );
        assert_eq!(seen["x-admin"], Value::Null);

        // No caller: the identity headers are left out, and the client's value still is not sent.
        let seen = call(&gw, None, json!({ &spoof: "mallory" })).await.unwrap();
        assert_eq!(seen["x-user-id"], Value::Null, "{seen}");
        assert_eq!(seen["x-user-scopes"], Value::Null);

        // A claim the caller lacks: that header alone is left out.
        let bare = Principal::new("svc", vec![], AuthMethod::ApiKey);
        let seen = call(&gw, Some(bare), json!({})).await.unwrap();
        assert_eq!(seen["x-user-id"], "svc");
        assert_eq!(seen["x-tenant"], Value::Null);

        // `require_principal`: calls without a caller are refused before anything is sent.
        let strict = gateway(
            &base,
            "        require_principal: true\n        headers:\n          X-User-Id: \"{sub}\"\n",
        )
        .await;
        let err = call(&strict, None, json!({})).await.unwrap_err();
        assert!(err.contains("needs an authenticated caller"), "{err}");
        assert_eq!(
            call(&strict, Some(alice()), json!({})).await.unwrap()["x-user-id"],
            "alice"
        );
    }

    /// A P-256 key for this test only (`openssl genpkey -algorithm EC -pkeyopt
    /// ec_paramgen_curve:P-256`), so the binary and the in-process gateway sign alike.
    const TEST_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgSxOTlkWkIKIS2q5m
syxafKzpDqNiAQO+01NEAh8yyPOhRANCAATUJrEXKrGTzhFJtbqfBn9mNPyiwkkV
3bfNLD+CQA0p5TOy/Xg4mX0lPw2ngya8aoJorve0d5QBI8z67jveVc8w
-----END PRIVATE KEY-----
";

    #[tokio::test]
    async fn minted_tokens_verify_against_the_jwks_toolgate_serves() {
        let (base, backend) = start_backend().await;
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("toolgate-es256.pem");
        std::fs::write(&key_file, TEST_KEY).unwrap();
        let identity = format!(
            "        mint:\n          issuer: https://toolgate.test\n          audience: who-api\n          lifetime_seconds: 120\n          key_file: {}\n          kid: test-key-1\n          copy_claims: [email]\n",
            key_file.display()
        );
        // `toolgate serve` publishes the key's JWKS on its HTTP port.
        let config_file = dir.path().join("toolgate.yaml");
        std::fs::write(
            &config_file,
            format!(
                "sources:\n  - name: who\n    spec: {base}/openapi.json\n    base_url: {base}\n    backend:\n      identity:\n{identity}"
            ),
        )
        .unwrap();
        let (_server, mcp_url) = tokio::task::spawn_blocking(move || {
            crate::common::spawn_and_read(
                &[
                    "serve",
                    "--config",
                    config_file.to_str().unwrap(),
                    "--http",
                    "127.0.0.1:0",
                ],
                "tools at ",
            )
        })
        .await
        .unwrap();
        let jwks_url = mcp_url.replace("/mcp", "/.well-known/jwks.json");
        let response = reqwest::get(&jwks_url).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"],
            "application/jwk-set+json"
        );
        let jwks: Value = response.json().await.unwrap();
        let key = &jwks["keys"][0];
        assert_eq!(key["kid"], "test-key-1", "{jwks}");
        assert_eq!(
            (key["kty"].as_str(), key["alg"].as_str()),
            (Some("EC"), Some("ES256"))
        );
        assert!(
            key.get("d").is_none(),
            "the JWKS holds no private key: {key}"
        );
        backend.jwks_url.set(jwks_url).unwrap();

        // Calls as an authenticated caller (in process, with the same key): the backend
        // verifies each token against the JWKS the binary serves.
        let gw = gateway(&base, &identity).await;
        let seen = call(&gw, Some(alice()), json!({})).await.unwrap();
        let claims = &seen["verified"];
        assert_eq!(claims["sub"], "alice", "{seen}");
        assert_eq!(claims["scope"], "todos:read todos:write");
        assert_eq!(claims["email"], "alice@example.com");
        assert_eq!(claims["iss"], "https://toolgate.test");
        let lifetime = claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap();
        assert_eq!(lifetime, 120);
        assert!(claims["jti"].is_string());
        // Cached per caller: the same token again, no second signature.
        let again = call(&gw, Some(alice()), json!({})).await.unwrap();
        assert_eq!(again["authorization"], seen["authorization"]);
        assert_eq!(gw.sources[0].backend.minted_tokens(), 1);
        let bob = call(&gw, Some(with_token("bob", "t")), json!({}))
            .await
            .unwrap();
        assert_eq!(bob["verified"]["sub"], "bob");
        assert_eq!(gw.sources[0].backend.minted_tokens(), 2);
        // The in-process app publishes the same document.
        let app = toolgate::run::with_identity_routes(axum::Router::new(), &gw);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let local: Value = reqwest::get(format!("http://{addr}/.well-known/jwks.json"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(local, jwks);
    }

    #[tokio::test]
    async fn token_exchange_happens_once_per_caller_even_when_calls_race() {
        let (base, backend) = start_backend().await;
        let gw = Arc::new(
            gateway(
                &base,
                &format!(
                    "        token_exchange:\n          token_url: {base}/token\n          client_id: toolgate\n          client_secret: ${{EXCHANGE_SECRET}}\n          audience: who-api\n          scopes: [who:read]\n"
                ),
            )
            .await,
        );
        // The token endpoint holds its first answer until every call has started.
        backend.release.send_replace(false);
        let calls: Vec<_> = (0..16)
            .map(|_| {
                let gw = gw.clone();
                tokio::spawn(async move { call(&gw, Some(alice()), json!({})).await })
            })
            .collect();
        backend.first_exchange.notified().await;
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        backend.release.send_replace(true);
        for c in calls {
            let seen = c.await.unwrap().unwrap();
            assert_eq!(seen["authorization"], "Bearer exchanged-for-alice");
        }
        assert_eq!(
            backend.exchanges.load(Ordering::SeqCst),
            1,
            "16 concurrent calls of one caller share one exchange"
        );
        // Another caller exchanges its own token; the first one's stays cached.
        let seen = call(&gw, Some(with_token("bob", "caller-token-bob")), json!({}))
            .await
            .unwrap();
        assert_eq!(seen["authorization"], "Bearer exchanged-for-bob");
        call(&gw, Some(alice()), json!({})).await.unwrap();
        assert_eq!(backend.exchanges.load(Ordering::SeqCst), 2);
        assert_eq!(gw.sources[0].backend.token_exchanges(), 2);

        // A refused exchange: the endpoint's status and words, never a token or the secret.
        let err = call(
            &gw,
            Some(with_token("carol", "caller-token-revoked")),
            json!({}),
        )
        .await
        .unwrap_err();
        assert!(err.contains("answered 400"), "{err}");
        assert!(err.contains("invalid_grant"), "{err}");
        assert!(err.contains("[redacted]"), "{err}");
        assert!(!err.contains("caller-token-revoked"), "{err}");
        assert!(!err.contains(EXCHANGE_SECRET), "{err}");
        // Remembered for that caller for a few seconds: the next call does not ask again.
        let asked = gw.sources[0].backend.token_exchanges();
        let again = call(
            &gw,
            Some(with_token("carol", "caller-token-revoked")),
            json!({}),
        )
        .await
        .unwrap_err();
        assert!(again.contains("remembered for this caller"), "{again}");
        assert_eq!(gw.sources[0].backend.token_exchanges(), asked);
        // The backend refuses an exchanged token: it is dropped, the next call exchanges anew.
        let dave = || Some(with_token("dave", "caller-token-dave"));
        let before = backend.exchanges.load(Ordering::SeqCst);
        call(&gw, dave(), json!({})).await.unwrap_err();
        call(&gw, dave(), json!({})).await.unwrap_err();
        assert_eq!(backend.exchanges.load(Ordering::SeqCst), before + 2);
        // A caller that presented no token (e.g. a configured stdio principal) has none to
        // exchange.
        let err = call(
            &gw,
            Some(Principal::new("cfg", vec![], AuthMethod::Configured)),
            json!({}),
        )
        .await
        .unwrap_err();
        assert!(
            err.contains("presented no access token to exchange"),
            "{err}"
        );
        // An API key is the caller's own long-lived secret: never sent to the token endpoint.
        let asked = gw.sources[0].backend.token_exchanges();
        let mut keyed = with_token("svc", "caller-token-apikey");
        keyed.method = AuthMethod::ApiKey;
        let err = call(&gw, Some(keyed), json!({})).await.unwrap_err();
        assert!(err.contains("API keys are never sent"), "{err}");
        assert_eq!(gw.sources[0].backend.token_exchanges(), asked);
    }
}
