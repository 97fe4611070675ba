//! MCP over stdin/stdout: nothing but protocol on stdout (logs go to stderr, set up by the
//! binary), exit when the client closes stdin.

use rmcp::ServiceExt as _;
use toolgate_core::Transport;

use crate::handler::Gateway;

/// Serves `gateway` on stdin/stdout until the client disconnects.
pub async fn serve_stdio(gateway: Gateway) -> std::io::Result<()> {
    let gateway = gateway.with_transport(Transport::Stdio);
    let running = match gateway.serve(rmcp::transport::stdio()).await {
        Ok(running) => running,
        // The client went away before initializing (e.g. a probe, or stdin closed): nothing
        // was asked, so nothing failed.
        Err(rmcp::service::ServerInitializeError::ConnectionClosed(_)) => {
            tracing::info!("stdin closed before the client initialized; exiting");
            return Ok(());
        }
        Err(e) => return Err(std::io::Error::other(e)),
    };
    running.waiting().await.map_err(std::io::Error::other)?;
    Ok(())
}
