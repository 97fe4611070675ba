//! Backend credentials: resolving the configured [`BackendAuth`] against the spec's
//! `securitySchemes`, deciding which operations get it, and putting it on requests.
//!
//! This module owns the OAuth2 client-credentials token cache: tokens are reused until
//! shortly before expiry (30 s, or half the lifetime for short-lived tokens) and refreshed by
//! one caller at a time (the cache is a `tokio::sync::Mutex` held across the token request, so
//! concurrent calls wait for that one refresh instead of starting their own). It does not
//! authenticate MCP clients (that is the policy crate) and never logs a credential.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::{HeaderName, HeaderValue};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;
use toolgate_core::error::{Delivery, ErrorOrigin, ToolError, ToolErrorKind};
use toolgate_openapi::ir::{Operation, ParamLocation, SecurityScheme, SecuritySchemeKind};
use url::Url;

use crate::options::{ApiKeyLocation, BackendAuth, ClientAuthMethod, Secret};

/// How long before expiry a cached token is refreshed (capped at half its lifetime).
pub(crate) const REFRESH_SKEW: Duration = Duration::from_secs(30);
/// Lifetime assumed for tokens whose response has no `expires_in`.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(300);

/// A credential resolved and checked at startup.
#[derive(Debug)]
pub(crate) struct ResolvedAuth {
    config: BackendAuth,
    placement: Placement,
}

#[derive(Debug)]
enum Placement {
    /// A fixed header (bearer, basic, API key in a header).
    Header(HeaderName, HeaderValue),
    /// An API key query parameter: already-encoded `name=value`.
    Query(Secret),
    /// An API key cookie: `name=value`.
    Cookie(Secret),
    /// OAuth2 client credentials.
    OAuth2(Arc<OAuth2>),
}

/// Where a request's credentials go; filled by [`ResolvedAuth::apply`].
#[derive(Debug, Default)]
pub(crate) struct AuthParts {
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Encoded `name=value` query pieces.
    pub query: Vec<String>,
    /// `name=value` cookie pieces.
    pub cookies: Vec<String>,
    /// The OAuth2 token used, so a 401 can invalidate exactly it.
    pub oauth_token: Option<(Arc<OAuth2>, HeaderValue)>,
}

fn sensitive(value: &str) -> Option<HeaderValue> {
    let mut v = HeaderValue::from_str(value).ok()?;
    v.set_sensitive(true);
    Some(v)
}

impl ResolvedAuth {
    /// Resolves `auth` against the spec's schemes; problems are pushed onto `problems`.
    pub(crate) fn resolve(
        auth: &BackendAuth,
        schemes: &[SecurityScheme],
        base_url: &Url,
        problems: &mut Vec<String>,
    ) -> Option<ResolvedAuth> {
        let placement = match auth {
            BackendAuth::Bearer { token } => {
                let Some(v) = sensitive(&format!("Bearer {}", token.expose())) else {
                    problems.push(
                        "auth.token contains characters not allowed in an HTTP header".into(),
                    );
                    return None;
                };
                Placement::Header(http::header::AUTHORIZATION, v)
            }
            BackendAuth::Basic { username, password } => {
                if username.contains(':') {
                    problems.push("auth.username must not contain `:` (HTTP Basic)".into());
                    return None;
                }
                let raw = format!("{username}:{}", password.expose());
                let v =
                    sensitive(&format!("Basic {}", BASE64.encode(raw))).expect("base64 is ASCII");
                Placement::Header(http::header::AUTHORIZATION, v)
            }
            BackendAuth::ApiKey {
                scheme,
                location,
                name,
                value,
            } => {
                let named = match scheme {
                    Some(s) => match schemes.iter().find(|x| &x.name == s) {
                        Some(found) => match &found.kind {
                            SecuritySchemeKind::ApiKey {
                                location,
                                param_name,
                            } => Some((*location, param_name.clone())),
                            _ => {
                                problems.push(format!(
                                    "auth.scheme `{s}` is not an apiKey scheme in the spec"
                                ));
                                return None;
                            }
                        },
                        None => {
                            let names: Vec<_> =
                                schemes.iter().map(|x| format!("`{}`", x.name)).collect();
                            problems.push(format!(
                                "auth.scheme `{s}` is not a security scheme of the spec (it declares: {})",
                                if names.is_empty() { "none".to_owned() } else { names.join(", ") }
                            ));
                            return None;
                        }
                    },
                    None => {
                        let api_keys: Vec<_> = schemes
                            .iter()
                            .filter_map(|x| match &x.kind {
                                SecuritySchemeKind::ApiKey {
                                    location,
                                    param_name,
                                } => Some((*location, param_name.clone())),
                                _ => None,
                            })
                            .collect();
                        (api_keys.len() == 1).then(|| api_keys[0].clone())
                    }
                };
                let location = location
                    .map(|l| match l {
                        ApiKeyLocation::Header => ParamLocation::Header,
                        ApiKeyLocation::Query => ParamLocation::Query,
                        ApiKeyLocation::Cookie => ParamLocation::Cookie,
                    })
                    .or(named.as_ref().map(|n| n.0));
                let name = name.clone().or(named.map(|n| n.1));
                let (Some(location), Some(name)) = (location, name) else {
                    problems.push(
                        "auth (api_key) needs `location` and `name`, or `scheme` naming one apiKey \
                         scheme of the spec"
                            .into(),
                    );
                    return None;
                };
                if name.is_empty() {
                    problems.push("auth.name must not be empty".into());
                    return None;
                }
                match location {
                    ParamLocation::Header => {
                        let Ok(h) = HeaderName::from_bytes(name.as_bytes()) else {
                            problems.push(format!("auth.name `{name}` is not a valid header name"));
                            return None;
                        };
                        let Some(v) = sensitive(value.expose()) else {
                            problems.push(
                                "auth.value contains characters not allowed in an HTTP header"
                                    .into(),
                            );
                            return None;
                        };
                        Placement::Header(h, v)
                    }
                    ParamLocation::Query => Placement::Query(Secret::new(format!(
                        "{}={}",
                        crate::serialize::Escape::Component.apply(&name),
                        crate::serialize::Escape::Component.apply(value.expose())
                    ))),
                    ParamLocation::Cookie | ParamLocation::Path => {
                        if crate::request::invalid_cookie_byte(value.expose()).is_some()
                            || crate::request::invalid_cookie_byte(&name).is_some()
                        {
                            problems.push("auth (api_key cookie) name or value contains characters not allowed in a cookie".into());
                            return None;
                        }
                        Placement::Cookie(Secret::new(format!("{name}={}", value.expose())))
                    }
                }
            }
            BackendAuth::OAuth2ClientCredentials {
                token_url,
                client_id,
                client_secret,
                scopes,
                audience,
                client_auth,
            } => {
                let from_spec = schemes.iter().find_map(|s| match &s.kind {
                    SecuritySchemeKind::OAuth2 { token_url } => token_url.clone(),
                    _ => None,
                });
                let Some(raw) = token_url.clone().or(from_spec) else {
                    problems.push(
                        "auth.token_url is required: the spec declares no oauth2 client-credentials \
                         token URL"
                            .into(),
                    );
                    return None;
                };
                let url = match Url::parse(&raw).or_else(|_| base_url.join(&raw)) {
                    Ok(u) if matches!(u.scheme(), "http" | "https") => u,
                    _ => {
                        problems.push(format!("auth.token_url `{raw}` is not an http(s) URL"));
                        return None;
                    }
                };
                Placement::OAuth2(Arc::new(OAuth2 {
                    token_url: url,
                    client_id: client_id.clone(),
                    client_secret: client_secret.clone(),
                    scopes: scopes.clone(),
                    audience: audience.clone(),
                    client_auth: *client_auth,
                    cache: Mutex::new(None),
                    fetches: std::sync::atomic::AtomicU64::new(0),
                }))
            }
        };
        let resolved = ResolvedAuth {
            config: auth.clone(),
            placement,
        };
        if !schemes.is_empty() && !schemes.iter().any(|s| resolved.matches(s)) {
            let declared: Vec<_> = schemes
                .iter()
                .map(|s| format!("`{}` ({})", s.name, scheme_kind_str(&s.kind)))
                .collect();
            problems.push(format!(
                "auth `{}` matches none of the spec's security schemes ({}); it would never be sent",
                auth.kind_str(),
                declared.join(", ")
            ));
            return None;
        }
        Some(resolved)
    }

    /// Whether this credential fits `scheme`.
    fn matches(&self, scheme: &SecurityScheme) -> bool {
        match (&self.config, &scheme.kind) {
            (
                BackendAuth::Bearer { .. },
                SecuritySchemeKind::Bearer
                | SecuritySchemeKind::OAuth2 { .. }
                | SecuritySchemeKind::Other { .. },
            ) => true,
            (BackendAuth::Basic { .. }, SecuritySchemeKind::Basic) => true,
            (
                BackendAuth::ApiKey {
                    scheme: Some(name), ..
                },
                SecuritySchemeKind::ApiKey { .. },
            ) => name == &scheme.name,
            (BackendAuth::ApiKey { scheme: None, .. }, SecuritySchemeKind::ApiKey { .. }) => true,
            (
                BackendAuth::OAuth2ClientCredentials { .. },
                SecuritySchemeKind::OAuth2 { .. } | SecuritySchemeKind::Bearer,
            ) => true,
            _ => false,
        }
    }

    /// Whether `op` gets this credential: always when the spec declares no schemes, else when
    /// one of the operation's security alternatives names a matching scheme.
    pub(crate) fn applies_to(&self, op: &Operation, schemes: &[SecurityScheme]) -> bool {
        if schemes.is_empty() {
            return true;
        }
        op.security.iter().any(|alt| {
            alt.iter().any(|name| {
                schemes
                    .iter()
                    .find(|s| &s.name == name)
                    .is_some_and(|s| self.matches(s))
            })
        })
    }

    /// Whether this credential sets `Authorization`.
    pub(crate) fn sets_authorization(&self) -> bool {
        match &self.placement {
            Placement::Header(name, _) => name == http::header::AUTHORIZATION,
            Placement::OAuth2(_) => true,
            Placement::Query(_) | Placement::Cookie(_) => false,
        }
    }

    /// The OAuth2 state, if this is an OAuth2 credential (for tests and metrics).
    pub(crate) fn oauth2(&self) -> Option<&Arc<OAuth2>> {
        match &self.placement {
            Placement::OAuth2(o) => Some(o),
            _ => None,
        }
    }

    /// The credential for one request (fetching an OAuth2 token if needed).
    pub(crate) async fn apply(&self, client: &reqwest::Client) -> Result<AuthParts, ToolError> {
        let mut parts = AuthParts::default();
        match &self.placement {
            Placement::Header(n, v) => parts.headers.push((n.clone(), v.clone())),
            Placement::Query(q) => parts.query.push(q.expose().to_owned()),
            Placement::Cookie(c) => parts.cookies.push(c.expose().to_owned()),
            Placement::OAuth2(o) => {
                let v = o.bearer(client).await?;
                parts.headers.push((http::header::AUTHORIZATION, v.clone()));
                parts.oauth_token = Some((o.clone(), v));
            }
        }
        Ok(parts)
    }
}

fn scheme_kind_str(kind: &SecuritySchemeKind) -> &'static str {
    match kind {
        SecuritySchemeKind::ApiKey { .. } => "apiKey",
        SecuritySchemeKind::Bearer => "http bearer",
        SecuritySchemeKind::Basic => "http basic",
        SecuritySchemeKind::OAuth2 { .. } => "oauth2",
        SecuritySchemeKind::Other { .. } => "other",
    }
}

/// OAuth2 client-credentials state: configuration and the single-flight token cache.
pub(crate) struct OAuth2 {
    token_url: Url,
    client_id: String,
    client_secret: Secret,
    scopes: Vec<String>,
    audience: Option<String>,
    client_auth: ClientAuthMethod,
    cache: Mutex<Option<CachedToken>>,
    /// Token requests made so far (observability and tests).
    pub(crate) fetches: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for OAuth2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth2")
            .field("token_url", &self.token_url.as_str())
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

struct CachedToken {
    header: HeaderValue,
    refresh_at: Instant,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<f64>,
}

#[derive(Deserialize)]
struct TokenErrorBody {
    error: Option<String>,
    error_description: Option<String>,
}

impl OAuth2 {
    /// A valid `Authorization: Bearer` value, from the cache or one fresh token request.
    async fn bearer(&self, client: &reqwest::Client) -> Result<HeaderValue, ToolError> {
        let mut cache = self.cache.lock().await;
        if let Some(t) = cache.as_ref()
            && Instant::now() < t.refresh_at
        {
            return Ok(t.header.clone());
        }
        let (header, lifetime) = self.fetch(client).await?;
        let skew = REFRESH_SKEW.min(lifetime / 2);
        *cache = Some(CachedToken {
            header: header.clone(),
            refresh_at: Instant::now() + lifetime - skew,
        });
        Ok(header)
    }

    /// Drops the cached token if it is still `used` (the backend answered 401 with it).
    pub(crate) fn invalidate(&self, used: &HeaderValue) {
        if let Ok(mut cache) = self.cache.try_lock()
            && cache.as_ref().is_some_and(|t| t.header == *used)
        {
            *cache = None;
        }
    }

    async fn fetch(&self, client: &reqwest::Client) -> Result<(HeaderValue, Duration), ToolError> {
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut form: Vec<(&str, String)> = vec![("grant_type", "client_credentials".into())];
        if !self.scopes.is_empty() {
            form.push(("scope", self.scopes.join(" ")));
        }
        if let Some(a) = &self.audience {
            form.push(("audience", a.clone()));
        }
        let mut request = client
            .post(self.token_url.clone())
            .header(http::header::ACCEPT, "application/json");
        match self.client_auth {
            ClientAuthMethod::Basic => {
                // RFC 6749 §2.3.1: form-urlencode id and secret before Basic encoding.
                let enc = |s: &str| crate::serialize::Escape::Component.apply(s);
                let raw = format!(
                    "{}:{}",
                    enc(&self.client_id),
                    enc(self.client_secret.expose())
                );
                let mut v = HeaderValue::from_str(&format!("Basic {}", BASE64.encode(raw)))
                    .expect("base64 is ASCII");
                v.set_sensitive(true);
                request = request.header(http::header::AUTHORIZATION, v);
            }
            ClientAuthMethod::Post => {
                form.push(("client_id", self.client_id.clone()));
                form.push(("client_secret", self.client_secret.expose().to_owned()));
            }
        }
        let url = self.token_url.as_str();
        let response = request.form(&form).send().await.map_err(|e| {
            ToolError::new(
                ToolErrorKind::Connect,
                format!(
                    "could not reach the OAuth2 token endpoint {url}: {}",
                    crate::client::error_chain(&e)
                ),
            )
            .with_origin(ErrorOrigin::CredentialProvider)
            .with_delivery(Delivery::NotSent)
        })?;
        let status = response.status();
        let body = response.bytes().await.unwrap_or_default();
        if !status.is_success() {
            let detail = serde_json::from_slice::<TokenErrorBody>(&body)
                .ok()
                .map(|b| {
                    [b.error, b.error_description]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(": ")
                })
                .filter(|s| !s.is_empty())
                .map(|s| format!(" ({s})"))
                .unwrap_or_default();
            return Err(ToolError::new(
                ToolErrorKind::BackendStatus,
                format!(
                    "the OAuth2 token endpoint {url} answered {} {}{detail}; check the source's \
                     auth client_id, client_secret and scopes",
                    status.as_u16(),
                    status.canonical_reason().unwrap_or("")
                ),
            )
            .with_status(status.as_u16())
            .with_origin(ErrorOrigin::CredentialProvider)
            .with_delivery(Delivery::NotSent));
        }
        let token: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
            ToolError::new(
                ToolErrorKind::Internal,
                format!("the OAuth2 token endpoint {url} returned no usable access_token: {e}"),
            )
            .with_origin(ErrorOrigin::CredentialProvider)
        })?;
        let header = sensitive(&format!("Bearer {}", token.access_token)).ok_or_else(|| {
            ToolError::new(
                ToolErrorKind::Internal,
                format!("the OAuth2 token endpoint {url} returned a token with invalid characters"),
            )
            .with_origin(ErrorOrigin::CredentialProvider)
        })?;
        let lifetime = token
            .expires_in
            .filter(|s| s.is_finite() && *s > 0.0)
            .map(Duration::from_secs_f64)
            .unwrap_or(DEFAULT_TOKEN_LIFETIME);
        Ok((header, lifetime))
    }
}
