//! Backend credentials that need no token endpoint: static headers, API keys, bearer, basic;
//! FastAPI's security classes as FastAPI declares them; several credentials at once (which
//! operation gets which), scheme matching and config validation. OAuth2 grants are in
//! `oauth2.rs`.

use std::sync::Arc;

use serde_json::json;
use toolgate_http::{ApiKeyLocation, BackendAuth, HttpBackend, HttpSourceOptions};
use toolgate_openapi::ir::{
    Operation, ParamLocation, ParamStyle, SecurityScheme, SecuritySchemeKind,
};
use toolgate_openapi::{CompileOptions, NoExternalRefs, compile, parse_document};

use crate::common::*;

pub fn with_auth(auth: BackendAuth) -> HttpSourceOptions {
    HttpSourceOptions {
        auth: auth.into(),
        ..Default::default()
    }
}

pub fn with_auths(auths: Vec<BackendAuth>) -> HttpSourceOptions {
    HttpSourceOptions {
        auth: auths.into(),
        ..Default::default()
    }
}

pub fn scheme(name: &str, kind: SecuritySchemeKind) -> SecurityScheme {
    SecurityScheme {
        name: name.into(),
        kind,
    }
}

fn bearer(token: &str) -> BackendAuth {
    BackendAuth::Bearer {
        scheme: None,
        token: token.into(),
    }
}

fn basic(user: &str, password: &str) -> BackendAuth {
    BackendAuth::Basic {
        scheme: None,
        username: user.into(),
        password: password.into(),
    }
}

fn api_key(scheme: &str, value: &str) -> BackendAuth {
    BackendAuth::ApiKey {
        scheme: Some(scheme.into()),
        location: None,
        name: None,
        value: value.into(),
    }
}

#[tokio::test]
async fn bearer_and_basic_set_authorization() {
    let server = ok_server().await;
    let op = get("/t").build();
    let b = backend(&server, with_auth(bearer("tok")));
    call(&b, &op, json!({})).await.unwrap();
    assert_eq!(
        server.last().header("authorization").as_deref(),
        Some("Bearer tok")
    );
    let b = backend(&server, with_auth(basic("user", "pass")));
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
    let key = |s: &str| with_auth(api_key(s, "k&1"));
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
    let b = backend_with(&server, schemes, with_auth(bearer("tok")));
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

/// The spec a real FastAPI app generates with every FastAPI security class (see the
/// compiler's fixture `fastapi_security.json`).
pub fn fastapi_spec() -> toolgate_openapi::CompiledSpec {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../toolgate-openapi/tests/fixtures/fastapi_security.json");
    let doc = parse_document(&std::fs::read(path).unwrap()).unwrap();
    compile(&doc, None, &CompileOptions::default(), &NoExternalRefs).unwrap()
}

pub fn op_named(spec: &toolgate_openapi::CompiledSpec, name: &str) -> Arc<Operation> {
    Arc::new(
        spec.operations
            .iter()
            .find(|o| o.name == name)
            .unwrap_or_else(|| panic!("no operation {name}"))
            .clone(),
    )
}

#[tokio::test]
async fn each_fastapi_security_class_gets_its_credential_as_fastapi_declares_it() {
    let server = ok_server().await;
    let spec = fastapi_spec();
    let b = HttpBackend::new(
        server.url(),
        spec.security_schemes.clone(),
        with_auths(vec![
            BackendAuth::Bearer {
                scheme: Some("HTTPBearer".into()),
                token: "tok".into(),
            },
            basic("svc", "pw"),
            api_key("APIKeyHeader", "hk"),
            api_key("APIKeyQuery", "qk"),
            api_key("APIKeyCookie", "ck"),
        ]),
    )
    .unwrap();
    let cases: [(&str, &str, Option<&str>); 5] = [
        ("with_bearer", "authorization", Some("Bearer tok")),
        ("with_basic", "authorization", Some("Basic c3ZjOnB3")),
        ("with_key_header", "x-api-key", Some("hk")),
        ("with_key_query", "x-api-key", None),
        ("with_key_cookie", "cookie", Some("session=ck")),
    ];
    for (tool, header, want) in cases {
        call(&b, &op_named(&spec, tool), json!({})).await.unwrap();
        let rec = server.last();
        assert_eq!(rec.header(header).as_deref(), want, "{tool}: {rec:?}");
        // Nothing else: each endpoint gets only the credential its scheme names.
        let others = ["authorization", "x-api-key", "cookie"]
            .into_iter()
            .filter(|h| *h != header && rec.header(h).is_some())
            .collect::<Vec<_>>();
        assert!(others.is_empty(), "{tool} also got {others:?}");
    }
    call(&b, &op_named(&spec, "with_key_query"), json!({}))
        .await
        .unwrap();
    assert_eq!(server.last().target, "/key-query?api_key=qk");
    // The public endpoint gets nothing.
    call(&b, &op_named(&spec, "stats"), json!({}))
        .await
        .unwrap();
    let rec = server.last();
    assert_eq!(
        (rec.header("authorization"), rec.header("x-api-key")),
        (None, None)
    );
}

#[tokio::test]
async fn an_endpoint_needing_two_schemes_gets_both() {
    let server = ok_server().await;
    let spec = fastapi_spec();
    let both = op_named(&spec, "with_key_and_bearer");
    // FastAPI declares two security dependencies as two alternatives, although the
    // endpoint needs both (fastapi/fastapi#2835).
    assert_eq!(
        both.security,
        vec![
            vec!["APIKeyHeader".to_owned()],
            vec!["HTTPBearer".to_owned()]
        ]
    );
    let b = HttpBackend::new(
        server.url(),
        spec.security_schemes.clone(),
        with_auths(vec![api_key("APIKeyHeader", "hk"), bearer("tok")]),
    )
    .unwrap();
    call(&b, &both, json!({})).await.unwrap();
    let rec = server.last();
    assert_eq!(rec.header("x-api-key").as_deref(), Some("hk"));
    assert_eq!(rec.header("authorization").as_deref(), Some("Bearer tok"));

    // The same in OpenAPI's own AND form (one requirement naming both).
    let and = get("/both")
        .security(&[&["APIKeyHeader", "HTTPBearer"]])
        .build();
    call(&b, &and, json!({})).await.unwrap();
    let rec = server.last();
    assert_eq!(rec.header("x-api-key").as_deref(), Some("hk"));
    assert_eq!(rec.header("authorization").as_deref(), Some("Bearer tok"));

    // With only one of them configured, that one is sent (the backend then says what is
    // missing).
    let b = HttpBackend::new(
        server.url(),
        spec.security_schemes.clone(),
        with_auth(bearer("tok")),
    )
    .unwrap();
    call(&b, &both, json!({})).await.unwrap();
    let rec = server.last();
    assert_eq!(rec.header("x-api-key"), None);
    assert_eq!(rec.header("authorization").as_deref(), Some("Bearer tok"));
}

#[tokio::test]
async fn alternatives_filling_the_same_header_send_the_first_named() {
    let server = ok_server().await;
    let schemes = vec![
        scheme("HTTPBasic", SecuritySchemeKind::Basic),
        scheme("HTTPBearer", SecuritySchemeKind::Bearer),
    ];
    let b = backend_with(
        &server,
        schemes,
        with_auths(vec![bearer("tok"), basic("u", "p")]),
    );
    let op = get("/t")
        .security(&[&["HTTPBasic"], &["HTTPBearer"]])
        .build();
    call(&b, &op, json!({})).await.unwrap();
    assert_eq!(
        server.last().header("authorization").as_deref(),
        Some("Basic dTpw")
    );
    let op = get("/t")
        .security(&[&["HTTPBearer"], &["HTTPBasic"]])
        .build();
    call(&b, &op, json!({})).await.unwrap();
    assert_eq!(
        server.last().header("authorization").as_deref(),
        Some("Bearer tok")
    );
}

#[tokio::test]
async fn each_scheme_gets_its_best_fitting_credential() {
    // A static bearer token and an API key that name no scheme: the token goes to the bearer
    // scheme, the key to the apiKey scheme whose header it names, not to the other one.
    let server = ok_server().await;
    let schemes = vec![
        scheme(
            "Other",
            SecuritySchemeKind::ApiKey {
                location: ParamLocation::Header,
                param_name: "X-Other".into(),
            },
        ),
        scheme(
            "Mine",
            SecuritySchemeKind::ApiKey {
                location: ParamLocation::Header,
                param_name: "X-Mine".into(),
            },
        ),
        scheme("HTTPBearer", SecuritySchemeKind::Bearer),
    ];
    let keys = |a: &str, b: &str| {
        vec![
            BackendAuth::ApiKey {
                scheme: None,
                location: Some(ApiKeyLocation::Header),
                name: Some(a.into()),
                value: "a".into(),
            },
            BackendAuth::ApiKey {
                scheme: None,
                location: Some(ApiKeyLocation::Header),
                name: Some(b.into()),
                value: "b".into(),
            },
            bearer("tok"),
        ]
    };
    let b = backend_with(&server, schemes, with_auths(keys("X-Mine", "X-Other")));
    call(&b, &get("/t").security(&[&["Mine"]]).build(), json!({}))
        .await
        .unwrap();
    let rec = server.last();
    assert_eq!(rec.header("x-mine").as_deref(), Some("a"));
    assert_eq!(rec.header("x-other"), None);
    assert_eq!(rec.header("authorization"), None);
    call(
        &b,
        &get("/t").security(&[&["Other", "HTTPBearer"]]).build(),
        json!({}),
    )
    .await
    .unwrap();
    let rec = server.last();
    assert_eq!(rec.header("x-other").as_deref(), Some("b"));
    assert_eq!(rec.header("authorization").as_deref(), Some("Bearer tok"));
}

#[tokio::test]
async fn secrets_do_not_appear_in_debug_output() {
    let server = ok_server().await;
    let mut options = with_auths(vec![bearer("tok-secret"), basic("u", "basic-secret")]);
    options.headers.insert("X-Key".into(), "hdr-secret".into());
    let b = backend_with(
        &server,
        vec![
            scheme("b", SecuritySchemeKind::Bearer),
            scheme("c", SecuritySchemeKind::Basic),
        ],
        options,
    );
    let debug = format!("{b:?}");
    for secret in [
        "tok-secret",
        "hdr-secret",
        "basic-secret",
        "dTpiYXNpYy1zZWNyZXQ",
    ] {
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
}

fn new_err(schemes: Vec<SecurityScheme>, options: HttpSourceOptions) -> String {
    HttpBackend::new("http://127.0.0.1:1/".parse().unwrap(), schemes, options)
        .unwrap_err()
        .to_string()
}

#[test]
fn config_errors_are_all_reported_at_once() {
    let mut options = with_auth(bearer("t"));
    options.forward_authorization = true;
    options.headers.insert("bad header".into(), "x".into());
    options.headers.insert("X-Ok".into(), "line\nbreak".into());
    options.forward_headers = vec!["Authorization".into(), "Connection".into()];
    options.max_concurrent_requests = 0;
    let err = new_err(vec![], options);
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
    let err = new_err(schemes.clone(), with_auth(bearer("t")));
    assert!(
        err.contains("auth `bearer` matches none of the spec's security schemes"),
        "{err}"
    );
    assert!(err.contains("`basic` (http basic)"), "{err}");
    let err = new_err(schemes.clone(), with_auth(api_key("nope", "v")));
    assert!(
        err.contains(
            "auth.scheme `nope` is not a security scheme of the spec (it declares: `basic`)"
        ),
        "{err}"
    );
    let err = new_err(
        schemes,
        with_auth(BackendAuth::Bearer {
            scheme: Some("basic".into()),
            token: "t".into(),
        }),
    );
    assert!(
        err.contains("auth.scheme `basic` is an http basic scheme in the spec; a `bearer` credential cannot be sent for it"),
        "{err}"
    );
}

#[test]
fn several_credentials_are_checked_together() {
    let schemes = vec![
        scheme("HTTPBearer", SecuritySchemeKind::Bearer),
        scheme(
            "OAuth2",
            SecuritySchemeKind::OAuth2 {
                token_url: None,
                password_token_url: Some("/token".into()),
            },
        ),
    ];
    // Two for one scheme.
    let named = |token: &str| BackendAuth::Bearer {
        scheme: Some("HTTPBearer".into()),
        token: token.into(),
    };
    let err = new_err(schemes.clone(), with_auths(vec![named("a"), named("b")]));
    assert!(
        err.contains("auth[0] and auth[1] are all for security scheme `HTTPBearer`"),
        "{err}"
    );
    // A second unnamed bearer token fits the same schemes as the first: never sent.
    let err = new_err(schemes, with_auths(vec![bearer("a"), bearer("b")]));
    assert!(
        err.contains("auth[1] `bearer` matches none of the spec's security schemes")
            && err.contains("name the one it is for with `scheme:`"),
        "{err}"
    );
    assert!(!err.contains("auth[0]"), "{err}");
    // Problems of each credential carry its index.
    let err = new_err(
        vec![scheme("k", SecuritySchemeKind::Basic)],
        with_auths(vec![
            basic("a:b", "p"),
            BackendAuth::Bearer {
                scheme: None,
                token: "bad\ntoken".into(),
            },
        ]),
    );
    assert!(
        err.contains("auth[0].username must not contain `:`")
            && err.contains("auth[1].token contains characters not allowed"),
        "{err}"
    );
    assert!(!err.contains("bad\ntoken"), "{err}");
}

#[test]
fn without_declared_schemes_two_credentials_must_not_fill_one_header() {
    let err = new_err(vec![], with_auths(vec![bearer("a"), basic("u", "p")]));
    assert!(
        err.contains("auth[0] and auth[1] both set the `authorization` header"),
        "{err}"
    );
}

#[tokio::test]
async fn without_declared_schemes_every_credential_goes_everywhere() {
    let server = ok_server().await;
    let b = backend(
        &server,
        with_auths(vec![
            bearer("tok"),
            BackendAuth::ApiKey {
                scheme: None,
                location: Some(ApiKeyLocation::Query),
                name: Some("key".into()),
                value: "k".into(),
            },
        ]),
    );
    call(&b, &get("/t").build(), json!({})).await.unwrap();
    let rec = server.last();
    assert_eq!(rec.header("authorization").as_deref(), Some("Bearer tok"));
    assert_eq!(rec.target, "/t?key=k");
}
