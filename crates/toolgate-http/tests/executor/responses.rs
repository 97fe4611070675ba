//! Response mapping, backend errors, timeouts, connection failures, validation, limits.

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{ContentBlock, ResourceContents};
use serde_json::json;
use toolgate_core::context::CallContext;
use toolgate_core::error::{Delivery, ToolErrorKind};
use toolgate_http::{HttpBackend, HttpSourceOptions, UnknownArguments};
use toolgate_openapi::ir::HttpMethod;

use crate::common::*;

async fn one(reply: Reply) -> (Server, HttpBackend) {
    let server = server(move |_| reply.clone()).await;
    let b = backend(&server, HttpSourceOptions::default());
    (server, b)
}

#[tokio::test]
async fn json_object_is_structured_content_plus_text() {
    let (_s, b) = one(Reply::json(json!({"id": 1, "title": "a"}))).await;
    let r = call(&b, &get("/t").output(None).build(), json!({}))
        .await
        .unwrap();
    assert_eq!(r.structured_content, Some(json!({"id": 1, "title": "a"})));
    assert_eq!(text(&r), r#"{"id":1,"title":"a"}"#);
    assert_eq!(r.is_error, Some(false));
}

/// The text copy of an object answer is the backend's own bytes: its layout, and numbers
/// that do not fit an `f64` or `i64`, survive.
#[tokio::test]
async fn json_object_text_is_the_body_as_sent() {
    let body = "\n{ \"id\": 123456789012345678901234567890,\n  \"ok\": true }\n";
    let (_s, b) = one(Reply::with(200, "application/json", body)).await;
    let r = call(&b, &get("/t").output(None).build(), json!({}))
        .await
        .unwrap();
    assert_eq!(text(&r), body.trim());
    assert_eq!(r.structured_content.unwrap()["ok"], json!(true));
}

#[tokio::test]
async fn json_array_is_wrapped_under_output_wrap() {
    let (_s, b) = one(Reply::json(json!([1, 2]))).await;
    let r = call(&b, &get("/t").output(Some("items")).build(), json!({}))
        .await
        .unwrap();
    assert_eq!(r.structured_content, Some(json!({"items": [1, 2]})));
    assert_eq!(text(&r), r#"{"items":[1,2]}"#);
}

#[tokio::test]
async fn non_object_json_without_schema_is_wrapped_as_result() {
    let reply = Reply::with(200, "application/problem+json", "\"plain\"");
    let (_s, b) = one(reply).await;
    let r = call(&b, &get("/t").build(), json!({})).await.unwrap();
    assert_eq!(r.structured_content, Some(json!({"result": "plain"})));
}

#[tokio::test]
async fn text_xml_and_yaml_are_text() {
    for (ct, body) in [
        ("text/plain; charset=utf-8", "hello"),
        ("application/xml", "<a>1</a>"),
        ("application/x-yaml", "a: 1"),
        ("text/csv", "a,b\n1,2"),
    ] {
        let (_s, b) = one(Reply::with(200, ct, body)).await;
        let r = call(&b, &get("/t").build(), json!({})).await.unwrap();
        assert_eq!(text(&r), body, "{ct}");
        assert_eq!(r.structured_content, None, "{ct}");
    }
}

#[tokio::test]
async fn image_and_audio_become_media_content() {
    let (_s, b) = one(Reply::with(200, "image/png", vec![0x89, b'P', b'N', b'G'])).await;
    let r = call(&b, &get("/img").build(), json!({})).await.unwrap();
    let img = r.content[0].as_image().expect("image content");
    assert_eq!(img.data, "iVBORw==");
    assert_eq!(img.mime_type, "image/png");

    let (_s, b) = one(Reply::with(200, "audio/wav", b"RIFF".to_vec())).await;
    let r = call(&b, &get("/a").build(), json!({})).await.unwrap();
    let audio = r.content[0].as_audio().expect("audio content");
    assert_eq!(audio.data, "UklGRg==");
    assert_eq!(audio.mime_type, "audio/wav");
}

#[tokio::test]
async fn other_binary_is_an_embedded_blob() {
    let (s, b) = one(Reply::with(200, "application/pdf", b"%PDF".to_vec())).await;
    let r = call(&b, &get("/doc").query("k").build(), json!({"k": "secret"}))
        .await
        .unwrap();
    let res = r.content[0].as_resource().expect("embedded resource");
    match &res.resource {
        ResourceContents::BlobResourceContents {
            uri,
            mime_type,
            blob,
            ..
        } => {
            assert_eq!(blob, "JVBERg==");
            assert_eq!(mime_type.as_deref(), Some("application/pdf"));
            assert_eq!(
                uri,
                &format!("http://{}/doc", s.addr),
                "no query in the URI"
            );
        }
        other => panic!("expected a blob, got {other:?}"),
    }
}

#[tokio::test]
async fn oversize_text_is_truncated_with_a_notice() {
    let server = server(|_| Reply::with(200, "text/plain", "a".repeat(5000))).await;
    let options = HttpSourceOptions {
        max_response_body_bytes: 1000,
        ..Default::default()
    };
    let b = backend(&server, options);
    let r = call(&b, &get("/t").build(), json!({})).await.unwrap();
    let t = text(&r);
    assert!(t.starts_with(&"a".repeat(1000)));
    assert!(!t.starts_with(&"a".repeat(1001)));
    assert!(
        t.contains("[truncated: the response exceeded max_response_body_bytes (1000 bytes)"),
        "{t}"
    );
}

#[tokio::test]
async fn oversize_json_with_output_schema_or_binary_fails_with_too_large() {
    let big = json!({"data": "x".repeat(5000)});
    let server = server(move |r| {
        if r.target == "/img" {
            Reply::with(200, "image/png", vec![0u8; 5000])
        } else {
            Reply::json(big.clone())
        }
    })
    .await;
    let options = HttpSourceOptions {
        max_response_body_bytes: 1000,
        ..Default::default()
    };
    let b = backend(&server, options);
    let err = call(&b, &get("/t").output(None).build(), json!({}))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ToolErrorKind::TooLarge);
    assert!(
        err.message.contains("max_response_body_bytes"),
        "{}",
        err.message
    );
    let err = call(&b, &get("/img").build(), json!({})).await.unwrap_err();
    assert_eq!(err.kind, ToolErrorKind::TooLarge);
    // Without an output schema, JSON is cut like text.
    let r = call(&b, &get("/t").build(), json!({})).await.unwrap();
    assert!(text(&r).contains("[truncated"));
    assert_eq!(r.structured_content, None);
}

#[tokio::test]
async fn no_content_gives_a_short_success_text() {
    let (_s, b) = one(Reply::status(204)).await;
    let op = op("del", HttpMethod::Delete, "/tasks/{id}")
        .path("id")
        .build();
    let r = call(&b, &op, json!({"id": "abc"})).await.unwrap();
    assert_eq!(text(&r), "204 No Content: DELETE /tasks/abc succeeded");
}

#[tokio::test]
async fn not_found_carries_status_and_a_body_excerpt() {
    let body = format!(
        "{{\"detail\":\"task abc not found\",\"pad\":\"{}\"}}",
        "p".repeat(5000)
    );
    let (_s, b) = one(Reply::with(404, "application/json", body)).await;
    let op = get("/tasks/{id}").path("id").build();
    let err = call(&b, &op, json!({"id": "abc"})).await.unwrap_err();
    assert_eq!(err.kind, ToolErrorKind::BackendStatus);
    assert_eq!(err.status, Some(404));
    assert!(!err.retryable);
    assert!(
        err.message
            .starts_with("backend returned 404 Not Found for GET /tasks/abc (tool `t`)"),
        "{}",
        err.message
    );
    assert!(err.message.contains("task abc not found"));
    assert!(
        err.message.len() < 2400,
        "excerpt is capped: {}",
        err.message.len()
    );
    assert!(
        err.message
            .contains(" …\nWhat the arguments name does not exist"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn masked_errors_hide_the_body() {
    let server = server(|_| Reply::with(500, "text/plain", "stack trace: secret")).await;
    let options = HttpSourceOptions {
        mask_error_details: true,
        ..Default::default()
    };
    let b = backend(&server, options);
    let err = call(&b, &get("/t").build(), json!({})).await.unwrap_err();
    assert_eq!(err.status, Some(500));
    assert!(!err.message.contains("secret"), "{}", err.message);
}

#[tokio::test]
async fn service_unavailable_is_retryable_with_retry_after() {
    let (_s, b) = one(Reply::with(503, "text/plain", "down").header("retry-after", "7")).await;
    let err = call(&b, &get("/t").build(), json!({})).await.unwrap_err();
    assert_eq!(err.status, Some(503));
    assert!(err.retryable);
    assert_eq!(err.retry_after, Some(Duration::from_secs(7)));
    assert!(
        err.message.contains("503 Service Unavailable"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn cache_control_no_store_or_private_is_marked_for_caches() {
    for (value, marked) in [
        ("no-store", true),
        ("max-age=0, Private", true),
        ("public, max-age=60", false),
    ] {
        let (_s, b) =
            one(Reply::with(200, "application/json", "{}").header("cache-control", value)).await;
        let r = call(&b, &get("/t").build(), json!({})).await.unwrap();
        assert_eq!(toolgate_core::wire::is_no_store(&r), marked, "{value}");
    }
}

// Timing tests run on paused tokio time: the backend's delay, the timeouts and the test's own
// waits are all virtual, and time advances only when every task waits, so the assertions on
// elapsed time are exact rather than bounds that a loaded machine could break.

#[tokio::test(start_paused = true)]
async fn slow_backend_times_out_at_the_tool_timeout() {
    let server = server(|_| Reply::json(json!({})).delayed(Duration::from_secs(5))).await;
    let mut options = HttpSourceOptions::default();
    options.tool_timeouts_ms.insert("slow".into(), 200);
    let b = backend(&server, options);
    let started = tokio::time::Instant::now();
    let err = call(&b, &get("/t").named("slow").build(), json!({}))
        .await
        .unwrap_err();
    assert_eq!(started.elapsed(), Duration::from_millis(200));
    assert_eq!(err.kind, ToolErrorKind::Timeout);
    assert!(err.retryable);
    assert!(
        err.message
            .contains(&format!("127.0.0.1:{}", server.addr.port())),
        "{}",
        err.message
    );
    assert!(err.message.contains("200 ms"), "{}", err.message);
    assert_eq!(server.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn deadline_bounds_the_timeout() {
    let server = server(|_| Reply::json(json!({})).delayed(Duration::from_secs(5))).await;
    let b = backend(&server, HttpSourceOptions::default());
    let mut ctx = CallContext::in_process();
    let started = tokio::time::Instant::now();
    ctx.deadline = Some(started + Duration::from_millis(150));
    let err = call_ctx(&b, &get("/t").build(), json!({}), &ctx)
        .await
        .unwrap_err();
    assert_eq!(started.elapsed(), Duration::from_millis(150));
    assert_eq!(err.kind, ToolErrorKind::Timeout);
    assert!(err.message.contains("deadline"), "{}", err.message);
}

#[tokio::test(start_paused = true)]
async fn cancellation_aborts_the_request() {
    let server = server(|_| Reply::json(json!({})).delayed(Duration::from_secs(5))).await;
    let b = backend(&server, HttpSourceOptions::default());
    let ctx = CallContext::in_process();
    let cancel = ctx.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        cancel.cancel();
    });
    let started = tokio::time::Instant::now();
    let err = call_ctx(&b, &get("/t").build(), json!({}), &ctx)
        .await
        .unwrap_err();
    assert_eq!(started.elapsed(), Duration::from_millis(100));
    assert_eq!(err.kind, ToolErrorKind::Cancelled);
    assert_eq!(
        server.count(),
        1,
        "the request was under way when it was cancelled"
    );
}

#[tokio::test]
async fn refused_connection_is_a_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let b = HttpBackend::new(
        format!("http://127.0.0.1:{port}/").parse().unwrap(),
        vec![],
        HttpSourceOptions::default(),
    )
    .unwrap();
    let err = call(&b, &get("/t").build(), json!({})).await.unwrap_err();
    assert_eq!(err.kind, ToolErrorKind::Connect, "{}", err.message);
    assert_eq!(err.delivery, Delivery::NotSent);
    assert!(err.retryable);
    assert!(
        err.message.contains(&format!("127.0.0.1:{port}")),
        "{}",
        err.message
    );
    let probe = b.readiness_probe().check().await.unwrap_err();
    assert!(probe.contains("unreachable"), "{probe}");
}

#[tokio::test]
async fn readiness_probe_accepts_any_http_answer() {
    let (_s, b) = one(Reply::status(405)).await;
    b.readiness_probe().check().await.unwrap();
}

#[tokio::test]
async fn validation_lists_every_violation_before_any_request() {
    let (s, b) = one(Reply::json(json!({}))).await;
    let op = get("/t/{id}")
        .path("id")
        .prop("id", json!({"type": "integer"}))
        .query("limit")
        .prop("limit", json!({"type": "integer", "maximum": 100}))
        .query("tags")
        .prop(
            "tags",
            json!({"type": "array", "items": {"type": "string"}}),
        )
        .query("q")
        .required("q")
        .build();
    let err = call(
        &b,
        &op,
        json!({"id": "x", "limit": 500, "tags": ["a", 3], "bogus": 1}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind, ToolErrorKind::InvalidArguments);
    let mut paths: Vec<&str> = err.violations.iter().map(|v| v.path.as_str()).collect();
    paths.sort();
    assert_eq!(
        paths,
        ["", "/bogus", "/id", "/limit", "/tags/1"],
        "{}",
        err.message
    );
    assert!(
        err.message.contains("\"q\" is a required property"),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("unknown argument `bogus`"),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("is not of type \"integer\""),
        "{}",
        err.message
    );
    assert_eq!(s.count(), 0);
}

#[tokio::test]
async fn unknown_arguments_can_be_ignored() {
    let server = ok_server().await;
    let options = HttpSourceOptions {
        unknown_arguments: UnknownArguments::Ignore,
        ..Default::default()
    };
    let b = backend(&server, options);
    let mut op = get("/t").query("a").0;
    op.input_schema
        .insert("additionalProperties".into(), json!(false));
    call(&b, &Arc::new(op), json!({"a": 1, "zzz": 2}))
        .await
        .unwrap();
    assert_eq!(server.last().target, "/t?a=1");
}

#[tokio::test(start_paused = true)]
async fn concurrency_cap_rejects_fast() {
    let server = server(|_| Reply::json(json!({})).delayed(Duration::from_millis(500))).await;
    let options = HttpSourceOptions {
        max_concurrent_requests: 1,
        ..Default::default()
    };
    let b = backend(&server, options);
    let op = get("/t").build();
    let first = {
        let (b, op) = (b.clone(), op.clone());
        tokio::spawn(async move { call(&b, &op, json!({})).await })
    };
    // Until the first call holds the only permit (its request reached the backend).
    while server.count() == 0 {
        tokio::task::yield_now().await;
    }
    let started = tokio::time::Instant::now();
    let err = call(&b, &op, json!({})).await.unwrap_err();
    // Refused without waiting at all, while the first call is still in flight.
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert!(!first.is_finished());
    assert_eq!(err.kind, ToolErrorKind::Overloaded);
    assert!(err.retryable);
    assert!(
        err.message.contains("max_concurrent_requests"),
        "{}",
        err.message
    );
    first.await.unwrap().unwrap();
    call(&b, &op, json!({})).await.unwrap();
    assert_eq!(server.count(), 2);
}

#[tokio::test]
async fn resource_reads_map_by_media_type() {
    let server = server(|r| match r.target.as_str() {
        "/json" => Reply::json(json!({"a": 1})),
        "/text" => Reply::with(200, "text/markdown", "# hi"),
        _ => Reply::with(200, "image/png", vec![1, 2, 3]),
    })
    .await;
    let b = backend(&server, HttpSourceOptions::default());
    let ctx = CallContext::in_process();
    let read = |path: &'static str| {
        let h = b.tool_handler(get(path).build());
        let ctx = ctx.clone();
        async move {
            h.read(&ctx, "api://x", serde_json::Map::new())
                .await
                .unwrap()
        }
    };
    match &read("/json").await[0] {
        ResourceContents::TextResourceContents {
            mime_type,
            text,
            uri,
            ..
        } => {
            assert_eq!(mime_type.as_deref(), Some("application/json"));
            assert_eq!(text, r#"{"a":1}"#);
            assert_eq!(uri, "api://x");
        }
        other => panic!("{other:?}"),
    }
    match &read("/text").await[0] {
        ResourceContents::TextResourceContents {
            mime_type, text, ..
        } => {
            assert_eq!(mime_type.as_deref(), Some("text/markdown"));
            assert_eq!(text, "# hi");
        }
        other => panic!("{other:?}"),
    }
    match &read("/bin").await[0] {
        ResourceContents::BlobResourceContents {
            mime_type, blob, ..
        } => {
            assert_eq!(mime_type.as_deref(), Some("image/png"));
            assert_eq!(blob, "AQID");
        }
        other => panic!("{other:?}"),
    }
    let _ = ContentBlock::text("");
}

#[tokio::test(start_paused = true)]
async fn stalled_tls_handshake_is_a_connect_timeout() {
    // Accepts TCP connections and never answers the TLS ClientHello.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = listener.accept().await {
            held.push(conn);
        }
    });
    let options = HttpSourceOptions {
        connect_timeout_ms: 200,
        ..HttpSourceOptions::default()
    };
    let b = HttpBackend::new(
        format!("https://127.0.0.1:{port}/").parse().unwrap(),
        vec![],
        options,
    )
    .unwrap();
    let started = tokio::time::Instant::now();
    let err = call(&b, &get("/t").build(), json!({})).await.unwrap_err();
    assert_eq!(err.kind, ToolErrorKind::Timeout, "{}", err.message);
    assert_eq!(err.delivery, Delivery::NotSent);
    assert!(
        err.message.contains("connect_timeout_ms (200 ms)"),
        "{}",
        err.message
    );
    assert_eq!(started.elapsed(), Duration::from_millis(200));
}
