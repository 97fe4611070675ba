//! Running an app: TCP_NODELAY on every accepted socket, the client's address in each
//! request's extensions, and a graceful shutdown that lets calls in progress finish.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::serve::ListenerExt as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::gateway::InFlight;

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
        // The client's address reaches the request edge (`ConnectInfo`), for logs and for
        // limits keyed by client when a caller is anonymous.
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
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
