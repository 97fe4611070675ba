//! OAuth 2.0 Token Exchange (RFC 8693) for a backend: the caller's token goes to the token
//! endpoint as the `subject_token`, and the token issued for the backend's audience is sent
//! to the backend instead.
//!
//! Issued tokens are cached per caller (subject and a SHA-256 of the caller's token) until
//! shortly before they expire (`expires_in`, else the JWT's `exp`, else 5 minutes; never
//! beyond the caller's own token's `exp`). `moka`'s `try_get_with` makes the exchange
//! single-flight per caller: concurrent calls of one caller share one request, while
//! different callers exchange in parallel. A failure is remembered for that caller for 5 s
//! (concurrent calls share the failing request; later ones get the failure at once), so a
//! refused token or a failing endpoint costs one request per caller per 5 s, not one per call.
//!
//! The request and the answer are handled by the OAuth2 module's `post_token_form` (client
//! authentication, timeouts, RFC 6749 §5.1 answers, secret-free error excerpts): messages
//! show the endpoint, its status and an excerpt of its answer, never the caller's token, the
//! issued token or the client secret.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderName, HeaderValue};
use sha2::{Digest, Sha256};
use toolgate_core::context::{Credential, Principal};
use toolgate_core::error::ToolError;
use url::Url;

use crate::auth::{ClientAuth, Endpoint, post_token_form, sensitive};
use crate::options::TokenExchangeOptions;

/// `grant_type` of RFC 8693.
pub(crate) const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// `subject_token_type` of an OAuth 2.0 access token (RFC 8693 §3).
pub(crate) const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// Most callers whose exchanged tokens are kept at once.
const CACHE_CAPACITY: u64 = 10_000;
/// The longest an exchanged token is kept back before its expiry.
const MAX_SPARE: Duration = Duration::from_secs(30);
/// Shortest time an exchanged token is cached.
const MIN_CACHED: Duration = Duration::from_secs(1);
/// How long a failed exchange is answered from memory for that caller, so a caller whose
/// token the endpoint refuses (or a failing endpoint) does not cost a request per call.
const FAILURE_MEMORY: Duration = Duration::from_secs(5);

/// A cached exchanged token and how long it may be used.
#[derive(Clone)]
struct Exchanged {
    header: HeaderValue,
    usable_for: Duration,
}

/// Each entry lives as long as its token may be used.
struct UntilExpiry;

impl moka::Expiry<[u8; 32], Exchanged> for UntilExpiry {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        value: &Exchanged,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.usable_for)
    }
}

/// One source's token exchange: endpoint, client, request parameters and the cache.
pub(crate) struct Exchanger {
    token_url: Url,
    client: ClientAuth,
    audience: Option<String>,
    resource: Option<String>,
    scope: String,
    requested_token_type: Option<String>,
    pub(crate) header: HeaderName,
    bearer: bool,
    cache: moka::future::Cache<[u8; 32], Exchanged>,
    /// Recent failures per caller, answered from for [`FAILURE_MEMORY`].
    failures: moka::future::Cache<[u8; 32], ToolError>,
    /// Requests made to the token endpoint so far (observability and tests).
    pub(crate) exchanges: AtomicU64,
}

impl std::fmt::Debug for Exchanger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exchanger")
            .field("token_url", &&self.token_url[..url::Position::AfterPath])
            .field("client_id", &self.client.id)
            .finish_non_exhaustive()
    }
}

impl Exchanger {
    /// Builds the exchanger; every problem is pushed onto `problems`.
    pub(crate) fn new(
        options: &TokenExchangeOptions,
        at: &str,
        problems: &mut Vec<String>,
    ) -> Option<Exchanger> {
        let token_url = match Url::parse(&options.token_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
            _ => {
                problems.push(format!(
                    "{at}.token_url must be an absolute http(s) URL such as \
                     https://idp.example.com/oauth2/token"
                ));
                None
            }
        };
        if options.client_id.is_empty() {
            problems.push(format!("{at}.client_id is empty"));
        }
        let header = super::mint::token_header(&options.header, &format!("{at}.header"), problems);
        let (token_url, (header, bearer)) = (token_url?, header?);
        if options.client_id.is_empty() {
            return None;
        }
        Some(Exchanger {
            token_url,
            client: ClientAuth {
                id: options.client_id.clone(),
                secret: options.client_secret.clone(),
                method: options.client_auth,
            },
            audience: options.audience.clone(),
            resource: options.resource.clone(),
            scope: options.scopes.join(" "),
            requested_token_type: options.requested_token_type.clone(),
            header,
            bearer,
            cache: moka::future::Cache::builder()
                .max_capacity(CACHE_CAPACITY)
                .expire_after(UntilExpiry)
                .build(),
            failures: moka::future::Cache::builder()
                .max_capacity(CACHE_CAPACITY)
                .time_to_live(FAILURE_MEMORY)
                .build(),
            exchanges: AtomicU64::new(0),
        })
    }

    fn cache_key(principal: &Principal, credential: &Credential) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(principal.subject.as_bytes());
        h.update([0]);
        h.update(credential.expose().as_bytes());
        h.finalize().into()
    }

    /// The header value for the backend: cached for this caller, or exchanged now (once for
    /// all of this caller's concurrent calls).
    pub(crate) async fn header_value(
        &self,
        client: &reqwest::Client,
        principal: &Principal,
        credential: &Credential,
    ) -> Result<HeaderValue, ToolError> {
        let key = Self::cache_key(principal, credential);
        if let Some(mut err) = self.failures.get(&key).await {
            err.message.push_str(&format!(
                " (a failure of the last {} s, remembered for this caller)",
                FAILURE_MEMORY.as_secs()
            ));
            return Err(err);
        }
        match self
            .cache
            .try_get_with(key, self.exchange(client, principal, credential))
            .await
        {
            Ok(e) => Ok(e.header),
            Err(e) => {
                self.failures.insert(key, (*e).clone()).await;
                Err((*e).clone())
            }
        }
    }

    /// Drops the token cached for this caller (the backend refused it).
    pub(crate) async fn forget(&self, principal: &Principal, credential: &Credential) {
        self.cache
            .invalidate(&Self::cache_key(principal, credential))
            .await;
    }

    async fn exchange(
        &self,
        client: &reqwest::Client,
        principal: &Principal,
        credential: &Credential,
    ) -> Result<Exchanged, ToolError> {
        self.exchanges.fetch_add(1, Ordering::Relaxed);
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", GRANT_TYPE),
            ("subject_token", credential.expose()),
            ("subject_token_type", ACCESS_TOKEN_TYPE),
        ];
        if let Some(a) = &self.audience {
            form.push(("audience", a));
        }
        if let Some(r) = &self.resource {
            form.push(("resource", r));
        }
        if !self.scope.is_empty() {
            form.push(("scope", &self.scope));
        }
        if let Some(t) = &self.requested_token_type {
            form.push(("requested_token_type", t));
        }
        let mut secrets = vec![credential.expose()];
        if let Some(s) = &self.client.secret {
            secrets.push(s.expose());
        }
        secrets.retain(|s| !s.is_empty());
        let issued = post_token_form(
            client,
            &self.token_url,
            form,
            Some(&self.client),
            &secrets,
            &Endpoint {
                name: "token exchange endpoint",
                setting: "identity.token_exchange.token_url",
            },
            &hint,
        )
        .await
        .inspect_err(|e| {
            tracing::warn!(
                subject = %principal.subject,
                status = e.status,
                "token exchange for the backend failed: {}",
                e.message
            );
        })?;
        let header = if self.bearer {
            issued.header
        } else {
            // `post_token_form` wrote `Bearer <token>`; this header carries the bare token.
            let text = issued.header.to_str().unwrap_or_default();
            sensitive(text.strip_prefix("Bearer ").unwrap_or(text))
                .expect("a part of a header value is one")
        };
        let mut lifetime = issued.lifetime;
        // Never beyond the caller's own token: the exchanged one stands for it.
        if let Some(exp) = principal.claims.get("exp").and_then(|v| v.as_u64()) {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            lifetime = lifetime.min(Duration::from_secs(exp.saturating_sub(now)));
        }
        let usable_for = (lifetime - MAX_SPARE.min(lifetime / 4)).max(MIN_CACHED);
        Ok(Exchanged { header, usable_for })
    }
}

fn hint(status: u16) -> String {
    match status {
        404 | 405 => "check the source's identity.token_exchange.token_url".to_owned(),
        429 | 500..=599 => "the token endpoint is failing; calls of this source need it".to_owned(),
        _ => "check identity.token_exchange client_id, client_secret, audience, resource and \
              scopes, and that the identity provider allows this client to exchange tokens \
              (RFC 8693) for the caller's token"
            .to_owned(),
    }
}
