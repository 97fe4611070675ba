//! An in-memory Todo API (users and tasks) in axum that serves its own OpenAPI 3.1 document.
//!
//! It is the backend of `toolgate demo` and of toolgate's end-to-end tests: a small but honest
//! HTTP API with path, query (including a repeated `tag` array) and JSON body parameters,
//! 201/204 answers and JSON `{"detail": ...}` errors (404 for unknown ids, 422 for invalid
//! input), as a FastAPI service would answer. `examples/fastapi-todo` is the same API in Python.
//!
//! Routes, all under `/api/v1` except the last two:
//!
//! | method | path | answer |
//! | --- | --- | --- |
//! | `POST` | `/users` | 201 `User` |
//! | `GET` | `/users` | `[User]` |
//! | `GET` | `/users/{user_id}` | `User` or 404 |
//! | `POST` | `/users/{user_id}/tasks` | 201 `Task` |
//! | `GET` | `/tasks?user_id&status&tag&limit&offset` | `{items: [Task], total}` |
//! | `GET`, `PATCH`, `DELETE` | `/tasks/{task_id}` | `Task`, `Task`, 204 |
//! | `POST` | `/tasks/{task_id}/complete` | `Task` |
//! | `GET` | `/openapi.json` | the OpenAPI document ([`openapi`]) |
//! | `GET` | `/healthz` | `{"status": "ok"}`, not in the document (not a tool) |
//!
//! This crate does not persist anything, authenticate anyone or know about toolgate.

#![recursion_limit = "256"]

mod handlers;
mod model;
mod openapi;

use axum::{
    Router,
    routing::{get, post},
    serve::ListenerExt,
};

/// Builds the router with fresh, empty in-memory state.
pub fn app() -> Router {
    let api = Router::new()
        .route(
            "/users",
            post(handlers::create_user).get(handlers::list_users),
        )
        .route("/users/{user_id}", get(handlers::get_user))
        .route("/users/{user_id}/tasks", post(handlers::create_task))
        .route("/tasks", get(handlers::list_tasks))
        .route(
            "/tasks/{task_id}",
            get(handlers::get_task)
                .patch(handlers::update_task)
                .delete(handlers::delete_task),
        )
        .route("/tasks/{task_id}/complete", post(handlers::complete_task));
    Router::new()
        .nest("/api/v1", api)
        .route("/openapi.json", get(handlers::openapi_json))
        .route("/healthz", get(handlers::healthz))
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .with_state(handlers::AppState::default())
}

/// The OpenAPI 3.1 document describing [`app`], as served at `GET /openapi.json`.
pub fn openapi() -> serde_json::Value {
    openapi::document()
}

/// Serves [`app`] on `listener` until the returned future is dropped (or accepting fails).
pub async fn serve(listener: tokio::net::TcpListener) -> std::io::Result<()> {
    serve_slow(listener, Vec::new()).await
}

/// Serves [`app`], answering requests whose path starts with one of `slow`'s prefixes only
/// after that many milliseconds (a slow endpoint for latency budgets: `todo-api --slow
/// /api/v1/tasks/=250`).
pub async fn serve_slow(
    listener: tokio::net::TcpListener,
    slow: Vec<(String, u64)>,
) -> std::io::Result<()> {
    // Small request/response exchanges; Nagle's delay would only add latency.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    if slow.is_empty() {
        return axum::serve(listener, app()).await;
    }
    let slow = std::sync::Arc::new(slow);
    let app = app().layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            let slow = slow.clone();
            async move {
                let path = req.uri().path();
                if let Some((_, ms)) = slow.iter().find(|(prefix, _)| path.starts_with(prefix)) {
                    tokio::time::sleep(std::time::Duration::from_millis(*ms)).await;
                }
                next.run(req).await
            }
        },
    ));
    axum::serve(listener, app).await
}
