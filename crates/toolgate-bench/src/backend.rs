//! The benchmark backend: `GET /items/{id}` answers a small fixed JSON object, and
//! `GET /openapi.json` describes that one operation (`get_item`) so any OpenAPI-to-MCP server
//! can serve it. As cheap as an HTTP server gets in Rust, so the MCP layer's cost stands out.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::serve::ListenerExt as _;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// The body of every `GET /items/{id}` answer.
pub const ITEM_JSON: &str =
    r#"{"id":42,"name":"widget","price":9.5,"in_stock":true,"tags":["red","small"]}"#;

/// The OpenAPI 3.0 description of the backend; `base_url` becomes `servers[0]` if given.
pub fn openapi_document(base_url: Option<&str>) -> Value {
    let mut doc = json!({
        "openapi": "3.0.3",
        "info": { "title": "bench backend", "version": "1.0.0" },
        "paths": {
            "/items/{id}": {
                "get": {
                    "operationId": "get_item",
                    "summary": "Get an item by id",
                    "parameters": [{
                        "name": "id", "in": "path", "required": true,
                        "schema": { "type": "integer" }
                    }],
                    "responses": {
                        "200": {
                            "description": "The item",
                            "content": { "application/json": { "schema": {
                                "type": "object",
                                "properties": {
                                    "id": { "type": "integer" },
                                    "name": { "type": "string" },
                                    "price": { "type": "number" },
                                    "in_stock": { "type": "boolean" },
                                    "tags": { "type": "array", "items": { "type": "string" } }
                                }
                            } } }
                        }
                    }
                }
            }
        }
    });
    if let Some(url) = base_url {
        doc["servers"] = json!([{ "url": url }]);
    }
    doc
}

/// The backend's routes; `base_url` goes into the served OpenAPI document.
pub fn router(base_url: Option<&str>) -> Router {
    let spec = openapi_document(base_url).to_string();
    Router::new().route("/items/{id}", get(item)).route(
        "/openapi.json",
        get(move || {
            let spec = spec.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], spec) }
        }),
    )
}

async fn item() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], ITEM_JSON)
}

/// Serves `router` on `listener` with TCP_NODELAY on every accepted socket, until the
/// process ends.
pub async fn serve(listener: TcpListener, router: Router) -> std::io::Result<()> {
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router).await
}
