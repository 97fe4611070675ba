//! The bare HTTP forwarder (`bench-servers forward`): every request is sent on to one upstream (the
//! benchmark backend) and the answer is passed back. No MCP, no JSON, no policy: the least any
//! gateway hop costs on the machine, so the MCP figures can be read as "forwarder plus what MCP
//! adds". Its client is the one toolgate uses for an `http://` origin, connections driven by
//! the task that sends on them (`toolgate_http::transport::InlinePool`), or with
//! `--client pooled` hyper-util's pooled client, which toolgate used before.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use toolgate_http::transport::InlinePool;

/// The forwarder's HTTP client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClientKind {
    /// Connections driven by the task that sends on them (toolgate's, for `http://`).
    Inline,
    /// hyper-util's pooled client (a task per connection).
    Pooled,
}

#[derive(Clone)]
enum Upstream {
    Inline(Arc<InlinePool>),
    Pooled {
        /// Boxed: it is much larger than the other variant.
        client: Box<Client<HttpConnector, Body>>,
        /// `http://host:port` of the upstream, no trailing slash.
        base: String,
    },
}

/// A router that forwards every request to `base` (`http://host:port`) with `client`.
pub fn router(base: &str, client: ClientKind) -> Result<Router, String> {
    let base = base.trim_end_matches('/').to_owned();
    let upstream = match client {
        ClientKind::Inline => {
            let url = url::Url::parse(&base).map_err(|e| format!("--upstream {base}: {e}"))?;
            let pool = InlinePool::new(&url, Duration::from_secs(10))
                .ok_or_else(|| format!("--upstream {base}: expected an http:// URL"))?;
            Upstream::Inline(Arc::new(pool))
        }
        ClientKind::Pooled => {
            let mut connector = HttpConnector::new();
            connector.set_nodelay(true);
            let client = Box::new(Client::builder(TokioExecutor::new()).build(connector));
            Upstream::Pooled { client, base }
        }
    };
    Ok(Router::new().fallback(forward).with_state(upstream))
}

async fn forward(State(up): State<Upstream>, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    parts.headers.remove(axum::http::header::HOST);
    let answer = match &up {
        Upstream::Inline(pool) => {
            let body = match body.collect().await {
                Ok(body) => Full::new(body.to_bytes()),
                Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
            };
            match pool.send(Request::from_parts(parts, body), false).await {
                Ok(answer) => collect(answer).await,
                Err(e) => Err(e.detail()),
            }
        }
        Upstream::Pooled { client, base } => {
            let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            parts.uri = match format!("{base}{path}").parse::<Uri>() {
                Ok(uri) => uri,
                Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
            };
            match client.request(Request::from_parts(parts, body)).await {
                Ok(answer) => collect(answer).await,
                Err(e) => Err(e.to_string()),
            }
        }
    };
    match answer {
        Ok(response) => response,
        Err(e) => (StatusCode::BAD_GATEWAY, e).into_response(),
    }
}

/// `answer` with its body read.
async fn collect<B>(answer: http::Response<B>) -> Result<Response, String>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    let (parts, body) = answer.into_parts();
    match body.collect().await {
        Ok(bytes) => Ok(Response::from_parts(parts, Body::from(bytes.to_bytes()))),
        Err(e) => Err(e.to_string()),
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
