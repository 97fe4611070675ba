//! The built-in live dashboard: a page served by the gateway itself on its HTTP port.
//!
//! - `GET /admin/dashboard`: the HTML shell, and `GET /admin/dashboard/{dashboard.js,
//!   dashboard.css}` its script and style. They are three static files embedded in the
//!   binary (`assets/`, hand-written, no framework, no build step), served with a strict
//!   Content-Security-Policy (nothing but this origin's own script, style and data; no
//!   inline script or style, no framing). They carry no data, so anyone who reaches the
//!   port may load them.
//! - `GET /admin/dashboard/data`: the JSON snapshot the page polls every 2 s (`data`). It is
//!   protected like `POST /admin/reload`: with authentication on, the bearer must pass
//!   [`EdgeAuth::admit`] **and** carry the scope `toolgate:admin` or the role
//!   `toolgate-admin` (the page asks for a token, keeps it in `sessionStorage` and sends it
//!   as `Authorization`); with authentication off, only a loopback client is answered, whose
//!   `Host` is one of `http.allowed_hosts` (no DNS rebinding) and whose `Origin`, if any, is
//!   the gateway's own (no other page, not even another loopback one, reads it).
//!
//! `dashboard.enabled: false` removes all four routes. See docs/observability.md,
//! "Dashboard".

mod config;
mod data;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use toolgate_policy::Metrics;

pub use self::config::{DashboardConfig, LatencyBudget, LatencyBudgets};
use self::data::DataSource;
use crate::gateway::Gateway;
use crate::http::EdgeAuth;
use crate::origin::OriginPolicy;
use crate::sessions::Sessions;

/// The page's path.
pub const DASHBOARD_PATH: &str = "/admin/dashboard";

const INDEX_HTML: &str = include_str!("assets/index.html");
const SCRIPT_JS: &str = include_str!("assets/dashboard.js");
const STYLE_CSS: &str = include_str!("assets/dashboard.css");

/// Only this origin's own script, style and data; no plugins, frames, forms or base URL.
/// `img-src data:` is for the empty favicon the page declares (no `/favicon.ico` request).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

#[derive(Clone)]
struct DashState {
    data: Arc<DataSource>,
    auth: EdgeAuth,
    origins: Arc<OriginPolicy>,
}

/// The dashboard's routes (none when `config.enabled` is false).
pub(crate) fn routes(
    gateway: Gateway,
    metrics: Arc<Metrics>,
    sessions: Option<Arc<Sessions>>,
    auth: EdgeAuth,
    origins: OriginPolicy,
    config: Arc<DashboardConfig>,
) -> Router {
    if !config.enabled {
        return Router::new();
    }
    let state = DashState {
        data: Arc::new(DataSource::new(gateway, metrics, sessions, config)),
        auth,
        origins: Arc::new(origins),
    };
    Router::new()
        .route(DASHBOARD_PATH, get(index))
        .route(&format!("{DASHBOARD_PATH}/dashboard.js"), get(script))
        .route(&format!("{DASHBOARD_PATH}/dashboard.css"), get(style))
        .route(&format!("{DASHBOARD_PATH}/data"), get(data))
        .with_state(state)
}

/// A static file with the page's security headers.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        body,
    )
        .into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    response
}

async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT_JS)
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE_CSS)
}

async fn data(State(state): State<DashState>, request: axum::extract::Request) -> Response {
    let (mut parts, _) = request.into_parts();
    if let Err(refusal) = admit(&state, &mut parts).await {
        return refusal;
    }
    let body = state.data.snapshot().await;
    (
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        axum::Json(body),
    )
        .into_response()
}

/// Who may read the data (the module's header).
async fn admit(state: &DashState, parts: &mut http::request::Parts) -> Result<(), Response> {
    use crate::http::ops::{admin_error, admit_admin};
    if state.auth.is_on() {
        return admit_admin(&state.auth, parts, "dashboard").await;
    }
    let loopback = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .is_some_and(|c| c.0.ip().is_loopback());
    if !loopback {
        return Err(admin_error(
            StatusCode::FORBIDDEN,
            "the dashboard answers only loopback clients while authentication is off (configure `auth` to open it remotely with an admin token)",
        ));
    }
    if let Err(why) = state.origins.check(&parts.uri, &parts.headers) {
        return Err(admin_error(
            StatusCode::FORBIDDEN,
            &format!("the dashboard refused this request: {why}"),
        ));
    }
    if let Some(origin) = parts.headers.get(header::ORIGIN) {
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        // `https://` when TLS is terminated in front of the gateway.
        let own =
            |scheme: &str| origin.to_str().ok() == Some(format!("{scheme}://{host}").as_str());
        if host.is_empty() || !(own("http") || own("https")) {
            return Err(admin_error(
                StatusCode::FORBIDDEN,
                "the dashboard's data is read only by the dashboard page itself (the request's `Origin` is another site)",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
