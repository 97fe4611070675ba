//! The HTTP clients of one backend and how a request reaches it.
//!
//! This module owns the transport under a tool call: TLS setup, connection pooling, connect
//! timeouts, same-origin redirects, resending a request that a pooled connection lost when
//! that is safe (below), retries of HTTP/2 protocol refusals, the default
//! `User-Agent`/`Accept` headers, proxy variables, and classifying transport failures into
//! [`SendError`]s that say how far the request got. It does not build requests, add
//! credentials, enforce call timeouts or read bodies under the cap (`backend`, `response`).
//!
//! Calls to a plain `http://` origin go out on HTTP/1.1 connections that the calling task
//! drives itself (`inline.rs`): hyper-util's pooled client runs each connection as a task of
//! its own and spawns one more per request. Other calls go straight to hyper-util's pooled
//! client, the one reqwest wraps: reqwest's own layers (redirect policy, retry, URL
//! re-parsing on every request) cost about a sixth of a whole gateway hop. reqwest stays for
//! the OAuth2 token request (`auth`) and for origins that `HTTP_PROXY`/`HTTPS_PROXY`/
//! `ALL_PROXY` (minus `NO_PROXY`) route through a proxy, where it speaks the proxy protocols;
//! that is decided once per origin when a handler is created, from the variables in a
//! [`ProxyEnv`] (the process environment unless a caller passes its own). Both transports
//! share one TLS configuration, the one reqwest's `rustls` feature builds.
//!
//! **Lost connections.** A server may close a kept-alive connection at any moment without
//! saying so (uvicorn does, right after answering a request whose handler raised). A request
//! that meets such a connection is sent again once, invisibly to the caller:
//! - when no byte of it was written, by the client itself (hyper-util's
//!   `retry_canceled_requests`, or `inline.rs` likewise, on a connection it reused), or here
//!   on a new connection otherwise;
//! - when it may have been written but the connection broke before a response head arrived
//!   (closed or reset), here on a new connection, but only for idempotent requests (GET, HEAD,
//!   OPTIONS, PUT, DELETE, TRACE, or any request carrying an `Idempotency-Key`), as urllib3 and
//!   Go's `net/http` do: the server may have acted on it.
//!
//! The second attempt goes through a client that never reuses connections, so it cannot meet
//! another stale one. Each resend is logged at debug and counted
//! ([`crate::HttpBackend::resent_requests`]).
//!
//! A request that is not idempotent cannot be resent once written, so it avoids the likeliest
//! stale connection instead: for [`SERVER_ERROR_WINDOW`] after the backend answered with a
//! 5xx (after which servers like uvicorn close the connection), such requests go out on a new
//! connection. The cost, a connection set-up per such call, is paid only while the backend
//! fails.

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, REFERER};
use http::header::{TRANSFER_ENCODING, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::{Builder, Client};
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use toolgate_core::error::Delivery;
use url::Url;

mod inline;
mod proxy_env;
mod send_error;

pub use inline::{InlineBody, InlinePool};

pub use proxy_env::ProxyEnv;
use proxy_env::is_proxied;
pub use send_error::{SendError, SendErrorKind};
pub(crate) use send_error::{TooManyRedirects, error_chain};

/// `User-Agent` sent unless a configured or forwarded header sets one.
const USER_AGENT_VALUE: &str = concat!("toolgate/", env!("CARGO_PKG_VERSION"));
/// Most same-origin redirects followed for one request.
pub(crate) const MAX_REDIRECTS: usize = 5;
/// Retries of a request the server refused at the HTTP/2 level (as reqwest does by default).
const MAX_NACK_RETRIES: u32 = 2;
/// TCP keepalive probe interval of backend connections.
pub(crate) const TCP_KEEPALIVE: Duration = Duration::from_secs(60);
/// How long an idle pooled connection is kept.
pub(crate) const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// How long after a 5xx answer requests that are not idempotent use a new connection.
pub(crate) const SERVER_ERROR_WINDOW: Duration = Duration::from_secs(1);

type BoxError = Box<dyn StdError + Send + Sync>;
type Direct = Client<ConnectTimeout, Full<Bytes>>;

/// A response body from hyper-util's client or an inline connection (`inline.rs`).
pub type DirectBody = Either<Incoming, InlineBody>;
/// A response body from either transport.
pub type ResponseBody = Either<DirectBody, reqwest::Body>;

/// The clients of one backend, built once when the backend is created.
pub struct BackendClients {
    /// Behind an `Arc`: every handler holds one.
    direct: Arc<DirectClients>,
    /// Also used for OAuth2 token requests.
    pub(crate) reqwest: reqwest::Client,
    /// The proxy variables as given when the backend was created.
    proxies: Matcher,
    /// The inline connections of each `http://` origin requests went to, by origin
    /// (`scheme://host:port`).
    inline: std::sync::Mutex<std::collections::HashMap<String, Arc<InlinePool>>>,
    connect_timeout: Duration,
}

/// The pooled client and the one for resending on a new connection.
pub struct DirectClients {
    pooled: Direct,
    /// Never keeps a connection: a resent request cannot meet another stale one.
    fresh: Direct,
    /// Requests sent again after a pooled connection was lost.
    pub(crate) resent: AtomicU64,
    /// When the backend last answered with a 5xx: milliseconds since `epoch`, plus one (0:
    /// never).
    server_error_at: AtomicU64,
    /// tokio's clock, so that tests can pause it.
    epoch: tokio::time::Instant,
}

impl DirectClients {
    fn note_server_error(&self) {
        let at = self.epoch.elapsed().as_millis() as u64 + 1;
        self.server_error_at.store(at, Ordering::Relaxed);
    }

    /// Whether the backend answered with a 5xx less than [`SERVER_ERROR_WINDOW`] ago.
    fn failing_recently(&self) -> bool {
        match self.server_error_at.load(Ordering::Relaxed) {
            0 => false,
            at => {
                let now = self.epoch.elapsed().as_millis() as u64 + 1;
                now.saturating_sub(at) < SERVER_ERROR_WINDOW.as_millis() as u64
            }
        }
    }
}

impl std::fmt::Debug for BackendClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendClients")
            .field("proxies", &self.proxies)
            .finish_non_exhaustive()
    }
}

/// The hyper-util client settings of every backend (also used by the tests of this module).
fn client_builder() -> Builder {
    let mut builder = Client::builder(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        // The default, stated because the lost-connection handling relies on it: a request
        // that a reused connection gave back unwritten is sent again on another connection.
        .retry_canceled_requests(true);
    builder
}

impl BackendClients {
    /// Builds both clients; fails only when TLS cannot be set up.
    pub fn new(connect_timeout: Duration, proxies: &ProxyEnv) -> Result<Self, String> {
        let tls = tls_config()?;
        for variable in proxies.ignored() {
            // The value may carry credentials: never logged.
            tracing::warn!(variable, "proxy variable is not a proxy URL; ignored");
        }

        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_keepalive(Some(TCP_KEEPALIVE));
        http.set_connect_timeout(Some(connect_timeout));
        let connector = ConnectTimeout {
            inner: HttpsConnector::from((http, tls.clone())),
            timeout: connect_timeout,
        };
        let direct = Arc::new(DirectClients {
            pooled: client_builder().build(connector.clone()),
            fresh: client_builder().pool_max_idle_per_host(0).build(connector),
            resent: AtomicU64::new(0),
            server_error_at: AtomicU64::new(0),
            epoch: tokio::time::Instant::now(),
        });

        let redirect = reqwest::redirect::Policy::custom(|attempt| {
            if attempt.previous().len() > MAX_REDIRECTS {
                return attempt.error(TooManyRedirects);
            }
            if attempt
                .previous()
                .last()
                .is_some_and(|prev| same_origin(prev, attempt.url()))
            {
                attempt.follow()
            } else {
                attempt.stop()
            }
        });
        let mut reqwest = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(connect_timeout)
            .tcp_nodelay(true)
            .tcp_keepalive(TCP_KEEPALIVE)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .redirect(redirect)
            .user_agent(USER_AGENT_VALUE)
            .no_proxy();
        for proxy in proxies.reqwest_proxies() {
            reqwest = reqwest.proxy(proxy);
        }
        let reqwest = reqwest.build().map_err(|e| error_chain(&e))?;
        Ok(BackendClients {
            direct,
            reqwest,
            proxies: proxies.matcher(),
            inline: Default::default(),
            connect_timeout,
        })
    }

    /// The transport for requests to `origin`'s scheme, host and port. Every transport of one
    /// `http://` origin shares its connections.
    pub fn transport(&self, origin: &Url) -> Transport {
        if is_proxied(&self.proxies, origin) {
            return Transport::Proxied(self.reqwest.clone());
        }
        let key = origin.origin().ascii_serialization();
        let mut pools = self.inline.lock().unwrap_or_else(|e| e.into_inner());
        let inline = match pools.get(&key) {
            Some(pool) => Some(pool.clone()),
            None => InlinePool::new(origin, self.connect_timeout).map(|pool| {
                let pool = Arc::new(pool);
                pools.insert(key, pool.clone());
                pool
            }),
        };
        Transport::Direct(self.direct.clone(), inline)
    }

    /// Requests sent again after a pooled connection was lost.
    pub(crate) fn resent_requests(&self) -> u64 {
        self.direct.resent.load(Ordering::Relaxed)
    }
}

/// TLS as reqwest 0.13's `rustls` feature sets it up: the process default crypto provider or
/// aws-lc-rs, TLS 1.2 and 1.3, the platform's certificate verifier, ALPN h2 and http/1.1.
fn tls_config() -> Result<rustls::ClientConfig, String> {
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    let verifier = rustls_platform_verifier::Verifier::new(provider.clone())
        .map_err(|e| format!("the platform certificate verifier is unavailable: {e}"))?;
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("invalid TLS versions: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tls)
}

/// One request as the backend module built it.
pub struct Outgoing {
    pub method: Method,
    /// Absolute http(s) URL, already validated.
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Option<Bytes>,
}

/// How requests of one handler reach the backend.
#[derive(Clone)]
pub enum Transport {
    /// hyper-util's pooled client, used directly, and for an `http://` origin the inline
    /// connections (`inline.rs`) instead.
    Direct(Arc<DirectClients>, Option<Arc<InlinePool>>),
    /// reqwest, for origins behind a proxy (or, for an upstream MCP server with TLS settings
    /// of its own, the client built with them).
    Proxied(reqwest::Client),
}

impl Transport {
    /// Sends `request`, following same-origin redirects; the body is left unread.
    pub async fn send(&self, request: Outgoing) -> Result<Response<ResponseBody>, SendError> {
        match self {
            Transport::Direct(clients, inline) => send_direct(clients, inline.as_ref(), request)
                .await
                .map(|r| r.map(Either::Left)),
            Transport::Proxied(client) => {
                let mut builder = client
                    .request(request.method, request.url)
                    .headers(request.headers);
                if let Some(body) = request.body {
                    builder = builder.body(body);
                }
                match builder.send().await {
                    Ok(r) => Ok(Response::from(r).map(Either::Right)),
                    Err(e) => Err(SendError::from_reqwest(e)),
                }
            }
        }
    }
}

/// The redirect loop of reqwest's `FollowRedirect` layer with our same-origin policy.
///
/// Kept rather than tower-http's `FollowRedirect`: that layer clones the header map and
/// inserts an extension into every response, redirected or not, stops at its limit by
/// returning the last 3xx instead of failing, and sends no `Referer`; the resend of a lost
/// request would have to become a service of its own below it.
async fn send_direct(
    clients: &DirectClients,
    inline: Option<&Arc<InlinePool>>,
    request: Outgoing,
) -> Result<Response<DirectBody>, SendError> {
    let Outgoing {
        mut method,
        mut url,
        mut headers,
        mut body,
    } = request;
    if !headers.contains_key(USER_AGENT) {
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
    }
    if !headers.contains_key(ACCEPT) {
        headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
    }
    let mut uri = request_uri(&url)?;
    let mut referer = None;
    let mut followed = 0;
    loop {
        let hop = Hop {
            clients,
            inline,
            method: &method,
            uri: &uri,
            headers: &headers,
            referer: referer.as_ref(),
            body: &body,
        };
        let response = hop.send().await?;
        if response.status().is_server_error() {
            clients.note_server_error();
        }
        let becomes_get = match response.status() {
            // Only POST changes method on 301/302 (RFC 9110 §15.4.2-3 allows it; browsers do).
            StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND => method == Method::POST,
            StatusCode::SEE_OTHER => true,
            StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT => false,
            _ => return Ok(response),
        };
        let Some(next) = response
            .headers()
            .get(LOCATION)
            .and_then(|l| std::str::from_utf8(l.as_bytes()).ok())
            .and_then(|l| url.join(l).ok())
        else {
            return Ok(response);
        };
        let Ok(next_uri) = next.as_str().parse::<Uri>() else {
            return Ok(response);
        };
        if followed >= MAX_REDIRECTS {
            return Err(SendError::new(
                SendErrorKind::TooManyRedirects,
                Delivery::Sent,
                Box::new(TooManyRedirects),
            ));
        }
        if !same_origin(&url, &next) {
            // Returned as is: the 3xx becomes a status error saying it was not followed.
            return Ok(response);
        }
        if becomes_get {
            if method != Method::HEAD {
                method = Method::GET;
            }
            body = None;
            for name in [
                CONTENT_TYPE,
                CONTENT_LENGTH,
                CONTENT_ENCODING,
                TRANSFER_ENCODING,
            ] {
                headers.remove(name);
            }
        }
        referer = make_referer(&url);
        url = next;
        uri = next_uri;
        followed += 1;
    }
}

/// One request/response exchange, on the inline connections of its origin if it has them,
/// else on hyper-util's client.
struct Hop<'a> {
    clients: &'a DirectClients,
    inline: Option<&'a Arc<InlinePool>>,
    method: &'a Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    referer: Option<&'a HeaderValue>,
    body: &'a Option<Bytes>,
}

impl Hop<'_> {
    /// Sends the exchange. Retried when the server refused the HTTP/2 stream before
    /// processing it (graceful GOAWAY or REFUSED_STREAM), and sent once more on a new
    /// connection when a pooled connection was lost under it and that is safe (see the
    /// module docs).
    async fn send(&self) -> Result<Response<DirectBody>, SendError> {
        let Hop {
            clients,
            method,
            uri,
            headers,
            ..
        } = *self;
        let mut nacks = 0;
        // A request that must not be resent avoids a connection the backend may be closing.
        let mut resent = clients.failing_recently() && !is_idempotent(method, headers);
        loop {
            let request = self.request();
            let error = match self.inline {
                Some(pool) => match pool.send(request, resent).await {
                    Ok(response) => return Ok(response.map(Either::Right)),
                    Err(e) => e,
                },
                None => {
                    let client = if resent {
                        &clients.fresh
                    } else {
                        &clients.pooled
                    };
                    match client.request(request).await {
                        Ok(response) => return Ok(response.map(Either::Left)),
                        Err(e) if nacks < MAX_NACK_RETRIES && is_protocol_nack(&e) => {
                            nacks += 1;
                            continue;
                        }
                        Err(e) => SendError::from_direct(e),
                    }
                }
            };
            if !resent && error.may_resend(method, headers) {
                clients.resent.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(
                    method = %method,
                    authority = uri.authority().map_or("", |a| a.as_str()),
                    delivery = error.delivery.as_str(),
                    error = %error.detail(),
                    "connection lost before a response; sending the request again on a new connection"
                );
                resent = true;
                continue;
            }
            return Err(error);
        }
    }

    /// The request, built anew for each attempt.
    fn request(&self) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(self.body.clone().unwrap_or_default()));
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        if let Some(r) = self.referer {
            request.headers_mut().insert(REFERER, r.clone());
        }
        request
    }
}

/// Whether sending `method` twice has the effect of sending it once (RFC 9110 §9.2.2), or
/// the request carries an idempotency key that lets the server recognize a repeat.
fn is_idempotent(method: &Method, headers: &HeaderMap) -> bool {
    const KEYS: [HeaderName; 2] = [
        HeaderName::from_static("idempotency-key"),
        HeaderName::from_static("x-idempotency-key"),
    ];
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    ) || KEYS.iter().any(|k| headers.contains_key(k))
}

fn request_uri(url: &Url) -> Result<Uri, SendError> {
    url.as_str().parse().map_err(|e: http::uri::InvalidUri| {
        SendError::new(SendErrorKind::InvalidUri, Delivery::NotSent, Box::new(e))
    })
}

/// Same scheme, host and port.
fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// The `Referer` reqwest sends on a followed redirect: the previous URL without userinfo and
/// fragment (redirects are same-origin, so the scheme never downgrades).
fn make_referer(previous: &Url) -> Option<HeaderValue> {
    let mut referer = previous.clone();
    let _ = referer.set_username("");
    let _ = referer.set_password(None);
    referer.set_fragment(None);
    HeaderValue::from_str(referer.as_str()).ok()
}

fn is_protocol_nack(e: &(dyn StdError + 'static)) -> bool {
    let mut node = Some(e);
    while let Some(err) = node {
        if let Some(h2) = err.downcast_ref::<h2::Error>() {
            return h2.is_remote()
                && ((h2.is_go_away() && h2.reason() == Some(h2::Reason::NO_ERROR))
                    || (h2.is_reset() && h2.reason() == Some(h2::Reason::REFUSED_STREAM)));
        }
        node = err.source();
    }
    false
}

/// Bounds the whole connect (DNS, TCP, TLS) like reqwest's `connect_timeout`; the TCP
/// connector's own timeout only covers the TCP handshake.
#[derive(Clone)]
pub(crate) struct ConnectTimeout {
    inner: HttpsConnector<HttpConnector>,
    timeout: Duration,
}

impl tower_service::Service<Uri> for ConnectTimeout {
    type Response = <HttpsConnector<HttpConnector> as tower_service::Service<Uri>>::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let connecting = self.inner.call(dst);
        let timeout = self.timeout;
        Box::pin(async move {
            match tokio::time::timeout(timeout, connecting).await {
                Ok(result) => result,
                Err(_) => Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "operation timed out",
                )
                .into()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_compare_scheme_host_and_effective_port() {
        let u = |s: &str| Url::parse(s).unwrap();
        assert!(same_origin(&u("http://h/a"), &u("http://h:80/b?q")));
        assert!(!same_origin(&u("http://h/a"), &u("https://h/a")));
        assert!(!same_origin(&u("http://h/a"), &u("http://h:8080/a")));
        assert!(!same_origin(&u("http://h/a"), &u("http://g/a")));
    }

    #[test]
    fn referer_drops_userinfo_and_fragment() {
        let r = make_referer(&Url::parse("http://u:p@h/a?k=1#f").unwrap()).unwrap();
        assert_eq!(r, "http://h/a?k=1");
    }

    /// A connector handing the server half of an in-memory connection to the test.
    mod duplex {
        use std::pin::Pin;
        use std::task::{Context, Poll};

        use hyper_util::client::legacy::connect::{Connected, Connection};
        use hyper_util::rt::TokioIo;
        use tokio::io::DuplexStream;
        use tokio::sync::mpsc;

        pub struct Io(pub TokioIo<DuplexStream>);

        impl hyper::rt::Read for Io {
            fn poll_read(
                mut self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: hyper::rt::ReadBufCursor<'_>,
            ) -> Poll<std::io::Result<()>> {
                Pin::new(&mut self.0).poll_read(cx, buf)
            }
        }

        impl hyper::rt::Write for Io {
            fn poll_write(
                mut self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<std::io::Result<usize>> {
                Pin::new(&mut self.0).poll_write(cx, buf)
            }
            fn poll_flush(
                mut self: Pin<&mut Self>,
                cx: &mut Context<'_>,
            ) -> Poll<std::io::Result<()>> {
                Pin::new(&mut self.0).poll_flush(cx)
            }
            fn poll_shutdown(
                mut self: Pin<&mut Self>,
                cx: &mut Context<'_>,
            ) -> Poll<std::io::Result<()>> {
                Pin::new(&mut self.0).poll_shutdown(cx)
            }
        }

        impl Connection for Io {
            fn connected(&self) -> Connected {
                Connected::new()
            }
        }

        #[derive(Clone)]
        pub struct Connector(pub mpsc::UnboundedSender<DuplexStream>);

        impl tower_service::Service<http::Uri> for Connector {
            type Response = Io;
            type Error = std::io::Error;
            type Future = std::future::Ready<Result<Io, std::io::Error>>;

            fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
                Poll::Ready(Ok(()))
            }

            fn call(&mut self, _: http::Uri) -> Self::Future {
                let (client, server) = tokio::io::duplex(64 * 1024);
                let _ = self.0.send(server);
                std::future::ready(Ok(Io(TokioIo::new(client))))
            }
        }
    }

    /// Reads one request (head and `content-length` body) and answers `200 ok`; returns the
    /// request line.
    async fn answer(conn: &mut tokio::io::DuplexStream) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            assert_eq!(conn.read(&mut byte).await.unwrap(), 1, "connection closed");
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).unwrap();
        let len: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length: ")
                    .map(str::to_owned)
            })
            .map_or(0, |v| v.trim().parse().unwrap());
        let mut body = vec![0u8; len];
        conn.read_exact(&mut body).await.unwrap();
        conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            .await
            .unwrap();
        head.lines().next().unwrap().to_owned()
    }

    /// hyper-util sends a request again when the pooled connection it was queued on turns out
    /// closed before the request was written, whatever the method: the lost-connection
    /// handling relies on it for requests that are not idempotent.
    #[tokio::test(start_paused = true)]
    async fn a_request_never_written_to_a_closed_pooled_connection_is_sent_again() {
        use http_body_util::BodyExt as _;
        let (tx, mut accepted) = tokio::sync::mpsc::unbounded_channel();
        let client: Client<duplex::Connector, Full<Bytes>> =
            client_builder().build(duplex::Connector(tx));
        let post = || {
            Request::post("http://backend.test/items")
                .body(Full::new(Bytes::from_static(b"{}")))
                .unwrap()
        };

        let first = tokio::spawn(client.request(post()));
        let mut conn1 = accepted.recv().await.unwrap();
        assert_eq!(answer(&mut conn1).await, "POST /items HTTP/1.1");
        let body = first
            .await
            .unwrap()
            .unwrap()
            .into_body()
            .collect()
            .await
            .unwrap();
        assert_eq!(body.to_bytes(), "ok");
        // Let the connection go back to the pool.
        tokio::time::sleep(Duration::from_millis(1)).await;

        // The server closes the idle connection, and the next request is queued on it before
        // the connection's task has read the close (polled once, here, before that task runs).
        drop(conn1);
        let mut second = std::pin::pin!(client.request(post()));
        assert!(futures::poll!(&mut second).is_pending());
        assert!(
            accepted.try_recv().is_err(),
            "the request must have been queued on the pooled connection"
        );
        let (response, line) = tokio::join!(second, async {
            let conn2 = tokio::time::timeout(Duration::from_secs(5), accepted.recv()).await;
            match conn2 {
                Ok(Some(mut conn2)) => Some(answer(&mut conn2).await),
                Ok(None) | Err(_) => None,
            }
        });
        let response = response.expect("sent again on a new connection");
        assert_eq!(line.as_deref(), Some("POST /items HTTP/1.1"));
        assert_eq!(response.status(), StatusCode::OK);
    }
}
