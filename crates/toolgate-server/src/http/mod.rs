//! MCP over streamable HTTP, the mountable router, and the gateway's HTTP app.
//!
//! - [`mcp_router`]: just the MCP endpoint at a path, for a Rust service to `merge` into its
//!   own axum app (the counterpart of fastapi-mcp's `mount_http`).
//! - [`gateway_app`]: MCP plus `/healthz`, `/readyz` and `/metrics` (`ops`) and the live
//!   dashboard (`crate::dashboard`), as `toolgate serve --http` runs it.
//! - [`serve`]: runs an app on a listener (`serve`).
//!
//! Every builder takes an [`EdgeAuth`] (`auth`): whether callers are authenticated, decided
//! when the router is built. With it on, the RFC 9728 metadata routes are served beside the
//! endpoint and `/metrics` asks for a credential unless opened.
//!
//! The endpoint (`endpoint`) is a guard in front of rmcp's `StreamableHttpService`, which
//! handles the protocol (sessions for 2025-11-25 clients, stateless 2026-07-28 requests, JSON
//! or SSE responses); the guard serves the hot requests itself on the fast path (`fast`).
//! This is the only module that knows rmcp's HTTP server, besides the session table
//! (`crate::sessions`), which plugs into it.

mod auth;
mod busy_poll;
mod endpoint;
mod fast;
pub(crate) mod ops;
mod options;
mod serve;

use std::sync::Arc;

use axum::Router;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;
use toolgate_core::Transport;
use toolgate_policy::Metrics;

pub use self::auth::{
    AuthSettings, EdgeAuth, METADATA_PATH, MetricsAccess, metadata_path, metadata_url,
};
use self::endpoint::{Endpoint, Guard};
use self::fast::FastPath;
pub use self::ops::{ADMIN_ROLE, ADMIN_SCOPE};
pub use self::options::{HttpOptions, SessionMode, default_allowed_hosts, default_allowed_origins};
pub use self::serve::serve;
use crate::gateway::Gateway;
use crate::origin::OriginPolicy;
use crate::sessions::Sessions;

/// rmcp's streamable HTTP configuration for `options`, stopped when `shutdown` is cancelled.
fn mcp_service_config(
    options: &HttpOptions,
    stateful: bool,
    shutdown: &CancellationToken,
) -> StreamableHttpServerConfig {
    let mut config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(stateful)
        .with_json_response(options.json_response)
        .with_sse_keep_alive(options.sse_keep_alive())
        .with_max_request_body_bytes(options.max_request_body_bytes)
        .with_cancellation_token(shutdown.child_token());
    let hosts = options.effective_allowed_hosts();
    config = if hosts.is_empty() {
        config.disable_allowed_hosts()
    } else {
        config.with_allowed_hosts(hosts)
    };
    config
        .with_allowed_origins(options.effective_allowed_origins())
        .enforce_origin_validation()
}

/// A router serving only the MCP endpoint at `options.path`; merge it into any axum app.
///
/// ```no_run
/// # use toolgate_server::{EdgeAuth, Gateway, HttpOptions, mcp_router};
/// # fn demo(gateway: Gateway, my_app: axum::Router) -> axum::Router {
/// let shutdown = tokio_util::sync::CancellationToken::new();
/// my_app.merge(mcp_router(gateway, &HttpOptions::default(), EdgeAuth::Off, shutdown))
/// # }
/// ```
pub fn mcp_router(
    gateway: Gateway,
    options: &HttpOptions,
    auth: EdgeAuth,
    shutdown: CancellationToken,
) -> Router {
    let sessions = session_table(options, &shutdown);
    mcp_router_with_sessions(gateway, options, auth, shutdown, sessions)
}

/// The legacy session table `options` ask for (`None` when stateless).
fn session_table(options: &HttpOptions, shutdown: &CancellationToken) -> Option<Arc<Sessions>> {
    (options.session_mode == SessionMode::Stateful).then(|| {
        let idle = options.session_idle_timeout();
        // `http.sessions` was checked with the configuration; a store that still cannot be
        // used leaves sessions in this process (logged).
        Sessions::with_store(idle, &options.sessions, shutdown.child_token()).unwrap_or_else(|e| {
            tracing::error!(error = %e, "legacy sessions stay in this process");
            Sessions::new(idle, shutdown.child_token())
        })
    })
}

/// Like [`mcp_router`], with a session table the caller keeps (to watch how many sessions
/// are open and how many of them are hibernating). The session mode follows `sessions`:
/// `None` serves every request statelessly.
pub fn mcp_router_with_sessions(
    gateway: Gateway,
    options: &HttpOptions,
    auth: EdgeAuth,
    shutdown: CancellationToken,
    sessions: Option<Arc<Sessions>>,
) -> Router {
    router(gateway, options, auth, shutdown, sessions, None)
}

/// A router serving one virtual server at `options.path`: `gateway` is the gateway made for
/// the endpoint ([`Gateway::for_endpoint`]), `access` who may use it (checked where the
/// caller is authenticated, before any path branches off). Each endpoint has its own legacy
/// session table (per `options.session_mode`). Merge the routers of every endpoint (and the
/// main one) into one app.
pub fn endpoint_router(
    gateway: Gateway,
    options: &HttpOptions,
    auth: EdgeAuth,
    shutdown: CancellationToken,
    access: toolgate_core::EndpointAccess,
) -> Router {
    let sessions = (options.session_mode == SessionMode::Stateful)
        .then(|| Sessions::new(options.session_idle_timeout(), shutdown.child_token()));
    router(
        gateway,
        options,
        auth,
        shutdown,
        sessions,
        Some(Arc::new(access)),
    )
}

fn router(
    gateway: Gateway,
    options: &HttpOptions,
    auth: EdgeAuth,
    shutdown: CancellationToken,
    sessions: Option<Arc<Sessions>>,
    access: Option<Arc<toolgate_core::EndpointAccess>>,
) -> Router {
    let gateway = gateway.with_transport(Transport::Http);
    let main_endpoint = access.is_none();
    let config = mcp_service_config(options, sessions.is_some(), &shutdown);
    let guard = Arc::new(Guard {
        limit: options.max_request_body_bytes,
        policy: OriginPolicy::new(
            &options.effective_allowed_hosts(),
            &options.effective_allowed_origins(),
        ),
        fast_path: options
            .fast_path
            .then(|| FastPath::new(gateway.clone(), sessions.clone())),
        auth: auth.clone(),
        sessions: sessions.clone(),
        live: gateway.live_pipeline().clone(),
        access,
        busy_poll: busy_poll::BusyPoll::start(
            std::time::Duration::from_micros(options.busy_poll_us),
            shutdown.clone(),
        ),
    });
    let metadata = auth.metadata_routes(&options.path, main_endpoint);
    let factory = move || Ok(gateway.clone());
    match sessions {
        Some(sessions) => {
            // The session table doubles as rmcp's session store: hibernating sessions are
            // restored through it.
            let mut config = config;
            config.session_store = Some(sessions.clone());
            let service = StreamableHttpService::new(factory, sessions, config);
            Router::new()
                .route_service(&options.path, Endpoint::new(guard, service))
                .merge(metadata)
        }
        None => {
            let service = StreamableHttpService::new(
                factory,
                Arc::new(NeverSessionManager::default()),
                config,
            );
            Router::new()
                .route_service(&options.path, Endpoint::new(guard, service))
                .merge(metadata)
        }
    }
}

/// The full HTTP app of `toolgate serve --http`: MCP at `options.path`, `/healthz` (alive),
/// `/readyz` (catalog loaded and every source reachable), `/metrics` (Prometheus; behind
/// `auth` when it is on, unless opened) and the live dashboard (`/admin/dashboard`, unless
/// the gateway's dashboard settings turn it off).
pub fn gateway_app(
    gateway: Gateway,
    options: &HttpOptions,
    auth: EdgeAuth,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> Router {
    let ops = ops::routes(gateway.clone(), metrics.clone(), auth.clone());
    let sessions = session_table(options, &shutdown);
    let dashboard = crate::dashboard::routes(
        gateway.clone(),
        metrics,
        sessions.clone(),
        auth.clone(),
        OriginPolicy::new(
            &options.effective_allowed_hosts(),
            &options.effective_allowed_origins(),
        ),
        gateway.dashboard(),
    );
    mcp_router_with_sessions(gateway, options, auth, shutdown, sessions)
        .merge(ops)
        .merge(dashboard)
}
