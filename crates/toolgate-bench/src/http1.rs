//! A lean HTTP/1.1 client: one keep-alive connection with TCP_NODELAY, owned by one worker.
//!
//! hyper's connection-level API rather than a pooled client: a worker always reuses its own
//! connection (so "concurrency N" means exactly N connections) and nothing is spent on pool
//! bookkeeping.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Body as _, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::rpc::ErrorKind;

/// Where requests go: a parsed `http://` URL.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// `host:port` to connect to.
    pub addr: String,
    /// `Host` header value.
    pub host: HeaderValue,
    /// Request target (path and query).
    pub uri: Uri,
    /// `Authorization` header sent with every MCP request (marked sensitive), if any.
    pub authorization: Option<HeaderValue>,
}

impl Endpoint {
    /// Parses a plain `http://` URL.
    pub fn parse(url: &str) -> Result<Self, String> {
        let uri: Uri = url
            .parse()
            .map_err(|e| format!("invalid URL {url:?}: {e}"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => {
                return Err(format!(
                    "{url}: only http:// targets are supported (got {other}://); benchmark over plain HTTP on loopback"
                ));
            }
            None => return Err(format!("{url}: expected an absolute http:// URL")),
        }
        let authority = uri
            .authority()
            .ok_or_else(|| format!("{url}: missing host"))?;
        let port = authority.port_u16().unwrap_or(80);
        let host = authority.host();
        let addr = format!("{host}:{port}");
        let path = uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".to_owned());
        Ok(Endpoint {
            addr,
            host: HeaderValue::from_str(authority.as_str())
                .map_err(|e| format!("{url}: bad host: {e}"))?,
            uri: path.parse().map_err(|e| format!("{url}: bad path: {e}"))?,
            authorization: None,
        })
    }
}

/// What came back: status, headers, the body as read so far, and whether the connection can
/// be reused.
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// One keep-alive connection, reconnected on demand.
pub(crate) struct Conn {
    addr: String,
    sender: Option<SendRequest<Full<Bytes>>>,
    /// The rest of an SSE body whose answer was already found: drained before the next
    /// request so the connection stays reusable (the server normally ends the stream right
    /// after the answer; one that keeps it open costs a reconnect).
    leftover: Option<Incoming>,
}

impl Conn {
    /// A connection to `endpoint` (opened lazily on first use).
    pub fn new(endpoint: &Endpoint) -> Self {
        Conn {
            addr: endpoint.addr.clone(),
            sender: None,
            leftover: None,
        }
    }

    async fn connect(&mut self) -> Result<(), (ErrorKind, String)> {
        let stream = TcpStream::connect(&self.addr)
            .await
            .map_err(|e| (ErrorKind::Transport, format!("connect {}: {e}", self.addr)))?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| (ErrorKind::Transport, format!("handshake: {e}")))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        self.sender = Some(sender);
        Ok(())
    }

    /// Opens the connection now if it is not open (to find an unreachable target up front).
    pub async fn ensure_open(&mut self) -> Result<(), (ErrorKind, String)> {
        if self.sender.is_none() {
            self.connect().await?;
        }
        Ok(())
    }

    /// Sends `req` and returns the response head; the caller reads the body.
    pub async fn send(
        &mut self,
        req: Request<Full<Bytes>>,
    ) -> Result<Response<Incoming>, (ErrorKind, String)> {
        if let Some(mut body) = self.leftover.take() {
            let drained = tokio::time::timeout(Duration::from_millis(50), async {
                while let Some(frame) = body.frame().await {
                    if frame.is_err() {
                        return false;
                    }
                }
                true
            })
            .await;
            if drained != Ok(true) {
                self.reset();
            }
        }
        // A connection the server closed while idle is replaced before the request is written,
        // so keep-alive expiry does not count as an error.
        let usable = match self.sender.as_mut() {
            Some(s) if !s.is_closed() => s.ready().await.is_ok(),
            _ => false,
        };
        if !usable {
            self.sender = None;
            self.connect().await?;
        }
        let sender = self.sender.as_mut().expect("connected above");
        match sender.send_request(req).await {
            Ok(resp) => Ok(resp),
            Err(e) => {
                self.sender = None;
                Err((ErrorKind::Transport, format!("request failed: {e}")))
            }
        }
    }

    /// Forgets the connection (after an abandoned body, the stream is in an unknown state).
    pub fn reset(&mut self) {
        self.sender = None;
        self.leftover = None;
    }

    /// Sends `req` and reads the whole body, or for `text/event-stream` until `done` says the
    /// events read so far hold the answer (the stream may stay open after it).
    pub async fn exchange(
        &mut self,
        req: Request<Full<Bytes>>,
        timeout: Duration,
        done: impl Fn(&[u8]) -> bool,
    ) -> Result<Answer, (ErrorKind, String)> {
        let fut = async {
            let resp = self.send(req).await?;
            let (parts, mut body) = resp.into_parts();
            let sse = parts
                .headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/event-stream"));
            let mut buf = BytesMut::new();
            let mut complete = false;
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| (ErrorKind::Transport, format!("body: {e}")))?;
                if let Ok(data) = frame.into_data() {
                    buf.extend_from_slice(&data);
                    if sse && done(&buf) {
                        break;
                    }
                }
                if body.is_end_stream() {
                    complete = true;
                    break;
                }
            }
            if !complete && !body.is_end_stream() {
                self.leftover = Some(body);
            }
            Ok(Answer {
                status: parts.status,
                headers: parts.headers,
                body: buf.freeze(),
            })
        };
        match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r,
            Err(_) => {
                self.reset();
                Err((
                    ErrorKind::Timeout,
                    format!("no answer within {:.1} s", timeout.as_secs_f64()),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_parses_host_port_and_path() {
        let e = Endpoint::parse("http://127.0.0.1:8080/mcp?x=1").unwrap();
        assert_eq!(e.addr, "127.0.0.1:8080");
        assert_eq!(e.host, "127.0.0.1:8080");
        assert_eq!(e.uri, "/mcp?x=1");
        let e = Endpoint::parse("http://localhost").unwrap();
        assert_eq!(e.addr, "localhost:80");
        assert_eq!(e.uri, "/");
        assert!(Endpoint::parse("https://x/mcp").is_err());
        assert!(Endpoint::parse("/mcp").is_err());
    }
}
