//! The `auth:` section of toolgate's configuration: how callers of the HTTP endpoint prove who
//! they are (signed JWTs, opaque tokens checked by introspection, static API keys).
//!
//! These types only describe; [`crate::ResourceAuth::new`] validates them (every problem at
//! once, each naming its path) and builds the verifiers. The doc comments are the user
//! reference and end up in the JSON Schema of the configuration.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Inbound authentication of the streamable HTTP endpoint (toolgate as an OAuth 2.1 resource
/// server). At least one of `jwt`, `introspection` or `api_keys` must be configured.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// The authorization server's issuer identifier, compared exactly with the `iss` claim of
    /// JWTs (mind the trailing slash: Auth0 issuers end with `/`, Entra v2 issuers do not).
    /// Also the base of OIDC discovery and the default `authorization_servers` entry.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Accepted `aud` values (any one must appear in the token). Default: the canonical URL of
    /// the MCP endpoint (RFC 8707 resource indicator), which is what MCP clients request.
    #[serde(default)]
    pub audience: Vec<String>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
    #[serde(default = "default_leeway_seconds")]
    pub leeway_seconds: u64,
    /// Claims that must be present in every token (JWT payload or introspection answer), in
    /// addition to `exp` (always required of JWTs) and the subject claim.
    #[serde(default)]
    pub required_claims: Vec<String>,
    /// Claim holding the granted scopes: a space-separated string or an array of strings.
    /// Default `scope`, with `scp` (string or array, as Entra and Okta send it) as fallback.
    #[serde(default)]
    pub scopes_claim: Option<String>,
    /// Dotted path of a claim holding the caller's roles (an array of strings, or a
    /// space-separated string), e.g. `realm_access.roles` (Keycloak) or `roles` (Entra).
    #[serde(default)]
    pub roles_claim: Option<String>,
    /// Claim naming the caller.
    #[serde(default = "default_subject_claim")]
    pub subject_claim: String,
    /// Authorization servers advertised in the Protected Resource Metadata (RFC 9728).
    /// Default: `[issuer]`.
    #[serde(default)]
    pub authorization_servers: Vec<String>,
    /// Scopes advertised in the Protected Resource Metadata (`scopes_supported`).
    #[serde(default)]
    pub scopes_supported: Vec<String>,
    /// Human-readable name of the resource for the Protected Resource Metadata.
    #[serde(default)]
    pub resource_name: Option<String>,
    /// Signed JWT access tokens.
    #[serde(default)]
    pub jwt: Option<JwtConfig>,
    /// Opaque access tokens checked at an RFC 7662 introspection endpoint.
    #[serde(default)]
    pub introspection: Option<IntrospectionConfig>,
    /// Static API keys for service clients, presented as `Authorization: Bearer <key>`.
    #[serde(default)]
    pub api_keys: Vec<ApiKeyConfig>,
    /// Also accept API keys from this header (e.g. `X-API-Key`). Bearer tokens are still read
    /// only from `Authorization`.
    #[serde(default)]
    pub api_key_header: Option<String>,
    /// Longest credential accepted, in bytes; longer ones are refused before any parsing.
    #[serde(default = "default_max_token_bytes")]
    pub max_token_bytes: usize,
    /// How many verified tokens (and introspection answers) are remembered, keyed by a
    /// SHA-256 of the token, each until its `exp` at the latest.
    #[serde(default = "default_cache_entries")]
    pub cache_entries: u64,
}

/// Where the keys that sign JWTs come from, and which algorithms they may use. Exactly one of
/// `jwks_uri`, `discovery`, `jwks_file` or `jwks` gives the asymmetric keys; `hs_secret` may be
/// added (or used alone) for HMAC-signed tokens.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// URL of the issuer's JSON Web Key Set.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// Find `jwks_uri` by OIDC discovery (`{issuer}/.well-known/openid-configuration`, then the
    /// RFC 8414 `/.well-known/oauth-authorization-server` form). Default: true when `issuer`
    /// is set and no other key source is given.
    #[serde(default)]
    pub discovery: Option<bool>,
    /// Path of a file holding a JWKS (`{"keys": [...]}`), read at start.
    #[serde(default)]
    pub jwks_file: Option<String>,
    /// An inline JWKS (`{"keys": [...]}`).
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub jwks: Option<serde_json::Value>,
    /// Shared secret for HS256/HS384/HS512 tokens (at least 32 bytes). Without it HMAC tokens
    /// are refused. Use `${VAR}` to take it from the environment.
    #[serde(default)]
    pub hs_secret: Option<Secret>,
    /// Accepted algorithms (default: all of RS256/384/512, PS256/384/512, ES256/384, EdDSA,
    /// plus HS256/384/512 when `hs_secret` is set). Each key is further pinned to its own type
    /// and to its JWK `alg`.
    #[serde(default)]
    pub algorithms: Vec<String>,
    /// Least time between two JWKS fetches caused by an unknown `kid`, in seconds.
    #[serde(default = "default_refresh_min_interval")]
    pub jwks_refresh_min_interval_seconds: u64,
    /// Lower bound on how long a fetched JWKS is used before it is fetched again, in seconds
    /// (applied to the server's `Cache-Control: max-age`).
    #[serde(default = "default_jwks_cache_min")]
    pub jwks_cache_min_seconds: u64,
    /// Upper bound on the same, and the lifetime used when the server sends no `max-age`.
    #[serde(default = "default_jwks_cache_max")]
    pub jwks_cache_max_seconds: u64,
    /// Timeout of each discovery or JWKS request, in seconds.
    #[serde(default = "default_http_timeout")]
    pub http_timeout_seconds: u64,
}

/// RFC 7662 token introspection for opaque tokens.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IntrospectionConfig {
    /// The introspection endpoint URL.
    pub endpoint: String,
    /// Client id toolgate authenticates with (`client_secret_basic`).
    pub client_id: String,
    /// Client secret toolgate authenticates with. Use `${VAR}` to take it from the environment.
    pub client_secret: Secret,
    /// Longest time an introspection answer is reused, in seconds (never past the token's
    /// `exp`). 0 disables the cache.
    #[serde(default = "default_introspection_cache")]
    pub cache_seconds: u64,
    /// Timeout of each introspection request, in seconds.
    #[serde(default = "default_http_timeout")]
    pub http_timeout_seconds: u64,
}

/// One static API key. Only its SHA-256 is stored: `printf %s "$KEY" | sha256sum`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// A name for the key (logs, metrics-free audit); not secret.
    pub id: String,
    /// Lower- or upper-case hex SHA-256 of the key (64 hex digits).
    pub sha256: String,
    /// The subject the key authenticates as. Default: `api-key:{id}`.
    #[serde(default)]
    pub subject: Option<String>,
    /// Scopes granted to the key.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Roles granted to the key.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// A credential in the configuration; never printed.
#[derive(Clone, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, to use it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The same defaults as an empty `auth:` mapping.
impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            issuer: None,
            audience: Vec::new(),
            leeway_seconds: default_leeway_seconds(),
            required_claims: Vec::new(),
            scopes_claim: None,
            roles_claim: None,
            subject_claim: default_subject_claim(),
            authorization_servers: Vec::new(),
            scopes_supported: Vec::new(),
            resource_name: None,
            jwt: None,
            introspection: None,
            api_keys: Vec::new(),
            api_key_header: None,
            max_token_bytes: default_max_token_bytes(),
            cache_entries: default_cache_entries(),
        }
    }
}

/// The same defaults as `jwt: {}`.
impl Default for JwtConfig {
    fn default() -> Self {
        JwtConfig {
            jwks_uri: None,
            discovery: None,
            jwks_file: None,
            jwks: None,
            hs_secret: None,
            algorithms: Vec::new(),
            jwks_refresh_min_interval_seconds: default_refresh_min_interval(),
            jwks_cache_min_seconds: default_jwks_cache_min(),
            jwks_cache_max_seconds: default_jwks_cache_max(),
            http_timeout_seconds: default_http_timeout(),
        }
    }
}

fn default_leeway_seconds() -> u64 {
    60
}
fn default_subject_claim() -> String {
    "sub".to_owned()
}
fn default_max_token_bytes() -> usize {
    8 * 1024
}
fn default_cache_entries() -> u64 {
    10_000
}
fn default_refresh_min_interval() -> u64 {
    30
}
fn default_jwks_cache_min() -> u64 {
    60
}
fn default_jwks_cache_max() -> u64 {
    24 * 3600
}
fn default_http_timeout() -> u64 {
    5
}
fn default_introspection_cache() -> u64 {
    300
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_in_and_unknown_fields_are_refused() {
        let config: AuthConfig =
            serde_json::from_value(serde_json::json!({"issuer": "https://idp", "jwt": {}}))
                .unwrap();
        assert_eq!(config.leeway_seconds, 60);
        assert_eq!(config.subject_claim, "sub");
        let jwt = config.jwt.unwrap();
        assert_eq!(jwt.jwks_refresh_min_interval_seconds, 30);
        let err = serde_json::from_value::<AuthConfig>(serde_json::json!({"isuer": "x"}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("isuer"), "{err}");
    }

    /// Every `auth:` snippet in docs/auth.md is a valid `AuthConfig` (the edge's own keys,
    /// `resource`, `metrics` and `stdio`, are the server's and are set aside here).
    #[test]
    fn the_documented_snippets_parse() {
        let doc = include_str!("../../../docs/auth.md");
        let mut checked = 0;
        for block in doc.split("```yaml\n").skip(1) {
            let yaml = block.split("```").next().unwrap_or_default();
            let value: serde_json::Value = serde_norway::from_str(yaml).unwrap();
            let Some(auth) = value.get("auth").and_then(|a| a.as_object()) else {
                continue;
            };
            let mut auth = auth.clone();
            for key in ["resource", "metrics", "stdio"] {
                auth.remove(key);
            }
            // `${VAR}` is interpolated by the configuration loader, not here.
            if let Err(e) = serde_json::from_value::<AuthConfig>(auth.into()) {
                panic!("{e} in\n{yaml}");
            }
            checked += 1;
        }
        assert!(checked >= 8, "{checked} snippets");
    }

    #[test]
    fn default_matches_an_empty_mapping() {
        let empty: AuthConfig = serde_json::from_value(serde_json::json!({"jwt": {}})).unwrap();
        let default = AuthConfig {
            jwt: Some(JwtConfig::default()),
            ..AuthConfig::default()
        };
        assert_eq!(
            serde_json::to_value(&empty).unwrap(),
            serde_json::to_value(&default).unwrap()
        );
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2-canary");
        assert!(!format!("{s:?}").contains("canary"));
    }
}
