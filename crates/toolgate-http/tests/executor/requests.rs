//! Request lines and headers: every style/explode/type of the OpenAPI Style Examples table
//! as received by a real backend, base paths, headers, cookies, forwarding.

use std::sync::Arc;

use serde_json::{Value, json};
use toolgate_core::context::CallContext;
use toolgate_core::error::ToolErrorKind;
use toolgate_http::HttpSourceOptions;
use toolgate_openapi::ir::{HttpMethod, Param, ParamLocation, ParamStyle};

use crate::common::*;
use ParamLocation::*;
use ParamStyle::*;

fn table_values() -> [(&'static str, Value); 4] {
    [
        ("empty", json!("")),
        ("string", json!("blue")),
        ("array", json!(["blue", "black", "brown"])),
        ("object", json!({"R": 100, "G": 200, "B": 150})),
    ]
}

/// `(location, style, explode, [empty, string, array, object])`; `None` = n/a in the spec
/// table (or refused for safety, checked separately). Path rows are the part after
/// `/items/`, query rows the query string, header rows the `color` header, cookie rows the
/// `Cookie` header.
#[allow(clippy::type_complexity)]
const WIRE_TABLE: &[(ParamLocation, ParamStyle, bool, [Option<&str>; 4])] = &[
    (
        Path,
        Matrix,
        false,
        [
            Some(";color"),
            Some(";color=blue"),
            Some(";color=blue,black,brown"),
            Some(";color=R,100,G,200,B,150"),
        ],
    ),
    (
        Path,
        Matrix,
        true,
        [
            Some(";color"),
            Some(";color=blue"),
            Some(";color=blue;color=black;color=brown"),
            Some(";R=100;G=200;B=150"),
        ],
    ),
    // Label with "" is the segment `.`, which is refused (see `label_empty_is_a_dot_segment`).
    (
        Path,
        Label,
        false,
        [
            None,
            Some(".blue"),
            Some(".blue,black,brown"),
            Some(".R,100,G,200,B,150"),
        ],
    ),
    (
        Path,
        Label,
        true,
        [
            None,
            Some(".blue"),
            Some(".blue.black.brown"),
            Some(".R=100.G=200.B=150"),
        ],
    ),
    (
        Path,
        Simple,
        false,
        [
            None,
            Some("blue"),
            Some("blue,black,brown"),
            Some("R,100,G,200,B,150"),
        ],
    ),
    (
        Path,
        Simple,
        true,
        [
            None,
            Some("blue"),
            Some("blue,black,brown"),
            Some("R=100,G=200,B=150"),
        ],
    ),
    (
        Query,
        Form,
        false,
        [
            Some("color="),
            Some("color=blue"),
            Some("color=blue,black,brown"),
            Some("color=R,100,G,200,B,150"),
        ],
    ),
    (
        Query,
        Form,
        true,
        [
            Some("color="),
            Some("color=blue"),
            Some("color=blue&color=black&color=brown"),
            Some("R=100&G=200&B=150"),
        ],
    ),
    (
        Query,
        SpaceDelimited,
        false,
        [
            None,
            None,
            Some("color=blue%20black%20brown"),
            Some("color=R%20100%20G%20200%20B%20150"),
        ],
    ),
    (
        Query,
        PipeDelimited,
        false,
        [
            None,
            None,
            Some("color=blue|black|brown"),
            Some("color=R|100|G|200|B|150"),
        ],
    ),
    (
        Query,
        DeepObject,
        true,
        [
            None,
            None,
            None,
            Some("color[R]=100&color[G]=200&color[B]=150"),
        ],
    ),
    (
        Query,
        TabDelimited,
        false,
        [None, None, Some("color=blue%09black%09brown"), None],
    ),
    (
        Header,
        Simple,
        false,
        [
            Some(""),
            Some("blue"),
            Some("blue,black,brown"),
            Some("R,100,G,200,B,150"),
        ],
    ),
    (
        Header,
        Simple,
        true,
        [
            Some(""),
            Some("blue"),
            Some("blue,black,brown"),
            Some("R=100,G=200,B=150"),
        ],
    ),
    (
        Cookie,
        Form,
        false,
        [
            Some("color="),
            Some("color=blue"),
            Some("color=blue,black,brown"),
            Some("color=R,100,G,200,B,150"),
        ],
    ),
    (
        Cookie,
        Form,
        true,
        [
            Some("color="),
            Some("color=blue"),
            Some("color=blue; color=black; color=brown"),
            Some("R=100; G=200; B=150"),
        ],
    ),
];

#[tokio::test]
async fn style_examples_table_on_the_wire() {
    let server = ok_server().await;
    let backend = backend(&server, HttpSourceOptions::default());
    let mut checked = 0;
    for (location, style, explode, row) in WIRE_TABLE {
        let path = if *location == Path {
            "/items/{color}"
        } else {
            "/items"
        };
        let op = get(path)
            .param(*location, "color", *style, *explode)
            .build();
        for ((label, value), expected) in table_values().into_iter().zip(row) {
            let Some(expected) = expected else { continue };
            let ctx = format!("{location:?} {style:?} explode={explode} {label}");
            call(&backend, &op, json!({ "color": value }))
                .await
                .unwrap_or_else(|e| panic!("{ctx}: {e}"));
            let rec = server.last();
            match location {
                Path => assert_eq!(rec.target, format!("/items/{expected}"), "{ctx}"),
                Query => assert_eq!(rec.target, format!("/items?{expected}"), "{ctx}"),
                Header => assert_eq!(rec.header("color").as_deref(), Some(*expected), "{ctx}"),
                Cookie => assert_eq!(rec.header("cookie").as_deref(), Some(*expected), "{ctx}"),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 50);
}

#[tokio::test]
async fn label_empty_is_a_dot_segment_and_refused() {
    let server = ok_server().await;
    let backend = backend(&server, HttpSourceOptions::default());
    let op = get("/items/{color}")
        .param(Path, "color", Label, false)
        .build();
    let err = call(&backend, &op, json!({"color": ""})).await.unwrap_err();
    assert_eq!(err.kind, ToolErrorKind::InvalidArguments);
    assert!(err.message.contains("`.`"), "{}", err.message);
    assert_eq!(server.count(), 0);
}

#[tokio::test]
async fn absent_optional_args_are_omitted_and_primitives_render_as_json() {
    let server = ok_server().await;
    let backend = backend(&server, HttpSourceOptions::default());
    let op = get("/s")
        .query("a")
        .query("b")
        .query("c")
        .query("d")
        .query("e")
        .build();
    call(
        &backend,
        &op,
        json!({"a": true, "b": false, "c": 3, "d": 2.5, "e": null}),
    )
    .await
    .unwrap();
    assert_eq!(server.last().target, "/s?a=true&b=false&c=3&d=2.5");
    call(&backend, &op, json!({})).await.unwrap();
    assert_eq!(server.last().target, "/s");
}

#[tokio::test]
async fn query_values_are_percent_encoded_and_allow_reserved_keeps_reserved() {
    let server = ok_server().await;
    let backend = backend(&server, HttpSourceOptions::default());
    let op = get("/s")
        .query("q")
        .param_full(Param {
            arg: "r".into(),
            name: "r".into(),
            location: Query,
            required: false,
            style: Form,
            explode: true,
            allow_reserved: true,
            content_type: None,
        })
        .build();
    call(
        &backend,
        &op,
        json!({"q": "a b&c=d/é+", "r": "a/b?c=d&e#f"}),
    )
    .await
    .unwrap();
    assert_eq!(
        server.last().target,
        "/s?q=a%20b%26c%3Dd%2F%C3%A9%2B&r=a/b?c=d&e%23f"
    );
}

#[tokio::test]
async fn content_typed_params_are_json_then_percent_encoded() {
    let server = ok_server().await;
    let backend = backend(&server, HttpSourceOptions::default());
    let json_param = |name: &str, location| Param {
        arg: name.into(),
        name: name.into(),
        location,
        required: false,
        style: Form,
        explode: true,
        allow_reserved: false,
        content_type: Some("application/json".into()),
    };
    let op = get("/s")
        .param_full(json_param("filter", Query))
        .param_full(json_param("X-Filter", Header))
        .build();
    call(
        &backend,
        &op,
        json!({"filter": {"a": [1, "x"]}, "X-Filter": {"b": true}}),
    )
    .await
    .unwrap();
    let rec = server.last();
    assert_eq!(rec.target, "/s?filter=%7B%22a%22%3A%5B1%2C%22x%22%5D%7D");
    assert_eq!(rec.header("x-filter").as_deref(), Some(r#"{"b":true}"#));
}

#[tokio::test]
async fn base_path_prefix_is_preserved() {
    let server = ok_server().await;
    for base in ["/api", "/api/"] {
        let backend = toolgate_http::HttpBackend::new(
            server.url_with(base),
            vec![],
            HttpSourceOptions::default(),
        )
        .unwrap();
        let op = get("/users/{id}").path("id").build();
        call(&backend, &op, json!({"id": 42})).await.unwrap();
        assert_eq!(server.last().target, "/api/users/42", "base {base}");
    }
}

#[tokio::test]
async fn operation_server_url_overrides_the_base() {
    let server = ok_server().await;
    let backend = toolgate_http::HttpBackend::new(
        "http://127.0.0.1:9/unused".parse().unwrap(),
        vec![],
        HttpSourceOptions::default(),
    )
    .unwrap();
    let mut op = get("/ping").0;
    op.server_url = Some(server.url_with("/v2").to_string());
    call(&backend, &Arc::new(op), json!({})).await.unwrap();
    assert_eq!(server.last().target, "/v2/ping");
}

#[tokio::test]
async fn correlation_id_is_sent_as_x_request_id() {
    let server = ok_server().await;
    let backend = backend(&server, HttpSourceOptions::default());
    let op = get("/s").build();
    let ctx = CallContext::in_process();
    call_ctx(&backend, &op, json!({}), &ctx).await.unwrap();
    assert_eq!(
        server.last().header("x-request-id").as_deref(),
        Some(ctx.correlation_id.as_str())
    );
}

#[tokio::test]
async fn static_and_forwarded_headers_follow_the_allowlist() {
    let server = ok_server().await;
    let mut options = HttpSourceOptions::default();
    options.headers.insert("X-Tenant".into(), "acme".into());
    options.forward_headers = vec!["X-Trace".into()];
    let backend = backend(&server, options);
    let op = get("/s").build();
    let mut incoming = http::HeaderMap::new();
    incoming.insert("x-trace", "t1".parse().unwrap());
    incoming.insert("x-secret", "nope".parse().unwrap());
    incoming.insert("authorization", "Bearer client-token".parse().unwrap());
    let mut ctx = CallContext::in_process();
    ctx.incoming_headers = Some(Arc::new(incoming.clone()));
    call_ctx(&backend, &op, json!({}), &ctx).await.unwrap();
    let rec = server.last();
    assert_eq!(rec.header("x-tenant").as_deref(), Some("acme"));
    assert_eq!(rec.header("x-trace").as_deref(), Some("t1"));
    assert_eq!(rec.header("x-secret"), None);
    assert_eq!(
        rec.header("authorization"),
        None,
        "not forwarded by default"
    );

    let options = HttpSourceOptions {
        forward_authorization: true,
        ..Default::default()
    };
    let backend = crate::common::backend(&server, options);
    call_ctx(&backend, &op, json!({}), &ctx).await.unwrap();
    assert_eq!(
        server.last().header("authorization").as_deref(),
        Some("Bearer client-token")
    );
}

#[tokio::test]
async fn header_params_named_accept_content_type_authorization_are_ignored() {
    let server = ok_server().await;
    let backend = backend(&server, HttpSourceOptions::default());
    let op = get("/s").header("Authorization").header("X-Ok").build();
    call(
        &backend,
        &op,
        json!({"Authorization": "Bearer x", "X-Ok": "1"}),
    )
    .await
    .unwrap();
    let rec = server.last();
    assert_eq!(rec.header("authorization"), None);
    assert_eq!(rec.header("x-ok").as_deref(), Some("1"));
}

#[tokio::test]
async fn method_is_sent_verbatim() {
    let server = ok_server().await;
    let backend = backend(&server, HttpSourceOptions::default());
    for m in [
        HttpMethod::Get,
        HttpMethod::Put,
        HttpMethod::Post,
        HttpMethod::Delete,
        HttpMethod::Patch,
        HttpMethod::Options,
    ] {
        let op = op("t", m, "/m").build();
        call(&backend, &op, json!({})).await.unwrap();
        assert_eq!(server.last().method, m.as_str());
    }
}

#[tokio::test]
async fn default_user_agent_and_accept_are_sent_unless_configured() {
    let server = ok_server().await;
    let b = backend(&server, HttpSourceOptions::default());
    call(&b, &get("/d").build(), json!({})).await.unwrap();
    let sent = server.last();
    assert_eq!(
        sent.header("user-agent"),
        Some(format!("toolgate/{}", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(sent.header("accept").as_deref(), Some("*/*"));
    assert_eq!(sent.header("host"), Some(server.addr.to_string()));

    let mut options = HttpSourceOptions::default();
    options.headers.insert("User-Agent".into(), "bot/2".into());
    options
        .headers
        .insert("Accept".into(), "application/json".into());
    let b = backend(&server, options);
    call(&b, &get("/d").build(), json!({})).await.unwrap();
    let sent = server.last();
    assert_eq!(sent.header("user-agent").as_deref(), Some("bot/2"));
    assert_eq!(sent.header("accept").as_deref(), Some("application/json"));
}
