//! The HTTP backend of one OpenAPI source: pooled clients, limits, and the per-operation
//! [`ToolHandler`]s that execute calls.
//!
//! This module owns the call sequence (validate → build → take a concurrency permit →
//! credentials → send → read under the cap → map; a 401 to a request carrying an OAuth2
//! token is sent once more with a fresh token), timeouts (per tool, bounded by the call's
//! deadline), cancellation, and the messages for transport failures. Request building, the
//! transport (`client`), auth, and response mapping are delegated to their modules.
//!
//! Header precedence, lowest first: static `headers`, forwarded client headers, header
//! parameters, credentials, the caller's identity (`identity`: every header it owns is
//! removed first, so no other value for it survives), then `X-Request-Id` (the call's
//! correlation id) and the body's `Content-Type`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{HeaderMap, HeaderName, HeaderValue};
use rmcp::model::{CallToolResult, JsonObject, ResourceContents};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use toolgate_core::context::CallContext;
use toolgate_core::error::{Delivery, ToolError, ToolErrorKind};
use toolgate_core::handler::{ReadinessProbe, ToolHandler};
use toolgate_openapi::ir::{Operation, SecurityScheme};
use url::Url;

use crate::auth::{AuthParts, Credentials, OpCredentials};
use crate::client::{BackendClients, Outgoing, ProxyEnv, SendError, SendErrorKind, Transport};
use crate::identity::{AudienceWarning, Identity, IdentityParts};
use crate::options::HttpSourceOptions;
use crate::request::{self, OpPlan};
use crate::response::{self, CallInfo, Presented, Received};
use crate::validate::ArgValidator;

/// Timeout of the readiness probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// A problem with an HTTP source's options, found when the backend is created.
#[derive(Debug, thiserror::Error)]
pub enum HttpConfigError {
    /// One or more options are invalid; every problem is listed.
    #[error("invalid HTTP source options:\n- {}", .0.join("\n- "))]
    Invalid(Vec<String>),
    /// The HTTP client could not be created (TLS setup).
    #[error("could not create the HTTP client: {0}")]
    Client(String),
}

/// Headers that describe the connection or the message framing; never configurable.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

/// One backend: pooled clients shared by all operations of a source.
#[derive(Clone, Debug)]
pub struct HttpBackend {
    inner: Arc<BackendInner>,
}

#[derive(Debug)]
struct BackendInner {
    clients: BackendClients,
    base_url: Url,
    options: HttpSourceOptions,
    static_headers: HeaderMap,
    forward: Vec<HeaderName>,
    semaphore: Arc<Semaphore>,
    auth: Credentials,
    /// How the backend learns who the caller is (`identity:`), when configured.
    identity: Option<Identity>,
    /// Warns once when a forwarded token's audience is not this backend.
    audience_warning: AudienceWarning,
}

impl HttpBackend {
    /// Creates the backend, validating `options` (every problem reported at once). Proxies
    /// come from the process environment ([`ProxyEnv::from_process`]).
    pub fn new(
        base_url: Url,
        security_schemes: Vec<SecurityScheme>,
        options: HttpSourceOptions,
    ) -> Result<Self, HttpConfigError> {
        Self::with_proxies(
            base_url,
            security_schemes,
            options,
            &ProxyEnv::from_process(),
        )
    }

    /// [`HttpBackend::new`] with the proxy variables given rather than read from the process
    /// environment.
    pub fn with_proxies(
        base_url: Url,
        security_schemes: Vec<SecurityScheme>,
        options: HttpSourceOptions,
        proxies: &ProxyEnv,
    ) -> Result<Self, HttpConfigError> {
        let mut problems = Vec::new();
        if !matches!(base_url.scheme(), "http" | "https") || base_url.host_str().is_none() {
            problems.push(format!(
                "base URL `{base_url}` must be an absolute http(s) URL"
            ));
        }
        if options.timeout_ms == 0 {
            problems.push("timeout_ms must be greater than 0".into());
        }
        if options.connect_timeout_ms == 0 {
            problems.push("connect_timeout_ms must be greater than 0".into());
        }
        if options.max_request_body_bytes == 0 {
            problems.push("max_request_body_bytes must be greater than 0".into());
        }
        if options.max_response_body_bytes == 0 {
            problems.push("max_response_body_bytes must be greater than 0".into());
        }
        if options.max_concurrent_requests == 0 {
            problems.push("max_concurrent_requests must be greater than 0".into());
        }
        for (tool, ms) in &options.tool_timeouts_ms {
            if *ms == 0 {
                problems.push(format!("tool_timeouts_ms.{tool} must be greater than 0"));
            }
        }
        for (tool, ct) in &options.content_types {
            if ct.parse::<HeaderValue>().is_err() || !ct.contains('/') {
                problems.push(format!(
                    "content_types.{tool}: `{ct}` is not a media type (e.g. `application/json`)"
                ));
            }
        }
        let mut static_headers = HeaderMap::new();
        for (name, value) in &options.headers {
            let Ok(h) = HeaderName::from_bytes(name.as_bytes()) else {
                problems.push(format!("headers: `{name}` is not a valid HTTP header name"));
                continue;
            };
            if HOP_BY_HOP.contains(&h.as_str()) {
                problems.push(format!(
                    "headers: `{name}` is managed by the HTTP client and cannot be set"
                ));
                continue;
            }
            match HeaderValue::from_str(value.expose()) {
                Ok(mut v) => {
                    v.set_sensitive(true);
                    static_headers.insert(h, v);
                }
                Err(_) => problems.push(format!(
                    "headers.{name}: the value contains characters not allowed in an HTTP header \
                     (line breaks or control characters)"
                )),
            }
        }
        let mut forward = Vec::new();
        for name in &options.forward_headers {
            match HeaderName::from_bytes(name.as_bytes()) {
                Err(_) => problems.push(format!(
                    "forward_headers: `{name}` is not a valid HTTP header name"
                )),
                Ok(h) if h == http::header::AUTHORIZATION => problems.push(
                    "forward_headers: `authorization` cannot be listed; set \
                     `forward_authorization: true` to pass the client's token through"
                        .into(),
                ),
                Ok(h) if HOP_BY_HOP.contains(&h.as_str()) || h == http::header::CONTENT_TYPE => {
                    problems.push(format!(
                        "forward_headers: `{name}` describes the client's own connection or \
                         message and cannot be forwarded"
                    ))
                }
                Ok(h) => forward.push(h),
            }
        }
        let auth =
            Credentials::resolve(&options.auth.0, &security_schemes, &base_url, &mut problems);
        if let Some(kind) = auth.authorization_kind() {
            if options.forward_authorization {
                problems.push(format!(
                    "forward_authorization and auth `{kind}` both set the Authorization header; \
                     choose one"
                ));
            }
            if static_headers.contains_key(http::header::AUTHORIZATION) {
                problems.push(
                    "headers.Authorization conflicts with `auth`; configure the credential in \
                     one place"
                        .into(),
                );
            }
        }
        let identity = Identity::new(&options.identity, &base_url, &mut problems);
        if let Some(id) = &identity {
            id.conflicts(&options, &static_headers, &forward, &auth, &mut problems);
        }
        if !problems.is_empty() {
            return Err(HttpConfigError::Invalid(problems));
        }

        let clients =
            BackendClients::new(Duration::from_millis(options.connect_timeout_ms), proxies)
                .map_err(HttpConfigError::Client)?;
        Ok(HttpBackend {
            inner: Arc::new(BackendInner {
                clients,
                base_url,
                semaphore: Arc::new(Semaphore::new(options.max_concurrent_requests)),
                options,
                static_headers,
                forward,
                auth,
                identity,
                audience_warning: AudienceWarning::default(),
            }),
        })
    }

    /// The handler executing `op`; its argument validator is compiled on the first call.
    /// Keeps its own copy of `op`'s input schema: when the tool definition holds the schema
    /// too, [`HttpBackend::tool_handler_sharing`] avoids the second copy.
    pub fn tool_handler(&self, op: Arc<Operation>) -> Arc<dyn ToolHandler> {
        let input_schema = Arc::new(op.input_schema.clone());
        let has_output_schema = op.output_schema.is_some();
        Arc::new(self.operation_handler(op, input_schema, has_output_schema))
    }

    /// The handler executing `op`, validating arguments against `input_schema`, the same
    /// `Arc` the MCP tool definition serves (one copy of each schema in memory: GitHub's
    /// 1,223 tool schemas are megabytes). `op`'s own `input_schema` and `output_schema` are
    /// not read (they may be left empty); `has_output_schema` says whether the tool declares
    /// an output schema (structured content is then required of JSON answers).
    pub fn tool_handler_sharing(
        &self,
        op: Arc<Operation>,
        input_schema: Arc<JsonObject>,
        has_output_schema: bool,
    ) -> Arc<dyn ToolHandler> {
        Arc::new(self.operation_handler(op, input_schema, has_output_schema))
    }

    fn operation_handler(
        &self,
        mut op: Arc<Operation>,
        input_schema: Arc<JsonObject>,
        has_output_schema: bool,
    ) -> OperationHandler {
        let inner = &self.inner;
        let validator = ArgValidator::new(&op, input_schema);
        // The handler never reads the operation's own schemas again.
        if let Some(owned) = Arc::get_mut(&mut op) {
            owned.input_schema = Default::default();
            owned.output_schema = None;
        }
        let plan = OpPlan::new(
            &op,
            &inner.base_url,
            inner.options.content_types.get(&op.name),
        );
        let timeout = Duration::from_millis(
            inner
                .options
                .tool_timeouts_ms
                .get(&op.name)
                .copied()
                .unwrap_or(inner.options.timeout_ms),
        );
        let credentials = inner.auth.for_operation(&op);
        OperationHandler {
            shared: Arc::new(HandlerShared {
                transport: inner.clients.transport(&plan.base),
                backend: inner.clone(),
                op,
                plan,
                validator,
                timeout,
                credentials,
                has_output_schema,
            }),
        }
    }

    /// A probe that succeeds when the base URL gives any HTTP answer within 2 s.
    pub fn readiness_probe(&self) -> Arc<dyn ReadinessProbe> {
        Arc::new(Probe {
            transport: self.inner.clients.transport(&self.inner.base_url),
            base_url: self.inner.base_url.clone(),
        })
    }

    /// Requests sent a second time, on a new connection, because the pooled connection they
    /// went out on was lost before a response (see the `client` module).
    pub fn resent_requests(&self) -> u64 {
        self.inner.clients.resent_requests()
    }

    /// The identity settings, when the source configures `identity`.
    pub(crate) fn identity(&self) -> Option<&Identity> {
        self.inner.identity.as_ref()
    }

    /// Whether this backend gets JWTs minted by toolgate (so toolgate must publish its
    /// JWKS, see [`crate::identity::jwks_document`]).
    pub fn mints_tokens(&self) -> bool {
        self.identity().is_some_and(|i| i.minter().is_some())
    }

    /// Identity tokens signed so far (0 without `identity.mint`).
    pub fn minted_tokens(&self) -> u64 {
        self.identity()
            .and_then(Identity::minter)
            .map_or(0, |m| m.minted.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Requests made to the token exchange endpoint so far (0 without
    /// `identity.token_exchange`).
    pub fn token_exchanges(&self) -> u64 {
        self.identity()
            .and_then(Identity::exchanger)
            .map_or(0, |x| {
                x.exchanges.load(std::sync::atomic::Ordering::Relaxed)
            })
    }

    /// Values that must never be printed, beyond the configuration's own secrets (the text
    /// of the identity signing key file): register them with the binary's redactor.
    pub fn secret_values(&self) -> Vec<String> {
        self.identity()
            .map(Identity::secret_values)
            .unwrap_or_default()
    }

    /// Token requests made to the OAuth2 token endpoint so far (0 without OAuth2).
    pub fn oauth2_token_requests(&self) -> u64 {
        self.inner
            .auth
            .token_sources()
            .map(|o| o.fetches.load(std::sync::atomic::Ordering::Relaxed))
            .sum()
    }
}

struct Probe {
    transport: Transport,
    base_url: Url,
}

impl ReadinessProbe for Probe {
    fn check(&self) -> BoxFuture<'static, Result<(), String>> {
        let transport = self.transport.clone();
        let url = self.base_url.clone();
        Box::pin(async move {
            let sent = transport.send(Outgoing {
                method: http::Method::HEAD,
                url: url.clone(),
                headers: HeaderMap::new(),
                body: None,
            });
            match tokio::time::timeout(PROBE_TIMEOUT, sent).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(format!(
                    "backend {} is unreachable: {}",
                    origin(&url),
                    e.detail()
                )),
                Err(_) => Err(format!(
                    "backend {} did not answer within {} ms",
                    origin(&url),
                    PROBE_TIMEOUT.as_millis()
                )),
            }
        })
    }
}

fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

#[derive(Clone)]
struct OperationHandler {
    shared: Arc<HandlerShared>,
}

struct HandlerShared {
    backend: Arc<BackendInner>,
    /// How requests reach this operation's origin (direct, or reqwest behind a proxy).
    transport: Transport,
    op: Arc<Operation>,
    plan: OpPlan,
    validator: ArgValidator,
    timeout: Duration,
    /// The credentials this operation sends (those its security requirements name).
    credentials: OpCredentials,
    /// Whether the operation declared an output schema (kept: the schema itself is dropped).
    has_output_schema: bool,
}

/// What a call needs from its context, owned so the future is `'static`.
struct CallParts {
    ids: CallIds,
    deadline: Option<Instant>,
    cancel: tokio_util::sync::CancellationToken,
    forwarded: Vec<(HeaderName, HeaderValue)>,
    client_authorization: Option<HeaderValue>,
    principal: Option<Arc<toolgate_core::context::Principal>>,
}

impl HandlerShared {
    fn parts(&self, ctx: &CallContext) -> CallParts {
        let opts = &self.backend.options;
        let mut forwarded = Vec::new();
        let mut client_authorization = None;
        if let Some(incoming) = &ctx.incoming_headers {
            for name in &self.backend.forward {
                for v in incoming.get_all(name) {
                    forwarded.push((name.clone(), v.clone()));
                }
            }
            if opts.forward_authorization {
                self.backend
                    .audience_warning
                    .check(ctx.principal.as_ref(), &self.backend.base_url);
                client_authorization =
                    incoming
                        .get(http::header::AUTHORIZATION)
                        .cloned()
                        .map(|mut v| {
                            v.set_sensitive(true);
                            v
                        });
            }
        }
        CallParts {
            ids: CallIds {
                correlation_id: ctx.correlation_id.clone(),
                trace: ctx.trace.clone(),
            },
            deadline: ctx.deadline,
            cancel: ctx.cancel.clone(),
            forwarded,
            client_authorization,
            principal: ctx.principal.clone(),
        }
    }

    /// Runs the whole call: validation, request, response (not yet mapped).
    async fn execute(
        &self,
        parts: CallParts,
        mut args: JsonObject,
    ) -> Result<(Received, String, String), ToolError> {
        let opts = &self.backend.options;
        let op = &self.op;
        self.validator
            .validate(&op.name, &mut args, opts.unknown_arguments)?;
        let built = request::build(op, &self.plan, &args)?;
        if let Some(body) = &built.body
            && body.bytes.len() as u64 > opts.max_request_body_bytes
        {
            return Err(ToolError::new(
                ToolErrorKind::TooLarge,
                format!(
                    "the request body for tool `{}` is {} bytes, over max_request_body_bytes ({} \
                     bytes); send less data per call or raise `max_request_body_bytes` in the \
                     source options",
                    op.name,
                    body.bytes.len(),
                    opts.max_request_body_bytes
                ),
            ));
        }
        let Ok(_permit) = self.backend.semaphore.clone().try_acquire_owned() else {
            let mut err = ToolError::new(
                ToolErrorKind::Overloaded,
                format!(
                    "backend {} already has {} requests in flight (max_concurrent_requests); \
                     retry shortly, or raise `max_concurrent_requests` in the source options",
                    self.plan.authority(),
                    opts.max_concurrent_requests
                ),
            );
            err.retry_after = Some(Duration::from_secs(1));
            return Err(err);
        };

        let mut timeout = self.timeout;
        let mut by_deadline = false;
        if let Some(deadline) = parts.deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ToolError::new(
                    ToolErrorKind::Timeout,
                    format!(
                        "the call's deadline passed before tool `{}` could reach backend {}",
                        op.name,
                        self.plan.authority()
                    ),
                )
                .with_delivery(Delivery::NotSent));
            }
            if left < timeout {
                timeout = left;
                by_deadline = true;
            }
        }

        let method = http::Method::from_bytes(op.method.as_str().as_bytes())
            .expect("HTTP methods are valid tokens");
        let display_path = built.path.clone();
        let send = self.send_authorized(
            method,
            built,
            parts.forwarded,
            parts.client_authorization,
            parts.principal,
            &parts.ids,
        );
        let outcome = tokio::select! {
            biased;
            _ = parts.cancel.cancelled() => {
                return Err(ToolError::new(
                    ToolErrorKind::Cancelled,
                    format!("tool `{}` was cancelled by the client; the backend request was aborted", op.name),
                ));
            }
            r = tokio::time::timeout(timeout, send) => r,
        };
        match outcome {
            Ok(result) => result.map(|(r, uri)| (r, display_path, uri)),
            Err(_) => Err(ToolError::new(
                ToolErrorKind::Timeout,
                if by_deadline {
                    format!(
                        "backend {} did not answer {} {} within the call's remaining deadline \
                         ({} ms); the operation may still have been applied",
                        self.plan.authority(),
                        op.method,
                        display_path,
                        timeout.as_millis()
                    )
                } else {
                    format!(
                        "backend {} did not answer {} {} within {} ms (tool `{}`); the operation \
                         may still have been applied; raise `tool_timeouts_ms.{}` or \
                         `timeout_ms` if the backend is just slow",
                        self.plan.authority(),
                        op.method,
                        display_path,
                        timeout.as_millis(),
                        op.name,
                        op.name
                    )
                },
            )),
        }
    }

    /// Gets the operation's credentials and sends. When the backend answers 401 to a request
    /// that carried OAuth2 tokens, they are dropped and the request is sent once more with
    /// fresh ones (a 401 means the backend did not act on it); concurrent callers that saw
    /// the same 401 share one token request.
    async fn send_authorized(
        &self,
        method: http::Method,
        built: request::Built,
        forwarded: Vec<(HeaderName, HeaderValue)>,
        client_authorization: Option<HeaderValue>,
        principal: Option<Arc<toolgate_core::context::Principal>>,
        ids: &CallIds,
    ) -> Result<(Received, String), ToolError> {
        let client = &self.backend.clients.reqwest;
        let identity = match &self.backend.identity {
            Some(id) => id.apply(principal.as_ref(), client, &self.op.name).await?,
            None => IdentityParts::default(),
        };
        let outcome = self
            .send_with_credentials(
                method,
                built,
                forwarded,
                client_authorization,
                &identity,
                ids,
            )
            .await;
        if let (Some(id), Ok((received, _))) = (&self.backend.identity, &outcome)
            && received.status == http::StatusCode::UNAUTHORIZED
        {
            id.refused(&identity).await;
        }
        outcome
    }

    async fn send_with_credentials(
        &self,
        method: http::Method,
        built: request::Built,
        forwarded: Vec<(HeaderName, HeaderValue)>,
        client_authorization: Option<HeaderValue>,
        identity: &IdentityParts,
        ids: &CallIds,
    ) -> Result<(Received, String), ToolError> {
        let creds = |auth| Creds { auth, identity };
        if self.credentials.is_empty() {
            return self
                .send(
                    method,
                    built,
                    forwarded,
                    client_authorization,
                    creds(None),
                    ids,
                )
                .await;
        }
        let client = &self.backend.clients.reqwest;
        let auth = self.credentials.apply(client).await?;
        if !self.credentials.has_token() {
            return self
                .send(
                    method,
                    built,
                    forwarded,
                    client_authorization,
                    creds(Some(&auth)),
                    ids,
                )
                .await;
        }
        let again = (
            built.clone(),
            forwarded.clone(),
            client_authorization.clone(),
        );
        let (received, uri) = self
            .send(
                method.clone(),
                built,
                forwarded,
                client_authorization,
                creds(Some(&auth)),
                ids,
            )
            .await?;
        if received.status != http::StatusCode::UNAUTHORIZED || !auth.reject_tokens() {
            return Ok((received, uri));
        }
        tracing::debug!(tool = %self.op.name, "backend answered 401; retrying with a new OAuth2 token");
        let auth = self.credentials.apply(client).await?;
        let (built, forwarded, client_authorization) = again;
        self.send(
            method,
            built,
            forwarded,
            client_authorization,
            creds(Some(&auth)),
            ids,
        )
        .await
    }

    /// Adds credentials and headers, sends, and reads the body under the cap. Returns the
    /// response and the URL without its query (for blob URIs and logs).
    async fn send(
        &self,
        method: http::Method,
        built: request::Built,
        forwarded: Vec<(HeaderName, HeaderValue)>,
        client_authorization: Option<HeaderValue>,
        creds: Creds<'_>,
        ids: &CallIds,
    ) -> Result<(Received, String), ToolError> {
        let auth = creds.auth;
        let backend = &self.backend;
        let op = &self.op;
        let extra_query = auth.map(|a| a.query.clone()).unwrap_or_default();
        let url = built.url(&self.plan, &extra_query)?;
        let log_url = url[..url::Position::AfterPath].to_owned();

        let mut headers = backend.static_headers.clone();
        for (name, _) in &forwarded {
            headers.remove(name);
        }
        for (name, value) in forwarded {
            headers.append(name, value);
        }
        for name in built.headers.keys() {
            headers.remove(name);
        }
        for (name, value) in built.headers.iter() {
            headers.append(name.clone(), value.clone());
        }
        // What this request carries that a backend echoing the request back in an error page
        // would hand to the model: taken before the values move into the request.
        let client_token = client_authorization.clone();
        if let Some(v) = client_authorization {
            headers.insert(http::header::AUTHORIZATION, v);
        }
        let mut cookies = Vec::new();
        if let Some(existing) = headers
            .get(http::header::COOKIE)
            .and_then(|v| v.to_str().ok())
        {
            cookies.push(existing.to_owned());
        }
        cookies.extend(built.cookies);
        if let Some(a) = auth {
            for (name, value) in &a.headers {
                headers.insert(name.clone(), value.clone());
            }
            cookies.extend(a.cookies.iter().cloned());
        }
        // The caller's identity last: no static, forwarded, argument or credential value
        // survives for a header the identity owns, set or not on this call.
        if let Some(id) = &backend.identity {
            for name in id.names() {
                headers.remove(name);
            }
            for (name, value) in &creds.identity.headers {
                headers.insert(name.clone(), value.clone());
            }
        }
        if !cookies.is_empty() {
            let mut v = HeaderValue::from_str(&cookies.join("; ")).map_err(|_| {
                ToolError::new(
                    ToolErrorKind::Internal,
                    "could not assemble the Cookie header",
                )
            })?;
            v.set_sensitive(true);
            headers.insert(http::header::COOKIE, v);
        }
        if let Ok(v) = HeaderValue::from_str(ids.correlation_id.as_str()) {
            headers.insert(HeaderName::from_static("x-request-id"), v);
        }
        // This request's span, when traces are on: the backend continues the trace from it.
        let mut span = ids
            .trace
            .as_ref()
            .map(|t| self.client_span(t, &method, &mut headers));
        let mut body = None;
        if let Some(b) = built.body {
            let ct = HeaderValue::from_str(&b.content_type).map_err(|_| {
                ToolError::new(
                    ToolErrorKind::Internal,
                    format!("invalid request content type `{}`", b.content_type),
                )
            })?;
            headers.insert(http::header::CONTENT_TYPE, ct);
            body = Some(Bytes::from(b.bytes));
        }
        let request = Outgoing {
            method: method.clone(),
            url,
            headers,
            body,
        };

        let started = Instant::now();
        let mut response = self.transport.send(request).await.map_err(|e| {
            let err = self.transport_error(e, &method, &built.path);
            if let Some(span) = &mut span {
                span.fail(err.kind.as_str());
            }
            tracing::debug!(
                tool = %op.name,
                method = %method,
                url = %log_url,
                outcome = err.kind.as_str(),
                latency_ms = started.elapsed().as_millis() as u64,
                "backend request failed"
            );
            err
        })?;
        let status = response.status();
        if let Some(span) = &mut span {
            span.set_attribute(toolgate_core::trace::Attribute::new(
                "http.response.status_code",
                i64::from(status.as_u16()),
            ));
            if status.is_client_error() || status.is_server_error() {
                span.fail(status.as_str().to_owned());
            }
        }
        tracing::debug!(
            tool = %op.name,
            method = %method,
            url = %log_url,
            status = status.as_u16(),
            latency_ms = started.elapsed().as_millis() as u64,
            "backend request"
        );
        let headers = response.headers();
        let content_type = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let retry_after = headers
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| response::parse_retry_after(v, SystemTime::now()));
        let no_store = headers
            .get_all(http::header::CACHE_CONTROL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|d| {
                d.trim()
                    .split('=')
                    .next()
                    .unwrap_or("")
                    .to_ascii_lowercase()
            })
            .any(|d| d == "no-store" || d == "private");
        let cap = if status.is_success() {
            usize::try_from(backend.options.max_response_body_bytes).unwrap_or(usize::MAX)
        } else {
            response::ERROR_BODY_BYTES
                .min(usize::try_from(backend.options.max_response_body_bytes).unwrap_or(usize::MAX))
        };
        let (body, truncated) = response::read_capped(response.body_mut(), cap)
            .await
            .map_err(|e| self.transport_error(SendError::body(e), &method, &built.path))?;
        let secrets = if status.is_success() {
            Vec::new()
        } else {
            let mut secrets =
                echoable_secrets(auth, client_token.as_ref(), &backend.static_headers);
            secrets.extend(creds.identity.token_values(backend.identity.as_ref()));
            secrets
        };
        Ok((
            Received {
                status,
                content_type,
                body,
                truncated,
                retry_after,
                no_store,
                secrets,
            },
            log_url,
        ))
    }

    /// Starts the client span of one backend request (OpenTelemetry's HTTP client
    /// convention: named `{method} {url.template}`, no URL with its query or credentials) and
    /// puts its trace context into `headers`.
    fn client_span(
        &self,
        trace: &toolgate_core::trace::CallTrace,
        method: &http::Method,
        headers: &mut HeaderMap,
    ) -> toolgate_core::trace::ClientSpan {
        use toolgate_core::trace::Attribute;
        let mut attributes = vec![
            Attribute::new("http.request.method", method.as_str().to_owned()),
            Attribute::new("url.template", self.op.path.clone()),
            Attribute::new("gen_ai.tool.name", self.op.name.clone()),
        ];
        if let Some(host) = self.backend.base_url.host_str() {
            attributes.push(Attribute::new("server.address", host.to_owned()));
        }
        if let Some(port) = self.backend.base_url.port_or_known_default() {
            attributes.push(Attribute::new("server.port", i64::from(port)));
        }
        let span = trace.client(format!("{method} {}", self.op.path), attributes);
        if let Ok(v) = HeaderValue::from_str(&span.traceparent()) {
            headers.insert(HeaderName::from_static("traceparent"), v);
        }
        match span
            .tracestate()
            .and_then(|s| HeaderValue::from_str(&s).ok())
        {
            Some(v) => {
                headers.insert(HeaderName::from_static("tracestate"), v);
            }
            None => {
                headers.remove(HeaderName::from_static("tracestate"));
            }
        }
        span
    }

    /// A transport failure as a tool error: the kind and delivery the client classified, the
    /// typed cause kept for the log.
    fn transport_error(&self, e: SendError, method: &http::Method, path: &str) -> ToolError {
        let authority = self.plan.authority();
        let detail = e.detail();
        let (kind, message) = match e.kind {
            SendErrorKind::ConnectTimeout => (
                ToolErrorKind::Timeout,
                format!(
                    "could not connect to backend {authority} within connect_timeout_ms ({} ms)",
                    self.backend.options.connect_timeout_ms
                ),
            ),
            SendErrorKind::Connect => (
                ToolErrorKind::Connect,
                format!(
                    "could not connect to backend {authority} for {method} {path}: {detail}; \
                     check that the backend is running and the source's base URL is right"
                ),
            ),
            SendErrorKind::Timeout => (
                ToolErrorKind::Timeout,
                format!("backend {authority} timed out on {method} {path}"),
            ),
            SendErrorKind::Failed => (
                ToolErrorKind::Transport,
                match e.delivery {
                    Delivery::NotSent => format!(
                        "the connection to backend {authority} closed before {method} {path} \
                         was sent: {detail}"
                    ),
                    Delivery::MaybeSent => format!(
                        "the connection to backend {authority} broke during {method} {path}, \
                         before a response arrived: {detail}"
                    ),
                    Delivery::Sent => format!(
                        "the response of backend {authority} to {method} {path} broke off: \
                         {detail}"
                    ),
                },
            ),
            SendErrorKind::TooManyRedirects => (
                ToolErrorKind::Transport,
                format!(
                    "backend {authority} redirected {method} {path} more than {} times (a \
                     redirect loop?); point the source's base URL at the final location",
                    crate::client::MAX_REDIRECTS
                ),
            ),
            SendErrorKind::InvalidUri => (
                ToolErrorKind::InvalidArguments,
                format!(
                    "the request URL for {method} {path} is not a valid HTTP request target; \
                     check the path and query arguments"
                ),
            ),
        };
        let delivery = e.delivery;
        ToolError::new(kind, message)
            .with_delivery(delivery)
            .with_cause(e)
    }

    /// What response mapping needs; `forwarded` says whether the call carried the client's
    /// own `Authorization` to forward.
    fn call_info<'a>(&'a self, path: &'a str, uri: &'a str, forwarded: bool) -> CallInfo<'a> {
        CallInfo {
            tool: &self.op.name,
            method: self.op.method.as_str(),
            path,
            uri,
            output_wrap: self.op.output_wrap.as_deref(),
            has_output_schema: self.has_output_schema,
            cap: usize::try_from(self.backend.options.max_response_body_bytes)
                .unwrap_or(usize::MAX),
            mask_error_details: self.backend.options.mask_error_details,
            op: &self.op,
            credentials: self.presented(forwarded),
        }
    }

    /// Whose credentials this operation's requests carry.
    fn presented(&self, forwarded: bool) -> Presented {
        if self.backend.options.forward_authorization {
            return Presented::Forwarded { present: forwarded };
        }
        let credential_header = |name: &HeaderName| {
            let n = name.as_str();
            name == http::header::AUTHORIZATION
                || name == http::header::COOKIE
                || ["key", "token", "auth", "secret"]
                    .iter()
                    .any(|w| n.contains(w))
        };
        if !self.credentials.is_empty() || self.backend.static_headers.keys().any(credential_header)
        {
            Presented::Configured
        } else {
            Presented::Missing
        }
    }
}

impl ToolHandler for OperationHandler {
    fn call(
        &self,
        ctx: &CallContext,
        arguments: JsonObject,
    ) -> BoxFuture<'static, Result<CallToolResult, ToolError>> {
        let shared = self.shared.clone();
        let parts = shared.parts(ctx);
        let forwarded = parts.client_authorization.is_some();
        Box::pin(async move {
            let (received, path, uri) = shared.execute(parts, arguments).await?;
            let info = shared.call_info(&path, &uri, forwarded);
            if received.status.is_success() {
                let mut result = response::success_result(&info, &received)?;
                if received.no_store {
                    toolgate_core::wire::set_no_store(&mut result);
                }
                Ok(result)
            } else {
                Err(response::status_error(&info, &received))
            }
        })
    }

    fn read(
        &self,
        ctx: &CallContext,
        uri: &str,
        arguments: JsonObject,
    ) -> BoxFuture<'static, Result<Vec<ResourceContents>, ToolError>> {
        let shared = self.shared.clone();
        let parts = shared.parts(ctx);
        let forwarded = parts.client_authorization.is_some();
        let uri = uri.to_owned();
        Box::pin(async move {
            let (received, path, url) = shared.execute(parts, arguments).await?;
            let info = shared.call_info(&path, &url, forwarded);
            if received.status.is_success() {
                response::resource_contents(&info, &uri, &received)
            } else {
                Err(response::status_error(&info, &received))
            }
        })
    }
}

/// What ties a backend request to its call: the correlation id (`X-Request-Id`) and, when
/// traces are on, the call's span (`traceparent`).
struct CallIds {
    correlation_id: toolgate_core::CorrelationId,
    trace: Option<toolgate_core::trace::CallTrace>,
}

/// What a request carries besides the call's own data: the configured credentials and the
/// caller's identity.
#[derive(Clone, Copy)]
struct Creds<'a> {
    auth: Option<&'a AuthParts>,
    identity: &'a IdentityParts,
}

/// The credential values a request carried (configured credentials in headers, query and
/// cookies, credential-named static headers, a forwarded `Authorization`), in every form a
/// backend could echo them in: whole, without the scheme word, percent-decoded, and a Basic
/// pair's password. A backend error page that repeats the request (many frameworks print the
/// URL or the headers) must not hand them to the model.
fn echoable_secrets(
    auth: Option<&AuthParts>,
    client_token: Option<&HeaderValue>,
    static_headers: &http::HeaderMap,
) -> Vec<String> {
    let mut values: Vec<String> = Vec::new();
    let mut header = |v: &HeaderValue| {
        let Ok(text) = v.to_str() else { return };
        values.push(text.to_owned());
        if let Some((scheme, rest)) = text.split_once(' ') {
            values.push(rest.trim().to_owned());
            if scheme.eq_ignore_ascii_case("basic")
                && let Ok(pair) =
                    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, rest.trim())
                && let Ok(pair) = String::from_utf8(pair)
                && let Some((_, password)) = pair.split_once(':')
            {
                values.push(password.to_owned());
            }
        }
    };
    if let Some(a) = auth {
        a.headers.iter().for_each(|(_, v)| header(v));
    }
    if let Some(v) = client_token {
        header(v);
    }
    for (name, v) in static_headers {
        let n = name.as_str();
        if [
            "authorization",
            "cookie",
            "key",
            "token",
            "secret",
            "password",
        ]
        .iter()
        .any(|w| n.contains(w))
        {
            header(v);
        }
    }
    if let Some(a) = auth {
        for piece in a.query.iter().chain(&a.cookies) {
            if let Some((_, value)) = piece.split_once('=') {
                values.push(value.to_owned());
                values.push(
                    percent_encoding::percent_decode_str(value)
                        .decode_utf8_lossy()
                        .into_owned(),
                );
            }
        }
    }
    // Very short values would redact ordinary words; credentials are longer.
    values.retain(|v| v.len() >= 6);
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    values.dedup();
    values
}
