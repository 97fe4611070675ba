//! OAuth2 tokens for backend requests: the client-credentials and password grants (RFC 6749
//! §4.4 and §4.3; the password grant is FastAPI's `OAuth2PasswordBearer`), refresh tokens
//! (§6), and the token cache.
//!
//! A token is reused until shortly before it expires: `expires_in` when the token endpoint
//! sends it, else the `exp` claim of a JWT access token (read without verifying it: it only
//! schedules the refresh), else [`DEFAULT_TOKEN_LIFETIME`]. Refreshing is single-flight:
//! one caller asks the token endpoint while the others wait for its answer (or, while the old
//! token is still valid, keep using it). A token the backend answered 401 to is dropped, so
//! the next caller fetches a new one, once for all the callers that saw the 401.
//!
//! A failure of the token endpoint is remembered for a short, growing interval (1 s, doubling
//! up to 30 s): meanwhile calls get that error at once instead of each asking again, so a
//! down endpoint is not hammered and a wrong password does not lock the service account.
//!
//! Errors name the token endpoint (without its query), its status and a short excerpt of its
//! answer with every configured secret cut out (`token_answer`); the password, the client
//! secret and tokens never appear in messages or logs. A token request taking over 10 s
//! counts as a failure.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::HeaderValue;
use serde::Deserialize;
use serde_json::Value;
use tokio::time::Instant;
use toolgate_core::error::{Delivery, ErrorOrigin, ToolError, ToolErrorKind};
use url::Url;

use super::schemes::sensitive;
use super::token_answer::{error_detail, jwt_lifetime, seconds};
use crate::options::{ClientAuthMethod, Secret};

/// How long before expiry a cached token is refreshed (capped at half its lifetime).
const REFRESH_SKEW: Duration = Duration::from_secs(30);
/// A token is not sent in its last seconds (capped at a quarter of its lifetime): it could
/// expire on the way.
const EXPIRY_MARGIN: Duration = Duration::from_secs(5);
/// Lifetime assumed for tokens whose lifetime is unknown (no `expires_in`, not a JWT).
pub(crate) const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(300);
/// Shortest lifetime assumed, so a token endpoint that says `expires_in: 0` (or a clock far
/// off) does not make every call fetch a token.
const MIN_TOKEN_LIFETIME: Duration = Duration::from_secs(1);
/// How long the first failure of the token endpoint is remembered; doubles per further
/// failure, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// Longest a failure is remembered.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long one token request may take; a slower endpoint counts as failing.
const TOKEN_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What is exchanged for a token.
pub enum Grant {
    /// `grant_type=client_credentials` (the client is the principal).
    ClientCredentials {
        /// The `audience` form field, when the provider wants one.
        audience: Option<String>,
    },
    /// `grant_type=password` with a service account's username and password.
    Password { username: String, password: Secret },
}

/// How the OAuth2 client identifies itself to the token endpoint.
pub struct ClientAuth {
    /// `client_id`.
    pub id: String,
    /// `client_secret`.
    pub secret: Option<Secret>,
    /// How they are sent.
    pub method: ClientAuthMethod,
}

/// One OAuth2 credential: its configuration and the single-flight token cache.
pub struct TokenSource {
    token_url: Url,
    grant: Grant,
    scopes: Vec<String>,
    client: Option<ClientAuth>,
    state: Mutex<State>,
    /// Held by the one caller asking the token endpoint.
    refreshing: tokio::sync::Mutex<()>,
    /// Token requests made so far (observability and tests).
    pub(crate) fetches: AtomicU64,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("token_url", &self.token_url.as_str())
            .field("grant", &self.grant_str())
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct State {
    token: Option<Token>,
    /// Kept when the access token is dropped: it gets the next one without the password.
    refresh_token: Option<Secret>,
    failure: Option<Failure>,
}

struct Token {
    header: HeaderValue,
    /// From then on, the next caller gets a new token.
    refresh_at: Instant,
    /// From then on, the token is not sent at all.
    expires_at: Instant,
}

/// The last failure of the token endpoint, answered from until `retry_at`.
struct Failure {
    error: ToolError,
    at: Instant,
    retry_at: Instant,
    /// Failures in a row.
    streak: u32,
}

/// What the cache holds right now.
enum Cached {
    Fresh(HeaderValue),
    /// Valid, but due for a refresh.
    Due(HeaderValue),
    None,
}

/// A token endpoint's successful answer.
pub(crate) struct Issued {
    pub header: HeaderValue,
    pub lifetime: Duration,
    pub refresh_token: Option<Secret>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<Value>,
    #[serde(default)]
    refresh_token: Option<String>,
}

impl TokenSource {
    pub fn new(
        token_url: Url,
        grant: Grant,
        scopes: Vec<String>,
        client: Option<ClientAuth>,
    ) -> Self {
        TokenSource {
            token_url,
            grant,
            scopes,
            client,
            state: Mutex::new(State::default()),
            refreshing: tokio::sync::Mutex::new(()),
            fetches: AtomicU64::new(0),
        }
    }

    fn grant_str(&self) -> &'static str {
        match self.grant {
            Grant::ClientCredentials { .. } => "client_credentials",
            Grant::Password { .. } => "password",
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state half-written (every update is
        // one assignment), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn cached(&self, now: Instant) -> Cached {
        match &self.state().token {
            Some(t) if now < t.refresh_at => Cached::Fresh(t.header.clone()),
            Some(t) if now < t.expires_at => Cached::Due(t.header.clone()),
            _ => Cached::None,
        }
    }

    /// A valid `Authorization: Bearer` value: cached, or from one token request shared by
    /// all the callers that need it.
    pub async fn bearer(&self, client: &reqwest::Client) -> Result<HeaderValue, ToolError> {
        match self.cached(Instant::now()) {
            Cached::Fresh(h) => return Ok(h),
            Cached::Due(h) => {
                // One caller renews the token; the others keep using it meanwhile, and so
                // does that caller if the renewal fails (the failure is remembered).
                let Ok(_refreshing) = self.refreshing.try_lock() else {
                    return Ok(h);
                };
                if self.remembered_failure(Instant::now()).is_some() {
                    return Ok(h);
                }
                return Ok(self.renew(client).await.unwrap_or(h));
            }
            Cached::None => {}
        }
        let _refreshing = self.refreshing.lock().await;
        // Another caller may have renewed the token (or failed to) while this one waited.
        let now = Instant::now();
        match self.cached(now) {
            Cached::Fresh(h) | Cached::Due(h) => return Ok(h),
            Cached::None => {}
        }
        if let Some(err) = self.remembered_failure(now) {
            return Err(err);
        }
        self.renew(client).await
    }

    /// Drops the cached token if it is still `used` (the backend answered 401 to it), so the
    /// next caller fetches a new one. When another caller that saw the 401 already did, or
    /// the token was already replaced, there is nothing to drop.
    pub fn reject(&self, used: &HeaderValue) {
        let mut state = self.state();
        if state.token.as_ref().is_some_and(|t| t.header == *used) {
            state.token = None;
        }
    }

    /// The remembered failure as this caller's error, while it is remembered.
    fn remembered_failure(&self, now: Instant) -> Option<ToolError> {
        let state = self.state();
        let f = state.failure.as_ref().filter(|f| now < f.retry_at)?;
        let left = f.retry_at - now;
        let mut err = f.error.clone();
        err.message = format!(
            "{} (this failure is {} s old; toolgate asks the token endpoint again in {} s)",
            f.error.message,
            (now - f.at).as_secs(),
            left.as_secs().max(1)
        );
        err.retry_after = Some(left);
        Some(err)
    }

    /// Asks the token endpoint (the caller holds `refreshing`) and updates the cache.
    async fn renew(&self, client: &reqwest::Client) -> Result<HeaderValue, ToolError> {
        let refresh_token = self.state().refresh_token.clone();
        let result = match refresh_token {
            Some(rt) => match self.request(client, Some(&rt)).await {
                Ok(issued) => Ok(issued),
                // The refresh token expired or was revoked: get a new one with the grant.
                Err(e) if e.status.is_some_and(|s| (400..500).contains(&s)) => {
                    self.state().refresh_token = None;
                    self.request(client, None).await
                }
                Err(e) => Err(e),
            },
            None => self.request(client, None).await,
        };
        let now = Instant::now();
        let mut state = self.state();
        match result {
            Ok(issued) => {
                let lifetime = issued.lifetime.max(MIN_TOKEN_LIFETIME);
                state.token = Some(Token {
                    header: issued.header.clone(),
                    refresh_at: now + lifetime - REFRESH_SKEW.min(lifetime / 2),
                    expires_at: now + lifetime - EXPIRY_MARGIN.min(lifetime / 4),
                });
                if issued.refresh_token.is_some() {
                    state.refresh_token = issued.refresh_token;
                }
                state.failure = None;
                Ok(issued.header)
            }
            Err(error) => {
                let streak = state.failure.as_ref().map_or(0, |f| f.streak) + 1;
                let pause = FIRST_BACKOFF
                    .saturating_mul(1 << (streak - 1).min(16))
                    .min(MAX_BACKOFF);
                tracing::warn!(
                    token_url = %self.endpoint(),
                    grant = self.grant_str(),
                    status = error.status,
                    failures_in_a_row = streak,
                    retry_in_ms = pause.as_millis() as u64,
                    "OAuth2 token request failed: {}",
                    error.message
                );
                state.failure = Some(Failure {
                    error: error.clone(),
                    at: now,
                    retry_at: now + pause,
                    streak,
                });
                Err(error)
            }
        }
    }

    /// The token URL without its query, for messages.
    fn endpoint(&self) -> &str {
        &self.token_url[..url::Position::AfterPath]
    }

    /// The secrets that must never appear in a message.
    fn secrets<'a>(&'a self, refresh_token: Option<&'a Secret>) -> Vec<&'a str> {
        let mut out = Vec::new();
        if let Grant::Password { password, .. } = &self.grant {
            out.push(password.expose());
        }
        if let Some(s) = self.client.as_ref().and_then(|c| c.secret.as_ref()) {
            out.push(s.expose());
        }
        if let Some(rt) = refresh_token {
            out.push(rt.expose());
        }
        out.retain(|s| !s.is_empty());
        out
    }

    /// One token request: the grant, or the refresh-token grant with `refresh_token`.
    async fn request(
        &self,
        client: &reqwest::Client,
        refresh_token: Option<&Secret>,
    ) -> Result<Issued, ToolError> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let mut form: Vec<(&str, &str)> = Vec::with_capacity(6);
        let scope = self.scopes.join(" ");
        match (refresh_token, &self.grant) {
            (Some(rt), _) => {
                form.push(("grant_type", "refresh_token"));
                form.push(("refresh_token", rt.expose()));
            }
            (None, Grant::ClientCredentials { audience }) => {
                form.push(("grant_type", "client_credentials"));
                if !scope.is_empty() {
                    form.push(("scope", &scope));
                }
                if let Some(a) = audience {
                    form.push(("audience", a));
                }
            }
            (None, Grant::Password { username, password }) => {
                form.push(("grant_type", "password"));
                form.push(("username", username));
                form.push(("password", password.expose()));
                if !scope.is_empty() {
                    form.push(("scope", &scope));
                }
            }
        }
        let secrets = self.secrets(refresh_token);
        let refreshing = refresh_token.is_some();
        post_token_form(
            client,
            &self.token_url,
            form,
            self.client.as_ref(),
            &secrets,
            &Endpoint {
                name: "OAuth2 token endpoint",
                setting: "auth token_url",
            },
            &|status| self.hint(status, refreshing),
        )
        .await
    }

    /// What to check when the token endpoint answered `status`.
    fn hint(&self, status: u16, refreshing: bool) -> String {
        match status {
            404 | 405 => "check the source's auth `token_url` (default: the tokenUrl of the \
                          spec's oauth2 scheme, resolved against the base URL)"
                .to_owned(),
            429 | 500..=599 => "the token endpoint is failing; calls that need a token fail \
                                at once until toolgate tries it again after a pause"
                .to_owned(),
            _ if refreshing => "the refresh token was refused".to_owned(),
            _ => match &self.grant {
                Grant::Password { .. } => "check the source's auth `username` and `password` \
                                           (oauth2_password), and its `scopes`, `client_id` \
                                           and `client_secret` if the endpoint needs them"
                    .to_owned(),
                Grant::ClientCredentials { .. } => {
                    "check the source's auth client_id, client_secret and scopes".to_owned()
                }
            },
        }
    }
}

/// A token endpoint, as messages name it.
pub(crate) struct Endpoint {
    /// `OAuth2 token endpoint`, `token exchange endpoint`.
    pub name: &'static str,
    /// The setting that holds its URL, for the "check …" hint.
    pub setting: &'static str,
}

/// One form POST to a token endpoint (with the client's authentication, RFC 6749 §2.3.1)
/// and its answer read as an RFC 6749 §5.1 token response. Errors name the endpoint, its
/// status and a secret-free excerpt (`secrets` are cut out), then `hint(status)`.
pub(crate) async fn post_token_form<'a>(
    client: &reqwest::Client,
    token_url: &Url,
    mut form: Vec<(&'a str, &'a str)>,
    client_auth: Option<&'a ClientAuth>,
    secrets: &[&str],
    endpoint: &Endpoint,
    hint: &(dyn Fn(u16) -> String + Sync),
) -> Result<Issued, ToolError> {
    let mut request = client
        .post(token_url.clone())
        .header(http::header::ACCEPT, "application/json");
    if let Some(c) = client_auth {
        match (c.method, &c.secret) {
            (ClientAuthMethod::Basic, Some(secret)) => {
                // RFC 6749 §2.3.1: form-urlencode id and secret before Basic encoding.
                let enc = |s: &str| crate::serialize::Escape::Component.apply(s);
                let raw = format!("{}:{}", enc(&c.id), enc(secret.expose()));
                let v =
                    sensitive(&format!("Basic {}", BASE64.encode(raw))).expect("base64 is ASCII");
                request = request.header(http::header::AUTHORIZATION, v);
            }
            // A public client (no secret) names itself in the form (RFC 6749 §3.2.1).
            (ClientAuthMethod::Post, _) | (ClientAuthMethod::Basic, None) => {
                form.push(("client_id", &c.id));
                if let Some(secret) = &c.secret {
                    form.push(("client_secret", secret.expose()));
                }
            }
        }
    }
    let url = &token_url[..url::Position::AfterPath];
    let name = endpoint.name;
    let failed = |kind: ToolErrorKind, message: String| {
        ToolError::new(kind, message)
            .with_origin(ErrorOrigin::CredentialProvider)
            .with_delivery(Delivery::NotSent)
    };
    let response = request
        .timeout(TOKEN_REQUEST_TIMEOUT)
        .form(&form)
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                failed(
                    ToolErrorKind::Timeout,
                    format!(
                        "the {name} {url} did not answer within {} s",
                        TOKEN_REQUEST_TIMEOUT.as_secs()
                    ),
                )
            } else {
                failed(
                    ToolErrorKind::Connect,
                    format!(
                        "could not reach the {name} {url}: {}; check that it is running \
                         and the source's {}",
                        crate::client::error_chain(&e),
                        endpoint.setting
                    ),
                )
            }
        })?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| {
        failed(
            if e.is_timeout() {
                ToolErrorKind::Timeout
            } else {
                ToolErrorKind::Transport
            },
            format!(
                "the {name} {url} failed while answering: {}",
                crate::client::error_chain(&e)
            ),
        )
    })?;
    if !status.is_success() {
        let detail = error_detail(&body, secrets);
        let detail = if detail.is_empty() {
            String::new()
        } else {
            format!(": {detail}")
        };
        let hint = hint(status.as_u16());
        return Err(failed(
            ToolErrorKind::BackendStatus,
            format!(
                "the {name} {url} answered {} {}{detail}; {hint}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            ),
        )
        .with_status(status.as_u16()));
    }
    // The parse error is not shown: serde quotes the values it rejects, and the value
    // here may be a token.
    let token: TokenResponse = serde_json::from_slice(&body).map_err(|_| {
        failed(
            ToolErrorKind::Internal,
            format!(
                "the {name} {url} answered {} without a usable access token \
                 (expected a JSON object with a string `access_token`, RFC 6749 §5.1)",
                status.as_u16()
            ),
        )
    })?;
    let header = sensitive(&format!("Bearer {}", token.access_token)).ok_or_else(|| {
        failed(
            ToolErrorKind::Internal,
            format!("the {name} {url} returned a token with invalid characters"),
        )
    })?;
    let lifetime = token
        .expires_in
        .as_ref()
        .and_then(seconds)
        .or_else(|| jwt_lifetime(&token.access_token, SystemTime::now()))
        .unwrap_or(DEFAULT_TOKEN_LIFETIME);
    Ok(Issued {
        header,
        lifetime,
        refresh_token: token
            .refresh_token
            .filter(|t| !t.is_empty())
            .map(Secret::new),
    })
}
