//! The data endpoint's refusals that a test over a real socket cannot produce (a client
//! that is not on loopback), with the client's address set as `serve` sets it.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use tower::ServiceExt as _;

use super::*;
use crate::ServerIdentity;

fn app(config: DashboardConfig) -> Router {
    let catalog = toolgate_core::catalog::shared(toolgate_core::Catalog::builder().build());
    let metrics = Metrics::new();
    let pipeline = toolgate_policy::stack::build(catalog.clone(), metrics.clone());
    let gateway = Gateway::new(
        pipeline,
        catalog,
        ServerIdentity::default(),
        toolgate_core::Transport::Http,
    );
    let options = crate::HttpOptions::default();
    routes(
        gateway,
        metrics,
        None,
        EdgeAuth::Off,
        OriginPolicy::new(
            &options.effective_allowed_hosts(),
            &options.effective_allowed_origins(),
        ),
        Arc::new(config),
    )
}

async fn status(app: &Router, path: &str, peer: &str) -> StatusCode {
    let mut request = Request::get(path)
        .header("host", "127.0.0.1:8080")
        .body(axum::body::Body::empty())
        .unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
    app.clone().oneshot(request).await.unwrap().status()
}

#[tokio::test]
async fn without_authentication_only_loopback_clients_get_the_data() {
    let app = app(DashboardConfig::default());
    let data = "/admin/dashboard/data";
    assert_eq!(status(&app, data, "127.0.0.1:40000").await, StatusCode::OK);
    assert_eq!(status(&app, data, "[::1]:40000").await, StatusCode::OK);
    assert_eq!(
        status(&app, data, "192.0.2.7:40000").await,
        StatusCode::FORBIDDEN
    );
    // The page carries no data: served to anyone.
    assert_eq!(
        status(&app, DASHBOARD_PATH, "192.0.2.7:40000").await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_disabled_dashboard_serves_nothing() {
    let app = app(DashboardConfig {
        enabled: false,
        ..DashboardConfig::default()
    });
    for path in [DASHBOARD_PATH, "/admin/dashboard/data"] {
        assert_eq!(
            status(&app, path, "127.0.0.1:40000").await,
            StatusCode::NOT_FOUND
        );
    }
}
