//! Request bodies per content type, exactly as the backend receives them.

use serde_json::{Value, json};
use toolgate_core::error::ToolErrorKind;
use toolgate_http::HttpSourceOptions;
use toolgate_openapi::ir::HttpMethod;

use crate::common::*;

fn post(path: &str) -> OpB {
    op("create", HttpMethod::Post, path)
}

#[tokio::test]
async fn json_properties_mode_sends_only_present_args() {
    let server = ok_server().await;
    let backend = backend(&server, HttpSourceOptions::default());
    let op = post("/tasks")
        .body_props("application/json", &["title", "done", "tags"])
        .build();
    call(&backend, &op, json!({"title": "a", "tags": ["x"]}))
        .await
        .unwrap();
    let rec = server.last();
    assert_eq!(
        rec.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(rec.body_text(), r#"{"title":"a","tags":["x"]}"#);
}

#[tokio::test]
async fn plus_json_content_type_is_kept_exactly() {
    let server = ok_server().await;
    let backend = backend(&server, HttpSourceOptions::default());
    let op = op("patch", HttpMethod::Patch, "/t")
        .body_props("application/merge-patch+json; charset=utf-8", &["title"])
        .build();
    call(&backend, &op, json!({"title": null})).await.unwrap();
    let rec = server.last();
    assert_eq!(
        rec.header("content-type").as_deref(),
        Some("application/merge-patch+json; charset=utf-8")
    );
    assert_eq!(rec.body_text(), r#"{"title":null}"#);
}

#[tokio::test]
async fn whole_mode_sends_the_argument_as_is() {
    let server = ok_server().await;
    let backend = backend(&server, HttpSourceOptions::default());
    let op = post("/bulk").body_whole("application/json").build();
    call(&backend, &op, json!({"body": [1, {"a": "b"}]}))
        .await
        .unwrap();
    assert_eq!(server.last().body_text(), r#"[1,{"a":"b"}]"#);
}

#[tokio::test]
async fn content_type_override_per_tool() {
    let server = ok_server().await;
    let mut options = HttpSourceOptions::default();
    options
        .content_types
        .insert("create".into(), "application/vnd.api+json".into());
    let backend = backend(&server, options);
    let op = post("/t").body_props("application/json", &["a"]).build();
    call(&backend, &op, json!({"a": 1})).await.unwrap();
    let rec = server.last();
    assert_eq!(
        rec.header("content-type").as_deref(),
        Some("application/vnd.api+json")
    );
    assert_eq!(rec.body_text(), r#"{"a":1}"#);
}

#[tokio::test]
async fn form_urlencoded_follows_form_style() {
    let server = ok_server().await;
    let backend = backend(&server, HttpSourceOptions::default());
    let op = post("/f")
        .body_props(
            "application/x-www-form-urlencoded",
            &["name", "tags", "ok", "n"],
        )
        .build();
    call(
        &backend,
        &op,
        json!({"name": "a b&c", "tags": ["x", "y"], "ok": true, "n": 1.5}),
    )
    .await
    .unwrap();
    let rec = server.last();
    assert_eq!(
        rec.header("content-type").as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        rec.body_text(),
        "name=a%20b%26c&tags=x&tags=y&ok=true&n=1.5"
    );
}

#[tokio::test]
async fn multipart_fields_files_and_part_types() {
    let server = ok_server().await;
    let backend = backend(&server, HttpSourceOptions::default());
    let op = post("/upload")
        .body_props(
            "multipart/form-data",
            &["title", "meta", "ids", "doc", "pic", "raw"],
        )
        .files(&["doc", "pic", "raw"], &[("doc", "text/markdown")])
        .build();
    call(
        &backend,
        &op,
        json!({
            "title": "hello",
            "meta": {"a": 1},
            "ids": [1, 2],
            "doc": "data:text/plain;name=notes.md;base64,aGk=",
            "pic": "data:image/png;base64,iVBORw==",
            "pic_filename": "p.png",
            "raw": "AAEC",
        }),
    )
    .await
    .unwrap();
    let rec = server.last();
    let ct = rec.header("content-type").unwrap();
    let boundary = ct
        .strip_prefix("multipart/form-data; boundary=")
        .expect("multipart content type with boundary");
    let expected = [
        "Content-Disposition: form-data; name=\"title\"\r\n\r\nhello".to_owned(),
        "Content-Disposition: form-data; name=\"meta\"\r\nContent-Type: application/json\r\n\r\n{\"a\":1}".to_owned(),
        "Content-Disposition: form-data; name=\"ids\"\r\n\r\n1".to_owned(),
        "Content-Disposition: form-data; name=\"ids\"\r\n\r\n2".to_owned(),
        "Content-Disposition: form-data; name=\"doc\"; filename=\"notes.md\"\r\nContent-Type: text/markdown\r\n\r\nhi".to_owned(),
        "Content-Disposition: form-data; name=\"pic\"; filename=\"p.png\"\r\nContent-Type: image/png\r\n\r\n".to_owned(),
    ];
    let body = rec.body.clone();
    let text = String::from_utf8_lossy(&body).into_owned();
    let parts: Vec<&str> = text.split(&format!("--{boundary}")).skip(1).collect();
    assert_eq!(parts.len(), 8, "7 parts and the closing delimiter: {text}");
    assert_eq!(parts[7], "--\r\n");
    for (i, want) in expected.iter().enumerate() {
        let got = parts[i]
            .strip_prefix("\r\n")
            .unwrap()
            .strip_suffix("\r\n")
            .unwrap();
        if i == 5 {
            // Binary bytes: compare the headers, then the raw bytes below.
            assert!(got.starts_with(want.as_str()), "part {i}: {got:?}");
        } else {
            assert_eq!(got, want, "part {i}");
        }
    }
    assert!(
        body.windows(6).any(|w| w == b"\x89PNG\r\n"),
        "raw PNG bytes are sent"
    );
    assert!(parts[6].contains(
        "name=\"raw\"; filename=\"raw\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    ));
    assert!(body.windows(5).any(|w| w == b"\x00\x01\x02\r\n"));
}

#[tokio::test]
async fn text_plain_and_xml_bodies_send_the_string() {
    let server = ok_server().await;
    let backend = backend(&server, HttpSourceOptions::default());
    for ct in ["text/plain", "application/xml"] {
        let op = post("/t").body_whole(ct).build();
        call(&backend, &op, json!({"body": "<a>line\n</a>"}))
            .await
            .unwrap();
        let rec = server.last();
        assert_eq!(rec.header("content-type").as_deref(), Some(ct));
        assert_eq!(rec.body_text(), "<a>line\n</a>");
    }
}

#[tokio::test]
async fn octet_stream_body_is_decoded_from_base64_or_data_uri() {
    let server = ok_server().await;
    let backend = backend(&server, HttpSourceOptions::default());
    let op = op("put", HttpMethod::Put, "/blob")
        .body_whole("application/octet-stream")
        .build();
    call(&backend, &op, json!({"body": "AP8Q"})).await.unwrap();
    assert_eq!(server.last().body, [0x00, 0xff, 0x10]);
    call(
        &backend,
        &op,
        json!({"body": "data:application/octet-stream;base64,AP8Q"}),
    )
    .await
    .unwrap();
    assert_eq!(server.last().body, [0x00, 0xff, 0x10]);
    let err = call(&backend, &op, json!({"body": "not base64!"}))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ToolErrorKind::InvalidArguments);
    assert!(err.message.contains("/body"), "{}", err.message);
}

#[tokio::test]
async fn oversize_request_body_is_rejected_before_sending() {
    let server = ok_server().await;
    let options = HttpSourceOptions {
        max_request_body_bytes: 100,
        ..Default::default()
    };
    let backend = backend(&server, options);
    let op = post("/t").body_whole("application/json").build();
    let err = call(&backend, &op, json!({"body": "x".repeat(200)}))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ToolErrorKind::TooLarge);
    assert!(
        err.message.contains("max_request_body_bytes (100 bytes)"),
        "{}",
        err.message
    );
    assert_eq!(server.count(), 0);
    call(&backend, &op, json!({"body": "x".repeat(50)}))
        .await
        .unwrap();
    assert_eq!(server.count(), 1);
}

#[tokio::test]
async fn get_without_body_sends_no_content_type() {
    let server = ok_server().await;
    let backend = backend(&server, HttpSourceOptions::default());
    let op = get("/t").build();
    call(&backend, &op, json!({})).await.unwrap();
    let rec = server.last();
    assert_eq!(rec.header("content-type"), None);
    assert!(rec.body.is_empty());
    let _: Value = json!(null);
}
