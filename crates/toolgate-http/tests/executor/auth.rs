//! Backend credentials: static headers, API keys, bearer, basic, OAuth2 client credentials
//! (caching, refresh, single-flight, errors), scheme matching and config validation.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;
use toolgate_http::{ApiKeyLocation, BackendAuth, HttpBackend, HttpSourceOptions, Secret};
use toolgate_openapi::ir::{ParamLocation, ParamStyle, SecurityScheme, SecuritySchemeKind};

use crate::common::*;

fn with_auth(auth: BackendAuth) -> HttpSourceOptions {
    HttpSourceOptions {
        auth: Some(auth),
        ..Default::default()
    }
}

fn scheme(name: &str, kind: SecuritySchemeKind) -> SecurityScheme {
    SecurityScheme {
        name: name.into(),
        kind,
    }
}

#[tokio::test]
async fn bearer_and_basic_set_authorization() {
    let server = ok_server().await;
    let op = get("/t").build();
    let b = backend(
        &server,
        with_auth(BackendAuth::Bearer {
            token: "tok".into(),
        }),
    );
    call(&b, &op, json!({})).await.unwrap();
    assert_eq!(
        server.last().header("authorization").as_deref(),
        Some("Bearer tok")
    );
    let b = backend(
        &server,
        with_auth(BackendAuth::Basic {
            username: "user".into(),
            password: "pass".into(),
        }),
    );
    call(&b, &op, json!({})).await.unwrap();
    assert_eq!(
        server.last().header("authorization").as_deref(),
        Some("Basic dXNlcjpwYXNz")
    );
}

#[tokio::test]
async fn api_key_in_header_query_and_cookie() {
    let server = ok_server().await;
    let schemes = vec![
        scheme(
            "HeaderKey",
            SecuritySchemeKind::ApiKey {
                location: ParamLocation::Header,
                param_name: "X-API-Key".into(),
            },
        ),
        scheme(
            "QueryKey",
            SecuritySchemeKind::ApiKey {
                location: ParamLocation::Query,
                param_name: "api_key".into(),
            },
        ),
        scheme(
            "CookieKey",
            SecuritySchemeKind::ApiKey {
                location: ParamLocation::Cookie,
                param_name: "sid".into(),
            },
        ),
    ];
    let key = |s: &str| {
        with_auth(BackendAuth::ApiKey {
            scheme: Some(s.into()),
            location: None,
            name: None,
            value: "k&1".into(),
        })
    };
    let b = backend_with(&server, schemes.clone(), key("HeaderKey"));
    let op = get("/t").query("q").security(&[&["HeaderKey"]]).build();
    call(&b, &op, json!({"q": "x"})).await.unwrap();
    assert_eq!(server.last().header("x-api-key").as_deref(), Some("k&1"));

    let b = backend_with(&server, schemes.clone(), key("QueryKey"));
    let op = get("/t").query("q").security(&[&["QueryKey"]]).build();
    call(&b, &op, json!({"q": "x"})).await.unwrap();
    assert_eq!(server.last().target, "/t?q=x&api_key=k%261");

    let b = backend_with(&server, schemes.clone(), key("CookieKey"));
    let op = get("/t")
        .param(ParamLocation::Cookie, "theme", ParamStyle::Form, true)
        .security(&[&["CookieKey"]])
        .build();
    call(&b, &op, json!({"theme": "dark"})).await.unwrap();
    assert_eq!(
        server.last().header("cookie").as_deref(),
        Some("theme=dark; sid=k&1")
    );

    // Explicit location and name, no scheme.
    let b = backend(
        &server,
        with_auth(BackendAuth::ApiKey {
            scheme: None,
            location: Some(ApiKeyLocation::Header),
            name: Some("X-Key".into()),
            value: "v".into(),
        }),
    );
    call(&b, &get("/t").build(), json!({})).await.unwrap();
    assert_eq!(server.last().header("x-key").as_deref(), Some("v"));
}

#[tokio::test]
async fn credentials_go_only_to_operations_that_require_them() {
    let server = ok_server().await;
    let schemes = vec![scheme("bearer", SecuritySchemeKind::Bearer)];
    let b = backend_with(
        &server,
        schemes,
        with_auth(BackendAuth::Bearer {
            token: "tok".into(),
        }),
    );
    call(&b, &get("/public").build(), json!({})).await.unwrap();
    assert_eq!(server.last().header("authorization"), None);
    call(
        &b,
        &get("/private").security(&[&["bearer"]]).build(),
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(
        server.last().header("authorization").as_deref(),
        Some("Bearer tok")
    );
}

/// A backend whose `/token` issues `tok-N` (N counts token requests) valid for `expires_in`
/// seconds, and whose `/protected` answers 401 to `reject` and 200 otherwise.
async fn oauth_server(
    expires_in: u64,
    token_delay: Duration,
    reject: &'static str,
) -> (Server, Arc<AtomicUsize>) {
    let issued = Arc::new(AtomicUsize::new(0));
    let counter = issued.clone();
    let s = server(move |r| {
        if r.target == "/token" {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            Reply::json(json!({"access_token": format!("tok-{n}"), "token_type": "Bearer", "expires_in": expires_in}))
                .delayed(token_delay)
        } else if r.header("authorization").as_deref() == Some(reject) {
            Reply::with(401, "application/json", r#"{"detail":"expired"}"#)
        } else {
            Reply::json(json!({"auth": r.header("authorization")}))
        }
    })
    .await;
    (s, issued)
}

fn oauth(server: &Server) -> HttpBackend {
    let schemes = vec![scheme(
        "oauth",
        SecuritySchemeKind::OAuth2 {
            token_url: Some(format!("http://{}/token", server.addr)),
        },
    )];
    backend_with(
        server,
        schemes,
        with_auth(BackendAuth::OAuth2ClientCredentials {
            token_url: None,
            client_id: "client".into(),
            client_secret: Secret::new("s3cret"),
            scopes: vec!["read".into(), "write".into()],
            audience: Some("api".into()),
            client_auth: Default::default(),
        }),
    )
}

#[tokio::test]
async fn oauth2_token_request_and_caching() {
    let (server, _) = oauth_server(3600, Duration::ZERO, "none").await;
    let b = oauth(&server);
    let op = get("/protected")
        .security(&[&["oauth"]])
        .output(None)
        .build();
    for _ in 0..3 {
        let r = call(&b, &op, json!({})).await.unwrap();
        assert_eq!(r.structured_content, Some(json!({"auth": "Bearer tok-1"})));
    }
    assert_eq!(b.oauth2_token_requests(), 1);
    let token_req = server
        .requests()
        .into_iter()
        .find(|r| r.target == "/token")
        .unwrap();
    assert_eq!(token_req.method, "POST");
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

#[tokio::test]
async fn oauth2_concurrent_calls_trigger_exactly_one_refresh() {
    let (server, issued) = oauth_server(3600, Duration::from_millis(200), "none").await;
    let b = oauth(&server);
    let op = get("/protected").security(&[&["oauth"]]).build();
    let calls = (0..20).map(|_| call(&b, &op, json!({})));
    for r in futures::future::join_all(calls).await {
        r.unwrap();
    }
    assert_eq!(issued.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn oauth2_refreshes_before_expiry() {
    // expires_in 2 s: refreshed after 1 s (the skew is capped at half the lifetime).
    let (server, issued) = oauth_server(2, Duration::ZERO, "none").await;
    let b = oauth(&server);
    let op = get("/protected")
        .security(&[&["oauth"]])
        .output(None)
        .build();
    call(&b, &op, json!({})).await.unwrap();
    call(&b, &op, json!({})).await.unwrap();
    assert_eq!(issued.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = call(&b, &op, json!({})).await.unwrap();
    assert_eq!(r.structured_content, Some(json!({"auth": "Bearer tok-2"})));
    assert_eq!(issued.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn oauth2_backend_401_drops_the_cached_token() {
    let (server, issued) = oauth_server(3600, Duration::ZERO, "Bearer tok-1").await;
    let b = oauth(&server);
    let op = get("/protected")
        .security(&[&["oauth"]])
        .output(None)
        .build();
    let err = call(&b, &op, json!({})).await.unwrap_err();
    assert_eq!(err.status, Some(401));
    let r = call(&b, &op, json!({})).await.unwrap();
    assert_eq!(r.structured_content, Some(json!({"auth": "Bearer tok-2"})));
    assert_eq!(issued.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn oauth2_token_errors_are_clear_and_secret_free() {
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
    let b = oauth(&server);
    let op = get("/protected").security(&[&["oauth"]]).build();
    let err = call(&b, &op, json!({})).await.unwrap_err();
    assert_eq!(err.status, Some(401));
    assert!(
        err.message.contains("OAuth2 token endpoint"),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("invalid_client: bad secret"),
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

#[tokio::test]
async fn secrets_do_not_appear_in_debug_output() {
    let server = ok_server().await;
    let mut options = with_auth(BackendAuth::Bearer {
        token: "tok-secret".into(),
    });
    options.headers.insert("X-Key".into(), "hdr-secret".into());
    let b = backend(&server, options);
    let debug = format!("{b:?}");
    assert!(
        !debug.contains("tok-secret") && !debug.contains("hdr-secret"),
        "{debug}"
    );
}

#[test]
fn config_errors_are_all_reported_at_once() {
    let mut options = with_auth(BackendAuth::Bearer { token: "t".into() });
    options.forward_authorization = true;
    options.headers.insert("bad header".into(), "x".into());
    options.headers.insert("X-Ok".into(), "line\nbreak".into());
    options.forward_headers = vec!["Authorization".into(), "Connection".into()];
    options.max_concurrent_requests = 0;
    let err = HttpBackend::new("http://127.0.0.1:1/".parse().unwrap(), vec![], options)
        .unwrap_err()
        .to_string();
    for needle in [
        "`bad header` is not a valid HTTP header name",
        "headers.X-Ok",
        "forward_authorization: true",
        "`Connection`",
        "max_concurrent_requests",
        "forward_authorization and auth `bearer`",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
    assert!(!err.contains("line\nbreak"));
}

#[test]
fn auth_must_match_a_declared_scheme() {
    let schemes = vec![scheme("basic", SecuritySchemeKind::Basic)];
    let err = HttpBackend::new(
        "http://127.0.0.1:1/".parse().unwrap(),
        schemes.clone(),
        with_auth(BackendAuth::Bearer { token: "t".into() }),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("matches none of the spec's security schemes"),
        "{err}"
    );
    let err = HttpBackend::new(
        "http://127.0.0.1:1/".parse().unwrap(),
        schemes,
        with_auth(BackendAuth::ApiKey {
            scheme: Some("nope".into()),
            location: None,
            name: None,
            value: "v".into(),
        }),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("`nope` is not a security scheme of the spec (it declares: `basic`)"),
        "{err}"
    );
}

#[tokio::test]
async fn oauth2_client_secret_post_and_configured_token_url() {
    let (server, issued) = oauth_server(3600, Duration::ZERO, "none").await;
    let b = backend(
        &server,
        with_auth(BackendAuth::OAuth2ClientCredentials {
            token_url: Some(format!("http://{}/token", server.addr)),
            client_id: "c id".into(),
            client_secret: Secret::new("p&w"),
            scopes: vec![],
            audience: None,
            client_auth: toolgate_http::ClientAuthMethod::Post,
        }),
    );
    call(&b, &get("/protected").build(), json!({}))
        .await
        .unwrap();
    assert_eq!(issued.load(Ordering::SeqCst), 1);
    let token_req = server
        .requests()
        .into_iter()
        .find(|r| r.target == "/token")
        .unwrap();
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
