//! OAuth2 client credentials for a streamable HTTP upstream: rmcp's HTTP client (reqwest)
//! wrapped so that every request carries a token from toolgate-http's token client
//! ([`toolgate_http::TokenSource`]: cached until shortly before expiry, single-flight
//! refresh, backoff after failures, secrets never in messages). A 401 from the server drops
//! the token it was sent with, so the next request gets a new one. rmcp only takes a static
//! `Authorization` value in its transport configuration; its `StreamableHttpClient` trait is
//! the seam for a per-request one. Does not own: the token endpoint exchange
//! (toolgate-http) or the session (`connect.rs`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use futures::stream::BoxStream;
use http::{HeaderName, HeaderValue};
use rmcp::model::ClientJsonRpcMessage;
use rmcp::transport::streamable_http_client::{
    SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
};
use sse_stream::Sse;
use toolgate_http::TokenSource;

/// rmcp's reqwest client with OAuth2 tokens.
#[derive(Clone)]
pub(crate) struct OAuth2Client {
    pub(crate) http: reqwest::Client,
    pub(crate) tokens: Arc<TokenSource>,
}

type HttpError = StreamableHttpError<reqwest::Error>;

impl OAuth2Client {
    /// The current token: the header value (to drop it on a 401) and the bare token rmcp puts
    /// after `Bearer `.
    async fn token(&self) -> Result<(HeaderValue, String), HttpError> {
        let header = self.tokens.bearer(&self.http).await.map_err(|e| {
            StreamableHttpError::UnexpectedServerResponse(Cow::Owned(format!(
                "cannot get an OAuth2 token: {}",
                e.message
            )))
        })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .unwrap_or_default()
            .to_owned();
        Ok((header, token))
    }

    fn settle<T>(&self, used: &HeaderValue, result: Result<T, HttpError>) -> Result<T, HttpError> {
        if let Err(StreamableHttpError::AuthRequired(_)) = &result {
            self.tokens.reject(used);
        }
        result
    }
}

impl StreamableHttpClient for OAuth2Client {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, HttpError> {
        let (used, token) = self.token().await?;
        let result = self
            .http
            .post_message(uri, message, session_id, Some(token), custom_headers)
            .await;
        self.settle(&used, result)
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, HttpError> {
        let (used, token) = self.token().await?;
        let result = self
            .http
            .post_message_with_max_sse_event_size(
                uri,
                message,
                session_id,
                Some(token),
                custom_headers,
                max_sse_event_size,
            )
            .await;
        self.settle(&used, result)
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), HttpError> {
        let (used, token) = self.token().await?;
        let result = self
            .http
            .delete_session(uri, session_id, Some(token), custom_headers)
            .await;
        self.settle(&used, result)
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, HttpError> {
        let (used, token) = self.token().await?;
        let result = self
            .http
            .get_stream(uri, session_id, last_event_id, Some(token), custom_headers)
            .await;
        self.settle(&used, result)
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, HttpError> {
        let (used, token) = self.token().await?;
        let result = self
            .http
            .get_stream_with_max_sse_event_size(
                uri,
                session_id,
                last_event_id,
                Some(token),
                custom_headers,
                max_sse_event_size,
            )
            .await;
        self.settle(&used, result)
    }
}
