//! MCP over streamable HTTP, the mountable router, and the gateway's HTTP app.
//!
//! - [`mcp_router`]: just the MCP endpoint at a path, for a Rust service to `merge` into its
//!   own axum app (the counterpart of fastapi-mcp's `mount_http`).
//! - [`gateway_app`]: MCP plus `/healthz`, `/readyz` and `/metrics`, as `toolgate serve
//!   --http` runs it.
//! - [`serve`]: runs an app on a listener with TCP_NODELAY on every accepted socket and a
//!   graceful shutdown that lets in-flight calls finish up to a deadline.
//!
//! The MCP protocol handling (sessions for 2025-11-25 clients, stateless 2026-07-28
//! requests, JSON or SSE responses, Host/Origin checks) is rmcp's `StreamableHttpService`;
//! this module is the seam behind which it can be replaced by a leaner hot path.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt as _;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use toolgate_core::Transport;
use toolgate_policy::Metrics;
use tower::ServiceExt as _;

use crate::handler::{Gateway, InFlight};
use crate::origin::OriginPolicy;
use crate::sessions::Sessions;

/// Whether 2025-11-25 (and older) clients get protocol sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SessionMode {
    /// `initialize` creates a session (`Mcp-Session-Id`); GET streams and server-to-client
    /// messages work. 2026-07-28 requests are served statelessly regardless.
    #[default]
    Stateful,
    /// Every request stands alone: no session ids, any replica can serve any request.
    Stateless,
}

/// Options of the streamable HTTP transport.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Path of the MCP endpoint, e.g. `/mcp`.
    pub path: String,
    /// Accepted `Host` values (`name` or `name:port`). Empty = accept any (not recommended).
    pub allowed_hosts: Vec<String>,
    /// Accepted `Origin` values (`scheme://host[:port|:*]`). A request with an `Origin` not in
    /// the list gets 403; requests without `Origin` (non-browser clients) pass.
    pub allowed_origins: Vec<String>,
    /// Session handling for legacy clients.
    pub session_mode: SessionMode,
    /// Answer simple requests with `application/json` instead of an SSE stream.
    pub json_response: bool,
    /// Largest accepted POST body.
    pub max_request_body_bytes: usize,
    /// Keep-alive comment interval on SSE streams.
    pub sse_keep_alive: Option<Duration>,
    /// Serve well-formed `tools/call` and `tools/list` requests (stateless 2026-07-28, and
    /// session-mode ones of older clients) on the fast path instead of through rmcp's
    /// per-request service (same answers, less work).
    pub fast_path: bool,
    /// A legacy session unused for this long is closed (its client gets 404 and starts a new
    /// one).
    pub session_idle_timeout: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            path: "/mcp".to_owned(),
            allowed_hosts: default_allowed_hosts(),
            allowed_origins: default_allowed_origins(),
            session_mode: SessionMode::Stateful,
            json_response: true,
            max_request_body_bytes: 4 * 1024 * 1024,
            sse_keep_alive: Some(Duration::from_secs(15)),
            fast_path: true,
            session_idle_timeout: Duration::from_secs(300),
        }
    }
}

/// Loopback host names: the default `Host` allowlist (defeats DNS rebinding).
pub fn default_allowed_hosts() -> Vec<String> {
    ["localhost", "127.0.0.1", "::1", "[::1]"]
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// Loopback origins on any port: the default `Origin` allowlist.
pub fn default_allowed_origins() -> Vec<String> {
    [
        "http://localhost:*",
        "http://127.0.0.1:*",
        "http://[::1]:*",
        "https://localhost:*",
        "https://127.0.0.1:*",
        "https://[::1]:*",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect()
}

/// The rmcp streamable HTTP service for `gateway`, stopped when `shutdown` is cancelled.
fn mcp_service_config(
    options: &HttpOptions,
    shutdown: &CancellationToken,
) -> StreamableHttpServerConfig {
    let mut config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(options.session_mode == SessionMode::Stateful)
        .with_json_response(options.json_response)
        .with_sse_keep_alive(options.sse_keep_alive)
        .with_max_request_body_bytes(options.max_request_body_bytes)
        .with_cancellation_token(shutdown.child_token());
    config = if options.allowed_hosts.is_empty() {
        config.disable_allowed_hosts()
    } else {
        config.with_allowed_hosts(options.allowed_hosts.clone())
    };
    config
        .with_allowed_origins(options.allowed_origins.clone())
        .enforce_origin_validation()
}

/// A router serving only the MCP endpoint at `options.path`; merge it into any axum app.
///
/// ```no_run
/// # use toolgate_server::{Gateway, HttpOptions, mcp_router};
/// # fn demo(gateway: Gateway, my_app: axum::Router) -> axum::Router {
/// let shutdown = tokio_util::sync::CancellationToken::new();
/// my_app.merge(mcp_router(gateway, &HttpOptions::default(), shutdown))
/// # }
/// ```
pub fn mcp_router(gateway: Gateway, options: &HttpOptions, shutdown: CancellationToken) -> Router {
    let sessions = (options.session_mode == SessionMode::Stateful)
        .then(|| Sessions::new(options.session_idle_timeout, shutdown.child_token()));
    mcp_router_with_sessions(gateway, options, shutdown, sessions)
}

/// Like [`mcp_router`], with a session table the caller keeps (to watch how many sessions
/// are open and how many of them are hibernating). `sessions` decides the session mode:
/// `None` serves every request statelessly, whatever `options.session_mode` says.
pub fn mcp_router_with_sessions(
    gateway: Gateway,
    options: &HttpOptions,
    shutdown: CancellationToken,
    sessions: Option<Arc<Sessions>>,
) -> Router {
    let gateway = gateway.with_transport(Transport::Http);
    let options = &HttpOptions {
        session_mode: if sessions.is_some() {
            SessionMode::Stateful
        } else {
            SessionMode::Stateless
        },
        ..options.clone()
    };
    let config = mcp_service_config(options, &shutdown);
    let guard = Arc::new(Guard {
        limit: options.max_request_body_bytes,
        policy: OriginPolicy::new(&options.allowed_hosts, &options.allowed_origins),
        fast_path: options.fast_path.then(|| gateway.clone()),
        sessions: sessions.clone(),
    });
    let factory = move || Ok(gateway.clone());
    match sessions {
        Some(sessions) => {
            // The session table doubles as rmcp's session store: hibernating sessions are
            // restored through it.
            let mut config = config;
            config.session_store = Some(sessions.clone());
            let service = StreamableHttpService::new(factory, sessions, config);
            Router::new().route_service(&options.path, Endpoint::new(guard, service))
        }
        None => {
            let service = StreamableHttpService::new(
                factory,
                Arc::new(NeverSessionManager::default()),
                config,
            );
            Router::new().route_service(&options.path, Endpoint::new(guard, service))
        }
    }
}

/// The MCP endpoint as axum routes to it: the [`Guard`], then rmcp's service. A tower service
/// rather than an axum middleware because axum clones a route's service for every request,
/// and rmcp's (its configuration included) is not cheap to clone: here both halves sit
/// behind `Arc`s, and rmcp's service is cloned only for the requests it serves.
struct Endpoint<S> {
    guard: Arc<Guard>,
    rmcp: Arc<S>,
}

impl<S> Endpoint<S> {
    fn new(guard: Arc<Guard>, rmcp: S) -> Self {
        Endpoint {
            guard,
            rmcp: Arc::new(rmcp),
        }
    }
}

impl<S> Clone for Endpoint<S> {
    fn clone(&self) -> Self {
        Endpoint {
            guard: self.guard.clone(),
            rmcp: self.rmcp.clone(),
        }
    }
}

impl<S> tower::Service<axum::extract::Request> for Endpoint<S>
where
    S: tower::Service<axum::extract::Request, Response = RmcpResponse, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send,
{
    type Response = Response;
    type Error = Infallible;
    type Future = futures::future::BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: axum::extract::Request) -> Self::Future {
        let guard = self.guard.clone();
        let rmcp = self.rmcp.clone();
        Box::pin(async move {
            let next = |req: axum::extract::Request| async move {
                let Ok(response) = S::clone(&rmcp).oneshot(req).await;
                response.map(axum::body::Body::new)
            };
            Ok(guard.run(req, next).await)
        })
    }
}

/// What rmcp's streamable HTTP service answers.
type RmcpResponse = http::Response<http_body_util::combinators::BoxBody<bytes::Bytes, Infallible>>;

/// A JSON-RPC error response without an id (the request could not be read far enough to
/// know it), as the specification prescribes for parse errors and invalid requests.
fn json_rpc_error(status: StatusCode, code: i64, message: String) -> Response {
    (
        status,
        axum::Json(json!({
            "jsonrpc": "2.0",
            "id": null,
            "error": { "code": code, "message": message },
        })),
    )
        .into_response()
}

/// What runs in front of rmcp on the MCP endpoint.
struct Guard {
    /// Largest accepted body.
    limit: usize,
    /// Host/Origin allowlists.
    policy: OriginPolicy,
    /// The gateway, when the fast path is on.
    fast_path: Option<Gateway>,
    /// The legacy session table (session mode only).
    sessions: Option<Arc<Sessions>>,
}

impl Guard {
    /// In order:
    /// 1. refuses a foreign `Host`/`Origin` (403);
    /// 2. answers DELETE with 204 where rmcp says 202;
    /// 3. serves qualifying calls on the fast path;
    /// 4. rejects POST bodies that are not one JSON-RPC message with a JSON-RPC error
    ///    (`-32700`, `-32600`) instead of a bare status;
    /// 5. hands everything else to rmcp unchanged.
    async fn run<F, Fut>(&self, req: axum::extract::Request, next: F) -> Response
    where
        F: FnOnce(axum::extract::Request) -> Fut,
        Fut: Future<Output = Response>,
    {
        if let Err(reason) = self.policy.check(req.uri(), req.headers()) {
            return (StatusCode::FORBIDDEN, reason).into_response();
        }
        if req.method() == axum::http::Method::DELETE {
            // rmcp acknowledges a session termination with 202; MCP clients (the Python SDK
            // among them) expect 200 or 204 and warn otherwise.
            let mut response = next(req).await;
            if response.status() == StatusCode::ACCEPTED {
                *response.status_mut() = StatusCode::NO_CONTENT;
            }
            return response;
        }
        if req.method() != axum::http::Method::POST {
            return next(req).await;
        }
        let (parts, body) = req.into_parts();
        let bytes = match axum::body::to_bytes(body, self.limit).await {
            Ok(b) => b,
            Err(_) => {
                return json_rpc_error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    -32600,
                    format!("request body exceeds the limit of {} bytes", self.limit),
                );
            }
        };
        if let Some(gateway) = &self.fast_path
            && let Some(revision) = crate::fast_path::headers_qualify(&parts.headers)
            && let Some(response) = crate::fast_path::serve(
                gateway,
                self.sessions.as_deref(),
                revision,
                &parts.headers,
                &bytes,
            )
            .await
        {
            return response;
        }
        if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&bytes) {
            return json_rpc_error(
                StatusCode::BAD_REQUEST,
                -32700,
                format!("Parse error: the body is not valid JSON ({e})"),
            );
        }
        match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => {}
            Some(b'[') => {
                return json_rpc_error(
                    StatusCode::BAD_REQUEST,
                    -32600,
                    "Invalid Request: JSON-RPC batches are not supported; send one message per POST"
                        .to_owned(),
                );
            }
            _ => {
                return json_rpc_error(
                    StatusCode::BAD_REQUEST,
                    -32600,
                    "Invalid Request: the body must be a JSON-RPC message object".to_owned(),
                );
            }
        }
        next(axum::extract::Request::from_parts(
            parts,
            axum::body::Body::from(bytes),
        ))
        .await
    }
}

#[derive(Clone)]
struct AppState {
    gateway: Gateway,
    metrics: Arc<Metrics>,
}

/// The full HTTP app of `toolgate serve --http`: MCP at `options.path`, `/healthz` (alive),
/// `/readyz` (catalog loaded and every source reachable) and `/metrics` (Prometheus).
pub fn gateway_app(
    gateway: Gateway,
    options: &HttpOptions,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> Router {
    let state = AppState {
        gateway: gateway.clone(),
        metrics,
    };
    let ops = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(state);
    mcp_router(gateway, options, shutdown).merge(ops)
}

async fn healthz() -> Response {
    (StatusCode::OK, axum::Json(json!({ "status": "ok" }))).into_response()
}

async fn readyz(State(state): State<AppState>) -> Response {
    let catalog = state.gateway.catalog().load_full();
    let checks = catalog.sources().iter().map(|s| {
        let name = s.name.clone();
        let probe = s.probe.check();
        async move { (name, probe.await) }
    });
    let results = futures::future::join_all(checks).await;
    let ready = results.iter().all(|(_, r)| r.is_ok());
    let sources: serde_json::Map<String, serde_json::Value> = results
        .into_iter()
        .map(|(name, r)| {
            let v = match r {
                Ok(()) => json!("ok"),
                Err(e) => json!(e),
            };
            (name.to_string(), v)
        })
        .collect();
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "tools": catalog.tools().len(),
        "sources": sources,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

/// Serves `app` on `listener` until `signal` resolves, then shuts down gracefully: stops
/// accepting connections, lets calls in progress finish for up to `grace`, then closes MCP
/// sessions (`mcp_shutdown`) and returns.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    signal: impl Future<Output = ()> + Send + 'static,
    in_flight: Arc<InFlight>,
    grace: Duration,
    mcp_shutdown: CancellationToken,
) -> std::io::Result<()> {
    let listener = listener.tap_io(|tcp| {
        // Without TCP_NODELAY small MCP responses wait ~40 ms for delayed ACKs.
        let _ = tcp.set_nodelay(true);
    });
    let stop_accepting = CancellationToken::new();
    let server = {
        let stop = stop_accepting.clone();
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .into_future()
    };
    let mut server = std::pin::pin!(server);
    tokio::select! {
        r = &mut server => return r,
        () = signal => {}
    }
    tracing::info!(
        in_flight = in_flight.current(),
        grace_s = grace.as_secs_f64(),
        "shutting down: no new connections; waiting for calls in progress"
    );
    stop_accepting.cancel();
    let deadline = tokio::time::Instant::now() + grace;
    if tokio::time::timeout_at(deadline, in_flight.wait_idle())
        .await
        .is_err()
    {
        tracing::warn!(
            in_flight = in_flight.current(),
            "shutdown deadline reached with calls still in progress; closing them"
        );
    }
    // Calls have returned; let their responses be written and connections close on their
    // own. Long-lived SSE streams (legacy GET streams) never close by themselves, so after a
    // short drain the MCP sessions are cancelled, which ends them.
    let drain = (deadline.min(tokio::time::Instant::now() + Duration::from_millis(500)))
        .max(tokio::time::Instant::now() + Duration::from_millis(50));
    if let Ok(r) = tokio::time::timeout_at(drain, &mut server).await {
        mcp_shutdown.cancel();
        return r;
    }
    mcp_shutdown.cancel();
    match tokio::time::timeout(Duration::from_secs(2), &mut server).await {
        Ok(r) => r,
        Err(_) => {
            tracing::warn!("connections still open after shutdown; exiting anyway");
            Ok(())
        }
    }
}
