//! The MRTR relay against a fake 2026-07-28 client and fake upstream calls: rounds, the
//! verification of every retry (altered, expired, foreign, reused state; missing or wrong
//! answer), the caps, and the pass-through of a 2026-07-28 upstream's own rounds.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use rmcp::ErrorData;
use rmcp::model::{
    CallToolResult, ClientCapabilities, ClientResult, ContentBlock, ErrorCode, InputRequest,
    InputRequests, InputRequiredResult, InputResponses, LoggingLevel,
    LoggingMessageNotificationParam, ProgressNotificationParam, ProgressToken, ProtocolVersion,
    RequestNoParam, ServerNotification, ServerRequest, ServerResult,
};
use serde_json::json;
use tokio::sync::mpsc;
use toolgate_core::{
    AuthMethod, CallContext, ClientChannel, InputRetry, Principal, ToolError, ToolErrorKind,
};

use super::state::Sealer;
use super::{Parking, Start};

/// A 2026-07-28 client: takes no server requests; may carry a retry.
struct Modern {
    session: Arc<str>,
    capabilities: Option<ClientCapabilities>,
    retry: Option<InputRetry>,
}

impl ClientChannel for Modern {
    fn session_key(&self) -> &Arc<str> {
        &self.session
    }
    fn capabilities(&self) -> Option<&ClientCapabilities> {
        self.capabilities.as_ref()
    }
    fn protocol_version(&self) -> Option<&ProtocolVersion> {
        None
    }
    fn accepts_requests(&self) -> bool {
        false
    }
    fn input_retry(&self) -> Option<&InputRetry> {
        self.retry.as_ref()
    }
    fn progress_token(&self) -> Option<&ProgressToken> {
        None
    }
    fn log_level(&self) -> Option<LoggingLevel> {
        None
    }
    fn notify_progress(&self, _: ProgressNotificationParam) -> BoxFuture<'static, ()> {
        Box::pin(std::future::ready(()))
    }
    fn log(&self, _: LoggingMessageNotificationParam) -> BoxFuture<'static, ()> {
        Box::pin(std::future::ready(()))
    }
    fn request(&self, _: ServerRequest) -> BoxFuture<'static, Result<ClientResult, ErrorData>> {
        panic!("a 2026-07-28 client must never be sent a server request")
    }
    fn notify(&self, _: ServerNotification) -> BoxFuture<'static, ()> {
        Box::pin(std::future::ready(()))
    }
    fn is_closed(&self) -> bool {
        false
    }
}

fn ctx(principal: Option<&str>, retry: Option<InputRetry>) -> CallContext {
    let mut ctx = CallContext::in_process();
    ctx.principal = principal.map(|p| Arc::new(Principal::new(p, Vec::new(), AuthMethod::ApiKey)));
    ctx.client = Some(Arc::new(Modern {
        session: Arc::from("request:1"),
        capabilities: Some(ClientCapabilities::default()),
        retry,
    }));
    ctx
}

fn retry(state: &str, responses: serde_json::Value) -> Option<InputRetry> {
    Some(InputRetry {
        input_responses: Some(serde_json::from_value::<InputResponses>(responses).unwrap()),
        request_state: Some(state.to_owned()),
    })
}

fn roots_answer(uri: &str) -> serde_json::Value {
    json!({ "roots": { "roots": [{ "uri": uri }] } })
}

/// An upstream call that asks the client for its roots `rounds` times, then answers with the
/// URIs it got; it reports on `told` how it learnt that no answer will come: `cancelled`, or
/// the error its request got.
fn asking(rounds: usize, told: Option<mpsc::UnboundedSender<String>>) -> Start {
    Box::new(move |ctx: CallContext, _forward| {
        Box::pin(async move {
            let client = ctx.client.clone().unwrap();
            assert!(client.accepts_requests(), "the upstream call sees a relay");
            let mut got = Vec::new();
            for _ in 0..rounds {
                let request = ServerRequest::ListRootsRequest(RequestNoParam {
                    method: Default::default(),
                    extensions: Default::default(),
                });
                tokio::select! {
                    r = client.request(request) => match r {
                        Ok(ClientResult::ListRootsResult(r)) => {
                            got.extend(r.roots.into_iter().map(|r| r.uri));
                        }
                        Ok(_) => got.push("wrong kind".into()),
                        Err(e) => {
                            if let Some(tx) = &told {
                                let _ = tx.send(format!("error: {}", e.message));
                            }
                            got.push(format!("error: {}", e.message));
                        }
                    },
                    () = ctx.cancel.cancelled() => {
                        if let Some(tx) = &told {
                            let _ = tx.send("cancelled".to_owned());
                        }
                        return Err(ToolError::new(ToolErrorKind::Cancelled, "cancelled"));
                    }
                }
            }
            Ok(ServerResult::CallToolResult(CallToolResult::success(vec![
                ContentBlock::text(got.join(",")),
            ])))
        })
    })
}

fn parking(ttl: Duration, per_principal: usize, overall: usize) -> Arc<Parking> {
    Arc::new(Parking::with(
        Arc::from("up"),
        Sealer::random().map(Arc::new),
        ttl,
        per_principal,
        overall,
    ))
}

/// The `input_required` result of a call, or a panic naming what came instead.
fn input_required(r: Result<ServerResult, ToolError>) -> InputRequiredResult {
    match r {
        Err(e) if e.kind == ToolErrorKind::InputRequired => *e.input_required.unwrap(),
        other => panic!("expected input_required, got {other:?}"),
    }
}

fn text(r: Result<ServerResult, ToolError>) -> String {
    match r {
        Ok(ServerResult::CallToolResult(r)) => r.content[0].as_text().unwrap().text.clone(),
        other => panic!("expected a result, got {other:?}"),
    }
}

/// The `-32602` error of a refused retry: its message.
fn invalid_params(r: Result<ServerResult, ToolError>) -> String {
    match r {
        Err(e) => {
            let rpc = e.rpc_error.as_ref().expect("a JSON-RPC error");
            assert_eq!(rpc.code, ErrorCode::INVALID_PARAMS, "{e:?}");
            e.message
        }
        Ok(r) => panic!("expected -32602, got {r:?}"),
    }
}

fn unused() -> Start {
    Box::new(|_, _| Box::pin(async { panic!("a retry must not start a new upstream call") }))
}

#[tokio::test]
async fn each_request_for_input_is_a_round_and_the_answers_complete_the_call() {
    let p = parking(Duration::from_secs(60), 4, 16);
    let first = input_required(
        p.call(&ctx(Some("alice"), None), "t", asking(2, None))
            .await,
    );
    let requests = first.input_requests.unwrap();
    assert!(matches!(
        requests.get("roots"),
        Some(InputRequest::ListRoots(_))
    ));
    let state = first.request_state.unwrap();
    assert_eq!(p.parked(), 1);
    let second = input_required(
        p.call(
            &ctx(Some("alice"), retry(&state, roots_answer("file:///a"))),
            "t",
            unused(),
        )
        .await,
    );
    let state2 = second.request_state.unwrap();
    assert_ne!(state, state2, "each round has its own state");
    let done = p
        .call(
            &ctx(Some("alice"), retry(&state2, roots_answer("file:///b"))),
            "t",
            unused(),
        )
        .await;
    assert_eq!(text(done), "file:///a,file:///b");
    assert_eq!(p.parked(), 0);
    // Used states cannot be replayed.
    let again = p
        .call(
            &ctx(Some("alice"), retry(&state2, roots_answer("file:///c"))),
            "t",
            unused(),
        )
        .await;
    assert!(invalid_params(again).contains("no call waits"));
}

#[tokio::test]
async fn an_altered_state_is_refused_with_invalid_params() {
    let p = parking(Duration::from_secs(60), 4, 16);
    let first = input_required(p.call(&ctx(None, None), "t", asking(1, None)).await);
    let state = first.request_state.unwrap();
    let mut altered = state.clone().into_bytes();
    let i = 6; // inside the payload
    altered[i] = if altered[i] == b'x' { b'y' } else { b'x' };
    let altered = String::from_utf8(altered).unwrap();
    let r = p
        .call(
            &ctx(None, retry(&altered, roots_answer("file:///a"))),
            "t",
            unused(),
        )
        .await;
    let message = invalid_params(r);
    assert!(
        message.contains("altered") || message.contains("malformed"),
        "{message}"
    );
    // The genuine state still works.
    let done = p
        .call(
            &ctx(None, retry(&state, roots_answer("file:///a"))),
            "t",
            unused(),
        )
        .await;
    assert_eq!(text(done), "file:///a");
}

#[tokio::test]
async fn an_expired_state_is_refused_and_its_upstream_call_cancelled() {
    let p = parking(Duration::ZERO, 4, 16);
    let (tx, mut told) = mpsc::unbounded_channel();
    let first = input_required(p.call(&ctx(None, None), "t", asking(1, Some(tx))).await);
    // The expiry drops the parked call: its request fails and the call is cancelled.
    let event = told.recv().await.expect("the upstream call was told");
    assert!(
        event == "cancelled" || event.contains("stopped waiting"),
        "{event}"
    );
    assert_eq!(p.parked(), 0);
    let r = p
        .call(
            &ctx(
                None,
                retry(&first.request_state.unwrap(), roots_answer("file:///a")),
            ),
            "t",
            unused(),
        )
        .await;
    assert!(invalid_params(r).contains("expired"));
}

#[tokio::test]
async fn another_principals_state_or_another_tools_is_refused() {
    let p = parking(Duration::from_secs(60), 4, 16);
    let first = input_required(
        p.call(&ctx(Some("alice"), None), "t", asking(1, None))
            .await,
    );
    let state = first.request_state.unwrap();
    for caller in [Some("mallory"), None] {
        let r = p
            .call(
                &ctx(caller, retry(&state, roots_answer("file:///x"))),
                "t",
                unused(),
            )
            .await;
        assert!(invalid_params(r).contains("another principal"));
    }
    let r = p
        .call(
            &ctx(Some("alice"), retry(&state, roots_answer("file:///x"))),
            "other",
            unused(),
        )
        .await;
    assert!(invalid_params(r).contains("issued for `up/t`"));
    assert_eq!(p.parked(), 1, "a refused retry leaves the call waiting");
}

#[tokio::test]
async fn a_missing_or_wrong_answer_is_refused_and_the_call_keeps_waiting() {
    let p = parking(Duration::from_secs(60), 4, 16);
    let first = input_required(p.call(&ctx(None, None), "t", asking(1, None)).await);
    let state = first.request_state.unwrap();
    let r = p
        .call(
            &ctx(None, retry(&state, json!({ "nope": {} }))),
            "t",
            unused(),
        )
        .await;
    let message = invalid_params(r);
    assert!(
        message.contains("no `roots`") && message.contains("nope"),
        "{message}"
    );
    let r = p
        .call(
            &ctx(None, retry(&state, json!({ "roots": { "roots": 5 } }))),
            "t",
            unused(),
        )
        .await;
    assert!(invalid_params(r).contains("not a valid answer"));
    let done = p
        .call(
            &ctx(None, retry(&state, roots_answer("file:///ok"))),
            "t",
            unused(),
        )
        .await;
    assert_eq!(text(done), "file:///ok");
}

#[tokio::test]
async fn a_state_from_another_process_says_where_parked_calls_live() {
    let here = parking(Duration::from_secs(60), 4, 16);
    let there = parking(Duration::from_secs(60), 4, 16);
    let first = input_required(there.call(&ctx(None, None), "t", asking(1, None)).await);
    let r = here
        .call(
            &ctx(
                None,
                retry(&first.request_state.unwrap(), roots_answer("file:///a")),
            ),
            "t",
            unused(),
        )
        .await;
    let message = invalid_params(r);
    assert!(message.contains("another toolgate process"), "{message}");
    assert!(message.contains("same instance"), "{message}");
}

#[tokio::test]
async fn the_caps_refuse_a_call_beyond_them_and_its_upstream_is_told() {
    let p = parking(Duration::from_secs(60), 1, 2);
    input_required(
        p.call(&ctx(Some("alice"), None), "t", asking(1, None))
            .await,
    );
    // Alice's second call: her cap is 1. The upstream's request is refused, the client told.
    let (tx, mut told) = mpsc::unbounded_channel();
    let r = p
        .call(&ctx(Some("alice"), None), "t", asking(1, Some(tx)))
        .await;
    match r {
        Err(e) => {
            assert_eq!(e.kind, ToolErrorKind::Overloaded);
            assert!(e.message.contains("at most 1 per client"), "{}", e.message);
        }
        Ok(r) => panic!("expected a refusal, got {r:?}"),
    }
    let event = told
        .recv()
        .await
        .expect("the refused call's upstream was told");
    assert!(
        event == "cancelled" || event.contains("cannot be asked now"),
        "{event}"
    );
    // Bob may park one; then the overall cap (2) is reached for Carol.
    input_required(p.call(&ctx(Some("bob"), None), "t", asking(1, None)).await);
    let r = p
        .call(&ctx(Some("carol"), None), "t", asking(1, None))
        .await;
    assert!(matches!(r, Err(e) if e.kind == ToolErrorKind::Overloaded));
    assert_eq!(p.parked(), 2);
}

#[tokio::test]
async fn a_modern_upstreams_own_round_is_passed_through_with_its_state_wrapped() {
    modern_upstream_round(true).await;
}

/// `call_stateless` runs the upstream call on the caller's task (no relay) and passes its
/// rounds through exactly as the relay does.
#[tokio::test]
async fn a_stateless_upstreams_round_runs_inline_and_is_passed_through_alike() {
    modern_upstream_round(false).await;
}

/// `Parking::call` (the relay) or `Parking::call_stateless` (inline).
async fn call(
    p: &Arc<Parking>,
    relay: bool,
    ctx: &CallContext,
    tool: &str,
    start: Start,
) -> Result<ServerResult, ToolError> {
    if relay {
        p.call(ctx, tool, start).await
    } else {
        p.call_stateless(ctx, tool, start).await
    }
}

async fn modern_upstream_round(relay: bool) {
    let p = parking(Duration::from_secs(60), 4, 16);
    let caller = tokio::task::try_id();
    let (seen_tx, mut seen) = mpsc::unbounded_channel::<InputRetry>();
    let upstream = move |seen: mpsc::UnboundedSender<InputRetry>| -> Start {
        Box::new(move |_ctx, forward: InputRetry| {
            Box::pin(async move {
                assert_eq!(
                    tokio::task::try_id() == caller,
                    !relay,
                    "inline only without relay"
                );
                let _ = seen.send(forward.clone());
                if forward.request_state.is_none() {
                    let mut requests = InputRequests::new();
                    requests.insert(
                        "name".into(),
                        serde_json::from_value(json!({
                            "method": "elicitation/create",
                            "params": { "message": "Name?", "requestedSchema": { "type": "object", "properties": {} } }
                        }))
                        .unwrap(),
                    );
                    return Ok(ServerResult::InputRequiredResult(InputRequiredResult::new(
                        Some(requests),
                        Some("upstream-state-1".into()),
                    )));
                }
                Ok(ServerResult::CallToolResult(CallToolResult::success(vec![
                    ContentBlock::text("done"),
                ])))
            })
        })
    };
    let first = input_required(
        call(
            &p,
            relay,
            &ctx(Some("alice"), None),
            "t",
            upstream(seen_tx.clone()),
        )
        .await,
    );
    assert!(first.input_requests.unwrap().contains_key("name"));
    let state = first.request_state.unwrap();
    assert!(!state.contains("upstream-state-1") && state.starts_with("tg1."));
    assert!(seen.recv().await.unwrap().is_empty());
    let answers = json!({ "name": { "action": "accept", "content": { "n": "x" } } });
    // Another principal cannot use it.
    let r = call(
        &p,
        relay,
        &ctx(Some("bob"), retry(&state, answers.clone())),
        "t",
        upstream(seen_tx.clone()),
    )
    .await;
    assert!(invalid_params(r).contains("another principal"));
    let done = call(
        &p,
        relay,
        &ctx(Some("alice"), retry(&state, answers.clone())),
        "t",
        upstream(seen_tx),
    )
    .await;
    assert_eq!(text(done), "done");
    let forwarded = seen.recv().await.unwrap();
    assert_eq!(forwarded.request_state.as_deref(), Some("upstream-state-1"));
    assert_eq!(
        serde_json::to_value(forwarded.input_responses.unwrap()).unwrap(),
        answers,
        "inputResponses are forwarded unchanged"
    );
}

/// After a reload the upstream has a new table under the same process key: a state of the
/// old table never resumes a call of the new one (handles are unique in the process).
#[tokio::test]
async fn a_state_of_a_replaced_table_resumes_nothing_in_the_new_one() {
    let sealer = Arc::new(Sealer::random().unwrap());
    let table = |_: ()| {
        Arc::new(Parking::with(
            Arc::from("up"),
            Ok(sealer.clone()),
            Duration::from_secs(60),
            4,
            16,
        ))
    };
    let (old, new) = (table(()), table(()));
    let stale = input_required(old.call(&ctx(None, None), "t", asking(1, None)).await);
    input_required(new.call(&ctx(None, None), "t", asking(1, None)).await);
    let r = new
        .call(
            &ctx(
                None,
                retry(&stale.request_state.unwrap(), roots_answer("file:///a")),
            ),
            "t",
            unused(),
        )
        .await;
    assert!(invalid_params(r).contains("no call waits"));
    assert_eq!(new.parked(), 1);
}
