//! Per-source configuration of an HTTP backend, as it appears in the user's YAML config.
//!
//! This module owns the serde/schemars tree (`HttpSourceOptions` and friends) and the
//! [`Secret`] type that keeps credentials out of logs and debug output. It does not validate
//! cross-field rules (header names, auth vs. the spec's security schemes): that happens once in
//! [`crate::HttpBackend::new`], which reports every problem at once.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use secrecy::{ExposeSecret, SecretString};
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub mod identity;

pub use identity::{IdentityOptions, MintAlgorithm, MintOptions, TokenExchangeOptions};

/// Default whole-request timeout (connect + send + read the response), in milliseconds.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// Default TCP/TLS connect timeout, in milliseconds.
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 5_000;
/// Default cap on an encoded request body (8 MiB).
pub const DEFAULT_MAX_REQUEST_BODY_BYTES: u64 = 8 * 1024 * 1024;
/// Default cap on a response body read from the backend (4 MiB).
pub const DEFAULT_MAX_RESPONSE_BODY_BYTES: u64 = 4 * 1024 * 1024;
/// Default number of in-flight requests per backend.
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 64;

/// Options of one OpenAPI source's HTTP backend.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSourceOptions {
    /// Timeout of one backend call (connect, send, and reading the whole response), in
    /// milliseconds. Default 30000.
    pub timeout_ms: u64,
    /// Timeout for establishing the TCP (and TLS) connection, in milliseconds. Default 5000.
    pub connect_timeout_ms: u64,
    /// Per-tool overrides of `timeout_ms`, keyed by tool name.
    pub tool_timeouts_ms: BTreeMap<String, u64>,
    /// Largest encoded request body sent to the backend; larger calls are rejected before any
    /// request is made. Default 8 MiB.
    pub max_request_body_bytes: u64,
    /// Largest response body read from the backend; text beyond it is truncated with a notice,
    /// binary or schema-bound JSON responses beyond it fail the call. Default 4 MiB.
    pub max_response_body_bytes: u64,
    /// Most requests in flight to this backend at once; calls beyond it fail fast with a
    /// retryable "rejected" error instead of queueing. Default 64.
    pub max_concurrent_requests: usize,
    /// Static headers sent with every request (e.g. `X-Tenant`). Values are secrets: they are
    /// never logged.
    pub headers: BTreeMap<String, Secret>,
    /// Credentials for the backend: one, or a list when operations need several (e.g. an API
    /// key and a bearer token together). Each is matched to the spec's `securitySchemes` (by
    /// its `scheme`, else by type) and sent only to operations whose security requirements
    /// name a scheme it matches; when the spec declares no schemes, every credential goes
    /// with every request.
    pub auth: Credentials,
    /// Names of headers of the incoming MCP HTTP request to forward to the backend
    /// (case-insensitive allowlist; empty by default). `Authorization` cannot be listed here:
    /// use `forward_authorization`.
    pub forward_headers: Vec<String>,
    /// Forward the MCP client's own `Authorization` header to the backend. Off by default:
    /// this is token passthrough, so the backend receives a credential that was issued for
    /// the gateway; enable it only when the backend is the intended audience of that token.
    pub forward_authorization: bool,
    /// How the backend learns who the caller is: claims as headers, a JWT minted by
    /// toolgate, or an RFC 8693 token exchange (all opt-in; see docs/auth.md, "The caller's
    /// identity at the backend").
    pub identity: IdentityOptions,
    /// What to do with arguments the tool's input schema does not declare.
    pub unknown_arguments: UnknownArguments,
    /// Hide backend response bodies in error messages (only status and operation are shown).
    pub mask_error_details: bool,
    /// Per-tool request body content-type overrides, keyed by tool name (e.g. send
    /// `application/merge-patch+json` instead of the spec's first media type).
    pub content_types: BTreeMap<String, String>,
}

impl HttpSourceOptions {
    /// Resolves relative file paths in the options (the `identity.mint.key_file`) against
    /// `base`, the folder of the configuration file they were written in.
    pub fn resolve_paths(&mut self, base: &std::path::Path) {
        identity::resolve_paths(&mut self.identity, base);
    }
}

impl Default for HttpSourceOptions {
    fn default() -> Self {
        HttpSourceOptions {
            timeout_ms: DEFAULT_TIMEOUT_MS,
            connect_timeout_ms: DEFAULT_CONNECT_TIMEOUT_MS,
            tool_timeouts_ms: BTreeMap::new(),
            max_request_body_bytes: DEFAULT_MAX_REQUEST_BODY_BYTES,
            max_response_body_bytes: DEFAULT_MAX_RESPONSE_BODY_BYTES,
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
            headers: BTreeMap::new(),
            auth: Credentials::default(),
            forward_headers: Vec::new(),
            forward_authorization: false,
            identity: IdentityOptions::default(),
            unknown_arguments: UnknownArguments::default(),
            mask_error_details: false,
            content_types: BTreeMap::new(),
        }
    }
}

/// Handling of arguments that the tool's input schema does not declare.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UnknownArguments {
    /// Fail the call with a violation per unknown argument (the model learns the real names).
    #[default]
    Reject,
    /// Drop unknown arguments silently.
    Ignore,
}

/// Where an API key goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApiKeyLocation {
    /// A request header.
    Header,
    /// A query parameter.
    Query,
    /// A cookie.
    Cookie,
}

/// How OAuth2 client credentials are presented to the token endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    /// HTTP Basic with the client id and secret (`client_secret_basic`, RFC 6749 §2.3.1).
    #[default]
    Basic,
    /// `client_id` and `client_secret` in the form body (`client_secret_post`).
    Post,
}

impl ClientAuthMethod {
    /// The default of the password grant: FastAPI's `OAuth2PasswordRequestForm` reads the
    /// client from the form.
    fn post() -> Self {
        ClientAuthMethod::Post
    }
}

/// The configured credentials of a source: in YAML one credential object, or a list of them.
#[derive(Debug, Clone, Default)]
pub struct Credentials(pub Vec<BackendAuth>);

impl Credentials {
    /// Whether no credential is configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<BackendAuth> for Credentials {
    fn from(auth: BackendAuth) -> Self {
        Credentials(vec![auth])
    }
}

impl From<Vec<BackendAuth>> for Credentials {
    fn from(list: Vec<BackendAuth>) -> Self {
        Credentials(list)
    }
}

impl<'de> Deserialize<'de> for Credentials {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OneOrList;
        impl<'de> Visitor<'de> for OneOrList {
            type Value = Credentials;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a credential object (with `type`) or a list of them")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Credentials, A::Error> {
                BackendAuth::deserialize(MapAccessDeserializer::new(map)).map(Credentials::from)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Credentials, A::Error> {
                Vec::deserialize(SeqAccessDeserializer::new(seq)).map(Credentials)
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Credentials, E> {
                Ok(Credentials::default())
            }
            fn visit_none<E: serde::de::Error>(self) -> Result<Credentials, E> {
                Ok(Credentials::default())
            }
        }
        deserializer.deserialize_any(OneOrList)
    }
}

impl Serialize for Credentials {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [] => serializer.serialize_none(),
            [one] => one.serialize(serializer),
            list => list.serialize(serializer),
        }
    }
}

impl JsonSchema for Credentials {
    fn schema_name() -> Cow<'static, str> {
        "Credentials".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let one = generator.subschema_for::<BackendAuth>();
        json_schema!({
            "description": "One credential, or a list of them (e.g. an API key and a bearer token that operations need together).",
            "anyOf": [
                {"type": "null"},
                one.clone(),
                {"type": "array", "items": one}
            ]
        })
    }
}

/// Credentials for a backend.
///
/// A credential is sent only to operations whose security requirements name a scheme it
/// matches: the scheme named by its `scheme`, else every scheme of a matching type that no
/// other credential is a better match for. When the spec declares no security schemes at
/// all, it is sent with every request.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum BackendAuth {
    /// `Authorization: Bearer <token>` (matches `http`/`bearer` schemes, such as FastAPI's
    /// `HTTPBearer`, and `oauth2` and `openIdConnect` schemes).
    Bearer {
        /// Name of the spec's security scheme this token is for (default: every bearer,
        /// `oauth2` and `openIdConnect` scheme).
        #[serde(default)]
        scheme: Option<String>,
        /// The bearer token.
        token: Secret,
    },
    /// `Authorization: Basic base64(username:password)` (matches `http`/`basic` schemes, such
    /// as FastAPI's `HTTPBasic`).
    Basic {
        /// Name of the spec's security scheme this is for (default: every basic scheme).
        #[serde(default)]
        scheme: Option<String>,
        /// User name.
        username: String,
        /// Password.
        password: Secret,
    },
    /// An API key in a header, query parameter or cookie (matches `apiKey` schemes, such as
    /// FastAPI's `APIKeyHeader`, `APIKeyQuery` and `APIKeyCookie`).
    ApiKey {
        /// Name of the spec's security scheme this key is for. When set, `location` and `name`
        /// default to the scheme's; when unset, the key matches every `apiKey` scheme.
        #[serde(default)]
        scheme: Option<String>,
        /// Where the key goes (default: from the named scheme).
        #[serde(default)]
        location: Option<ApiKeyLocation>,
        /// Header, query parameter or cookie name (default: from the named scheme).
        #[serde(default)]
        name: Option<String>,
        /// The key.
        value: Secret,
    },
    /// OAuth2 client-credentials grant; tokens are cached, refreshed before they expire and
    /// when the backend answers 401, one refresh at a time (matches `oauth2` schemes).
    #[serde(rename = "oauth2_client_credentials")]
    OAuth2ClientCredentials {
        /// Name of the spec's security scheme this is for (default: every `oauth2` scheme).
        #[serde(default)]
        scheme: Option<String>,
        /// Token endpoint. Default: the `clientCredentials` token URL of the spec's `oauth2`
        /// scheme. A relative URL is resolved against the backend base URL.
        #[serde(default)]
        token_url: Option<String>,
        /// Client id.
        client_id: String,
        /// Client secret.
        client_secret: Secret,
        /// Scopes to request (space-joined in the `scope` form field).
        #[serde(default)]
        scopes: Vec<String>,
        /// `audience` form field, for providers that need one (Auth0, …).
        #[serde(default)]
        audience: Option<String>,
        /// How the client authenticates to the token endpoint. Default `basic`.
        #[serde(default)]
        client_auth: ClientAuthMethod,
    },
    /// OAuth2 password grant, FastAPI's `OAuth2PasswordBearer`: toolgate logs in as a service
    /// account at the token URL (form-encoded `grant_type=password&username=…&password=…`),
    /// caches the token, and gets a new one shortly before it expires (`expires_in`, else the
    /// JWT's `exp` claim, else after 5 minutes; with the `refresh_token` when one was issued)
    /// and when the backend answers 401, one request at a time (matches `oauth2` schemes).
    #[serde(rename = "oauth2_password")]
    OAuth2Password {
        /// Name of the spec's security scheme this is for (default: every `oauth2` scheme).
        #[serde(default)]
        scheme: Option<String>,
        /// Token endpoint. Default: the `password` flow's `tokenUrl` of the spec's `oauth2`
        /// scheme (FastAPI: `OAuth2PasswordBearer(tokenUrl=...)`), resolved against the
        /// backend base URL when relative.
        #[serde(default)]
        token_url: Option<String>,
        /// The service account's user name (FastAPI's `OAuth2PasswordRequestForm.username`;
        /// often an email address).
        username: String,
        /// The service account's password.
        password: Secret,
        /// Scopes to request (space-joined in the `scope` form field).
        #[serde(default)]
        scopes: Vec<String>,
        /// Client id, for token endpoints that want one.
        #[serde(default)]
        client_id: Option<String>,
        /// Client secret, for token endpoints that want one.
        #[serde(default)]
        client_secret: Option<Secret>,
        /// How `client_id`/`client_secret` are sent. Default `post` (form fields, as FastAPI's
        /// `OAuth2PasswordRequestForm` reads them).
        #[serde(default = "ClientAuthMethod::post")]
        client_auth: ClientAuthMethod,
    },
}

impl BackendAuth {
    /// Short label for errors and logs (never the credential).
    pub fn kind_str(&self) -> &'static str {
        match self {
            BackendAuth::Bearer { .. } => "bearer",
            BackendAuth::Basic { .. } => "basic",
            BackendAuth::ApiKey { .. } => "api_key",
            BackendAuth::OAuth2ClientCredentials { .. } => "oauth2_client_credentials",
            BackendAuth::OAuth2Password { .. } => "oauth2_password",
        }
    }

    /// The spec's security scheme this credential is bound to, if named.
    pub fn scheme(&self) -> Option<&str> {
        match self {
            BackendAuth::Bearer { scheme, .. }
            | BackendAuth::Basic { scheme, .. }
            | BackendAuth::ApiKey { scheme, .. }
            | BackendAuth::OAuth2ClientCredentials { scheme, .. }
            | BackendAuth::OAuth2Password { scheme, .. } => scheme.as_deref(),
        }
    }
}

/// A credential string that never prints: `Debug` shows `[redacted]` and serializing writes
/// `"[redacted]"`, so effective-config dumps and logs cannot leak it.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(SecretString::from(value.into()))
    }

    /// The credential itself; call only where it is put on the wire.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret::new(value)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret::new(value)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret::new)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("[redacted]")
    }
}

impl JsonSchema for Secret {
    fn schema_name() -> Cow<'static, str> {
        "Secret".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A secret value (use `${VAR}` interpolation); never logged."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_to_an_empty_config() {
        let o: HttpSourceOptions = serde_json::from_str("{}").unwrap();
        assert_eq!(o.timeout_ms, 30_000);
        assert_eq!(o.connect_timeout_ms, 5_000);
        assert_eq!(o.max_concurrent_requests, 64);
        assert_eq!(o.unknown_arguments, UnknownArguments::Reject);
        assert!(!o.forward_authorization);
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = serde_json::from_str::<HttpSourceOptions>(r#"{"timeout":1}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `timeout`"), "{err}");
    }

    #[test]
    fn secrets_never_print() {
        let o: HttpSourceOptions = serde_json::from_str(
            r#"{"headers":{"X-Key":"s3cr3t"},"auth":{"type":"bearer","token":"tok-123"}}"#,
        )
        .unwrap();
        let debug = format!("{o:?}");
        assert!(
            !debug.contains("s3cr3t") && !debug.contains("tok-123"),
            "{debug}"
        );
        let ser = serde_json::to_string(&o).unwrap();
        assert!(!ser.contains("s3cr3t") && !ser.contains("tok-123"), "{ser}");
        assert_eq!(o.headers["X-Key"].expose(), "s3cr3t");
    }

    #[test]
    fn auth_variants_deserialize() {
        let a: BackendAuth = serde_json::from_str(
            r#"{"type":"oauth2_client_credentials","client_id":"c","client_secret":"s","scopes":["a"]}"#,
        )
        .unwrap();
        assert_eq!(a.kind_str(), "oauth2_client_credentials");
        let a: BackendAuth = serde_json::from_str(
            r#"{"type":"api_key","location":"query","name":"key","value":"v"}"#,
        )
        .unwrap();
        assert_eq!(a.kind_str(), "api_key");
        let a: BackendAuth = serde_json::from_str(
            r#"{"type":"oauth2_password","username":"u","password":"p","scheme":"OAuth2PasswordBearer"}"#,
        )
        .unwrap();
        assert_eq!(a.kind_str(), "oauth2_password");
        assert_eq!(a.scheme(), Some("OAuth2PasswordBearer"));
        let BackendAuth::OAuth2Password { client_auth, .. } = a else {
            unreachable!()
        };
        assert_eq!(client_auth, ClientAuthMethod::Post);
    }

    #[test]
    fn auth_is_one_credential_or_a_list() {
        let one: HttpSourceOptions =
            serde_json::from_str(r#"{"auth":{"type":"bearer","token":"t"}}"#).unwrap();
        assert_eq!(one.auth.0.len(), 1);
        let list: HttpSourceOptions = serde_json::from_str(
            r#"{"auth":[{"type":"bearer","token":"t"},{"type":"api_key","scheme":"K","value":"v"}]}"#,
        )
        .unwrap();
        assert_eq!(list.auth.0.len(), 2);
        assert_eq!(list.auth.0[1].scheme(), Some("K"));
        for none in [r#"{"auth":null}"#, r#"{"auth":[]}"#, "{}"] {
            let o: HttpSourceOptions = serde_json::from_str(none).unwrap();
            assert!(o.auth.is_empty(), "{none}");
        }
        // Errors inside either form are serde's precise ones.
        let err =
            serde_json::from_str::<HttpSourceOptions>(r#"{"auth":{"type":"bearer","tokn":"t"}}"#)
                .unwrap_err()
                .to_string();
        assert!(err.contains("unknown field `tokn`"), "{err}");
        let err = serde_json::from_str::<HttpSourceOptions>(r#"{"auth":[{"type":"nope"}]}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown variant `nope`"), "{err}");
        let err = serde_json::from_str::<HttpSourceOptions>(r#"{"auth":"token"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("a credential object"), "{err}");
        // Serialized as written: one object, or a list; secrets redacted.
        let text = serde_json::to_string(&one.auth).unwrap();
        assert_eq!(
            text,
            r#"{"type":"bearer","scheme":null,"token":"[redacted]"}"#
        );
        assert!(serde_json::to_string(&list.auth).unwrap().starts_with('['));
    }

    #[test]
    fn schema_is_generated() {
        let schema = schemars::schema_for!(HttpSourceOptions);
        let text = serde_json::to_string(&schema).unwrap();
        assert!(text.contains("forward_authorization"));
    }
}
