//! Safety properties: path values never leave their segment, header/cookie injection is
//! refused, the backend origin never changes.

use std::sync::OnceLock;

use proptest::prelude::*;
use serde_json::json;
use toolgate_core::error::ToolErrorKind;
use toolgate_http::{HttpBackend, HttpSourceOptions};
use toolgate_openapi::ir::{HttpMethod, ParamLocation, ParamStyle};

use crate::common::*;

#[tokio::test]
async fn traversal_attempts_stay_in_one_segment() {
    let server = ok_server().await;
    let b = HttpBackend::new(
        server.url_with("/api"),
        vec![],
        HttpSourceOptions::default(),
    )
    .unwrap();
    let op = get("/files/{name}/meta").path("name").build();
    for (value, wire) in [
        ("../admin", "..%2Fadmin"),
        ("a/b", "a%2Fb"),
        ("?x=1", "%3Fx%3D1"),
        ("#frag", "%23frag"),
        ("%2e%2e", "%252e%252e"),
        ("a\\b", "a%5Cb"),
        ("...", "..."),
        ("http://evil.example/", "http%3A%2F%2Fevil.example%2F"),
        ("é ü", "%C3%A9%20%C3%BC"),
    ] {
        call(&b, &op, json!({"name": value})).await.unwrap();
        assert_eq!(
            server.last().target,
            format!("/api/files/{wire}/meta"),
            "value {value:?}"
        );
    }
    for value in [".", "..", ""] {
        let err = call(&b, &op, json!({"name": value})).await.unwrap_err();
        assert_eq!(err.kind, ToolErrorKind::InvalidArguments, "value {value:?}");
        assert_eq!(err.violations[0].path, "/name");
    }
}

#[tokio::test]
async fn header_and_cookie_injection_is_refused_naming_the_argument() {
    let server = ok_server().await;
    let b = backend(&server, HttpSourceOptions::default());
    let op = get("/t")
        .header("X-Note")
        .param(ParamLocation::Cookie, "session", ParamStyle::Form, true)
        .build();
    let err = call(
        &b,
        &op,
        json!({"X-Note": "a\r\nX-Evil: 1", "session": "a; admin=1"}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind, ToolErrorKind::InvalidArguments);
    let paths: Vec<&str> = err.violations.iter().map(|v| v.path.as_str()).collect();
    assert_eq!(paths, ["/X-Note", "/session"]);
    assert!(err.message.contains("carriage return"), "{}", err.message);
    assert!(err.message.contains("`;`"), "{}", err.message);
    assert_eq!(server.count(), 0);
    for bad in ["nul\0", "lf\n"] {
        let err = call(&b, &op, json!({"X-Note": bad})).await.unwrap_err();
        assert_eq!(err.kind, ToolErrorKind::InvalidArguments);
    }
}

struct Shared {
    rt: tokio::runtime::Runtime,
    server: Server,
    backend: HttpBackend,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let server = rt.block_on(ok_server());
        let backend = HttpBackend::new(
            server.url_with("/base"),
            vec![],
            HttpSourceOptions::default(),
        )
        .unwrap();
        Shared {
            rt,
            server,
            backend,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn path_values_never_leave_their_segment(value in any::<String>(), style in 0..3usize, explode in any::<bool>()) {
        let s = shared();
        let style = [ParamStyle::Simple, ParamStyle::Label, ParamStyle::Matrix][style];
        let op = get("/fixed/{v}/tail").param(ParamLocation::Path, "v", style, explode).build();
        let sent = || s.server.requests().into_iter().filter(|r| r.target.starts_with("/base/fixed/")).collect::<Vec<_>>();
        let before = sent().len();
        let result = s.rt.block_on(call(&s.backend, &op, json!({"v": value})));
        match result {
            Ok(_) => {
                let mine = sent();
                prop_assert_eq!(mine.len(), before + 1);
                let target = mine.last().unwrap().target.clone();
                let path = target.split('?').next().unwrap();
                prop_assert!(!target.contains('?') && !target.contains('#'), "{}", target);
                let rest = path.strip_prefix("/base/fixed/").expect("fixed prefix kept");
                let segment = rest.strip_suffix("/tail").expect("fixed suffix kept");
                prop_assert!(!segment.contains('/'), "value escaped its segment: {}", target);
            }
            Err(e) => {
                prop_assert_eq!(e.kind, ToolErrorKind::InvalidArguments);
                prop_assert_eq!(sent().len(), before, "nothing sent");
            }
        }
    }

    #[test]
    fn header_values_with_line_breaks_are_refused(prefix in "[ -~]{0,20}", brk in prop::sample::select(vec!["\r", "\n", "\r\n", "\0"]), suffix in "[ -~]{0,20}") {
        let s = shared();
        let op = get("/h").header("X-V").build();
        let sent = || s.server.requests().iter().filter(|r| r.target == "/base/h").count();
        let before = sent();
        let err = s.rt.block_on(call(&s.backend, &op, json!({"X-V": format!("{prefix}{brk}{suffix}")})));
        let err = err.unwrap_err();
        prop_assert_eq!(err.kind, ToolErrorKind::InvalidArguments);
        prop_assert_eq!(&err.violations[0].path, "/X-V");
        prop_assert_eq!(sent(), before);
    }
}

#[tokio::test]
async fn redirects_are_followed_only_within_the_origin() {
    let elsewhere = ok_server().await;
    let target = format!("http://{}/stolen", elsewhere.addr);
    let server = server(move |r| match r.target.as_str() {
        "/same" => crate::common::Reply::status(302).header("location", "/final"),
        "/cross" => crate::common::Reply::status(302).header("location", &target),
        _ => crate::common::Reply::json(json!({"at": r.target})),
    })
    .await;
    let mut options = HttpSourceOptions::default();
    options.headers.insert("X-Key".into(), "secret".into());
    let b = backend(&server, options);
    let r = call(&b, &get("/same").output(None).build(), json!({}))
        .await
        .unwrap();
    assert_eq!(r.structured_content, Some(json!({"at": "/final"})));
    let err = call(&b, &get("/cross").build(), json!({}))
        .await
        .unwrap_err();
    assert_eq!(err.status, Some(302));
    assert!(err.message.contains("does not follow"), "{}", err.message);
    assert_eq!(elsewhere.count(), 0);
}

fn post(path: &str) -> OpB {
    op("create", HttpMethod::Post, path).body_whole("application/json")
}

#[tokio::test]
async fn same_origin_307_redirect_resends_the_method_and_body() {
    let server = server(|r| match r.target.as_str() {
        "/old?k=1" => Reply::status(307).header("location", "/new"),
        _ => Reply::json(json!({"at": r.target})),
    })
    .await;
    let b = backend(&server, HttpSourceOptions::default());
    let op = post("/old").query("k").build();
    let r = call(&b, &op, json!({"k": "1", "body": {"name": "x"}}))
        .await
        .unwrap();
    assert_eq!(r.structured_content, Some(json!({"at": "/new"})));
    let [first, second] = server.requests().try_into().unwrap();
    for hop in [&first, &second] {
        assert_eq!(hop.method, "POST");
        assert_eq!(hop.body_text(), r#"{"name":"x"}"#);
        assert_eq!(
            hop.header("content-type").as_deref(),
            Some("application/json")
        );
    }
    // As reqwest did: the followed request names the one that was redirected.
    assert_eq!(
        second.header("referer"),
        Some(format!("http://{}/old?k=1", server.addr))
    );
}

#[tokio::test]
async fn same_origin_303_redirect_turns_into_a_get_without_body() {
    let server = server(|r| match r.target.as_str() {
        "/jobs" => Reply::status(303).header("location", "/jobs/7"),
        _ => Reply::json(json!({"at": r.target})),
    })
    .await;
    let b = backend(&server, HttpSourceOptions::default());
    let r = call(&b, &post("/jobs").build(), json!({"body": {"n": 1}}))
        .await
        .unwrap();
    assert_eq!(r.structured_content, Some(json!({"at": "/jobs/7"})));
    let followed = server.last();
    assert_eq!(followed.method, "GET");
    assert!(followed.body.is_empty());
    assert_eq!(followed.header("content-type"), None);
    assert_eq!(followed.header("content-length"), None);
}

#[tokio::test]
async fn cross_origin_redirect_comes_back_unfollowed() {
    let elsewhere = ok_server().await;
    let target = format!("http://{}/upload", elsewhere.addr);
    let server = server(move |_| Reply::status(308).header("location", &target)).await;
    let b = backend(&server, HttpSourceOptions::default());
    let err = call(&b, &post("/upload").build(), json!({"body": {"secret": 1}}))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ToolErrorKind::BackendStatus);
    assert_eq!(err.status, Some(308));
    assert!(err.message.contains("does not follow"), "{}", err.message);
    assert_eq!(server.count(), 1);
    assert_eq!(elsewhere.count(), 0);
}

#[tokio::test]
async fn redirect_loop_is_an_error_after_five_hops() {
    let server = server(|r| {
        let n: u32 = r.target.trim_start_matches("/hop/").parse().unwrap_or(0);
        Reply::status(302).header("location", &format!("/hop/{}", n + 1))
    })
    .await;
    let b = backend(&server, HttpSourceOptions::default());
    let err = call(&b, &get("/hop/0").build(), json!({}))
        .await
        .unwrap_err();
    // Every hop was sent and answered: a redirect loop is a failure after sending, never
    // "could not connect" (which a retry policy may treat as safe to send again).
    assert_eq!(err.kind, ToolErrorKind::Transport, "{}", err.message);
    assert_eq!(err.delivery, toolgate_core::Delivery::Sent);
    assert!(
        err.message
            .contains("redirected GET /hop/0 more than 5 times"),
        "{}",
        err.message
    );
    // The original request and the five redirects followed.
    assert_eq!(server.count(), 6);
}
