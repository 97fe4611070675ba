//! The operational endpoints beside MCP: `/healthz` (alive), `/readyz` (catalog loaded and
//! every source reachable, with each circuit breaker's state as detail) and `/metrics`
//! (Prometheus text format).
//!
//! `/healthz` and `/readyz` are always open (orchestrators probe them without credentials);
//! `/metrics` passes the same authentication as the MCP endpoint ([`EdgeAuth::admit`]) when
//! it is on, unless `auth.metrics` is `open`.
//!
//! `POST /admin/reload` (when the gateway can reload: `serve --config`) reloads the
//! configuration and answers the outcome as JSON (200 applied, 422 refused and the last known
//! good configuration kept). It changes the gateway, so it is never open: with
//! authentication on, the caller's bearer must pass [`EdgeAuth::admit`] **and** carry the
//! scope [`ADMIN_SCOPE`] or the role [`ADMIN_ROLE`] (403 otherwise; `auth.metrics: open`
//! does not open it); with authentication off, only a client on a loopback address, sending
//! no `Origin` header (no browser page), may call it (403 otherwise).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use toolgate_policy::Metrics;

use super::auth::{EdgeAuth, MetricsAccess};
use crate::gateway::Gateway;

#[derive(Clone)]
struct AppState {
    gateway: Gateway,
    metrics: Arc<Metrics>,
    /// Authentication of `/metrics` (`Off` when it is open).
    metrics_auth: EdgeAuth,
    /// Authentication of the admin endpoint (the MCP endpoint's, never opened).
    admin_auth: EdgeAuth,
}

/// The scope that lets an authenticated caller use the admin endpoint.
pub const ADMIN_SCOPE: &str = "toolgate:admin";
/// The role that lets an authenticated caller use the admin endpoint.
pub const ADMIN_ROLE: &str = "toolgate-admin";

/// The routes of the operational endpoints.
pub(crate) fn routes(gateway: Gateway, metrics: Arc<Metrics>, auth: EdgeAuth) -> Router {
    let metrics_auth = match &auth {
        EdgeAuth::On(settings) if settings.metrics == MetricsAccess::Open => EdgeAuth::Off,
        other => other.clone(),
    };
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/admin/reload", post(admin_reload))
        .with_state(AppState {
            gateway,
            metrics,
            metrics_auth,
            admin_auth: auth,
        })
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
    let mut body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "tools": catalog.tools().len(),
        "sources": sources,
    });
    // Each source's circuit breaker, as detail: an open circuit does not make the gateway
    // unready (every replica sees the same backend; taking them out of the load balancer
    // would turn one source's outage into the whole gateway's).
    if let Some(resilience) = state.gateway.resilience() {
        let circuits: serde_json::Map<String, serde_json::Value> = resilience
            .circuits()
            .into_iter()
            .map(|(name, r)| {
                let mut v = json!({
                    "state": r.state.as_str(),
                    "window_calls": r.window_calls,
                    "window_failures": r.window_failures,
                });
                if let Some(left) = r.retry_in {
                    v["retry_in_ms"] = json!(left.as_millis() as u64);
                }
                (name.to_string(), v)
            })
            .collect();
        if !circuits.is_empty() {
            body["circuits"] = serde_json::Value::Object(circuits);
        }
    }
    for (name, detail) in state.gateway.readiness_details() {
        body[*name] = detail();
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

async fn metrics_text(State(state): State<AppState>, request: axum::extract::Request) -> Response {
    let (mut parts, _) = request.into_parts();
    if let Err(challenge) = state.metrics_auth.admit(&mut parts).await {
        return challenge;
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

/// Admits an admin caller with authentication on: the bearer must pass [`EdgeAuth::admit`]
/// and carry the scope [`ADMIN_SCOPE`] or the role [`ADMIN_ROLE`]; the refusal (401 with the
/// challenge, or 403 naming `what`) otherwise. With authentication off it admits nobody by
/// itself (the caller applies its loopback rules).
pub(crate) async fn admit_admin(
    auth: &EdgeAuth,
    parts: &mut http::request::Parts,
    what: &str,
) -> Result<(), Response> {
    let principal = auth.admit(parts).await?;
    let admin = principal.is_some_and(|p| {
        p.scopes.iter().any(|s| s == ADMIN_SCOPE) || p.roles.iter().any(|r| r == ADMIN_ROLE)
    });
    if admin && auth.is_on() {
        return Ok(());
    }
    Err(admin_error(
        StatusCode::FORBIDDEN,
        &format!("the {what} needs the scope `{ADMIN_SCOPE}` or the role `{ADMIN_ROLE}`"),
    ))
}

/// A JSON error answer of the admin endpoints.
pub(crate) fn admin_error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

async fn admin_reload(State(state): State<AppState>, request: axum::extract::Request) -> Response {
    let Some(reload) = state.gateway.admin_reload().cloned() else {
        return admin_error(
            StatusCode::NOT_FOUND,
            "this gateway has no configuration file to reload (start it with `serve --config FILE`)",
        );
    };
    let (mut parts, _) = request.into_parts();
    match &state.admin_auth {
        EdgeAuth::Off => {
            let peer = parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip());
            // A browser page must not be able to reload a loopback gateway (CSRF): admin
            // clients are tools (curl, scripts), which send no `Origin`.
            if parts.headers.contains_key(axum::http::header::ORIGIN) {
                return admin_error(
                    StatusCode::FORBIDDEN,
                    "the admin endpoint does not answer browser requests (an `Origin` header) while authentication is off",
                );
            }
            if !peer.is_some_and(|ip| ip.is_loopback()) {
                return admin_error(
                    StatusCode::FORBIDDEN,
                    "the admin endpoint answers only loopback clients while authentication is off (configure `auth` to use it remotely)",
                );
            }
        }
        EdgeAuth::On(_) => {
            if let Err(refusal) = admit_admin(&state.admin_auth, &mut parts, "admin endpoint").await
            {
                return refusal;
            }
        }
    }
    let (applied, body) = reload().await;
    let status = if applied {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    (status, axum::Json(body)).into_response()
}
