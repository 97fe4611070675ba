//! Inbound authentication for toolgate as an OAuth 2.1 resource server (the MCP authorization
//! specification): [`ResourceAuth`] implements [`toolgate_core::Authenticator`] and turns the
//! credential of an HTTP request into a [`Principal`], or into a [`Refusal`] that says what was
//! wrong without echoing the credential.
//!
//! Accepted credentials, from the `Authorization: Bearer` header only:
//! - signed JWTs, with keys from a JWKS URL, OIDC discovery, a file or inline, or a shared
//!   secret for HS* ([`jwt`], [`keys`], [`jwks`]);
//! - opaque tokens checked by RFC 7662 introspection ([`introspection`]);
//! - static API keys stored as SHA-256 digests ([`api_keys`]).
//!
//! A verified token is remembered until its `exp` ([`cache`]). This crate does
//! not decide what a caller may do (authorization) nor wire itself into the server: the HTTP
//! edge calls [`Authenticator::authenticate`] once per request and serves
//! [`ResourceAuth::protected_resource_metadata`] at `/.well-known/oauth-protected-resource`.

mod api_keys;
mod build;
mod cache;
mod claims;
pub mod config;
mod error;
mod header;
mod introspection;
mod jwks;
mod jws;
mod jwt;
mod keys;
mod metrics;

use std::sync::Arc;

use futures::future::BoxFuture;
use http::HeaderName;
use sha2::{Digest, Sha256};
use toolgate_core::{Authenticator, Principal, Refusal};

pub use config::AuthConfig;
pub use error::AuthConfigError;

use crate::api_keys::ApiKeys;
use crate::cache::TokenCache;
use crate::header::Presented;
use crate::introspection::Introspector;
use crate::jwt::JwtVerifier;
use crate::metrics::AuthMetrics;

/// Longest a verified token is served from the cache (and never past its `exp`).
const MAX_CACHE_SECONDS: u64 = 600;

/// Verifies the credentials of requests to one MCP endpoint. Cheap to clone.
#[derive(Clone)]
pub struct ResourceAuth {
    inner: Arc<Inner>,
}

struct Inner {
    resource: String,
    metadata: serde_json::Value,
    max_token_bytes: usize,
    api_key_header: Option<HeaderName>,
    api_keys: ApiKeys,
    jwt: Option<JwtVerifier>,
    introspection: Option<Introspector>,
    cache: TokenCache,
    metrics: AuthMetrics,
}

impl std::fmt::Debug for ResourceAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResourceAuth")
            .field("resource", &self.inner.resource)
            .field("jwt", &self.inner.jwt.is_some())
            .field("introspection", &self.inner.introspection.is_some())
            .field("api_keys", &!self.inner.api_keys.is_empty())
            .finish()
    }
}

impl ResourceAuth {
    /// Validates the config (reporting every problem, each with its path) and prepares the
    /// verifiers. Remote keys are fetched here once (OIDC discovery, then the JWKS); if the
    /// issuer cannot be reached this is logged and retried on the first tokens, so toolgate
    /// starts during an IdP outage. `resource` is the canonical URL of the MCP endpoint, e.g.
    /// `https://mcp.example.com/mcp`, the default audience (RFC 8707).
    pub async fn new(config: &AuthConfig, resource: &str) -> Result<Self, AuthConfigError> {
        let metrics = AuthMetrics::default();
        let built = build::build(config, resource, metrics.clone())?;
        build::prime(&built.jwt).await?;
        let cache = TokenCache::new(config.cache_entries).map_err(|e| {
            AuthConfigError::invalid(
                "auth.cache_entries",
                format!(
                    "the verified-token cache needs a random key and the operating system gave \
                     none ({e}); set `auth.cache_entries: 0` to run without the cache"
                ),
            )
        })?;
        Ok(ResourceAuth {
            inner: Arc::new(Inner {
                resource: resource.to_owned(),
                metadata: build::metadata(config, resource),
                max_token_bytes: config.max_token_bytes,
                api_key_header: built.api_key_header,
                api_keys: built.api_keys,
                jwt: built.jwt,
                introspection: built.introspection,
                cache,
                metrics,
            }),
        })
    }

    /// The RFC 9728 Protected Resource Metadata document of this resource (`resource`,
    /// `authorization_servers`, `scopes_supported`, `bearer_methods_supported`,
    /// `resource_name`).
    pub fn protected_resource_metadata(&self) -> serde_json::Value {
        self.inner.metadata.clone()
    }

    /// The canonical URL of the protected resource.
    pub fn resource(&self) -> &str {
        &self.inner.resource
    }

    /// Registers the authentication counters (see the `metrics` module) into `registry`.
    pub fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        self.inner.metrics.register(registry);
    }

    /// How many JWT signatures were verified so far (cache misses that reached the crypto).
    pub fn signature_checks(&self) -> u64 {
        self.inner.metrics.signature_checks()
    }

    /// How many discovery or JWKS documents were fetched so far.
    pub fn jwks_fetches(&self) -> u64 {
        self.inner.metrics.jwks_fetches()
    }

    /// Authenticates a request head (what [`Authenticator::authenticate`] does).
    pub async fn authenticate_parts(
        &self,
        parts: &http::request::Parts,
    ) -> Result<Arc<Principal>, Refusal> {
        let inner = &*self.inner;
        let presented =
            match header::extract(parts, inner.api_key_header.as_ref(), inner.max_token_bytes) {
                Ok(p) => p,
                Err(refusal) => return Err(self.refused("none", refusal)),
            };
        self.verify(presented).await
    }

    /// Authenticates a bare bearer credential (what the `Authorization` header carried).
    pub async fn authenticate_token(&self, token: &str) -> Result<Arc<Principal>, Refusal> {
        let value = format!("Bearer {token}");
        match header::parse_authorization(value.as_bytes(), self.inner.max_token_bytes) {
            Ok(token) => self.verify(Presented::Bearer(token.as_bytes())).await,
            Err(refusal) => Err(self.refused("none", refusal)),
        }
    }

    async fn verify(&self, presented: Presented<'_>) -> Result<Arc<Principal>, Refusal> {
        let inner = &*self.inner;
        let token = match presented {
            // The API-key header carries API keys only (a token verified before as a bearer
            // token is not accepted there from the cache).
            Presented::ApiKeyHeader(key) => return self.api_key_header(key),
            Presented::Bearer(token) => token,
        };
        if let Some(principal) = inner.cache.get(token) {
            inner.metrics.cached(principal.method);
            return Ok(principal);
        }
        inner.metrics.cache(false);
        let token = match header::bearer_text(token) {
            Ok(token) => token,
            Err(refusal) => return Err(self.refused("none", refusal)),
        };
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(principal) = inner.api_keys.find(&digest, token) {
            inner.metrics.decision("api_key", "accepted", "verified");
            return Ok(Arc::new(principal));
        }
        match (&inner.jwt, &inner.introspection) {
            (Some(verifier), _) if jws::looks_like_jwt(token) => match jws::decode(token) {
                Ok(raw) => self.finish("jwt", token, verifier.verify(token, raw).await),
                // Two dots do not make a JWT: an opaque token may still be introspected.
                Err(refusal) => match &inner.introspection {
                    Some(introspector) => {
                        let answer = introspector.check(token, digest).await;
                        self.finish("introspection", token, answer)
                    }
                    None => Err(self.refused("jwt", refusal)),
                },
            },
            (_, Some(introspector)) => {
                let answer = introspector.check(token, digest).await;
                self.finish("introspection", token, answer)
            }
            (Some(_), None) => {
                let also = if inner.api_keys.is_empty() {
                    ""
                } else {
                    " nor a configured API key"
                };
                Err(self.refused(
                    "jwt",
                    Refusal::invalid_token(
                        "malformed",
                        format!(
                            "the bearer token is not a JWT (three dot-separated base64url \
                             parts){also}"
                        ),
                    ),
                ))
            }
            (None, None) => Err(self.refused(
                "api_key",
                Refusal::invalid_token(
                    "unknown_api_key",
                    "the bearer credential matches no configured API key",
                ),
            )),
        }
    }

    /// The caller of a key in the configured API-key header.
    fn api_key_header(&self, key: &str) -> Result<Arc<Principal>, Refusal> {
        let inner = &*self.inner;
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        if let Some(principal) = inner.api_keys.find(&digest, key) {
            inner.metrics.decision("api_key", "accepted", "verified");
            return Ok(Arc::new(principal));
        }
        let name = inner.api_key_header.as_ref().map_or("", |h| h.as_str());
        Err(self.refused(
            "api_key",
            Refusal::invalid_token(
                "unknown_api_key",
                format!("the API key in `{name}` matches no configured key"),
            ),
        ))
    }

    fn finish(
        &self,
        method: &'static str,
        token: &str,
        result: Result<(Principal, u64), Refusal>,
    ) -> Result<Arc<Principal>, Refusal> {
        match result {
            Ok((principal, until)) => {
                // Re-verified now and then, so that a key removed from the JWKS stops
                // long-lived tokens within this bound.
                let until = until.min(claims::now_unix().saturating_add(MAX_CACHE_SECONDS));
                let principal = Arc::new(principal);
                self.inner
                    .cache
                    .insert(token.as_bytes(), principal.clone(), until);
                self.inner.metrics.decision(method, "accepted", "verified");
                Ok(principal)
            }
            Err(refusal) => Err(self.refused(method, refusal)),
        }
    }

    fn refused(&self, method: &'static str, refusal: Refusal) -> Refusal {
        self.inner
            .metrics
            .decision(method, "refused", refusal.reason);
        tracing::debug!(method, reason = refusal.reason, description = %refusal.description, "credential refused");
        refusal
    }
}

impl Authenticator for ResourceAuth {
    fn authenticate<'a>(
        &'a self,
        request: &'a http::request::Parts,
    ) -> BoxFuture<'a, Result<Arc<Principal>, Refusal>> {
        Box::pin(self.authenticate_parts(request))
    }
}
