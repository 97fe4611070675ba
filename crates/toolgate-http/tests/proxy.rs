//! Proxy variables (`HTTP_PROXY`, `NO_PROXY`, …) are honoured as reqwest honours them. The
//! variables are passed as a map ([`ProxyEnv::from_vars`]); the process environment is never
//! touched.

#[allow(dead_code)]
#[path = "executor/common.rs"]
mod common;

use std::sync::{Arc, Mutex};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use toolgate_http::{HttpBackend, HttpSourceOptions, ProxyEnv};

use common::*;

/// A forward proxy that records each request head and answers `{"via":"proxy"}` itself.
fn fake_proxy(listener: std::net::TcpListener) -> Arc<Mutex<Vec<String>>> {
    let heads = Arc::new(Mutex::new(Vec::new()));
    let recorded = heads.clone();
    listener.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    tokio::spawn(async move {
        loop {
            let (mut conn, _) = listener.accept().await.unwrap();
            let recorded = recorded.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if conn.read(&mut byte).await.unwrap() == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                recorded
                    .lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&head).into_owned());
                let body = r#"{"via":"proxy"}"#;
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n{body}",
                    body.len()
                );
                conn.write_all(reply.as_bytes()).await.unwrap();
            });
        }
    });
    heads
}

#[tokio::test]
async fn http_proxy_is_used_unless_no_proxy_names_the_host() {
    let proxy_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_addr = proxy_listener.local_addr().unwrap();
    let proxies = ProxyEnv::from_vars([
        ("HTTP_PROXY", format!("http://user:pw@{proxy_addr}")),
        ("NO_PROXY", "127.0.0.1".to_owned()),
    ]);
    let heads = fake_proxy(proxy_listener);
    let server = ok_server().await;
    let op = get("/items").build();
    let backend_at = |base: String| {
        HttpBackend::with_proxies(
            base.parse().unwrap(),
            vec![],
            HttpSourceOptions::default(),
            &proxies,
        )
        .unwrap()
    };

    // `localhost` is not in NO_PROXY: the request goes to the proxy in absolute form.
    let via_proxy = backend_at(format!("http://localhost:{}/", server.addr.port()));
    let r = call(&via_proxy, &op, json!({})).await.unwrap();
    assert_eq!(r.structured_content, Some(json!({"via": "proxy"})));
    let head = heads.lock().unwrap()[0].to_ascii_lowercase();
    let request_line = format!(
        "get http://localhost:{}/items http/1.1\r\n",
        server.addr.port()
    );
    assert!(head.starts_with(&request_line), "{head}");
    // Credentials in HTTP_PROXY become Proxy-Authorization (`user:pw` in base64).
    assert!(
        head.contains("proxy-authorization: basic dxnlcjpwdw=="),
        "{head}"
    );
    assert_eq!(server.count(), 0);

    // 127.0.0.1 is in NO_PROXY: straight to the backend.
    let direct = backend_at(server.url().to_string());
    let r = call(&direct, &op, json!({})).await.unwrap();
    assert_eq!(r.structured_content, Some(json!({"ok": true})));
    assert_eq!(server.last().target, "/items");
    assert_eq!(heads.lock().unwrap().len(), 1);

    // Without the variables, nothing goes through the proxy.
    let unproxied = HttpBackend::with_proxies(
        format!("http://localhost:{}/", server.addr.port())
            .parse()
            .unwrap(),
        vec![],
        HttpSourceOptions::default(),
        &ProxyEnv::default(),
    )
    .unwrap();
    call(&unproxied, &op, json!({})).await.unwrap();
    assert_eq!(server.count(), 2);
    assert_eq!(heads.lock().unwrap().len(), 1);
}
