//! The issuer's keys fetched over HTTP: OIDC discovery (or a configured `jwks_uri`), a cache
//! that honours `Cache-Control: max-age` within configured bounds, and refetches on an unknown
//! `kid` that are single-flight and at most one per `jwks_refresh_min_interval`, so a flood of
//! tokens with made-up key ids cannot make toolgate hammer the IdP.
//!
//! When a fetch fails, the keys already held are kept (an IdP outage does not lock everyone
//! out), the failure is logged and counted, and the next attempt waits for the interval.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use jsonwebtoken::Algorithm;
use tokio::time::Instant;

use crate::claims::shown;
use crate::keys::KeySet;
use crate::metrics::AuthMetrics;

/// Largest discovery document or JWKS read.
const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;
/// How long a JWKS is kept when the server sends no `max-age` (within the configured bounds).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);

/// Where the JWKS is.
#[derive(Debug, Clone)]
pub(crate) enum JwksLocation {
    Uri(String),
    Discovery { issuer: String },
}

/// Cache bounds and rate limit of JWKS fetches.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FetchPolicy {
    pub min_interval: Duration,
    pub cache_min: Duration,
    pub cache_max: Duration,
}

/// The keys held at one moment.
pub(crate) struct Snapshot {
    pub keys: Arc<KeySet>,
    fresh_until: Option<Instant>,
    pub fetched_at: Option<Instant>,
    pub last_error: Option<String>,
}

/// Why a fetch failed.
#[derive(Debug)]
pub(crate) enum FetchError {
    /// The IdP could not be reached or answered badly (transient as far as we know).
    Unavailable(String),
    /// The IdP answers, but not what the configuration expects (fix the configuration).
    Mismatch(String),
}

impl FetchError {
    pub fn message(&self) -> &str {
        match self {
            FetchError::Unavailable(m) | FetchError::Mismatch(m) => m,
        }
    }
}

/// The remote key source.
pub(crate) struct RemoteKeys {
    location: JwksLocation,
    client: reqwest::Client,
    allowed: Vec<Algorithm>,
    policy: FetchPolicy,
    current: ArcSwap<Snapshot>,
    /// Held while fetching (single flight); holds the JWKS URL once discovered.
    refresh: tokio::sync::Mutex<Option<String>>,
    last_attempt: Mutex<Option<Instant>>,
    metrics: AuthMetrics,
}

impl RemoteKeys {
    pub fn new(
        location: JwksLocation,
        client: reqwest::Client,
        allowed: Vec<Algorithm>,
        policy: FetchPolicy,
        metrics: AuthMetrics,
    ) -> Self {
        let known_uri = match &location {
            JwksLocation::Uri(uri) => Some(uri.clone()),
            JwksLocation::Discovery { .. } => None,
        };
        RemoteKeys {
            location,
            client,
            allowed,
            policy,
            current: ArcSwap::from_pointee(Snapshot {
                keys: Arc::default(),
                fresh_until: None,
                fetched_at: None,
                last_error: None,
            }),
            refresh: tokio::sync::Mutex::new(known_uri),
            last_attempt: Mutex::new(None),
            metrics,
        }
    }

    /// Fetches the keys now (at start), whatever the interval.
    pub async fn prime(&self) -> Result<(), FetchError> {
        let mut uri = self.refresh.lock().await;
        self.mark_attempt();
        self.refresh_locked(&mut uri).await
    }

    /// The keys to verify a token with `kid`; refetched first when stale or when `kid` is
    /// unknown, unless a fetch was attempted less than the interval ago.
    pub async fn keys(&self, kid: Option<&str>) -> Arc<Snapshot> {
        let snapshot = self.current.load_full();
        if !wants_refresh(&snapshot, kid) || self.attempted_recently() {
            return snapshot;
        }
        let mut uri = self.refresh.lock().await;
        // Whoever held the lock before may have fetched what this caller needs.
        let snapshot = self.current.load_full();
        if !wants_refresh(&snapshot, kid) || self.attempted_recently() {
            return snapshot;
        }
        self.mark_attempt();
        if let Err(e) = self.refresh_locked(&mut uri).await {
            tracing::warn!(error = %e.message(), "could not refresh the issuer's signing keys; keeping the keys held");
        }
        self.current.load_full()
    }

    /// Describes where the keys come from, for refusals.
    pub fn source(&self) -> String {
        match &self.location {
            JwksLocation::Uri(uri) => format!("the JWKS at {}", shown(uri)),
            JwksLocation::Discovery { issuer } => {
                format!("the JWKS of issuer {} (OIDC discovery)", shown(issuer))
            }
        }
    }

    /// The minimum time between refetches.
    pub fn min_interval(&self) -> Duration {
        self.policy.min_interval
    }

    fn attempted_recently(&self) -> bool {
        let last = *self
            .last_attempt
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        last.is_some_and(|t| t.elapsed() < self.policy.min_interval)
    }

    fn mark_attempt(&self) {
        *self
            .last_attempt
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
    }

    async fn refresh_locked(&self, uri: &mut Option<String>) -> Result<(), FetchError> {
        let result = self.fetch(uri).await;
        let old = self.current.load_full();
        match result {
            Ok((keys, lifetime)) => {
                let now = Instant::now();
                self.current.store(Arc::new(Snapshot {
                    keys: Arc::new(keys),
                    fresh_until: Some(now + lifetime),
                    fetched_at: Some(now),
                    last_error: None,
                }));
                Ok(())
            }
            Err(e) => {
                self.current.store(Arc::new(Snapshot {
                    keys: old.keys.clone(),
                    fresh_until: old.fresh_until,
                    fetched_at: old.fetched_at,
                    last_error: Some(e.message().to_owned()),
                }));
                Err(e)
            }
        }
    }

    async fn fetch(&self, uri: &mut Option<String>) -> Result<(KeySet, Duration), FetchError> {
        let jwks_uri = match uri {
            Some(u) => u.clone(),
            None => {
                let JwksLocation::Discovery { issuer } = &self.location else {
                    // A configured URI is stored at construction; this is not reached.
                    return Err(FetchError::Mismatch("no JWKS location".into()));
                };
                let found = self.discover(issuer).await?;
                *uri = Some(found.clone());
                found
            }
        };
        let (document, cache_control) = self.get_json(&jwks_uri, "JWKS").await?;
        let (keys, skipped) = KeySet::from_jwks(&document, &self.allowed);
        for note in &skipped {
            tracing::debug!(jwks_uri = %jwks_uri, note = %note, "JWKS key skipped");
        }
        if keys.entries.is_empty() {
            return Err(FetchError::Unavailable(format!(
                "the JWKS at {} holds no usable signing key ({})",
                shown(&jwks_uri),
                if skipped.is_empty() {
                    "it is empty".to_owned()
                } else {
                    skipped.join("; ")
                }
            )));
        }
        Ok((keys, self.lifetime(cache_control.as_deref())))
    }

    /// OIDC discovery, then the RFC 8414 form: the `jwks_uri` of `issuer`.
    async fn discover(&self, issuer: &str) -> Result<String, FetchError> {
        let base = issuer.trim_end_matches('/');
        let mut urls = vec![format!("{base}/.well-known/openid-configuration")];
        if let Ok(url) = url::Url::parse(issuer) {
            let path = url.path().trim_end_matches('/');
            let origin = url.origin().ascii_serialization();
            urls.push(format!(
                "{origin}/.well-known/oauth-authorization-server{path}"
            ));
        }
        let mut last = None;
        for url in urls {
            match self.get_json(&url, "discovery document").await {
                Ok((doc, _)) => {
                    let announced = doc.get("issuer").and_then(|v| v.as_str()).unwrap_or("");
                    if announced != issuer {
                        return Err(FetchError::Mismatch(format!(
                            "the discovery document at {} announces issuer `{}`, not the \
                             configured `{}`; tokens carry the announced one: set auth.issuer \
                             to it",
                            shown(&url),
                            shown(announced),
                            shown(issuer)
                        )));
                    }
                    return match doc.get("jwks_uri").and_then(|v| v.as_str()) {
                        Some(jwks_uri) => Ok(jwks_uri.to_owned()),
                        None => Err(FetchError::Mismatch(format!(
                            "the discovery document at {} has no `jwks_uri`; set \
                             auth.jwt.jwks_uri",
                            shown(&url)
                        ))),
                    };
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| FetchError::Unavailable("no discovery URL".into())))
    }

    /// GETs a JSON document (at most 1 MiB); returns it and its `Cache-Control`.
    async fn get_json(
        &self,
        url: &str,
        what: &str,
    ) -> Result<(serde_json::Value, Option<String>), FetchError> {
        let result = get_json(&self.client, url, what).await;
        self.metrics.jwks_fetch(result.is_ok());
        result
    }

    /// The lifetime of a fetched JWKS from its `Cache-Control`, within the bounds.
    fn lifetime(&self, cache_control: Option<&str>) -> Duration {
        lifetime(cache_control, self.policy)
    }
}

fn wants_refresh(snapshot: &Snapshot, kid: Option<&str>) -> bool {
    let stale = snapshot.fresh_until.is_none_or(|t| Instant::now() >= t);
    stale || kid.is_some_and(|k| !snapshot.keys.has_kid(k))
}

/// The lifetime a `Cache-Control` value asks for, clamped to the policy's bounds.
pub(crate) fn lifetime(cache_control: Option<&str>, policy: FetchPolicy) -> Duration {
    let mut wanted = DEFAULT_LIFETIME;
    if let Some(value) = cache_control {
        for directive in value.split(',').map(str::trim) {
            let lower = directive.to_ascii_lowercase();
            if lower == "no-store" || lower == "no-cache" {
                wanted = Duration::ZERO;
                break;
            }
            if let Some(seconds) = lower.strip_prefix("max-age=")
                && let Ok(s) = seconds.trim_matches('"').parse::<u64>()
            {
                wanted = Duration::from_secs(s);
            }
        }
    }
    wanted.clamp(policy.cache_min, policy.cache_max.max(policy.cache_min))
}

/// GETs a JSON document of at most 1 MiB.
pub(crate) async fn get_json(
    client: &reqwest::Client,
    url: &str,
    what: &str,
) -> Result<(serde_json::Value, Option<String>), FetchError> {
    let fail = |why: String| {
        FetchError::Unavailable(format!("fetching the {what} at {}: {why}", shown(url)))
    };
    let response = client
        .get(url)
        .header(http::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| fail(e.without_url().to_string()))?;
    let status = response.status();
    if !status.is_success() {
        return Err(fail(format!("HTTP {status}")));
    }
    let cache_control = response
        .headers()
        .get(http::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = read_capped(response, MAX_DOCUMENT_BYTES)
        .await
        .map_err(fail)?;
    let document = serde_json::from_slice(&body).map_err(|e| fail(format!("not JSON ({e})")))?;
    Ok((document, cache_control))
}

/// Reads a response body, refusing more than `limit` bytes.
pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| e.without_url().to_string())?
    {
        if body.len() + chunk.len() > limit {
            return Err(format!("the answer is larger than {limit} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_is_honoured_within_bounds() {
        let policy = FetchPolicy {
            min_interval: Duration::from_secs(30),
            cache_min: Duration::from_secs(60),
            cache_max: Duration::from_secs(3600),
        };
        let secs = |v: Option<&str>| lifetime(v, policy).as_secs();
        assert_eq!(secs(None), 300);
        assert_eq!(secs(Some("public, max-age=600")), 600);
        assert_eq!(secs(Some("max-age=5")), 60);
        assert_eq!(secs(Some("max-age=999999")), 3600);
        assert_eq!(secs(Some("no-store")), 60);
        assert_eq!(secs(Some("max-age=nonsense")), 300);
    }
}
