//! The `http.sessions` configuration section: where legacy sessions live, so that a fleet of
//! replicas behind a load balancer can serve any request of any session; and
//! [`SessionsConfig::problems`], which reports every problem with its path.
//!
//! Does not own: the stores themselves ([`super::redis`], [`super::sealed`]).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use toolgate_http::Secret;

/// Where legacy (2025-11-25 and older) sessions are kept. `memory` (the default): in this
/// process, so every request of a session must reach the replica that opened it. `redis` and
/// `sealed`: any replica can serve any request of any session (see docs/fleet.md for the
/// trade-off between them).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "store", rename_all = "snake_case", deny_unknown_fields)]
pub enum SessionsConfig {
    /// In this process only.
    #[default]
    Memory,
    /// In Redis, shared by every replica using it: one write per new session, one read the
    /// first time a replica sees a session, and one pipelined round trip per second per
    /// replica that keeps used sessions alive and notices deleted ones.
    Redis(RedisSessionsConfig),
    /// In the session id itself: the client's `initialize` parameters, the caller that
    /// opened the session and when, encrypted and authenticated (ChaCha20-Poly1305) under a
    /// key derived from `secret`. Nothing is shared; a `DELETE` or an idle timeout ends the
    /// session only on the replica that sees it, and the id opens on any replica until
    /// `max_age_seconds` after it was issued.
    Sealed(SealedSessionsConfig),
}

/// Sessions in Redis.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedisSessionsConfig {
    /// `redis://[user:password@]host:port[/db]` (or `rediss://` for TLS). The password never
    /// appears in logs or errors.
    pub url: String,
    /// Prefix of every Redis key the session store writes (`<prefix>:session:<id>`); the
    /// replicas of one fleet must use the same.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// How long a request may wait for Redis when it carries a session this replica does not
    /// know yet, in milliseconds; past it the request is answered 503 (retry).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

/// Sessions sealed into their ids.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SealedSessionsConfig {
    /// The secret new session ids are sealed with (and opened with): at least 32 characters
    /// of high entropy, e.g. `openssl rand -base64 32`, given as `${VAR}`. Every replica of
    /// a fleet must have the same.
    pub secret: Secret,
    /// The secret before the last rotation: ids sealed with it still open (rotate by moving
    /// `secret` here and setting a new `secret`; drop it after `max_age_seconds`).
    #[serde(default)]
    pub previous_secret: Option<Secret>,
    /// How long a session id stays valid after it was issued, in seconds, whatever its use.
    #[serde(default = "default_max_age_seconds")]
    pub max_age_seconds: u64,
}

fn default_prefix() -> String {
    "toolgate".to_owned()
}

fn default_timeout_ms() -> u64 {
    250
}

fn default_max_age_seconds() -> u64 {
    24 * 3600
}

/// The fewest characters a sealing secret may have.
pub(crate) const MIN_SECRET_CHARS: usize = 32;

impl SessionsConfig {
    /// The store's name, for logs.
    pub fn store_name(&self) -> &'static str {
        match self {
            SessionsConfig::Memory => "memory",
            SessionsConfig::Redis(_) => "redis",
            SessionsConfig::Sealed(_) => "sealed",
        }
    }

    /// Every problem, as (path below `http.sessions`, message); never quotes a secret or a URL
    /// (it may hold a password).
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        match self {
            SessionsConfig::Memory => {}
            SessionsConfig::Redis(r) => {
                let url_ok = url::Url::parse(&r.url)
                    .is_ok_and(|u| matches!(u.scheme(), "redis" | "rediss") && u.host().is_some());
                if !url_ok || redis::Client::open(r.url.as_str()).is_err() {
                    problems.push((
                        "url".to_owned(),
                        "is not a Redis URL such as redis://127.0.0.1:6379 (or rediss:// for TLS)"
                            .to_owned(),
                    ));
                }
                if r.prefix.is_empty() || r.prefix.contains([' ', '{', '}']) {
                    problems.push((
                        "prefix".to_owned(),
                        "must be non-empty without spaces or braces".to_owned(),
                    ));
                }
                if !(1..=10_000).contains(&r.timeout_ms) {
                    problems.push((
                        "timeout_ms".to_owned(),
                        format!(
                            "{} is out of range: a request may wait 1 to 10000 ms for Redis (250 is a good start)",
                            r.timeout_ms
                        ),
                    ));
                }
            }
            SessionsConfig::Sealed(s) => {
                for (at, secret) in [
                    ("secret", Some(&s.secret)),
                    ("previous_secret", s.previous_secret.as_ref()),
                ] {
                    if let Some(secret) = secret
                        && secret.expose().chars().count() < MIN_SECRET_CHARS
                    {
                        problems.push((
                            at.to_owned(),
                            format!(
                                "is shorter than {MIN_SECRET_CHARS} characters: use a random one, e.g. `openssl rand -base64 32`"
                            ),
                        ));
                    }
                }
                if s.max_age_seconds == 0 {
                    problems.push((
                        "max_age_seconds".to_owned(),
                        "must be at least 1 (86400, a day, is the default)".to_owned(),
                    ));
                }
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_the_default_and_each_store_is_checked() {
        let c: SessionsConfig = serde_json::from_value(serde_json::json!({})).unwrap_or_default();
        assert_eq!(c.store_name(), "memory");
        let c: SessionsConfig = serde_json::from_value(
            serde_json::json!({"store": "redis", "url": "redis://127.0.0.1:6379"}),
        )
        .unwrap();
        assert!(c.problems().is_empty(), "{:?}", c.problems());
        let c: SessionsConfig = serde_json::from_value(
            serde_json::json!({"store": "redis", "url": "http://:hunter2@x", "prefix": "a b", "timeout_ms": 0}),
        )
        .unwrap();
        let problems = c.problems();
        let at: Vec<&str> = problems.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(at, ["url", "prefix", "timeout_ms"]);
        assert!(!format!("{problems:?}").contains("hunter2"));
        let c: SessionsConfig = serde_json::from_value(
            serde_json::json!({"store": "sealed", "secret": "short-secret", "max_age_seconds": 0}),
        )
        .unwrap();
        let problems = c.problems();
        let at: Vec<&str> = problems.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(at, ["secret", "max_age_seconds"]);
        assert!(!format!("{problems:?} {c:?}").contains("short-secret"));
        assert!(
            serde_json::from_value::<SessionsConfig>(
                serde_json::json!({"store": "sealed", "secret": "x".repeat(40), "colour": 1})
            )
            .is_err()
        );
    }
}
