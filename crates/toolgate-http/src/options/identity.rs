//! The `identity` option of an HTTP source: how the caller's identity reaches the backend
//! (claims as headers, a JWT minted by toolgate, or an RFC 8693 token exchange).
//!
//! Only the serde/schemars tree lives here; the rules between fields (header names, lifetime
//! bounds, key files, conflicts with `auth` and `forward_authorization`) are checked once in
//! [`crate::HttpBackend::new`], and the behaviour is in `crate::identity`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ClientAuthMethod, Secret};

/// Default cap on one identity header value, in bytes (after encoding).
pub const DEFAULT_MAX_HEADER_BYTES: usize = 1024;
/// Default lifetime of a minted JWT, in seconds.
pub const DEFAULT_MINT_LIFETIME_SECONDS: u64 = 60;
/// Longest lifetime a minted JWT may have, in seconds (the 5 minutes).
pub const MAX_MINT_LIFETIME_SECONDS: u64 = 300;
/// Shortest lifetime a minted JWT may have, in seconds.
pub const MIN_MINT_LIFETIME_SECONDS: u64 = 10;

/// How the backend learns who the caller is. Every part is opt-in; with none set, the
/// backend learns nothing about the caller (the default).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityOptions {
    /// Headers set from the authenticated caller: header name → template. Placeholders:
    /// `{sub}`, `{scopes}` and `{roles}` (space-separated), `{method}` (`jwt`,
    /// `introspection`, `api_key`, `configured`) and `{claims.PATH}` (a dotted path into the
    /// token's claims, e.g. `{claims.org.id}`; lists are space-separated); `{{` and `}}` are
    /// literal braces. A header whose placeholders resolve to nothing (no caller, a missing
    /// claim, an object) is not sent. Values are sent as printable ASCII: other bytes
    /// (control characters, line breaks, non-ASCII UTF-8) and `%` are percent-encoded. Headers
    /// with these names that the client supplied (as tool arguments) are always dropped, so a
    /// caller cannot spoof them.
    pub headers: BTreeMap<String, String>,
    /// Refuse calls that have no authenticated caller (default false: the identity headers,
    /// minted and exchanged tokens are then simply left out).
    pub require_principal: bool,
    /// Longest value of one identity header, in bytes after encoding; a longer value fails
    /// the call rather than being cut (a cut identity is a different identity). Default 1024.
    pub max_header_bytes: usize,
    /// Sign a short-lived JWT for the backend with toolgate's own key. The public key is
    /// published at `/.well-known/jwks.json` on toolgate's HTTP port.
    pub mint: Option<Box<MintOptions>>,
    /// Exchange the caller's token for a backend-audience token at an OAuth 2.0 token
    /// endpoint (RFC 8693 token exchange).
    pub token_exchange: Option<Box<TokenExchangeOptions>>,
}

impl Default for IdentityOptions {
    fn default() -> Self {
        IdentityOptions {
            headers: BTreeMap::new(),
            require_principal: false,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            mint: None,
            token_exchange: None,
        }
    }
}

impl IdentityOptions {
    /// Whether any part is configured.
    pub fn is_configured(&self) -> bool {
        !self.headers.is_empty()
            || self.require_principal
            || self.mint.is_some()
            || self.token_exchange.is_some()
    }
}

/// A JWT minted by toolgate for the backend: `iss`, `aud`, `sub`, `scope`, `iat`, `exp`,
/// `jti` and the listed claims of the caller, cached per caller until shortly before it
/// expires.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MintOptions {
    /// The `iss` claim: toolgate's issuer URL as the backend knows it (e.g.
    /// `https://toolgate.internal`); the backend fetches the keys from
    /// `<issuer>/.well-known/jwks.json`.
    pub issuer: String,
    /// The `aud` claim. Default: the backend's base URL.
    #[serde(default)]
    pub audience: Option<String>,
    /// Lifetime of a minted token in seconds, 10 to 300. Default 60.
    #[serde(default = "default_lifetime")]
    pub lifetime_seconds: u64,
    /// Signing algorithm. Default `ES256`.
    #[serde(default)]
    pub algorithm: MintAlgorithm,
    /// PEM file with the private signing key (PKCS#8 for ES256; PKCS#1 or PKCS#8 for RS256,
    /// at least 2048 bits). A relative path is resolved against the configuration file's
    /// folder. Default: a fresh ES256 key generated at start (tokens minted before a restart
    /// then no longer verify; use a file when several toolgate instances serve one backend).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// The `kid` of the key in the JWT header and the JWKS. Default: the key's RFC 7638
    /// thumbprint.
    #[serde(default)]
    pub kid: Option<String>,
    /// Header that carries the token. Default `Authorization` (as `Bearer <jwt>`); any other
    /// header carries the bare JWT.
    #[serde(default = "default_token_header")]
    pub header: String,
    /// Top-level claims of the caller's token copied into the minted token (e.g. `email`,
    /// `org`). The registered claims toolgate sets itself cannot be listed.
    #[serde(default)]
    pub copy_claims: Vec<String>,
}

/// Signing algorithm of minted tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum MintAlgorithm {
    /// ECDSA with P-256 and SHA-256.
    #[default]
    ES256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (needs `key_file`).
    RS256,
}

/// RFC 8693 token exchange: the caller's token is sent as the `subject_token` and the token
/// the endpoint issues goes to the backend. Issued tokens are cached per caller (subject and
/// a hash of the caller's token) until shortly before they expire, one request per caller at
/// a time.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenExchangeOptions {
    /// The token endpoint (absolute http(s) URL).
    pub token_url: String,
    /// toolgate's client id at the token endpoint.
    pub client_id: String,
    /// toolgate's client secret (use `${VAR}`).
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// How the client authenticates. Default `basic`.
    #[serde(default)]
    pub client_auth: ClientAuthMethod,
    /// The `audience` form field: the logical name of the backend (e.g. its client id).
    #[serde(default)]
    pub audience: Option<String>,
    /// The `resource` form field: the backend's URL (RFC 8707).
    #[serde(default)]
    pub resource: Option<String>,
    /// Scopes to request (space-joined in the `scope` form field).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The `requested_token_type`. Default: none (the endpoint's default, usually an access
    /// token).
    #[serde(default)]
    pub requested_token_type: Option<String>,
    /// Header that carries the issued token. Default `Authorization` (as `Bearer <token>`);
    /// any other header carries the bare token.
    #[serde(default = "default_token_header")]
    pub header: String,
}

fn default_lifetime() -> u64 {
    DEFAULT_MINT_LIFETIME_SECONDS
}

fn default_token_header() -> String {
    "Authorization".to_owned()
}

/// Makes relative paths (the mint key file) relative to `base` (the configuration file's
/// folder).
pub(crate) fn resolve_paths(options: &mut IdentityOptions, base: &std::path::Path) {
    if let Some(path) = options.mint.as_mut().and_then(|m| m.key_file.as_mut())
        && path.is_relative()
    {
        *path = base.join(&*path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_options_deserialize_with_defaults() {
        let o: IdentityOptions = serde_json::from_value(serde_json::json!({
            "headers": {"X-User-Id": "{sub}"},
            "mint": {"issuer": "https://toolgate.test"},
            "token_exchange": {"token_url": "https://idp/token", "client_id": "tg", "client_secret": "s3cr3t-xyz"}
        }))
        .unwrap();
        let mint = o.mint.as_ref().unwrap();
        assert_eq!(mint.lifetime_seconds, 60);
        assert_eq!(mint.algorithm, MintAlgorithm::ES256);
        assert_eq!(mint.header, "Authorization");
        let te = o.token_exchange.as_ref().unwrap();
        assert_eq!(te.client_auth, ClientAuthMethod::Basic);
        assert!(!format!("{o:?}").contains("s3cr3t-xyz"));
        assert!(!serde_json::to_string(&o).unwrap().contains("s3cr3t-xyz"));
        let err = serde_json::from_value::<IdentityOptions>(
            serde_json::json!({"mint": {"issuer": "x", "lifetime": 5}}),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("unknown field `lifetime`"),
            "{err}"
        );
    }
}
