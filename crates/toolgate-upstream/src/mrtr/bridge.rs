//! A 2026-07-28 upstream that needs input, in front of a client that takes server requests
//! (a 2025-11-25 HTTP session, stdio): the gateway answers the upstream's `input_required`
//! rounds (MRTR, SEP-2322) in the client's place, with the client's own answers.
//!
//! Such an upstream answers `tools/call`, `prompts/get` or `resources/read` with
//! `{resultType: "input_required", inputRequests: {key: request}, requestState}`, a result
//! these clients cannot be given. [`Bridge::run`] sends each entry of `inputRequests`
//! (`sampling/createMessage`, `elicitation/create`, `roots/list`) to the client as the real
//! server request, on the call's channel (so it travels on the call's stream, as a 2025-11-25
//! upstream's request would: `client.rs`), one after the other in key order; it sends the
//! upstream request again (a new JSON-RPC id, the same params) with the answers as
//! `inputResponses` under the same keys and the upstream's exact `requestState`. Another
//! `input_required` is another round, up to [`MAX_ROUNDS`] rounds.
//!
//! The call fails, with a message naming the upstream and what was called, when: the request
//! has no channel back to its client; the client did not declare the capability a request
//! needs (`sampling`, `elicitation`, `elicitation.url`; a client without `roots` gets the
//! source's configured roots instead, as for a 2025-11-25 upstream); the client answers with
//! an error (its message and code are passed on) or the wrong kind of result; the upstream
//! asks for something else than those three; the rounds do not end. Waiting for the client
//! is raced against the call's cancellation and bounded by the call's deadline and the
//! upstream's `timeouts.max_call_ms` counted from the call's start. A 2026-07-28 upstream
//! keeps nothing pending between rounds (its state travels in `requestState`), so a call
//! that stops there leaves nothing upstream; a retry in flight is cancelled like any
//! upstream request (`upstream/calls.rs`).
//!
//! Does not own: sending requests (`upstream/calls.rs`) or 2026-07-28 clients (`super`),
//! which are given the upstream's rounds themselves.

// Sampling and roots are deprecated by SEP-2577 (2026-07-28) but part of 2025-11-25.
#![allow(deprecated)]

use std::future::Future;
use std::time::Duration;

use rmcp::ErrorData;
use rmcp::model::{
    ClientCapabilities, ClientResult, CustomResult, ElicitRequestParams, InputRequest,
    InputRequests, InputResponses, ListRootsResult, Root, ServerRequest, ServerResult,
};
use tokio::time::Instant;
use toolgate_core::{
    CallContext, ClientChannel, ErrorOrigin, InputRetry, ToolError, ToolErrorKind,
};

/// Rounds of input one call may take before the gateway gives up on the upstream.
pub(crate) const MAX_ROUNDS: usize = 8;

/// One call of a 2026-07-28 upstream for a client that takes server requests (see the module
/// docs).
pub(crate) struct Bridge<'a> {
    /// The upstream's name.
    pub(crate) upstream: &'a str,
    /// What is called, for messages: `tool`, `prompt` or `resource`, and its name or URI
    /// on the upstream.
    pub(crate) what: &'static str,
    pub(crate) name: &'a str,
    /// The source's configured roots: the answer to `roots/list` for a client without roots.
    pub(crate) roots: &'a [Root],
    /// The longest the call waits for the client's answers, all rounds together.
    pub(crate) limit: Duration,
    /// Rounds allowed ([`MAX_ROUNDS`]).
    pub(crate) max_rounds: usize,
}

/// What one entry of `inputRequests` asks the client for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sampling,
    Elicitation { url: bool },
    Roots,
}

impl Kind {
    fn method(self) -> &'static str {
        match self {
            Kind::Sampling => "sampling/createMessage",
            Kind::Elicitation { .. } => "elicitation/create",
            Kind::Roots => "roots/list",
        }
    }

    /// The capability the client must have declared, if it lacks it.
    fn missing(self, caps: Option<&ClientCapabilities>) -> Option<&'static str> {
        let lacks = |has: fn(&ClientCapabilities) -> bool| caps.is_none_or(|c| !has(c));
        let elicitation = caps.and_then(|c| c.elicitation.as_ref());
        match self {
            Kind::Sampling => lacks(|c| c.sampling.is_some()).then_some("sampling"),
            // `elicitation: {}` means form mode (2025-11-25).
            Kind::Elicitation { url: false } => match elicitation {
                Some(e) if e.form.is_some() || e.url.is_none() => None,
                Some(_) => Some("elicitation.form"),
                None => Some("elicitation"),
            },
            Kind::Elicitation { url: true } => match elicitation {
                Some(e) if e.url.is_some() => None,
                _ => Some("elicitation.url"),
            },
            Kind::Roots => lacks(|c| c.roots.is_some()).then_some("roots"),
        }
    }
}

impl Bridge<'_> {
    /// Runs the call: `send` sends the upstream request with what a retry carries (nothing
    /// the first time) and is called again for each round.
    pub(crate) async fn run<F, Fut>(
        &self,
        ctx: &CallContext,
        mut send: F,
    ) -> Result<ServerResult, ToolError>
    where
        F: FnMut(InputRetry) -> Fut,
        Fut: Future<Output = Result<ServerResult, ToolError>>,
    {
        let mut until = Instant::now() + self.limit;
        if let Some(deadline) = ctx.deadline {
            until = until.min(deadline);
        }
        let mut answer = send(InputRetry::default()).await?;
        let mut round = 0;
        loop {
            let asked = match answer {
                ServerResult::InputRequiredResult(r) => r,
                other => return self.settled(other),
            };
            if round == self.max_rounds {
                return Err(self.fail(
                    ToolErrorKind::Protocol,
                    ErrorOrigin::Backend,
                    format!(
                        "still asked for input after {round} rounds answered (at most {}); the upstream does not finish the call",
                        self.max_rounds
                    ),
                ));
            }
            round += 1;
            let responses = self.round(ctx, round, asked.input_requests, until).await?;
            if ctx.cancel.is_cancelled() {
                return Err(self.cancelled());
            }
            if Instant::now() >= until {
                return Err(self.out_of_time(round));
            }
            tracing::debug!(
                upstream = %self.upstream,
                target = %self.name,
                round,
                "input answered by the client; the request is sent again"
            );
            answer = send(InputRetry {
                input_responses: responses,
                request_state: asked.request_state,
            })
            .await?;
        }
    }

    /// A final answer; an `input_required` that rmcp could not read (a request of a kind it
    /// does not know) is refused here rather than passed on as something else.
    fn settled(&self, answer: ServerResult) -> Result<ServerResult, ToolError> {
        let ServerResult::CustomResult(CustomResult(value)) = &answer else {
            return Ok(answer);
        };
        if value.get("resultType").and_then(|t| t.as_str()) != Some("input_required") {
            return Ok(answer);
        }
        let methods: Vec<String> = value
            .get("inputRequests")
            .and_then(|r| r.as_object())
            .map(|r| {
                r.iter()
                    .map(|(key, request)| {
                        let method = request.get("method").and_then(|m| m.as_str());
                        format!("`{key}`: {}", method.unwrap_or("no method"))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Err(self.unknown(&methods.join(", ")))
    }

    /// One round: every request sent to the client, its answers by key (`None`: the upstream
    /// asked for none, only for its `requestState` back).
    async fn round(
        &self,
        ctx: &CallContext,
        round: usize,
        requests: Option<InputRequests>,
        until: Instant,
    ) -> Result<Option<InputResponses>, ToolError> {
        let Some(requests) = requests.filter(|r| !r.is_empty()) else {
            return Ok(None);
        };
        let client = match &ctx.client {
            Some(c) if c.accepts_requests() => c.clone(),
            other => {
                let why = if other.is_some() {
                    "this client takes server requests only as input_required results"
                } else {
                    "this request has no channel back to its client (an in-process call, or a transport path without one)"
                };
                let keys: Vec<&str> = requests.keys().map(String::as_str).collect();
                return Err(self.fail(
                    ToolErrorKind::Protocol,
                    ErrorOrigin::Gateway,
                    format!(
                        "needs input from the client ({}), but {why}",
                        keys.join(", ")
                    ),
                ));
            }
        };
        let mut responses = InputResponses::new();
        for (key, request) in requests {
            let value = self
                .ask(ctx, client.as_ref(), round, &key, request, until)
                .await?;
            responses.insert(key, value);
        }
        Ok(Some(responses))
    }

    /// Sends one request to the client and waits for its answer.
    async fn ask(
        &self,
        ctx: &CallContext,
        client: &dyn ClientChannel,
        round: usize,
        key: &str,
        request: InputRequest,
        until: Instant,
    ) -> Result<serde_json::Value, ToolError> {
        let (kind, request) = match request {
            InputRequest::CreateMessage(r) => {
                (Kind::Sampling, ServerRequest::CreateMessageRequest(r))
            }
            InputRequest::Elicitation(r) => {
                let url = matches!(r.params, ElicitRequestParams::UrlElicitationParams { .. });
                (Kind::Elicitation { url }, ServerRequest::ElicitRequest(r))
            }
            InputRequest::ListRoots(r) => (Kind::Roots, ServerRequest::ListRootsRequest(r)),
            other => {
                let method = serde_json::to_value(&other)
                    .ok()
                    .and_then(|v| v.get("method").and_then(|m| m.as_str()).map(str::to_owned))
                    .unwrap_or_else(|| "no method".to_owned());
                return Err(self.unknown(&format!("`{key}`: {method}")));
            }
        };
        let what = format!("{} (key `{key}`, round {round})", kind.method());
        if let Some(capability) = kind.missing(client.capabilities()) {
            if kind == Kind::Roots {
                // As for a 2025-11-25 upstream (`client.rs`): the configured roots.
                return json(&ListRootsResult::new(self.roots.to_vec()));
            }
            return Err(self.fail(
                ToolErrorKind::Protocol,
                ErrorOrigin::Gateway,
                format!(
                    "asked the client for {what}, but the client did not declare the `{capability}` capability: use a client that supports it, or call something that does not need it"
                ),
            ));
        }
        let answer = tokio::select! {
            answer = client.request(request) => answer,
            () = ctx.cancel.cancelled() => return Err(self.cancelled()),
            () = tokio::time::sleep_until(until) => return Err(self.out_of_time(round)),
        };
        match (kind, answer) {
            (Kind::Sampling, Ok(ClientResult::CreateMessageResult(r))) => json(&r),
            (Kind::Elicitation { .. }, Ok(ClientResult::ElicitResult(r))) => json(&r),
            (Kind::Roots, Ok(ClientResult::ListRootsResult(r))) => json(&r),
            (_, Ok(_)) => Err(self.fail(
                ToolErrorKind::Protocol,
                ErrorOrigin::Gateway,
                format!(
                    "asked the client for {what}; the client answered with another kind of result"
                ),
            )),
            (_, Err(e)) if client.is_closed() => Err(self.fail(
                ToolErrorKind::Cancelled,
                ErrorOrigin::Gateway,
                format!(
                    "asked the client for {what}, but the client went away: {}",
                    e.message
                ),
            )),
            (_, Err(e)) => Err(self.refused(&what, e)),
        }
    }

    /// A failure of this call, its message naming the upstream and what was called.
    fn fail(&self, kind: ToolErrorKind, origin: ErrorOrigin, message: String) -> ToolError {
        ToolError::new(
            kind,
            format!(
                "upstream `{}` ({} `{}`): {message}",
                self.upstream, self.what, self.name
            ),
        )
        .with_origin(origin)
    }

    fn refused(&self, what: &str, e: ErrorData) -> ToolError {
        let mut error = self.fail(
            ToolErrorKind::Protocol,
            ErrorOrigin::Gateway,
            format!(
                "asked the client for {what}; the client refused: {} (code {})",
                e.message, e.code.0
            ),
        );
        error.retryable = false;
        error
    }

    fn unknown(&self, requests: &str) -> ToolError {
        self.fail(
            ToolErrorKind::Protocol,
            ErrorOrigin::Backend,
            format!(
                "asked for input the gateway cannot obtain from a 2025-11-25 client ({requests}); only sampling/createMessage, elicitation/create and roots/list are relayed"
            ),
        )
    }

    fn cancelled(&self) -> ToolError {
        self.fail(
            ToolErrorKind::Cancelled,
            ErrorOrigin::Gateway,
            "the call was cancelled by the client while the gateway waited for its input"
                .to_owned(),
        )
    }

    fn out_of_time(&self, round: usize) -> ToolError {
        let mut error = self.fail(
            ToolErrorKind::Timeout,
            ErrorOrigin::Gateway,
            format!(
                "the client's input for round {round} did not come within the call's time (its deadline, or {} ms from its start: timeouts.max_call_ms)",
                self.limit.as_millis()
            ),
        );
        error.retryable = false;
        error
    }
}

fn json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, ToolError> {
    serde_json::to_value(value).map_err(|e| {
        ToolError::new(
            ToolErrorKind::Internal,
            format!("the client's answer could not be encoded: {e}"),
        )
    })
}

#[cfg(test)]
#[path = "bridge_tests.rs"]
mod tests;
