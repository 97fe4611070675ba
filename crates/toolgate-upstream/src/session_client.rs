//! What every POST of an HTTP upstream's rmcp session passes through: a
//! [`StreamableHttpClient`] wrapper around the session's client (reqwest's, or the OAuth2 one)
//! that does two things rmcp's client does not.
//!
//! - **The concurrency cap** (`max_concurrent_requests`): one semaphore for every POST to the
//!   upstream, shared with the lean `tools/call` path (`upstream/lean/`), so that the session
//!   and the lean path together never exceed it. A POST holds its permit until its answer is
//!   read (for an SSE answer, until the stream is dropped). rmcp's own cap (its transport
//!   worker's count of POSTs in flight) is set past any real count and so never binds.
//!   Standalone GET streams and session deletions are not counted (rmcp did not count them
//!   either).
//! - **The W3C trace context as HTTP headers**: `params._meta.traceparent` and `tracestate`
//!   (put there by the request's client span, `upstream/calls.rs`) are copied into the POST's
//!   `traceparent` and `tracestate` headers, so a server (or a proxy in front of it) that reads
//!   headers only continues the trace too. Without traces no request has them and nothing is
//!   added. The lean path adds the same headers with [`trace_context`].
//!
//! Does not own the requests, the span or the `_meta` values.

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt as _;
use futures::stream::BoxStream;
use http::{HeaderName, HeaderValue};
use rmcp::model::{ClientJsonRpcMessage, GetMeta as _, JsonRpcMessage, MetaObject};
use rmcp::transport::streamable_http_client::{
    SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
};
use sse_stream::Sse;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// What rmcp's transport worker is told its cap is: never reached, this wrapper caps.
pub(crate) const RMCP_UNCAPPED: usize = 1 << 20;

pub(crate) const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
pub(crate) const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// The session's client, capped and adding trace context headers.
#[derive(Clone)]
pub(crate) struct SessionClient<C> {
    pub(crate) inner: C,
    pub(crate) permits: Arc<Semaphore>,
}

type HttpError<E> = StreamableHttpError<E>;

/// The `traceparent` and `tracestate` headers of a request whose `_meta` is `meta`, each when
/// present and a valid header value (`tracestate` only with a `traceparent`).
pub(crate) fn trace_context(meta: &MetaObject) -> Option<(HeaderValue, Option<HeaderValue>)> {
    let traceparent = HeaderValue::from_str(meta.get_traceparent()?).ok()?;
    let tracestate = meta
        .get_tracestate()
        .and_then(|v| HeaderValue::from_str(v).ok());
    Some((traceparent, tracestate))
}

/// Adds the trace context of `message`'s `_meta` to `headers`.
fn add_trace_context(
    message: &ClientJsonRpcMessage,
    headers: &mut HashMap<HeaderName, HeaderValue>,
) {
    let JsonRpcMessage::Request(r) = message else {
        return;
    };
    if let Some((traceparent, tracestate)) = trace_context(&r.request.get_meta().0) {
        headers.insert(TRACEPARENT, traceparent);
        if let Some(tracestate) = tracestate {
            headers.insert(TRACESTATE, tracestate);
        }
    }
}

/// `response`, keeping `permit` until its stream (if any) is dropped.
fn hold(
    response: StreamableHttpPostResponse,
    permit: OwnedSemaphorePermit,
) -> StreamableHttpPostResponse {
    match response {
        StreamableHttpPostResponse::Sse(events, session) => StreamableHttpPostResponse::Sse(
            events
                .map(move |event| {
                    let _held = &permit;
                    event
                })
                .boxed(),
            session,
        ),
        other => other,
    }
}

impl<C: StreamableHttpClient + Sync> SessionClient<C> {
    async fn permit(&self) -> Result<OwnedSemaphorePermit, HttpError<C::Error>> {
        self.permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StreamableHttpError::TransportChannelClosed)
    }
}

impl<C: StreamableHttpClient + Sync> StreamableHttpClient for SessionClient<C> {
    type Error = C::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        mut custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, HttpError<C::Error>> {
        add_trace_context(&message, &mut custom_headers);
        let permit = self.permit().await?;
        let response = self
            .inner
            .post_message(uri, message, session_id, auth_header, custom_headers)
            .await?;
        Ok(hold(response, permit))
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        mut custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, HttpError<C::Error>> {
        add_trace_context(&message, &mut custom_headers);
        let permit = self.permit().await?;
        let response = self
            .inner
            .post_message_with_max_sse_event_size(
                uri,
                message,
                session_id,
                auth_header,
                custom_headers,
                max_sse_event_size,
            )
            .await?;
        Ok(hold(response, permit))
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), HttpError<C::Error>> {
        self.inner
            .delete_session(uri, session_id, auth_header, custom_headers)
            .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, HttpError<C::Error>> {
        self.inner
            .get_stream(uri, session_id, last_event_id, auth_header, custom_headers)
            .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, HttpError<C::Error>> {
        self.inner
            .get_stream_with_max_sse_event_size(
                uri,
                session_id,
                last_event_id,
                auth_header,
                custom_headers,
                max_sse_event_size,
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use futures::FutureExt as _;
    use rmcp::model::{ClientNotification, InitializedNotification, JsonRpcNotification};

    use super::*;

    fn message() -> ClientJsonRpcMessage {
        ClientJsonRpcMessage::Notification(JsonRpcNotification {
            jsonrpc: Default::default(),
            notification: ClientNotification::InitializedNotification(
                InitializedNotification::default(),
            ),
        })
    }

    /// A POST of the session waits while the lean path holds the last permit, and is sent
    /// once it is released (here to a closed port: the connection is refused).
    #[tokio::test]
    async fn a_session_post_waits_for_a_permit_held_elsewhere() {
        let permits = Arc::new(Semaphore::new(1));
        let client = SessionClient {
            inner: reqwest::Client::new(),
            permits: permits.clone(),
        };
        let held = permits.clone().acquire_owned().await.unwrap();
        let mut post = Box::pin(client.post_message(
            Arc::from("http://127.0.0.1:1/mcp"),
            message(),
            None,
            None,
            HashMap::new(),
        ));
        assert!(
            (&mut post).now_or_never().is_none(),
            "sent without a permit"
        );
        assert_eq!(permits.available_permits(), 0);
        drop(held);
        let sent = post.await;
        assert!(sent.is_err(), "nothing listens on port 1");
        assert_eq!(permits.available_permits(), 1, "the permit is given back");
    }
}
