//! The quick start with backend credentials, through the real binary over stdio:
//! `serve --openapi URL --username-env … --password-env … --api-key-env …` against a backend
//! that serves the OpenAPI document a real FastAPI app generates with every FastAPI security
//! class (the compiler's fixture `fastapi_security.json`). The gateway logs in with the
//! password grant, the login operation is not a tool, and each endpoint gets its credential.

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
