//! The bare HTTP forwarder (`bench-servers forward`): every request is sent on to one upstream (the
//! benchmark backend) through hyper-util's pooled client, the client toolgate uses, and the
//! answer is passed back. No MCP, no JSON, no policy: the least any gateway hop costs on the
//! machine, so the MCP figures can be read as "forwarder plus what MCP adds".

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt as _;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

#[derive(Clone)]
struct Upstream {
    client: Client<HttpConnector, Body>,
    /// `http://host:port` of the upstream, no trailing slash.
    base: String,
}

/// A router that forwards every request to `base` (`http://host:port`).
pub fn router(base: &str) -> Router {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client = Client::builder(TokioExecutor::new()).build(connector);
    Router::new().fallback(forward).with_state(Upstream {
        client,
        base: base.trim_end_matches('/').to_owned(),
    })
}

async fn forward(State(up): State<Upstream>, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    parts.uri = match format!("{}{path}", up.base).parse::<Uri>() {
        Ok(uri) => uri,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    parts.headers.remove(axum::http::header::HOST);
    match up.client.request(Request::from_parts(parts, body)).await {
        Ok(answer) => {
            let (parts, body) = answer.into_parts();
            match body.collect().await {
                Ok(bytes) => Response::from_parts(parts, Body::from(bytes.to_bytes())),
                Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
            }
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

/// The bare TCP relay (`bench-servers relay`): each accepted connection gets its own
/// connection to `upstream` (`host:port`) and bytes are copied both ways, unread. Less than any
/// HTTP hop can do (no parsing at all): the floor of what one more process on the path costs
/// on the machine, its two extra wake-ups and socket round trips.
pub async fn relay(listener: tokio::net::TcpListener, upstream: String) -> std::io::Result<()> {
    loop {
        let (mut inbound, _) = listener.accept().await?;
        let upstream = upstream.clone();
        tokio::spawn(async move {
            let _ = inbound.set_nodelay(true);
            let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await else {
                return;
            };
            let _ = outbound.set_nodelay(true);
            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
        });
    }
}
