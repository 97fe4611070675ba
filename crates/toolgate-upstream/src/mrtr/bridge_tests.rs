//! The bridge against a fake 2025-11-25 client (scripted answers, declared capabilities) and
//! a fake 2026-07-28 upstream (scripted results, every retry recorded): rounds and what each
//! retry carries, several requests in one round, and every way a call fails (no channel,
//! missing capability, refusal, wrong answer, client gone, unknown request, too many rounds,
//! cancellation, deadline).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use rmcp::ErrorData;
use rmcp::model::{
    CallToolResult, ClientCapabilities, ClientResult, ContentBlock, CreateMessageRequest,
    CreateMessageRequestParams, CreateMessageResult, CustomResult, ElicitRequest,
    ElicitRequestParams, ElicitResult, ElicitationAction, ElicitationCapability, ElicitationSchema,
    InputRequest, InputRequests, InputRequiredResult, ListRootsResult, LoggingLevel,
    LoggingMessageNotificationParam, ProgressNotificationParam, ProgressToken, ProtocolVersion,
    RequestNoParam, Root, SamplingMessage, ServerNotification, ServerRequest, ServerResult,
    UrlElicitationCapability,
};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use toolgate_core::{CallContext, ClientChannel, InputRetry, ToolError, ToolErrorKind};

use super::{Bridge, MAX_ROUNDS};

/// How the fake client answers a server request.
type Answer = Box<dyn Fn(&ServerRequest) -> Option<Result<ClientResult, ErrorData>> + Send + Sync>;

/// A 2025-11-25 client: takes server requests, answers them with `answer` (`None`: never),
/// and keeps the methods it was asked.
struct Legacy {
    session: Arc<str>,
    capabilities: ClientCapabilities,
    answer: Answer,
    asked: Mutex<Vec<String>>,
    closed: AtomicBool,
    /// Set when a request that never got its answer is dropped (the call stopped waiting).
    abandoned: Arc<AtomicBool>,
}

struct Abandon(Arc<AtomicBool>);

impl Drop for Abandon {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl ClientChannel for Legacy {
    fn session_key(&self) -> &Arc<str> {
        &self.session
    }
    fn capabilities(&self) -> Option<&ClientCapabilities> {
        Some(&self.capabilities)
    }
    fn protocol_version(&self) -> Option<&ProtocolVersion> {
        None
    }
    fn accepts_requests(&self) -> bool {
        true
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
    fn request(
        &self,
        request: ServerRequest,
    ) -> BoxFuture<'static, Result<ClientResult, ErrorData>> {
        let method = serde_json::to_value(&request).unwrap()["method"]
            .as_str()
            .unwrap()
            .to_owned();
        self.asked.lock().unwrap().push(method);
        match (self.answer)(&request) {
            Some(answer) => Box::pin(std::future::ready(answer)),
            None => {
                let guard = Abandon(self.abandoned.clone());
                Box::pin(async move {
                    let _guard = guard;
                    std::future::pending().await
                })
            }
        }
    }
    fn notify(&self, _: ServerNotification) -> BoxFuture<'static, ()> {
        Box::pin(std::future::ready(()))
    }
    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }
}

fn all_capabilities() -> ClientCapabilities {
    let c = ClientCapabilities::builder();
    c.enable_sampling()
        .enable_elicitation()
        .enable_roots()
        .build()
}

/// Answers elicitation with `name: Ada`, sampling with `drafted for <the prompt's text>`,
/// roots with `file:///client`.
fn helpful() -> Answer {
    Box::new(|request| {
        Some(Ok(match request {
            ServerRequest::ElicitRequest(_) => ClientResult::ElicitResult(
                ElicitResult::new(ElicitationAction::Accept).with_content(json!({"name": "Ada"})),
            ),
            ServerRequest::CreateMessageRequest(r) => {
                let asked = serde_json::to_value(&r.params.messages[0]).unwrap();
                let asked = asked["content"]["text"].as_str().unwrap();
                ClientResult::CreateMessageResult(Box::new(CreateMessageResult::new(
                    SamplingMessage::assistant_text(format!("drafted for {asked}")),
                    "test-model".to_owned(),
                )))
            }
            ServerRequest::ListRootsRequest(_) => ClientResult::ListRootsResult(
                ListRootsResult::new(vec![Root::new("file:///client")]),
            ),
            _ => return None,
        }))
    })
}

fn client(capabilities: ClientCapabilities, answer: Answer) -> Arc<Legacy> {
    Arc::new(Legacy {
        session: Arc::from("session:1"),
        capabilities,
        answer,
        asked: Mutex::default(),
        closed: AtomicBool::new(false),
        abandoned: Arc::default(),
    })
}

fn ctx(client: Option<Arc<Legacy>>) -> CallContext {
    let mut ctx = CallContext::in_process();
    ctx.client = client.map(|c| c as Arc<dyn ClientChannel>);
    ctx
}

fn bridge(roots: &[Root]) -> Bridge<'_> {
    Bridge {
        upstream: "up",
        what: "tool",
        name: "t",
        roots,
        limit: Duration::from_secs(600),
        max_rounds: MAX_ROUNDS,
    }
}

fn elicit(message: &str) -> InputRequest {
    InputRequest::Elicitation(ElicitRequest::new(
        ElicitRequestParams::FormElicitationParams {
            meta: None,
            message: message.to_owned(),
            requested_schema: ElicitationSchema::builder()
                .required_string("name")
                .build()
                .unwrap(),
        },
    ))
}

fn sample(text: &str) -> InputRequest {
    InputRequest::CreateMessage(CreateMessageRequest::new(CreateMessageRequestParams::new(
        vec![SamplingMessage::user_text(text)],
        100,
    )))
}

fn roots() -> InputRequest {
    InputRequest::ListRoots(RequestNoParam {
        method: Default::default(),
        extensions: Default::default(),
    })
}

fn asks(requests: Vec<(&str, InputRequest)>, state: Option<&str>) -> ServerResult {
    let requests: InputRequests = requests
        .into_iter()
        .map(|(k, r)| (k.to_owned(), r))
        .collect();
    let requests = (!requests.is_empty()).then_some(requests);
    ServerResult::InputRequiredResult(InputRequiredResult::new(requests, state.map(str::to_owned)))
}

fn done(text: &str) -> ServerResult {
    ServerResult::CallToolResult(CallToolResult::success(vec![ContentBlock::text(text)]))
}

/// The upstream's answer to its `n`th send, which carries `retry`.
type Script = dyn Fn(usize, &InputRetry) -> ServerResult + Send + Sync;

/// A fake 2026-07-28 upstream: each send gets the next result of `script` (computed from
/// what the send carries); every send is recorded.
struct Upstream {
    sends: Mutex<Vec<InputRetry>>,
    script: Box<Script>,
}

impl Upstream {
    fn new(
        script: impl Fn(usize, &InputRetry) -> ServerResult + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Upstream {
            sends: Mutex::default(),
            script: Box::new(script),
        })
    }

    fn send(
        self: &Arc<Self>,
    ) -> impl FnMut(InputRetry) -> BoxFuture<'static, Result<ServerResult, ToolError>> {
        let me = self.clone();
        move |retry| {
            let mut sends = me.sends.lock().unwrap();
            let answer = (me.script)(sends.len(), &retry);
            sends.push(retry);
            Box::pin(std::future::ready(Ok(answer)))
        }
    }

    fn count(&self) -> usize {
        self.sends.lock().unwrap().len()
    }
}

fn text(r: Result<ServerResult, ToolError>) -> String {
    match r {
        Ok(ServerResult::CallToolResult(r)) => r.content[0].as_text().unwrap().text.clone(),
        other => panic!("expected a result, got {other:?}"),
    }
}

fn error(r: Result<ServerResult, ToolError>, kind: ToolErrorKind) -> String {
    match r {
        Err(e) => {
            assert_eq!(e.kind, kind, "{e:?}");
            assert!(
                e.message.contains("upstream `up` (tool `t`)"),
                "the message names the upstream and the tool: {}",
                e.message
            );
            e.message
        }
        Ok(r) => panic!("expected an error, got {r:?}"),
    }
}

/// Elicitation, then sampling built from the elicited name, then the result built from both:
/// the upstream receives each answer under its key with its exact state.
#[tokio::test]
async fn two_rounds_are_answered_by_the_client_and_complete_the_call() {
    let upstream = Upstream::new(|n, retry| match n {
        0 => asks(vec![("who", elicit("Your name?"))], Some("state-1")),
        1 => {
            assert_eq!(retry.request_state.as_deref(), Some("state-1"));
            let name = retry.input_responses.as_ref().unwrap()["who"]["content"]["name"]
                .as_str()
                .unwrap()
                .to_owned();
            asks(
                vec![("draft", sample(&format!("greet {name}")))],
                Some(&format!("state-2:{name}")),
            )
        }
        2 => {
            let state = retry.request_state.clone().unwrap();
            let draft = &retry.input_responses.as_ref().unwrap()["draft"];
            assert_eq!(draft["role"], "assistant", "{draft}");
            done(&format!(
                "{state} {}",
                draft["content"]["text"].as_str().unwrap()
            ))
        }
        _ => panic!("a fourth send"),
    });
    let c = client(all_capabilities(), helpful());
    let r = bridge(&[])
        .run(&ctx(Some(c.clone())), upstream.send())
        .await;
    assert_eq!(text(r), "state-2:Ada drafted for greet Ada");
    assert_eq!(
        *c.asked.lock().unwrap(),
        ["elicitation/create", "sampling/createMessage"]
    );
    let sends = upstream.sends.lock().unwrap();
    assert!(sends[0].is_empty(), "the first send carries nothing");
}

#[tokio::test]
async fn every_request_of_a_round_is_answered_under_its_key() {
    let upstream = Upstream::new(|n, retry| match n {
        0 => asks(
            vec![("a", elicit("?")), ("b", roots()), ("c", sample("s"))],
            Some("s"),
        ),
        _ => {
            let r = retry.input_responses.as_ref().unwrap();
            let keys: Vec<&str> = r.keys().map(String::as_str).collect();
            assert_eq!(keys, ["a", "b", "c"]);
            done(r["b"]["roots"][0]["uri"].as_str().unwrap())
        }
    });
    let c = client(all_capabilities(), helpful());
    let r = bridge(&[])
        .run(&ctx(Some(c.clone())), upstream.send())
        .await;
    assert_eq!(text(r), "file:///client");
    assert_eq!(c.asked.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn a_final_answer_passes_unchanged_and_nothing_is_asked() {
    let upstream = Upstream::new(|_, _| done("plain"));
    let c = client(all_capabilities(), helpful());
    assert_eq!(
        text(
            bridge(&[])
                .run(&ctx(Some(c.clone())), upstream.send())
                .await
        ),
        "plain"
    );
    assert_eq!(upstream.count(), 1);
    assert!(c.asked.lock().unwrap().is_empty());
}

/// `requestState` alone (e.g. load shedding): sent back at once, with no answers.
#[tokio::test]
async fn a_state_without_requests_is_sent_back_without_answers() {
    let upstream = Upstream::new(|n, retry| match n {
        0 => asks(vec![], Some("later")),
        _ => {
            assert!(retry.input_responses.is_none());
            done(retry.request_state.as_deref().unwrap())
        }
    });
    let r = bridge(&[]).run(&ctx(None), upstream.send()).await;
    assert_eq!(text(r), "later");
}

#[tokio::test]
async fn roots_of_a_client_without_roots_are_the_configured_ones() {
    let upstream = Upstream::new(|n, retry| match n {
        0 => asks(vec![("r", roots())], None),
        _ => done(
            retry.input_responses.as_ref().unwrap()["r"]["roots"][0]["uri"]
                .as_str()
                .unwrap(),
        ),
    });
    let mut caps = all_capabilities();
    caps.roots = None;
    let c = client(caps, helpful());
    let configured = [Root::new("file:///configured")];
    let r = bridge(&configured)
        .run(&ctx(Some(c.clone())), upstream.send())
        .await;
    assert_eq!(text(r), "file:///configured");
    assert!(
        c.asked.lock().unwrap().is_empty(),
        "the client was not asked"
    );
}

#[tokio::test]
async fn a_missing_capability_fails_the_call_naming_it() {
    for (request, mut caps, capability) in [
        (sample("s"), all_capabilities(), "`sampling`"),
        (elicit("?"), all_capabilities(), "`elicitation`"),
        (
            InputRequest::Elicitation(ElicitRequest::new(
                ElicitRequestParams::UrlElicitationParams {
                    meta: None,
                    message: "sign in".to_owned(),
                    url: "https://example.com/login".to_owned(),
                    elicitation_id: "e1".to_owned(),
                },
            )),
            all_capabilities(),
            "`elicitation.url`",
        ),
    ] {
        match capability {
            "`sampling`" => caps.sampling = None,
            "`elicitation`" => caps.elicitation = None,
            _ => {}
        }
        let upstream = Upstream::new(move |_, _| asks(vec![("k", request.clone())], Some("s")));
        let c = client(caps, helpful());
        let message = error(
            bridge(&[])
                .run(&ctx(Some(c.clone())), upstream.send())
                .await,
            ToolErrorKind::Protocol,
        );
        assert!(
            message.contains(&format!("did not declare the {capability} capability"))
                && message.contains("key `k`"),
            "{message}"
        );
        assert!(c.asked.lock().unwrap().is_empty());
        assert_eq!(upstream.count(), 1, "not retried");
    }
    // A client that declared url elicitation only has no form mode.
    let mut caps = all_capabilities();
    caps.elicitation =
        Some(ElicitationCapability::new().with_url(UrlElicitationCapability::default()));
    let upstream = Upstream::new(|_, _| asks(vec![("k", elicit("?"))], None));
    let message = error(
        bridge(&[])
            .run(&ctx(Some(client(caps, helpful()))), upstream.send())
            .await,
        ToolErrorKind::Protocol,
    );
    assert!(message.contains("`elicitation.form`"), "{message}");
}

#[tokio::test]
async fn the_clients_refusal_fails_the_call_with_its_message() {
    let upstream = Upstream::new(|_, _| asks(vec![("draft", sample("s"))], Some("s")));
    let c = client(
        all_capabilities(),
        Box::new(|_| {
            Some(Err(ErrorData::invalid_request(
                "the user declined sampling",
                None,
            )))
        }),
    );
    let message = error(
        bridge(&[]).run(&ctx(Some(c)), upstream.send()).await,
        ToolErrorKind::Protocol,
    );
    assert!(
        message.contains("the client refused: the user declined sampling (code -32600)")
            && message.contains("sampling/createMessage (key `draft`, round 1)"),
        "{message}"
    );
    assert_eq!(upstream.count(), 1, "not retried");
}

#[tokio::test]
async fn a_wrong_kind_of_answer_fails_the_call() {
    let upstream = Upstream::new(|_, _| asks(vec![("k", elicit("?"))], None));
    let c = client(
        all_capabilities(),
        Box::new(|_| {
            Some(Ok(ClientResult::ListRootsResult(ListRootsResult::new(
                vec![],
            ))))
        }),
    );
    let message = error(
        bridge(&[]).run(&ctx(Some(c)), upstream.send()).await,
        ToolErrorKind::Protocol,
    );
    assert!(message.contains("another kind of result"), "{message}");
}

#[tokio::test]
async fn a_client_that_went_away_fails_the_call_as_cancelled() {
    let upstream = Upstream::new(|_, _| asks(vec![("k", elicit("?"))], None));
    let c = client(
        all_capabilities(),
        Box::new(|_| Some(Err(ErrorData::internal_error("transport closed", None)))),
    );
    c.closed.store(true, Ordering::SeqCst);
    let message = error(
        bridge(&[]).run(&ctx(Some(c)), upstream.send()).await,
        ToolErrorKind::Cancelled,
    );
    assert!(message.contains("the client went away"), "{message}");
}

#[tokio::test]
async fn a_request_without_a_channel_back_fails_the_call() {
    let upstream = Upstream::new(|_, _| asks(vec![("who", elicit("?"))], Some("s")));
    let message = error(
        bridge(&[]).run(&ctx(None), upstream.send()).await,
        ToolErrorKind::Protocol,
    );
    assert!(
        message.contains("needs input from the client (who)") && message.contains("no channel"),
        "{message}"
    );
}

/// rmcp does not read an `input_required` holding a request of another kind: it arrives as
/// a custom result, which is refused with the keys and methods rather than passed on.
#[tokio::test]
async fn an_unknown_kind_of_request_fails_the_call_naming_it() {
    let wire = json!({
        "resultType": "input_required",
        "inputRequests": {"t": {"method": "tasks/create", "params": {}}},
        "requestState": "s",
    });
    let parsed: ServerResult = serde_json::from_value(wire).unwrap();
    assert!(
        matches!(parsed, ServerResult::CustomResult(_)),
        "{parsed:?}"
    );
    let upstream = Upstream::new(move |_, _| parsed.clone());
    let c = client(all_capabilities(), helpful());
    let message = error(
        bridge(&[]).run(&ctx(Some(c)), upstream.send()).await,
        ToolErrorKind::Protocol,
    );
    assert!(message.contains("(`t`: tasks/create)"), "{message}");
    // Another custom result is a final answer.
    let other = ServerResult::CustomResult(CustomResult(json!({"x": 1})));
    let upstream = Upstream::new(move |_, _| other.clone());
    assert!(bridge(&[]).run(&ctx(None), upstream.send()).await.is_ok());
}

#[tokio::test]
async fn rounds_are_bounded() {
    let upstream = Upstream::new(|n, _| asks(vec![("k", roots())], Some(&format!("s{n}"))));
    let c = client(all_capabilities(), helpful());
    let mut b = bridge(&[]);
    b.max_rounds = 3;
    let message = error(
        b.run(&ctx(Some(c.clone())), upstream.send()).await,
        ToolErrorKind::Protocol,
    );
    assert!(
        message.contains("after 3 rounds answered (at most 3)"),
        "{message}"
    );
    assert_eq!(upstream.count(), 4, "the first send and three retries");
    assert_eq!(c.asked.lock().unwrap().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn cancellation_while_the_client_thinks_ends_the_call_and_its_request() {
    let upstream = Upstream::new(|_, _| asks(vec![("k", elicit("?"))], None));
    let c = client(all_capabilities(), Box::new(|_| None));
    let abandoned = c.abandoned.clone();
    let mut ctx = ctx(Some(c));
    let cancel = CancellationToken::new();
    ctx.cancel = cancel.clone();
    let call = tokio::spawn(async move {
        let b = bridge(&[]);
        b.run(&ctx, upstream.send())
            .await
            .map(|_| ())
            .map_err(|e| (e.kind, e.message))
    });
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!call.is_finished(), "waits for the client");
    cancel.cancel();
    let (kind, message) = call.await.unwrap().unwrap_err();
    assert_eq!(kind, ToolErrorKind::Cancelled);
    assert!(message.contains("cancelled by the client"), "{message}");
    assert!(
        abandoned.load(Ordering::SeqCst),
        "the client's request is dropped"
    );
}

#[tokio::test(start_paused = true)]
async fn the_calls_deadline_bounds_the_wait_for_the_client() {
    let upstream = Upstream::new(|_, _| asks(vec![("k", elicit("?"))], None));
    let c = client(all_capabilities(), Box::new(|_| None));
    let abandoned = c.abandoned.clone();
    let mut ctx = ctx(Some(c));
    ctx.deadline = Some(tokio::time::Instant::now() + Duration::from_secs(30));
    let sends = upstream.clone();
    let r = bridge(&[]).run(&ctx, upstream.send()).await;
    let message = error(r, ToolErrorKind::Timeout);
    assert!(message.contains("round 1 did not come"), "{message}");
    assert!(abandoned.load(Ordering::SeqCst));
    assert_eq!(sends.count(), 1, "not retried");
    // Without a deadline, the limit (timeouts.max_call_ms) bounds it.
    let upstream = Upstream::new(|_, _| asks(vec![("k", elicit("?"))], None));
    let mut b = bridge(&[]);
    b.limit = Duration::from_secs(2);
    let c = client(all_capabilities(), Box::new(|_| None));
    let started = tokio::time::Instant::now();
    let message = error(
        b.run(&self::ctx(Some(c)), upstream.send()).await,
        ToolErrorKind::Timeout,
    );
    assert!(message.contains("2000 ms"), "{message}");
    assert_eq!(started.elapsed(), Duration::from_secs(2));
}
