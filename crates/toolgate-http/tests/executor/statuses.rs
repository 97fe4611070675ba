//! Backend status errors, one class at a time, exactly as the model reads them (the text
//! `toolgate_core::wire` sends), and as the log keeps them (the typed cause).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use toolgate_core::context::CallContext;
use toolgate_core::error::{ToolError, ToolErrorKind};
use toolgate_core::wire::{tool_error_log, tool_error_text};
use toolgate_http::{BackendAuth, BackendReply, HttpSourceOptions, Secret};
use toolgate_openapi::ir::{HttpMethod, Operation};

use crate::common::*;

/// The operation every case calls: `DELETE /items/{item_id}?limit=` with a JSON body of
/// `title` and `tags`.
fn target() -> Arc<Operation> {
    op("t", HttpMethod::Delete, "/items/{item_id}")
        .path("item_id")
        .query("limit")
        .body_props("application/json", &["title", "tags"])
        .build()
}

/// Calls [`target`] against a backend answering `reply`, with `options` and `ctx`.
async fn fail_with(reply: Reply, options: HttpSourceOptions, ctx: &CallContext) -> ToolError {
    let server = server(move |_| reply.clone()).await;
    let b = backend(&server, options);
    call_ctx(&b, &target(), json!({"item_id": "x"}), ctx)
        .await
        .unwrap_err()
}

async fn fail(reply: Reply) -> ToolError {
    fail_with(
        reply,
        HttpSourceOptions::default(),
        &CallContext::in_process(),
    )
    .await
}

fn json_reply(status: u16, body: Value) -> Reply {
    Reply::with(status, "application/json", body.to_string())
}

const HEAD: &str = "for DELETE /items/x (tool `t`)";

/// Every sentence of `text` is said once.
fn assert_no_sentence_twice(text: &str) {
    let sentences: Vec<String> = text
        .split(['.', '\n', ';', ':'])
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| s.len() > 3)
        .collect();
    for (i, s) in sentences.iter().enumerate() {
        assert!(
            !sentences[i + 1..].contains(s),
            "`{s}` appears twice in:\n{text}"
        );
    }
}

/// The text the model reads, checked for repeats.
fn model_text(err: &ToolError) -> String {
    let text = tool_error_text(err);
    assert_no_sentence_twice(&text);
    text
}

fn log_summary(err: &ToolError) -> BackendReply {
    err.cause
        .as_deref()
        .and_then(|c| c.downcast_ref::<BackendReply>())
        .expect("a status error keeps the backend's answer as its cause")
        .clone()
}

#[tokio::test]
async fn bad_request_says_to_fix_the_arguments() {
    let err = fail(json_reply(
        400,
        json!({"detail": "Item name must be unique"}),
    ))
    .await;
    assert_eq!(err.kind, ToolErrorKind::BackendStatus);
    assert!(!err.retryable);
    assert_eq!(
        model_text(&err),
        format!(
            "backend returned 400 Bad Request {HEAD}: Item name must be unique\n\
             Fix the arguments against the tool's input schema and call the tool again."
        )
    );
}

#[tokio::test]
async fn fastapi_validation_errors_become_a_list_per_argument() {
    let body = json!({"detail": [
        {"type": "uuid_parsing", "loc": ["path", "item_id"], "msg": "Input should be a valid UUID", "input": "x"},
        {"type": "missing", "loc": ["body", "title"], "msg": "Field required", "input": {"secret": "s3"}},
        {"type": "string_type", "loc": ["body", "tags", 1], "msg": "Input should be a valid string", "input": 3},
        {"type": "less_than_equal", "loc": ["query", "limit"], "msg": "Input should be less than or equal to 100", "input": "500", "ctx": {"le": 100}},
        {"type": "extra", "loc": ["body", "other", "x"], "msg": "Extra inputs are not permitted", "input": 1}
    ]});
    let err = fail(json_reply(422, body)).await;
    assert_eq!(
        model_text(&err),
        format!(
            "backend returned 422 Unprocessable Entity {HEAD}; the API rejected these arguments:\n\
             - /item_id: Input should be a valid UUID\n\
             - /title: Field required\n\
             - /tags/1: Input should be a valid string\n\
             - /limit: Input should be less than or equal to 100\n\
             - body.other.x (as the API names it): Extra inputs are not permitted\n\
             Fix the arguments against the tool's input schema and call the tool again."
        )
    );
    // The log keeps locations and messages, never the values sent (`input`).
    let log = tool_error_log(&err).to_string();
    assert!(log.starts_with("backend_status (origin backend, sent) status 422: backend answered 422: /item_id: Input should be a valid UUID; /title: Field required"), "{log}");
    assert!(!log.contains("s3"), "{log}");
}

#[tokio::test]
async fn unauthorized_names_whose_credentials_were_refused() {
    let refused = || json_reply(401, json!({"detail": "Not authenticated"}));
    let start = format!("backend returned 401 Unauthorized {HEAD}: Not authenticated\n");

    // No credentials configured: an operator must add them.
    let err = fail(refused()).await;
    assert_eq!(
        model_text(&err),
        format!(
            "{start}The API requires credentials and the gateway has none configured for this \
             source: an operator must add `auth` to the source; do not retry."
        )
    );

    // Configured credentials refused: a configuration problem, not the model's.
    let options = HttpSourceOptions {
        auth: BackendAuth::Bearer {
            scheme: None,
            token: Secret::new("t0ken"),
        }
        .into(),
        ..Default::default()
    };
    let err = fail_with(refused(), options, &CallContext::in_process()).await;
    assert_eq!(
        model_text(&err),
        format!(
            "{start}The API refused the credentials the gateway is configured with for this \
             source: an operator must fix the source's `auth` settings; do not retry."
        )
    );
    // A credential in the static headers counts as configured too.
    let mut options = HttpSourceOptions::default();
    options.headers.insert("X-API-Key".into(), Secret::new("k"));
    let err = fail_with(refused(), options, &CallContext::in_process()).await;
    assert!(model_text(&err).contains("configured with for this source"));

    // forward_authorization: the caller's own token was refused, or it sent none.
    let forwarding = || HttpSourceOptions {
        forward_authorization: true,
        ..Default::default()
    };
    let mut ctx = CallContext::in_process();
    let mut headers = http::HeaderMap::new();
    headers.insert("authorization", "Bearer caller".parse().unwrap());
    ctx.incoming_headers = Some(Arc::new(headers));
    let err = fail_with(refused(), forwarding(), &ctx).await;
    assert_eq!(
        model_text(&err),
        format!(
            "{start}The API refused the caller's own credentials, which the gateway forwards: \
             the caller must sign in again or present a token this API accepts; calling again \
             unchanged fails the same way."
        )
    );
    let err = fail_with(refused(), forwarding(), &CallContext::in_process()).await;
    assert_eq!(
        model_text(&err),
        format!(
            "{start}The API requires credentials and this request carried none for the gateway \
             to forward: the caller must send an Authorization header."
        )
    );
}

#[tokio::test]
async fn forbidden_shows_the_business_rule_not_the_auth_config() {
    let err = fail(json_reply(
        403,
        json!({"detail": "Super users are not allowed to delete themselves"}),
    ))
    .await;
    let text = model_text(&err);
    assert_eq!(
        text,
        format!(
            "backend returned 403 Forbidden {HEAD}: Super users are not allowed to delete \
             themselves\nThe API refused this action for this caller (a permission or business \
             rule); do not retry it unchanged."
        )
    );
    assert!(!text.contains("auth"), "{text}");
}

#[tokio::test]
async fn not_found_says_the_named_thing_does_not_exist() {
    let err = fail(json_reply(404, json!({"detail": "Item not found"}))).await;
    assert_eq!(
        model_text(&err),
        format!(
            "backend returned 404 Not Found {HEAD}: Item not found\nWhat the arguments name \
             does not exist; check the identifiers in the arguments, or look them up with \
             another tool first."
        )
    );
}

#[tokio::test]
async fn conflicts_say_to_read_the_current_state() {
    for (status, reason) in [(409, "Conflict"), (412, "Precondition Failed")] {
        let err = fail(Reply::with(status, "text/plain", "version mismatch")).await;
        assert_eq!(
            model_text(&err),
            format!(
                "backend returned {status} {reason} {HEAD}: version mismatch\nThe request \
                 conflicts with the current state of the resource (it may already exist or have \
                 changed since it was read); read its current state, then decide whether to \
                 call again with updated arguments."
            )
        );
    }
}

#[tokio::test]
async fn rate_limits_say_when_to_retry_once() {
    let err = fail(Reply::with(429, "text/plain", "slow down").header("retry-after", "7")).await;
    assert!(err.retryable);
    assert_eq!(err.retry_after, Some(Duration::from_secs(7)));
    assert_eq!(
        model_text(&err),
        format!(
            "backend returned 429 Too Many Requests {HEAD}: slow down\nThe API is limiting the \
             rate of calls; wait before calling again. Retry after 7 s."
        )
    );
}

#[tokio::test]
async fn server_errors_say_the_api_failed() {
    let err = fail(Reply::with(500, "text/plain", "Internal Server Error")).await;
    assert!(!err.retryable);
    assert_eq!(
        model_text(&err),
        format!(
            "backend returned 500 Internal Server Error {HEAD}: Internal Server Error\nThe API \
             failed while handling the request (a server-side error, not caused by the \
             arguments)."
        )
    );
    let err = fail(Reply::with(503, "text/html", "<h1>down</h1>").header("retry-after", "3")).await;
    assert!(err.retryable);
    assert_eq!(
        model_text(&err),
        format!(
            "backend returned 503 Service Unavailable {HEAD}: <h1>down</h1>\nThe API is \
             temporarily unavailable; call again later. Retry after 3 s."
        )
    );
}

#[tokio::test]
async fn masked_details_keep_the_hint_and_hide_the_body() {
    let options = HttpSourceOptions {
        mask_error_details: true,
        ..Default::default()
    };
    let err = fail_with(
        json_reply(403, json!({"detail": "tenant 42 is suspended"})),
        options,
        &CallContext::in_process(),
    )
    .await;
    let text = model_text(&err);
    assert_eq!(
        text,
        format!(
            "backend returned 403 Forbidden {HEAD} [response body hidden by mask_error_details]\n\
             The API refused this action for this caller (a permission or business rule); do \
             not retry it unchanged."
        )
    );
    // The operator's log still says why.
    assert_eq!(log_summary(&err).summary, "tenant 42 is suspended");
}

#[tokio::test]
async fn the_log_keeps_a_bounded_line_of_a_big_body() {
    let body = format!("line one\nline two {}", "x".repeat(5000));
    let err = fail(Reply::with(500, "text/plain", body)).await;
    // The model gets the 2 KB excerpt …
    assert!(
        err.message.contains("line one\nline two xxx"),
        "{}",
        err.message
    );
    assert!(err.message.len() > 2000);
    // … the log one escaped line of at most 256 characters.
    let reply = log_summary(&err);
    assert_eq!(reply.status, 500);
    assert!(reply.summary.starts_with("line one\\nline two xxx"));
    assert!(
        reply.summary.chars().count() <= 258,
        "{}",
        reply.summary.len()
    );
    let log = tool_error_log(&err).to_string();
    assert!(!log.contains('\n'), "{log}");
    assert!(log.len() < 400, "{log}");
}

#[tokio::test]
async fn other_client_errors_point_to_the_apis_reason() {
    let err = fail(json_reply(
        418,
        json!({"message": "I refuse to brew coffee"}),
    ))
    .await;
    assert_eq!(
        model_text(&err),
        format!(
            "backend returned 418 I'm a teapot {HEAD}: I refuse to brew coffee\nThe API rejected \
             the request; calling again unchanged fails the same way."
        )
    );
}

/// FastAPI repeats every rejected value in `input`: a 422 bigger than the 2 KB excerpt is
/// still read whole and listed, and the value stays out of the text.
#[tokio::test]
async fn a_big_validation_error_is_still_listed() {
    let body = json!({"detail": [
        {"type": "string_too_long", "loc": ["body", "title"], "msg": "String should have at most 200 characters", "input": "t".repeat(8000)}
    ]});
    let err = fail(json_reply(422, body)).await;
    let text = model_text(&err);
    assert!(
        text.contains(
            "rejected these arguments:\n- /title: String should have at most 200 characters\n"
        ),
        "{text}"
    );
    assert!(!text.contains("tttt"), "{text}");
}
