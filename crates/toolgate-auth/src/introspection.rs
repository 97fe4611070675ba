//! RFC 7662 token introspection for opaque access tokens: a form POST to the authorization
//! server's endpoint, authenticated with `client_secret_basic`; `active: false` is a `401`.
//! Answers are cached (moka, keyed by the token's SHA-256) until the token's `exp` and at most
//! `cache_seconds`, so revocation takes effect within that bound; "not active" answers for
//! [`NEGATIVE_SECONDS`]. Concurrent requests with the same new token share one introspection
//! (moka's `try_get_with`); failures to reach the endpoint are not cached.

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::Expiry;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};
use toolgate_core::{AuthMethod, Principal, Refusal};

use crate::claims::{ClaimRules, now_unix, shown};
use crate::config::{IntrospectionConfig, Secret};
use crate::jwks::read_capped;
use crate::metrics::AuthMetrics;

/// Largest introspection answer read.
const MAX_ANSWER_BYTES: usize = 256 * 1024;
/// How long a "not active" answer is remembered (a flood of one bad token asks once).
const NEGATIVE_SECONDS: u64 = 30;
/// Most answers remembered.
const CACHE_ENTRIES: u64 = 10_000;

/// An answer: the caller and until when it may be reused, or why the token is refused.
type Answer = Arc<Result<(Principal, u64), Refusal>>;

struct AnswerExpiry;

impl Expiry<[u8; 32], Answer> for AnswerExpiry {
    fn expire_after_create(&self, _: &[u8; 32], answer: &Answer, _: Instant) -> Option<Duration> {
        Some(Duration::from_secs(match &**answer {
            Ok((_, until)) => until.saturating_sub(now_unix()),
            Err(_) => NEGATIVE_SECONDS,
        }))
    }
}

/// Checks opaque tokens at the introspection endpoint.
pub(crate) struct Introspector {
    endpoint: String,
    /// `Basic base64(urlencode(id):urlencode(secret))`, built once (RFC 6749 §2.3.1).
    authorization: Secret,
    client: reqwest::Client,
    cache_seconds: u64,
    rules: ClaimRules,
    metrics: AuthMetrics,
    answers: moka::future::Cache<[u8; 32], Answer>,
}

impl Introspector {
    pub fn new(
        config: &IntrospectionConfig,
        rules: ClaimRules,
        metrics: AuthMetrics,
    ) -> Result<Self, reqwest::Error> {
        let encode =
            |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let pair = format!(
            "{}:{}",
            encode(&config.client_id),
            encode(config.client_secret.expose())
        );
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.http_timeout_seconds.max(1)))
            .build()?;
        Ok(Introspector {
            endpoint: config.endpoint.clone(),
            authorization: Secret::new(format!("Basic {}", STANDARD.encode(pair))),
            client,
            cache_seconds: config.cache_seconds,
            rules,
            metrics,
            answers: moka::future::Cache::builder()
                .max_capacity(CACHE_ENTRIES)
                .expire_after(AnswerExpiry)
                .build(),
        })
    }

    /// [`Self::introspect`] through the answer cache; `digest` is the token's SHA-256.
    pub async fn check(&self, token: &str, digest: [u8; 32]) -> Result<(Principal, u64), Refusal> {
        if self.cache_seconds == 0 {
            return self.introspect(token).await;
        }
        let answer = self
            .answers
            .try_get_with(digest, async {
                match self.introspect(token).await {
                    // Not remembered: the endpoint may answer next time, the token may
                    // become valid.
                    Err(refusal)
                        if matches!(refusal.reason, "introspection_failed" | "not_yet_valid") =>
                    {
                        Err(refusal)
                    }
                    other => Ok(Arc::new(other)),
                }
            })
            .await;
        match answer {
            Ok(answer) => match &*answer {
                Ok((principal, until)) if *until > now_unix() => Ok((principal.clone(), *until)),
                Ok(_) => self.introspect(token).await,
                Err(refusal) => Err(refusal.clone()),
            },
            Err(refusal) => Err((*refusal).clone()),
        }
    }

    /// The caller holding `token` and the Unix time until which the answer may be reused.
    async fn introspect(&self, token: &str) -> Result<(Principal, u64), Refusal> {
        let answer = match self.request(token).await {
            Ok(answer) => {
                self.metrics.introspection("ok");
                answer
            }
            Err(why) => {
                self.metrics.introspection("error");
                tracing::warn!(endpoint = %self.endpoint, error = %why, "token introspection failed");
                return Err(Refusal::invalid_token(
                    "introspection_failed",
                    format!(
                        "the token could not be checked: the introspection endpoint {why}; try \
                         again later"
                    ),
                ));
            }
        };
        if answer.get("active") != Some(&Value::Bool(true)) {
            return Err(Refusal::invalid_token(
                "inactive",
                "the authorization server reports the token as not active (expired, revoked or \
                 never issued); get a new one",
            ));
        }
        let now = now_unix();
        let exp = self.rules.check(&answer, now, true)?;
        let cap = now.saturating_add(self.cache_seconds);
        let until = exp.map_or(cap, |exp| exp.min(cap));
        let principal = self
            .rules
            .principal(answer, AuthMethod::Introspection, token)?;
        Ok((principal, until))
    }

    async fn request(&self, token: &str) -> Result<Map<String, Value>, String> {
        let response = self
            .client
            .post(&self.endpoint)
            .header(http::header::AUTHORIZATION, self.authorization.expose())
            .header(http::header::ACCEPT, "application/json")
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .map_err(|e| {
                format!(
                    "at {} could not be reached ({})",
                    shown(&self.endpoint),
                    e.without_url()
                )
            })?;
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(format!(
                "refused toolgate's client credentials (HTTP {status}); check \
                 auth.introspection.client_id and client_secret"
            ));
        }
        if !status.is_success() {
            return Err(format!("answered HTTP {status}"));
        }
        let body = read_capped(response, MAX_ANSWER_BYTES).await?;
        serde_json::from_slice(&body)
            .map_err(|_| "answered something that is not a JSON object".to_owned())
    }
}
