//! One lean call's POST and the reading of its answer, as rmcp's HTTP client reads the
//! answer to a request (its `StreamableHttpClient for reqwest::Client`), so that a call
//! fails the same way on either path, and with a message that says why:
//!
//! - 401 and 403: refused credentials (the `WWW-Authenticate` challenge is quoted); a 401
//!   drops the OAuth2 token it was sent with, so the next call gets a new one;
//! - 202 and 204: accepted without an answer (a server must answer a request);
//! - 429, and a 5xx that is not JSON: the status and its `Retry-After`, body unread;
//! - any other failure status: a JSON-RPC error in its JSON body (up to 64 KiB) is the
//!   call's error, as the server meant it; otherwise the status and the start of the body;
//! - a success: a JSON body (up to 16 MiB) or an SSE stream (each event up to
//!   `max_message_bytes`) holding the response; any other content type is refused.
//!
//! Transport errors are described without the URL (it may carry a credential). Does not
//! own: what is sent (`mod.rs`), decoding a message (`crate::decode`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use bytes::Bytes;
use futures::{StreamExt as _, TryStreamExt as _};
use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use rmcp::model::{
    JsonRpcMessage, RequestId, ServerJsonRpcMessage, ServerNotification, ServerResult,
};

use toolgate_http::transport::{Outgoing, ResponseBody, read_capped};

use super::{Failure, Lean};
use crate::decode;

/// The largest JSON answer read (rmcp's `MAX_JSON_RESPONSE_SIZE`).
const JSON_CAP: usize = 16 * 1024 * 1024;
/// The largest failure body read for its JSON-RPC error (rmcp's `MAX_ERROR_RESPONSE_SIZE`).
const ERROR_BODY_CAP: usize = 64 * 1024;
/// How much of a failure body a message quotes.
const QUOTED: usize = 300;
/// The longest `Retry-After` value quoted (rmcp's bound).
const RETRY_AFTER_CAP: usize = 64;

const EVENT_STREAM: &[u8] = b"text/event-stream";
type Response = http::Response<ResponseBody>;
const JSON: &[u8] = b"application/json";

impl Lean {
    /// POSTs `body` with `headers` as request `id` and reads its answer.
    pub(super) async fn exchange(
        &self,
        id: i64,
        body: Vec<u8>,
        mut headers: HeaderMap,
    ) -> Result<ServerResult, Failure> {
        let token = match &self.tokens {
            Some(tokens) => {
                let value = tokens.bearer(&self.http).await.map_err(|e| {
                    Failure::Http(format!("cannot get an OAuth2 token: {}", e.message))
                })?;
                headers.insert(AUTHORIZATION, value.clone());
                Some(value)
            }
            None => None,
        };
        let request = Outgoing {
            method: Method::POST,
            url: self.url.clone(),
            headers,
            body: Some(body.into()),
        };
        let response = self
            .transport
            .send(request)
            .await
            .map_err(|e| Failure::Http(e.detail()))?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED
            && let (Some(tokens), Some(used)) = (&self.tokens, &token)
        {
            tokens.reject(used);
        }
        let id = RequestId::Number(id);
        if !status.is_success() {
            return Err(failed(response).await);
        }
        if matches!(status, StatusCode::ACCEPTED | StatusCode::NO_CONTENT) {
            return Err(Failure::Protocol(
                "it accepted the request without answering it".to_owned(),
            ));
        }
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .map(HeaderValue::as_bytes);
        match content_type {
            Some(ct) if ct.starts_with(EVENT_STREAM) => self.events(response, &id).await,
            Some(ct) if ct.starts_with(JSON) => {
                let body = read(response, JSON_CAP).await?.ok_or_else(|| {
                    Failure::Protocol(format!("its answer is larger than {} MiB", JSON_CAP >> 20))
                })?;
                let message = decode::server_message(&body, |r| *r == id).map_err(|e| {
                    Failure::Protocol(format!("its JSON answer is not a JSON-RPC message: {e}"))
                })?;
                self.take(message, &id).await?.ok_or_else(|| {
                    Failure::Protocol(
                        "its JSON answer is not the response to the request".to_owned(),
                    )
                })
            }
            other => Err(Failure::Protocol(format!(
                "it answered with Content-Type `{}`, neither JSON nor an event stream",
                String::from_utf8_lossy(other.unwrap_or_default())
            ))),
        }
    }

    /// The response to `id` on an SSE answer, handling what comes before it.
    async fn events(&self, response: Response, id: &RequestId) -> Result<ServerResult, Failure> {
        let bound = Arc::new(Bound {
            cap: self.max_sse_event_size,
            ..Bound::default()
        });
        let counted = bound.clone();
        let bytes = http_body_util::BodyDataStream::new(response.into_body())
            .map_err(std::io::Error::other)
            .and_then(move |chunk| std::future::ready(counted.admit(chunk.len()).map(|()| chunk)));
        let mut events = sse_stream::SseStream::from_bytes_stream(bytes);
        while let Some(event) = events.next().await {
            let event = match event {
                Ok(event) => event,
                Err(_) if bound.exceeded.load(Ordering::Relaxed) => {
                    return Err(Failure::Protocol(format!(
                        "an event of its answer is larger than {} bytes (max_message_bytes)",
                        bound.cap
                    )));
                }
                Err(e) => return Err(Failure::Http(format!("its event stream broke: {e}"))),
            };
            bound.consumed();
            // Priming events and keep-alives carry no message.
            let Some(data) = event.data.filter(|d| !d.trim().is_empty()) else {
                continue;
            };
            let message = decode::server_message(data.as_bytes(), |r| r == id).map_err(|e| {
                Failure::Protocol(format!("an SSE event is not a JSON-RPC message: {e}"))
            })?;
            if let Some(result) = self.take(message, id).await? {
                return Ok(result);
            }
        }
        Err(Failure::Http(
            "the stream ended before the answer (the server may have crashed)".to_owned(),
        ))
    }

    /// The result when `message` answers request `id`; `None` after handling a notification.
    async fn take(
        &self,
        message: ServerJsonRpcMessage,
        id: &RequestId,
    ) -> Result<Option<ServerResult>, Failure> {
        match message {
            JsonRpcMessage::Response(r) if r.id == *id => Ok(Some(r.result)),
            // An error without an id on this request's own answer is the request's.
            JsonRpcMessage::Error(e) if e.id.as_ref().is_none_or(|e| e == id) => {
                Err(Failure::Rpc(e.error))
            }
            JsonRpcMessage::Response(_) | JsonRpcMessage::Error(_) => Err(Failure::Protocol(
                "it answered another request on this request's stream".to_owned(),
            )),
            JsonRpcMessage::Request(_) => Err(Failure::Protocol(
                "it sent a request during a 2026-07-28 call (such a server asks with input_required)"
                    .to_owned(),
            )),
            JsonRpcMessage::Notification(n) => {
                self.notified(n.notification).await;
                Ok(None)
            }
        }
    }

    /// A notification that came before the answer, handled as the session's client handler
    /// handles it for a client that wants neither progress nor log messages.
    async fn notified(&self, notification: ServerNotification) {
        match notification {
            ServerNotification::ToolListChangedNotification(_)
            | ServerNotification::PromptListChangedNotification(_)
            | ServerNotification::ResourceListChangedNotification(_) => {
                self.hub.refresh.notify_one();
            }
            ServerNotification::ResourceUpdatedNotification(n) => {
                self.hub.resource_updated(n.params).await;
            }
            _ => {}
        }
    }
}

/// How much of an SSE answer was read and not yet made into events: past the cap, the
/// stream fails (an event that never ends cannot grow without bound).
#[derive(Default)]
struct Bound {
    cap: usize,
    received: AtomicUsize,
    mark: AtomicUsize,
    exceeded: AtomicBool,
}

impl Bound {
    /// A chunk of `len` bytes arrives: refused when what came before it since the last event
    /// is already over the cap (so at most the cap and one chunk are held).
    fn admit(&self, len: usize) -> Result<(), std::io::Error> {
        let before = self.received.fetch_add(len, Ordering::Relaxed);
        if before - self.mark.load(Ordering::Relaxed) > self.cap {
            self.exceeded.store(true, Ordering::Relaxed);
            return Err(std::io::Error::other("an SSE event over the cap"));
        }
        Ok(())
    }

    /// An event came out of what was received.
    fn consumed(&self) {
        self.mark
            .store(self.received.load(Ordering::Relaxed), Ordering::Relaxed);
    }
}

/// The failure a non-success answer stands for (module docs).
async fn failed(response: Response) -> Failure {
    let status = response.status();
    let headers = response.headers();
    let retry_after = headers
        .get(RETRY_AFTER)
        .filter(|v| v.len() <= RETRY_AFTER_CAP)
        .and_then(|v| v.to_str().ok())
        .map(|v| format!(" (Retry-After: {v})"))
        .unwrap_or_default();
    let challenge = headers
        .get(WWW_AUTHENTICATE)
        .map(|v| {
            format!(
                " (WWW-Authenticate: {})",
                quote(&String::from_utf8_lossy(v.as_bytes()))
            )
        })
        .unwrap_or_default();
    let is_json = headers
        .get(CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes().starts_with(JSON));
    if status == StatusCode::TOO_MANY_REQUESTS || (status.is_server_error() && !is_json) {
        return Failure::Http(format!("HTTP {status}{retry_after}"));
    }
    let body = match read(response, ERROR_BODY_CAP).await {
        Ok(Some(body)) => body,
        Ok(None) => {
            return Failure::Http(format!("HTTP {status}{retry_after} (a body over 64 KiB)"));
        }
        Err(e) => return e,
    };
    let auth = matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN);
    if !auth
        && is_json
        && let Ok(JsonRpcMessage::Error(e)) = decode::server_message(&body, |_| false)
    {
        return Failure::Rpc(e.error);
    }
    let text = String::from_utf8_lossy(&body);
    let text = text.trim();
    let said = if text.is_empty() {
        String::new()
    } else {
        format!(": {}", quote(text))
    };
    match status {
        StatusCode::UNAUTHORIZED => Failure::Http(format!(
            "HTTP {status}: the server refused the gateway's credentials (transport.bearer_token or transport.oauth2){challenge}{said}"
        )),
        StatusCode::FORBIDDEN => Failure::Http(format!(
            "HTTP {status}: the server forbids this call with the gateway's credentials{challenge}{said}"
        )),
        _ => Failure::Http(format!("HTTP {status}{retry_after}{said}")),
    }
}

/// The body of `response`, or `None` when it is larger than `cap` (never more than `cap` is
/// read).
async fn read(response: Response, cap: usize) -> Result<Option<Bytes>, Failure> {
    let announced = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > cap as u64) {
        return Ok(None);
    }
    let mut body = response.into_body();
    match read_capped(&mut body, cap).await {
        Ok((bytes, false)) => Ok(Some(bytes)),
        Ok((_, true)) => Ok(None),
        Err(e) => Err(Failure::Http(format!(
            "reading its answer failed: {}",
            chain(&*e)
        ))),
    }
}

/// The start of `text` (whole characters), marked when cut.
fn quote(text: &str) -> String {
    match text.char_indices().nth(QUOTED) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// An error with its causes.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
