//! OAuth2 grants against a real token endpoint on 127.0.0.1: the password grant (FastAPI's
//! `OAuth2PasswordBearer`) and client credentials; token reuse, refresh before expiry
//! (`expires_in`, the JWT's `exp`, the default), refresh tokens, the single-flight refresh
//! on a backend 401, backoff while the token endpoint fails, and errors that show the
//! endpoint's answer but never a secret. Time is tokio's paused clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use toolgate_core::error::{Delivery, ErrorOrigin, ToolErrorKind};
use toolgate_http::{BackendAuth, ClientAuthMethod, HttpBackend, Secret};
use toolgate_openapi::ir::SecuritySchemeKind;

use crate::auth::{fastapi_spec, op_named, scheme, with_auth};
use crate::common::*;

const PASSWORD: &str = "s3cr3t pass&word";

/// The form fields of a token request.
fn form(r: &Recorded) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&r.body).into_owned().collect()
}

fn field(r: &Recorded, name: &str) -> Option<String> {
    form(r).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

fn token_requests(server: &Server) -> Vec<Recorded> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.target.contains("token"))
        .collect()
}

/// A JWT (unsigned as far as toolgate cares) expiring `secs` seconds from now.
fn jwt(n: usize, secs: u64) -> String {
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + secs;
    let claims = URL_SAFE_NO_PAD.encode(format!(r#"{{"sub":"svc","n":{n},"exp":{exp}}}"#));
    format!("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.{claims}.c2lnbmF0dXJl")
}

/// What the token endpoint issues for request number `n` (1-based).
type Issue = dyn Fn(usize, &Recorded) -> Reply + Send + Sync;

/// A FastAPI-like service: a login endpoint at `token_path` issuing `issue(n)` and
/// protected endpoints answering `{"auth": <Authorization>}`, or 401 to tokens `reject`s.
async fn service(
    token_path: &'static str,
    issue: Arc<Issue>,
    reject: impl Fn(&str) -> bool + Send + Sync + 'static,
) -> (Server, Arc<AtomicUsize>) {
    let issued = Arc::new(AtomicUsize::new(0));
    let counter = issued.clone();
    let s = server(move |r| {
        if r.method == "POST" && r.target == token_path {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            issue(n, r)
        } else {
            let auth = r.header("authorization").unwrap_or_default();
            if reject(&auth) {
                Reply::with(
                    401,
                    "application/json",
                    r#"{"detail":"Could not validate credentials"}"#,
                )
                .header("www-authenticate", "Bearer")
            } else {
                Reply::json(json!({"auth": auth}))
            }
        }
    })
    .await;
    (s, issued)
}

/// Issues `tok-N` with the given `expires_in` (none when `None`).
fn opaque(expires_in: Option<u64>) -> Arc<Issue> {
    Arc::new(move |n, _| {
        let mut body = json!({"access_token": format!("tok-{n}"), "token_type": "bearer"});
        if let Some(e) = expires_in {
            body["expires_in"] = json!(e);
        }
        Reply::json(body)
    })
}

fn password_grant(token_url: Option<String>) -> BackendAuth {
    BackendAuth::OAuth2Password {
        scheme: None,
        token_url,
        username: "svc@example.com".into(),
        password: Secret::new(PASSWORD),
        scopes: vec![],
        client_id: None,
        client_secret: None,
        client_auth: ClientAuthMethod::Post,
    }
}

fn password_scheme(token_url: &str) -> Vec<toolgate_openapi::ir::SecurityScheme> {
    vec![scheme(
        "OAuth2PasswordBearer",
        SecuritySchemeKind::OAuth2 {
            token_url: None,
            password_token_url: Some(token_url.into()),
        },
    )]
}

/// A backend logging in with the password grant at the spec's (relative) `token_url`.
fn password_backend(server: &Server, token_url: &str) -> HttpBackend {
    backend_with(
        server,
        password_scheme(token_url),
        with_auth(password_grant(None)),
    )
}

fn protected() -> Arc<toolgate_openapi::ir::Operation> {
    get("/api/v1/users/me")
        .security(&[&["OAuth2PasswordBearer"]])
        .output(None)
        .build()
}

fn auth_seen(r: &rmcp::model::CallToolResult) -> Value {
    r.structured_content.as_ref().unwrap()["auth"].clone()
}

#[tokio::test(start_paused = true)]
async fn password_grant_logs_in_at_the_specs_relative_token_url_and_reuses_the_token() {
    let (server, issued) = service("/api/v1/login/access-token", opaque(None), |_| false).await;
    let b = password_backend(&server, "/api/v1/login/access-token");
    for _ in 0..3 {
        let r = call(&b, &protected(), json!({})).await.unwrap();
        assert_eq!(auth_seen(&r), "Bearer tok-1");
    }
    assert_eq!(issued.load(Ordering::SeqCst), 1);
    let login = &token_requests(&server)[0];
    assert_eq!(
        login.header("content-type").as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        login.body_text(),
        "grant_type=password&username=svc%40example.com&password=s3cr3t+pass%26word"
    );
    assert_eq!(login.header("authorization"), None);
}

#[tokio::test(start_paused = true)]
async fn a_token_url_relative_to_the_base_path_resolves_like_a_browser_would() {
    // FastAPI's tutorial: `OAuth2PasswordBearer(tokenUrl="token")`, the app under /api/.
    let (server, issued) = service("/api/token", opaque(None), |_| false).await;
    let b = HttpBackend::new(
        server.url_with("/api/"),
        password_scheme("token"),
        with_auth(password_grant(None)),
    )
    .unwrap();
    call(&b, &protected(), json!({})).await.unwrap();
    assert_eq!(issued.load(Ordering::SeqCst), 1);
    assert_eq!(server.last().target, "/api/api/v1/users/me");
}

#[tokio::test(start_paused = true)]
async fn password_grant_sends_scopes_and_the_client_in_the_form() {
    let (server, _) = service("/token", opaque(None), |_| false).await;
    let b = backend_with(
        &server,
        password_scheme("/token"),
        with_auth(BackendAuth::OAuth2Password {
            scheme: Some("OAuth2PasswordBearer".into()),
            token_url: None,
            username: "svc".into(),
            password: Secret::new("pw"),
            scopes: vec!["items:read".into(), "me".into()],
            client_id: Some("toolgate".into()),
            client_secret: Some(Secret::new("cs")),
            client_auth: ClientAuthMethod::Post,
        }),
    );
    call(&b, &protected(), json!({})).await.unwrap();
    let login = &token_requests(&server)[0];
    assert_eq!(
        login.body_text(),
        "grant_type=password&username=svc&password=pw&scope=items%3Aread+me&client_id=toolgate&client_secret=cs"
    );
}

#[tokio::test(start_paused = true)]
async fn a_wrong_password_shows_the_endpoints_answer_and_never_the_password() {
    let s = server(|r| {
        if r.target == "/api/v1/login/access-token" {
            Reply::with(
                400,
                "application/json",
                r#"{"detail":"Incorrect email or password"}"#,
            )
        } else {
            Reply::json(json!({}))
        }
    })
    .await;
    let b = password_backend(&s, "/api/v1/login/access-token");
    let err = call(&b, &protected(), json!({})).await.unwrap_err();
    let m = &err.message;
    assert!(
        m.contains(&format!(
            "the OAuth2 token endpoint http://{}/api/v1/login/access-token answered 400 Bad Request: {{\"detail\":\"Incorrect email or password\"}}",
            s.addr
        )),
        "{m}"
    );
    assert!(
        m.contains("check the source's auth `username` and `password`"),
        "{m}"
    );
    assert!(!m.contains("s3cr3t") && !m.contains("pass%26word"), "{m}");
    assert_eq!(err.status, Some(400));
    assert_eq!(err.kind, ToolErrorKind::BackendStatus);
    assert_eq!(err.origin, ErrorOrigin::CredentialProvider);
    assert_eq!(err.delivery, Delivery::NotSent);
    // The backend itself was never called.
    assert!(s.requests().iter().all(|r| r.target.contains("login")));
}

#[tokio::test(start_paused = true)]
async fn an_endpoint_echoing_the_password_is_redacted() {
    // FastAPI's 422 quotes the input it rejected.
    let s = server(|_| {
        Reply::with(
            422,
            "application/json",
            format!(
                r#"{{"detail":[{{"type":"string_too_long","loc":["body","password"],"input":"{PASSWORD}"}}]}}"#
            ),
        )
    })
    .await;
    let b = password_backend(&s, "/token");
    let err = call(&b, &protected(), json!({})).await.unwrap_err();
    assert!(!err.message.contains("s3cr3t"), "{}", err.message);
    assert!(err.message.contains("[redacted]"), "{}", err.message);
    assert!(err.message.contains("string_too_long"), "{}", err.message);
}

#[tokio::test(start_paused = true)]
async fn concurrent_callers_share_one_login() {
    let slow: Arc<Issue> = Arc::new(|n, _| {
        Reply::json(json!({"access_token": format!("tok-{n}")})).delayed(Duration::from_millis(200))
    });
    let (server, issued) = service("/token", slow, |_| false).await;
    let b = password_backend(&server, "/token");
    let op = protected();
    let calls = (0..20).map(|_| call(&b, &op, json!({})));
    for r in futures::future::join_all(calls).await {
        assert_eq!(auth_seen(&r.unwrap()), "Bearer tok-1");
    }
    assert_eq!(issued.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_backend_401_gets_one_new_token_for_all_concurrent_callers_and_they_succeed() {
    // The backend stops accepting tok-1 (its signing key rotated) while 10 callers hold it:
    // each sees a 401, they share one new login, and each call succeeds on its retry.
    let rotated = Arc::new(AtomicBool::new(false));
    let r2 = rotated.clone();
    let (server, issued) = service("/token", opaque(None), move |auth| {
        r2.load(Ordering::SeqCst) && auth == "Bearer tok-1"
    })
    .await;
    let b = password_backend(&server, "/token");
    let op = protected();
    assert_eq!(
        auth_seen(&call(&b, &op, json!({})).await.unwrap()),
        "Bearer tok-1"
    );
    rotated.store(true, Ordering::SeqCst);
    let before = server.count();
    let calls = (0..10).map(|_| call(&b, &op, json!({})));
    for r in futures::future::join_all(calls).await {
        assert_eq!(auth_seen(&r.unwrap()), "Bearer tok-2");
    }
    assert_eq!(issued.load(Ordering::SeqCst), 2, "one login, one refresh");
    let after: Vec<Option<String>> = server.requests()[before..]
        .iter()
        .filter(|r| r.target == "/api/v1/users/me")
        .map(|r| r.header("authorization"))
        .collect();
    assert_eq!(after.len(), 20, "each caller: one refused try, one retry");
    let refused = after
        .iter()
        .filter(|a| a.as_deref() == Some("Bearer tok-1"))
        .count();
    assert_eq!(refused, 10);
}

#[tokio::test(start_paused = true)]
async fn a_401_to_a_fresh_token_is_returned_after_one_retry() {
    let (server, issued) = service("/token", opaque(None), |_| true).await;
    let b = password_backend(&server, "/token");
    let err = call(&b, &protected(), json!({})).await.unwrap_err();
    assert_eq!(err.status, Some(401));
    assert_eq!(err.origin, ErrorOrigin::Backend);
    assert_eq!(issued.load(Ordering::SeqCst), 2);
    let to_backend = server
        .requests()
        .iter()
        .filter(|r| r.target == "/api/v1/users/me")
        .count();
    assert_eq!(to_backend, 2);
}

#[tokio::test(start_paused = true)]
async fn expires_in_schedules_the_refresh() {
    // expires_in 2 s: refreshed after 1 s (the skew is capped at half the lifetime).
    let (server, issued) = service("/token", opaque(Some(2)), |_| false).await;
    let b = password_backend(&server, "/token");
    call(&b, &protected(), json!({})).await.unwrap();
    call(&b, &protected(), json!({})).await.unwrap();
    assert_eq!(issued.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = call(&b, &protected(), json!({})).await.unwrap();
    assert_eq!(auth_seen(&r), "Bearer tok-2");
    assert_eq!(issued.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_jwts_exp_schedules_the_refresh_when_expires_in_is_absent() {
    // FastAPI's template: a JWT with `exp`, no `expires_in`. Valid 10 minutes: refreshed
    // 30 s before.
    let issue: Arc<Issue> =
        Arc::new(|n, _| Reply::json(json!({"access_token": jwt(n, 600), "token_type": "bearer"})));
    let (server, issued) = service("/token", issue, |_| false).await;
    let b = password_backend(&server, "/token");
    call(&b, &protected(), json!({})).await.unwrap();
    tokio::time::sleep(Duration::from_secs(565)).await;
    call(&b, &protected(), json!({})).await.unwrap();
    assert_eq!(issued.load(Ordering::SeqCst), 1, "refreshed too early");
    tokio::time::sleep(Duration::from_secs(10)).await;
    call(&b, &protected(), json!({})).await.unwrap();
    assert_eq!(issued.load(Ordering::SeqCst), 2, "not refreshed before exp");
    let sent = server.last().header("authorization").unwrap();
    assert!(sent.starts_with("Bearer eyJ"), "{sent}");
}

#[tokio::test(start_paused = true)]
async fn an_opaque_token_without_expires_in_lives_five_minutes() {
    let (server, issued) = service("/token", opaque(None), |_| false).await;
    let b = password_backend(&server, "/token");
    call(&b, &protected(), json!({})).await.unwrap();
    tokio::time::sleep(Duration::from_secs(260)).await;
    call(&b, &protected(), json!({})).await.unwrap();
    assert_eq!(issued.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_secs(20)).await;
    call(&b, &protected(), json!({})).await.unwrap();
    assert_eq!(issued.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_refresh_token_is_used_and_a_refused_one_falls_back_to_logging_in() {
    let issue: Arc<Issue> = Arc::new(|n, r| {
        if field(r, "grant_type").as_deref() == Some("refresh_token")
            && field(r, "refresh_token").as_deref() == Some("rt-2")
        {
            return Reply::with(400, "application/json", r#"{"error":"invalid_grant"}"#);
        }
        Reply::json(
            json!({"access_token": format!("tok-{n}"), "expires_in": 60, "refresh_token": format!("rt-{n}")}),
        )
    });
    let (server, _) = service("/token", issue, |_| false).await;
    let b = password_backend(&server, "/token");
    call(&b, &protected(), json!({})).await.unwrap();
    tokio::time::sleep(Duration::from_secs(31)).await;
    let r = call(&b, &protected(), json!({})).await.unwrap();
    assert_eq!(auth_seen(&r), "Bearer tok-2");
    tokio::time::sleep(Duration::from_secs(31)).await;
    let r = call(&b, &protected(), json!({})).await.unwrap();
    assert_eq!(auth_seen(&r), "Bearer tok-4");
    let grants: Vec<(Option<String>, Option<String>)> = token_requests(&server)
        .iter()
        .map(|r| (field(r, "grant_type"), field(r, "refresh_token")))
        .collect();
    assert_eq!(
        grants,
        [
            (Some("password".into()), None),
            (Some("refresh_token".into()), Some("rt-1".into())),
            (Some("refresh_token".into()), Some("rt-2".into())),
            (Some("password".into()), None),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_failing_token_endpoint_is_asked_again_only_after_a_growing_pause() {
    let up = Arc::new(AtomicBool::new(false));
    let up2 = up.clone();
    let issue: Arc<Issue> = Arc::new(move |n, _| {
        if up2.load(Ordering::SeqCst) {
            Reply::json(json!({"access_token": format!("tok-{n}")}))
        } else {
            Reply::with(503, "text/plain", "login service unavailable")
        }
    });
    let (server, issued) = service("/token", issue, |_| false).await;
    let b = password_backend(&server, "/token");
    let op = protected();
    let calls = || async {
        for _ in 0..5 {
            let err = call(&b, &op, json!({})).await.unwrap_err();
            assert_eq!(err.origin, ErrorOrigin::CredentialProvider);
            assert_eq!(err.status, Some(503), "{}", err.message);
            assert!(err.retryable);
            assert!(
                err.message.contains("login service unavailable"),
                "{}",
                err.message
            );
        }
    };
    calls().await;
    assert_eq!(issued.load(Ordering::SeqCst), 1, "5 calls, 1 token request");
    let err = call(&b, &op, json!({})).await.unwrap_err();
    assert!(
        err.message
            .contains("toolgate asks the token endpoint again in 1 s"),
        "{}",
        err.message
    );
    assert!(err.retry_after.is_some_and(|d| d <= Duration::from_secs(1)));

    tokio::time::sleep(Duration::from_millis(1001)).await;
    calls().await;
    assert_eq!(issued.load(Ordering::SeqCst), 2);
    // The second failure in a row is remembered for 2 s.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    calls().await;
    assert_eq!(issued.load(Ordering::SeqCst), 2);
    tokio::time::sleep(Duration::from_millis(501)).await;
    calls().await;
    assert_eq!(issued.load(Ordering::SeqCst), 3);

    // Back up: after the (now 4 s) pause, calls succeed and the failure is forgotten.
    up.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(3999)).await;
    assert!(call(&b, &op, json!({})).await.is_err());
    tokio::time::sleep(Duration::from_millis(2)).await;
    let r = call(&b, &op, json!({})).await.unwrap();
    assert_eq!(auth_seen(&r), "Bearer tok-4");
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_token_endpoint_fails_fast_and_is_not_hammered() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}/token", dead.local_addr().unwrap());
    drop(dead);
    let server = ok_server().await;
    let b = backend_with(
        &server,
        password_scheme("/token"),
        with_auth(password_grant(Some(dead_url.clone()))),
    );
    for _ in 0..5 {
        let err = call(&b, &protected(), json!({})).await.unwrap_err();
        assert_eq!(err.kind, ToolErrorKind::Connect);
        assert_eq!(err.origin, ErrorOrigin::CredentialProvider);
        assert_eq!(err.delivery, Delivery::NotSent);
        assert!(
            err.message.contains(&format!(
                "could not reach the OAuth2 token endpoint {dead_url}"
            )),
            "{}",
            err.message
        );
    }
    assert_eq!(b.oauth2_token_requests(), 1);
    assert_eq!(server.count(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_hanging_token_endpoint_times_out_and_counts_as_failing() {
    let hang: Arc<Issue> = Arc::new(|n, _| {
        Reply::json(json!({"access_token": format!("tok-{n}")})).delayed(Duration::from_secs(60))
    });
    let (server, issued) = service("/token", hang, |_| false).await;
    let mut options = with_auth(password_grant(None));
    options.timeout_ms = 120_000;
    let b = backend_with(&server, password_scheme("/token"), options);
    let started = tokio::time::Instant::now();
    let err = call(&b, &protected(), json!({})).await.unwrap_err();
    assert_eq!(err.kind, ToolErrorKind::Timeout, "{}", err.message);
    assert_eq!(err.origin, ErrorOrigin::CredentialProvider);
    assert!(
        err.message.contains("did not answer within 10 s"),
        "{}",
        err.message
    );
    assert!(started.elapsed() < Duration::from_secs(11));
    // Remembered: the next call does not wait another 10 s.
    let err = call(&b, &protected(), json!({})).await.unwrap_err();
    assert!(
        err.message.contains("asks the token endpoint again"),
        "{}",
        err.message
    );
    assert_eq!(issued.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_valid_token_keeps_serving_while_its_refresh_fails() {
    let up = Arc::new(AtomicBool::new(true));
    let up2 = up.clone();
    let issue: Arc<Issue> = Arc::new(move |n, _| {
        if up2.load(Ordering::SeqCst) {
            Reply::json(json!({"access_token": format!("tok-{n}"), "expires_in": 60}))
        } else {
            Reply::status(502)
        }
    });
    let (server, issued) = service("/token", issue, |_| false).await;
    let b = password_backend(&server, "/token");
    call(&b, &protected(), json!({})).await.unwrap();
    up.store(false, Ordering::SeqCst);
    // Due for refresh at 30 s, valid until 55 s.
    tokio::time::sleep(Duration::from_secs(31)).await;
    for _ in 0..3 {
        let r = call(&b, &protected(), json!({})).await.unwrap();
        assert_eq!(auth_seen(&r), "Bearer tok-1");
    }
    assert_eq!(issued.load(Ordering::SeqCst), 2, "one failed refresh");
    tokio::time::sleep(Duration::from_secs(25)).await;
    let err = call(&b, &protected(), json!({})).await.unwrap_err();
    assert_eq!(err.status, Some(502), "{}", err.message);
}

#[tokio::test(start_paused = true)]
async fn the_fastapi_login_flow_end_to_end_through_the_compiled_spec() {
    // Only tokens from the login are accepted; a request without credentials is served.
    let (server, issued) = service("/api/v1/login/access-token", opaque(None), |a| {
        !a.is_empty() && !a.starts_with("Bearer tok-")
    })
    .await;
    let spec = fastapi_spec();
    let b = HttpBackend::new(
        server.url(),
        spec.security_schemes.clone(),
        with_auth(password_grant(None)),
    )
    .unwrap();
    let r = call(&b, &op_named(&spec, "read_user_me"), json!({}))
        .await
        .unwrap();
    assert_eq!(r.structured_content.unwrap()["auth"], "Bearer tok-1");
    // Endpoints of other schemes get no token.
    call(&b, &op_named(&spec, "stats"), json!({}))
        .await
        .unwrap();
    assert_eq!(server.last().header("authorization"), None);
    assert_eq!(issued.load(Ordering::SeqCst), 1);
}

// Client credentials.

async fn oauth_server(expires_in: u64, reject: &'static str) -> (Server, Arc<AtomicUsize>) {
    service("/token", opaque(Some(expires_in)), move |auth| {
        auth == reject
    })
    .await
}

fn client_credentials(server: &Server) -> HttpBackend {
    let schemes = vec![scheme(
        "oauth",
        SecuritySchemeKind::OAuth2 {
            token_url: Some(format!("http://{}/token", server.addr)),
            password_token_url: None,
        },
    )];
    backend_with(
        server,
        schemes,
        with_auth(BackendAuth::OAuth2ClientCredentials {
            scheme: None,
            token_url: None,
            client_id: "client".into(),
            client_secret: Secret::new("s3cret"),
            scopes: vec!["read".into(), "write".into()],
            audience: Some("api".into()),
            client_auth: Default::default(),
        }),
    )
}

#[tokio::test(start_paused = true)]
async fn client_credentials_token_request_and_caching() {
    let (server, _) = oauth_server(3600, "none").await;
    let b = client_credentials(&server);
    let op = get("/protected")
        .security(&[&["oauth"]])
        .output(None)
        .build();
    for _ in 0..3 {
        let r = call(&b, &op, json!({})).await.unwrap();
        assert_eq!(auth_seen(&r), "Bearer tok-1");
    }
    assert_eq!(b.oauth2_token_requests(), 1);
    let token_req = &token_requests(&server)[0];
    assert_eq!(
        token_req.body_text(),
        "grant_type=client_credentials&scope=read+write&audience=api"
    );
    // client_secret_basic: base64("client:s3cret")
    assert_eq!(
        token_req.header("authorization").as_deref(),
        Some("Basic Y2xpZW50OnMzY3JldA==")
    );
}

#[tokio::test(start_paused = true)]
async fn client_credentials_401_refreshes_and_retries() {
    let (server, issued) = oauth_server(3600, "Bearer tok-1").await;
    let b = client_credentials(&server);
    let op = get("/protected")
        .security(&[&["oauth"]])
        .output(None)
        .build();
    let r = call(&b, &op, json!({})).await.unwrap();
    assert_eq!(auth_seen(&r), "Bearer tok-2");
    assert_eq!(issued.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn client_credentials_errors_are_clear_and_secret_free() {
    let server = server(|r| {
        if r.target == "/token" {
            Reply::with(
                401,
                "application/json",
                r#"{"error":"invalid_client","error_description":"bad secret"}"#,
            )
        } else {
            Reply::json(json!({}))
        }
    })
    .await;
    let b = client_credentials(&server);
    let op = get("/protected").security(&[&["oauth"]]).build();
    let err = call(&b, &op, json!({})).await.unwrap_err();
    assert_eq!(err.status, Some(401));
    assert!(
        err.message
            .contains("answered 401 Unauthorized: invalid_client: bad secret"),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("client_id, client_secret and scopes"),
        "{}",
        err.message
    );
    assert!(!err.message.contains("s3cret"));
    assert_eq!(
        server
            .requests()
            .iter()
            .filter(|r| r.target == "/protected")
            .count(),
        0
    );
}

#[tokio::test(start_paused = true)]
async fn client_secret_post_and_configured_token_url() {
    let (server, issued) = oauth_server(3600, "none").await;
    let b = backend(
        &server,
        with_auth(BackendAuth::OAuth2ClientCredentials {
            scheme: None,
            token_url: Some(format!("http://{}/token", server.addr)),
            client_id: "c id".into(),
            client_secret: Secret::new("p&w"),
            scopes: vec![],
            audience: None,
            client_auth: ClientAuthMethod::Post,
        }),
    );
    call(&b, &get("/protected").build(), json!({}))
        .await
        .unwrap();
    assert_eq!(issued.load(Ordering::SeqCst), 1);
    let token_req = &token_requests(&server)[0];
    assert_eq!(token_req.header("authorization"), None);
    assert_eq!(
        token_req.body_text(),
        "grant_type=client_credentials&client_id=c+id&client_secret=p%26w"
    );
    assert_eq!(
        server.last().header("authorization").as_deref(),
        Some("Bearer tok-1")
    );
}

#[test]
fn password_grant_config_problems() {
    let base: url::Url = "http://127.0.0.1:1/".parse().unwrap();
    // No password flow in the spec and no token_url.
    let err = HttpBackend::new(
        base.clone(),
        vec![scheme("b", SecuritySchemeKind::Bearer)],
        with_auth(password_grant(None)),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("auth.token_url is required: the spec declares no oauth2 password flow"),
        "{err}"
    );
    // A password grant and forward_authorization both set Authorization.
    let mut options = with_auth(password_grant(None));
    options.forward_authorization = true;
    let err = HttpBackend::new(base.clone(), password_scheme("/token"), options)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("forward_authorization and auth `oauth2_password` both set"),
        "{err}"
    );
    let err = HttpBackend::new(
        base,
        password_scheme("/token"),
        with_auth(password_grant(Some("ftp://x/token".into()))),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("auth.token_url `ftp://x/token` is not an http(s) URL"),
        "{err}"
    );
    assert!(!err.contains("s3cr3t"), "{err}");
}

#[tokio::test]
async fn the_password_never_appears_in_debug_output() {
    let server = ok_server().await;
    let b = password_backend(&server, "/token");
    let debug = format!("{b:?}");
    assert!(!debug.contains("s3cr3t"), "{debug}");
    assert!(debug.contains("TokenSource"), "{debug}");
}
