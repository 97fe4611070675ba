//! The HTTP clients of one backend and how a request reaches it.
//!
//! This module owns the transport under a tool call: TLS setup, connection pooling, connect
//! timeouts, same-origin redirects, retries of HTTP/2 protocol refusals, the default
//! `User-Agent`/`Accept` headers, system proxy variables, and classifying transport failures
//! into [`SendError`] kinds. It does not build requests, add credentials, enforce call
//! timeouts or read bodies under the cap (`backend`, `response`).
//!
//! Calls go straight to hyper-util's pooled client, the one reqwest wraps: reqwest's own
//! layers (redirect policy, retry, URL re-parsing on every request) cost about a sixth of a
//! whole gateway hop. reqwest stays for the OAuth2 token request (`auth`) and for origins that
//! `HTTP_PROXY`/`HTTPS_PROXY`/`ALL_PROXY` (minus `NO_PROXY`) route through a proxy, where it
//! speaks the proxy protocols; that is decided once per origin when a handler is created.
//! Both transports share one TLS configuration, the one reqwest's `rustls` feature builds.

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, REFERER};
use http::header::{TRANSFER_ENCODING, USER_AGENT};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use url::Url;

/// `User-Agent` sent unless a configured or forwarded header sets one.
const USER_AGENT_VALUE: &str = concat!("toolgate/", env!("CARGO_PKG_VERSION"));
/// Most same-origin redirects followed for one request.
const MAX_REDIRECTS: usize = 5;
/// Retries of a request the server refused at the HTTP/2 level (as reqwest does by default).
const MAX_NACK_RETRIES: u32 = 2;
/// TCP keepalive probe interval of backend connections.
const TCP_KEEPALIVE: Duration = Duration::from_secs(60);
/// How long an idle pooled connection is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

type BoxError = Box<dyn StdError + Send + Sync>;
type Direct = Client<ConnectTimeout, Full<Bytes>>;

/// A response body from either transport.
pub(crate) type ResponseBody = Either<Incoming, reqwest::Body>;

/// The clients of one backend, built once when the backend is created.
pub(crate) struct BackendClients {
    /// Behind an `Arc`: the client is a few hundred bytes and every handler holds one.
    direct: Arc<Direct>,
    /// Also used for OAuth2 token requests.
    pub(crate) reqwest: reqwest::Client,
    /// The system proxy variables as read when the backend was created (reqwest reads them
    /// at the same moment, when its client is built).
    proxies: Matcher,
}

impl std::fmt::Debug for BackendClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendClients")
            .field("proxies", &self.proxies)
            .finish_non_exhaustive()
    }
}

impl BackendClients {
    /// Builds both clients; fails only when TLS cannot be set up.
    pub(crate) fn new(connect_timeout: Duration) -> Result<Self, String> {
        let tls = tls_config()?;

        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_keepalive(Some(TCP_KEEPALIVE));
        http.set_connect_timeout(Some(connect_timeout));
        let connector = ConnectTimeout {
            inner: HttpsConnector::from((http, tls.clone())),
            timeout: connect_timeout,
        };
        let direct = Arc::new(
            Client::builder(TokioExecutor::new())
                .timer(TokioTimer::new())
                .pool_timer(TokioTimer::new())
                .pool_idle_timeout(POOL_IDLE_TIMEOUT)
                .build(connector),
        );

        let redirect = reqwest::redirect::Policy::custom(|attempt| {
            if attempt.previous().len() > MAX_REDIRECTS {
                return attempt.error("too many redirects");
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
        let reqwest = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(connect_timeout)
            .tcp_nodelay(true)
            .tcp_keepalive(TCP_KEEPALIVE)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .redirect(redirect)
            .user_agent(USER_AGENT_VALUE)
            .build()
            .map_err(|e| error_chain(&e))?;
        Ok(BackendClients {
            direct,
            reqwest,
            proxies: Matcher::from_system(),
        })
    }

    /// The transport for requests to `origin`'s scheme, host and port.
    pub(crate) fn transport(&self, origin: &Url) -> Transport {
        if is_proxied(&self.proxies, origin) {
            Transport::Proxied(self.reqwest.clone())
        } else {
            Transport::Direct(self.direct.clone())
        }
    }
}

/// Whether the proxy variables route `origin` through a proxy (then reqwest carries the
/// requests: it speaks the proxy protocols, CONNECT tunnels and proxy auth).
fn is_proxied(proxies: &Matcher, origin: &Url) -> bool {
    match origin.as_str().parse::<Uri>() {
        Ok(uri) => proxies.intercept(&uri).is_some(),
        // Not expressible as a request URI: let reqwest report it as it always did.
        Err(_) => true,
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
pub(crate) struct Outgoing {
    pub method: Method,
    /// Absolute http(s) URL, already validated.
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Option<Bytes>,
}

/// How requests of one handler reach the backend.
#[derive(Clone)]
pub(crate) enum Transport {
    /// hyper-util's pooled client, used directly.
    Direct(Arc<Direct>),
    /// reqwest, for origins behind a system proxy.
    Proxied(reqwest::Client),
}

impl Transport {
    /// Sends `request`, following same-origin redirects; the body is left unread.
    pub(crate) async fn send(
        &self,
        request: Outgoing,
    ) -> Result<Response<ResponseBody>, SendError> {
        match self {
            Transport::Direct(client) => send_direct(client, request)
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
                    Err(e) => Err(SendError::classify(&e)),
                }
            }
        }
    }
}

/// The redirect loop of reqwest's `FollowRedirect` layer with our same-origin policy.
async fn send_direct(client: &Direct, request: Outgoing) -> Result<Response<Incoming>, SendError> {
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
        let response = send_hop(client, &method, &uri, &headers, referer.as_ref(), &body).await?;
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
            return Err(SendError {
                kind: SendErrorKind::Failed,
                detail: "too many redirects".into(),
            });
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

/// One request/response exchange, retried when the server refused the HTTP/2 stream before
/// processing it (graceful GOAWAY or REFUSED_STREAM).
async fn send_hop(
    client: &Direct,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    referer: Option<&HeaderValue>,
    body: &Option<Bytes>,
) -> Result<Response<Incoming>, SendError> {
    let mut retries = 0;
    loop {
        let mut request = Request::new(Full::new(body.clone().unwrap_or_default()));
        *request.method_mut() = method.clone();
        *request.uri_mut() = uri.clone();
        *request.headers_mut() = headers.clone();
        if let Some(r) = referer {
            request.headers_mut().insert(REFERER, r.clone());
        }
        match client.request(request).await {
            Ok(response) => return Ok(response),
            Err(e) if retries < MAX_NACK_RETRIES && is_protocol_nack(&e) => retries += 1,
            Err(e) => return Err(SendError::classify(&e)),
        }
    }
}

fn request_uri(url: &Url) -> Result<Uri, SendError> {
    url.as_str().parse().map_err(|_| SendError {
        kind: SendErrorKind::Failed,
        detail: "the URL is not a valid HTTP request URI".into(),
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

/// A request that got no (complete) response, classified for the error message.
#[derive(Debug, thiserror::Error)]
#[error("{detail}")]
pub(crate) struct SendError {
    pub kind: SendErrorKind,
    /// The cause chain, without URLs (they may carry query credentials).
    pub detail: String,
}

/// Where a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SendErrorKind {
    /// No connection within `connect_timeout_ms`.
    ConnectTimeout,
    /// The connection could not be opened (refused, DNS, TLS).
    Connect,
    /// The connection timed out after it was opened.
    Timeout,
    /// Anything else after connecting: reset, malformed response, redirect loop.
    Failed,
}

impl SendError {
    /// Classifies any error of either transport (or of reading a body) by its cause chain,
    /// the way reqwest's `is_connect` and `is_timeout` do.
    pub(crate) fn classify(e: &(dyn StdError + 'static)) -> Self {
        let (mut connect, mut timeout) = (false, false);
        let mut node = Some(e);
        while let Some(err) = node {
            if let Some(r) = err.downcast_ref::<reqwest::Error>() {
                connect |= r.is_connect();
                timeout |= r.is_timeout();
            } else if let Some(l) = err.downcast_ref::<hyper_util::client::legacy::Error>() {
                connect |= l.is_connect();
            } else if let Some(h) = err.downcast_ref::<hyper::Error>() {
                timeout |= h.is_timeout();
            } else if let Some(io) = err.downcast_ref::<std::io::Error>() {
                timeout |= io.kind() == std::io::ErrorKind::TimedOut;
            }
            node = err.source();
        }
        let kind = match (connect, timeout) {
            (true, true) => SendErrorKind::ConnectTimeout,
            (true, false) => SendErrorKind::Connect,
            (false, true) => SendErrorKind::Timeout,
            (false, false) => SendErrorKind::Failed,
        };
        SendError {
            kind,
            detail: error_chain(e),
        }
    }
}

/// The cause chain of an error, without reqwest's own messages (they end with the URL, which
/// may carry query credentials).
pub(crate) fn error_chain(e: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut node = Some(e);
    while let Some(err) = node {
        if !err.is::<reqwest::Error>() {
            let text = err.to_string();
            if !parts.contains(&text) {
                parts.push(text);
            }
        }
        node = err.source();
    }
    if !parts.is_empty() {
        return parts.join(": ");
    }
    match e.downcast_ref::<reqwest::Error>() {
        Some(r) if r.is_timeout() => "timed out".into(),
        Some(r) if r.is_body() || r.is_decode() => "the response body could not be read".into(),
        _ => "the request failed".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_variables_decide_per_origin() {
        let proxies = Matcher::builder()
            .http("http://proxy.internal:3128")
            .no("127.0.0.1, .corp.example")
            .build();
        let proxied = |u: &str| is_proxied(&proxies, &Url::parse(u).unwrap());
        assert!(proxied("http://api.example.com/v1"));
        assert!(!proxied("https://api.example.com/v1"), "no HTTPS_PROXY set");
        assert!(!proxied("http://127.0.0.1:8080/"));
        assert!(!proxied("http://svc.corp.example/"));
        assert!(!is_proxied(
            &Matcher::builder().build(),
            &Url::parse("http://api.example.com/").unwrap()
        ));
    }

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

    #[test]
    fn timeouts_are_recognized_in_the_cause_chain() {
        #[derive(Debug, thiserror::Error)]
        #[error("tcp connect error")]
        struct Wrapper(#[source] std::io::Error);
        let timed_out = Wrapper(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "operation timed out",
        ));
        let e = SendError::classify(&timed_out);
        assert_eq!(e.kind, SendErrorKind::Timeout);
        assert_eq!(e.detail, "tcp connect error: operation timed out");
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(SendError::classify(&refused).kind, SendErrorKind::Failed);
    }
}
