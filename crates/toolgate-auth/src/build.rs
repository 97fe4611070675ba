//! From [`AuthConfig`] to ready verifiers: every setting is checked in one pass and every
//! problem is reported with its path (`auth.jwt.jwks_uri`) and how to fix it.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;
use jsonwebtoken::Algorithm;

use crate::api_keys::ApiKeys;
use crate::claims::ClaimRules;
use crate::config::{AuthConfig, JwtConfig};
use crate::error::AuthConfigError;
use crate::introspection::Introspector;
use crate::jwks::{FetchError, FetchPolicy, JwksLocation, RemoteKeys};
use crate::jwt::{JwtVerifier, Keys};
use crate::keys::{ASYMMETRIC, HMAC, KeySet};
use crate::metrics::AuthMetrics;

/// The verifiers built from a valid configuration.
pub(crate) struct Built {
    pub api_key_header: Option<HeaderName>,
    pub api_keys: ApiKeys,
    pub jwt: Option<JwtVerifier>,
    pub introspection: Option<Introspector>,
}

/// Shortest accepted HMAC secret (RFC 7518 §3.2: at least the hash size, 256 bits for HS256).
const MIN_SECRET_BYTES: usize = 32;

pub(crate) fn build(
    config: &AuthConfig,
    resource: &str,
    metrics: AuthMetrics,
) -> Result<Built, AuthConfigError> {
    // Both backends may be compiled in through feature unification; pick ours explicitly.
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    if config.jwt.is_none() && config.introspection.is_none() && config.api_keys.is_empty() {
        return Err(AuthConfigError::NoMethod);
    }
    let mut problems = Vec::new();
    if resource.trim().is_empty() {
        problems.push(AuthConfigError::invalid(
            "auth",
            "the resource URL of the MCP endpoint is empty; it is the default audience",
        ));
    }
    if let Some(issuer) = &config.issuer {
        check_url("auth.issuer", issuer, &mut problems);
    }
    if config.leeway_seconds > 600 {
        problems.push(AuthConfigError::invalid(
            "auth.leeway_seconds",
            format!(
                "{} s of clock skew accepts long-expired tokens; use at most 600 (60 is usual)",
                config.leeway_seconds
            ),
        ));
    }
    if config.max_token_bytes < 64 {
        problems.push(AuthConfigError::invalid(
            "auth.max_token_bytes",
            "too small for any token; the default is 8192",
        ));
    }
    let roles_claim = config.roles_claim.as_ref().map(|path| {
        let parts: Vec<String> = path.split('.').map(str::to_owned).collect();
        if parts.iter().any(String::is_empty) {
            problems.push(AuthConfigError::invalid(
                "auth.roles_claim",
                format!("`{path}` is not a dotted claim path like `realm_access.roles`"),
            ));
        }
        parts
    });
    for (i, audience) in config.audience.iter().enumerate() {
        if audience.trim().is_empty() {
            problems.push(AuthConfigError::invalid(
                format!("auth.audience[{i}]"),
                "an empty audience would match nothing; remove it",
            ));
        }
    }
    let rules = ClaimRules {
        issuer: config.issuer.clone(),
        audience: if config.audience.is_empty() {
            vec![resource.to_owned()]
        } else {
            config.audience.clone()
        },
        leeway: config.leeway_seconds,
        required: config.required_claims.clone(),
        scopes_claim: config.scopes_claim.clone(),
        roles_claim,
        subject_claim: config.subject_claim.clone(),
    };
    let api_key_header =
        config
            .api_key_header
            .as_ref()
            .and_then(|name| match HeaderName::from_str(name) {
                Ok(h) if h == http::header::AUTHORIZATION || h == http::header::COOKIE => {
                    problems.push(AuthConfigError::invalid(
                        "auth.api_key_header",
                        format!("`{name}` cannot carry API keys; use e.g. `X-API-Key`"),
                    ));
                    None
                }
                Ok(h) => Some(h),
                Err(_) => {
                    problems.push(AuthConfigError::invalid(
                        "auth.api_key_header",
                        format!("`{name}` is not a valid header name"),
                    ));
                    None
                }
            });
    if api_key_header.is_some() && config.api_keys.is_empty() {
        problems.push(AuthConfigError::invalid(
            "auth.api_key_header",
            "is set but auth.api_keys is empty; add keys or remove it",
        ));
    }
    let api_keys = ApiKeys::new(&config.api_keys, &mut problems);
    let jwt = config
        .jwt
        .as_ref()
        .and_then(|jwt| build_jwt(jwt, config, rules.clone(), metrics.clone(), &mut problems));
    let introspection = config.introspection.as_ref().and_then(|c| {
        check_url("auth.introspection.endpoint", &c.endpoint, &mut problems);
        if c.client_id.is_empty() {
            problems.push(AuthConfigError::invalid(
                "auth.introspection.client_id",
                "is empty; the introspection endpoint needs toolgate's client id",
            ));
        }
        match Introspector::new(c, rules.clone(), metrics.clone()) {
            Ok(i) => Some(i),
            Err(e) => {
                problems.push(AuthConfigError::invalid(
                    "auth.introspection",
                    format!("could not build the HTTP client: {e}"),
                ));
                None
            }
        }
    });
    AuthConfigError::collect(problems)?;
    Ok(Built {
        api_key_header,
        api_keys,
        jwt,
        introspection,
    })
}

fn build_jwt(
    jwt: &JwtConfig,
    config: &AuthConfig,
    rules: ClaimRules,
    metrics: AuthMetrics,
    problems: &mut Vec<AuthConfigError>,
) -> Option<JwtVerifier> {
    let secret = jwt.hs_secret.as_ref().map(|s| s.expose().as_bytes());
    if let Some(secret) = secret
        && secret.len() < MIN_SECRET_BYTES
    {
        problems.push(AuthConfigError::invalid(
            "auth.jwt.hs_secret",
            format!(
                "the shared secret is {} bytes; HMAC needs at least {MIN_SECRET_BYTES} random \
                 bytes (e.g. `openssl rand -base64 48`)",
                secret.len()
            ),
        ));
    }
    let allowed = allowed_algorithms(jwt, secret.is_some(), problems);
    let explicit = [
        jwt.jwks_uri.is_some(),
        jwt.jwks_file.is_some(),
        jwt.jwks.is_some(),
        jwt.discovery == Some(true),
    ];
    if explicit.iter().filter(|x| **x).count() > 1 {
        problems.push(AuthConfigError::invalid(
            "auth.jwt",
            "give one source of keys: jwks_uri, discovery, jwks_file or jwks",
        ));
    }
    let discovery = jwt
        .discovery
        .unwrap_or(config.issuer.is_some() && !explicit.iter().any(|x| *x) && secret.is_none());
    if discovery && config.issuer.is_none() {
        problems.push(AuthConfigError::invalid(
            "auth.jwt.discovery",
            "OIDC discovery needs auth.issuer (the IdP's issuer URL)",
        ));
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(jwt.http_timeout_seconds.max(1)))
        .build()
        .ok();
    let policy = FetchPolicy {
        min_interval: Duration::from_secs(jwt.jwks_refresh_min_interval_seconds),
        cache_min: Duration::from_secs(jwt.jwks_cache_min_seconds),
        cache_max: Duration::from_secs(jwt.jwks_cache_max_seconds),
    };
    if policy.cache_min > policy.cache_max {
        problems.push(AuthConfigError::invalid(
            "auth.jwt.jwks_cache_min_seconds",
            "is larger than jwks_cache_max_seconds",
        ));
    }
    let remote = |location| {
        Keys::Remote(Arc::new(RemoteKeys::new(
            location,
            client.clone().unwrap_or_default(),
            allowed.clone(),
            policy,
            metrics.clone(),
        )))
    };
    let keys = if let Some(uri) = &jwt.jwks_uri {
        check_url("auth.jwt.jwks_uri", uri, problems);
        remote(JwksLocation::Uri(uri.clone()))
    } else if let Some(path) = &jwt.jwks_file {
        match std::fs::read(path) {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(doc) => static_keys("auth.jwt.jwks_file", &doc, &allowed, problems),
                Err(e) => {
                    problems.push(AuthConfigError::invalid(
                        "auth.jwt.jwks_file",
                        format!(
                            "`{path}` is not JSON ({e}); expected a JWKS `{{\"keys\": [...]}}`"
                        ),
                    ));
                    Keys::None
                }
            },
            Err(e) => {
                problems.push(AuthConfigError::invalid(
                    "auth.jwt.jwks_file",
                    format!("cannot read `{path}`: {e}"),
                ));
                Keys::None
            }
        }
    } else if let Some(doc) = &jwt.jwks {
        static_keys("auth.jwt.jwks", doc, &allowed, problems)
    } else if discovery {
        match &config.issuer {
            Some(issuer) => remote(JwksLocation::Discovery {
                issuer: issuer.clone(),
            }),
            None => Keys::None,
        }
    } else {
        Keys::None
    };
    if matches!(keys, Keys::None) && secret.is_none() && problems.is_empty() {
        problems.push(AuthConfigError::invalid(
            "auth.jwt",
            "no keys to verify tokens with: set jwks_uri, discovery (with auth.issuer), \
             jwks_file, jwks or hs_secret",
        ));
    }
    Some(JwtVerifier {
        keys,
        secret: secret.map(|s| JwtVerifier::secret_entry(s, &allowed)),
        allowed,
        rules,
        metrics,
    })
}

/// The configured algorithm allowlist, or the default one.
fn allowed_algorithms(
    jwt: &JwtConfig,
    has_secret: bool,
    problems: &mut Vec<AuthConfigError>,
) -> Vec<Algorithm> {
    if jwt.algorithms.is_empty() {
        let mut all = ASYMMETRIC.to_vec();
        if has_secret {
            all.extend(HMAC);
        }
        return all;
    }
    let mut allowed = Vec::new();
    for (i, name) in jwt.algorithms.iter().enumerate() {
        let path = format!("auth.jwt.algorithms[{i}]");
        match Algorithm::from_str(name) {
            Ok(alg) if HMAC.contains(&alg) && !has_secret => problems.push(
                AuthConfigError::invalid(path, format!("`{name}` needs auth.jwt.hs_secret")),
            ),
            Ok(alg) => allowed.push(alg),
            Err(_) => problems.push(AuthConfigError::invalid(
                path,
                format!(
                    "`{name}` is not a supported algorithm; use RS256/384/512, PS256/384/512, \
                     ES256/384, EdDSA or (with hs_secret) HS256/384/512"
                ),
            )),
        }
    }
    allowed
}

fn static_keys(
    path: &str,
    doc: &serde_json::Value,
    allowed: &[Algorithm],
    problems: &mut Vec<AuthConfigError>,
) -> Keys {
    let (set, skipped) = KeySet::from_jwks(doc, allowed);
    for note in &skipped {
        problems.push(AuthConfigError::invalid(
            path,
            format!("{note}; fix or remove that key"),
        ));
    }
    if set.entries.is_empty() && skipped.is_empty() {
        problems.push(AuthConfigError::invalid(
            path,
            "holds no keys; expected a JWKS `{\"keys\": [...]}`",
        ));
    }
    Keys::Static(Arc::new(set))
}

fn check_url(path: &str, value: &str, problems: &mut Vec<AuthConfigError>) {
    match url::Url::parse(value) {
        Ok(url) if url.scheme() == "https" => {}
        Ok(url) if url.scheme() == "http" => {
            let loopback = match url.host() {
                Some(url::Host::Domain(d)) => d == "localhost",
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            if !loopback {
                tracing::warn!(
                    setting = path,
                    url = value,
                    "plain http: keys and introspection answers can be forged on the way; use https"
                );
            }
        }
        _ => problems.push(AuthConfigError::invalid(
            path,
            format!("`{value}` is not an http(s) URL"),
        )),
    }
}

/// Fetches remote keys once at start. An unreachable IdP is logged (verification retries);
/// an IdP that answers something the configuration contradicts is an error.
pub(crate) async fn prime(jwt: &Option<JwtVerifier>) -> Result<(), AuthConfigError> {
    let Some(JwtVerifier {
        keys: Keys::Remote(remote),
        ..
    }) = jwt
    else {
        return Ok(());
    };
    match remote.prime().await {
        Ok(()) => Ok(()),
        Err(FetchError::Unavailable(why)) => {
            tracing::warn!(error = %why, "the issuer's signing keys could not be fetched at start; tokens are refused until they can be");
            Ok(())
        }
        Err(FetchError::Mismatch(why)) => Err(AuthConfigError::invalid("auth.issuer", why)),
    }
}

/// The RFC 9728 Protected Resource Metadata document.
pub(crate) fn metadata(config: &AuthConfig, resource: &str) -> serde_json::Value {
    let mut doc = serde_json::Map::new();
    doc.insert("resource".into(), resource.into());
    let servers: Vec<String> = if config.authorization_servers.is_empty() {
        config.issuer.iter().cloned().collect()
    } else {
        config.authorization_servers.clone()
    };
    if !servers.is_empty() {
        doc.insert("authorization_servers".into(), servers.into());
    }
    if !config.scopes_supported.is_empty() {
        doc.insert(
            "scopes_supported".into(),
            config.scopes_supported.clone().into(),
        );
    }
    doc.insert("bearer_methods_supported".into(), vec!["header"].into());
    if let Some(name) = &config.resource_name {
        doc.insert("resource_name".into(), name.clone().into());
    }
    doc.into()
}
