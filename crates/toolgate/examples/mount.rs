//! Mounting MCP at `/mcp` of your own axum service (the counterpart of fastapi-mcp's
//! `mount_http`): the Todo API and its MCP endpoint on one port, one process.
//!
//! Run: `cargo run -p toolgate --example mount` then point an MCP client at
//! `http://127.0.0.1:8000/mcp` (the REST API stays at `/api/v1/...`).

use tokio_util::sync::CancellationToken;
use toolgate_server::{HttpOptions, mcp_router};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8000".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let local = listener.local_addr()?;

    // The gateway calls the API over loopback HTTP, so the API's own middleware (auth,
    // validation, logging) applies to agent calls exactly as to any other client.
    let assembled =
        toolgate::embed::openapi_gateway("todo", todo_api::openapi(), &format!("http://{local}"))
            .await
            .map_err(|e| e.to_string())?;
    let shutdown = CancellationToken::new();
    let app = todo_api::app().merge(mcp_router(
        assembled.gateway,
        &HttpOptions::default(),
        toolgate_server::EdgeAuth::Off,
        shutdown.clone(),
    ));

    println!("Todo API at http://{local}/api/v1, MCP at http://{local}/mcp");
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = tokio::signal::ctrl_c().await;
            shutdown.cancel();
        })
        .await?;
    Ok(())
}
