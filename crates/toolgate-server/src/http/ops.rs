//! The operational endpoints beside MCP: `/healthz` (alive), `/readyz` (catalog loaded and
//! every source reachable, with each circuit breaker's state as detail) and `/metrics`
//! (Prometheus text format).
//!
//! `/healthz` and `/readyz` are always open (orchestrators probe them without credentials);
//! `/metrics` passes the same authentication as the MCP endpoint ([`EdgeAuth::admit`]) when
//! it is on, unless `auth.metrics` is `open`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
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
}

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
        .with_state(AppState {
            gateway,
            metrics,
            metrics_auth,
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
