//! Authentication at the HTTP edge: whether a router authenticates ([`EdgeAuth`]), the one
//! function that establishes a request's principal ([`EdgeAuth::admit`]), the
//! `401`/`403`/`400` challenge of RFC 6750 with the RFC 9728 `resource_metadata` pointer,
//! and the RFC 9728 Protected Resource Metadata routes.
//!
//! Verifying credentials is not done here: that is an [`Authenticator`]'s job
//! (`toolgate-auth`'s `ResourceAuth`, or whatever an embedding application provides).

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use toolgate_core::{Authenticator, EndpointAccess, Principal, Refusal};

/// The well-known path of RFC 9728 Protected Resource Metadata.
pub const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// Whether an MCP router authenticates its callers. Every router builder takes one, so no
/// router is built without deciding.
#[derive(Clone, Default)]
pub enum EdgeAuth {
    /// No authentication: every HTTP request is anonymous (no principal), as on loopback by
    /// default. A principal another layer put into the request's extensions is removed: the
    /// edge is the only place where an HTTP caller's identity is established (an embedding
    /// application that authenticates implements [`Authenticator`] and uses [`EdgeAuth::On`]).
    #[default]
    Off,
    /// Every request to the MCP endpoint (and to `/metrics` unless opened) must carry a
    /// credential the authenticator accepts.
    On(Arc<AuthSettings>),
}

/// Who may read `/metrics` when authentication is on.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum MetricsAccess {
    /// Only authenticated callers (the default).
    #[default]
    Protected,
    /// Anyone who can reach the port (for a scraper on a private network).
    Open,
}

/// The settings of [`EdgeAuth::On`].
pub struct AuthSettings {
    /// Verifies each request's credential.
    pub authenticator: Arc<dyn Authenticator>,
    /// The RFC 9728 document served at the metadata URLs.
    pub metadata: serde_json::Value,
    /// The absolute URL of the metadata document announced in challenges
    /// (`resource_metadata`): the path-inserted form of the resource URL.
    pub metadata_url: String,
    /// The scopes named in `WWW-Authenticate: Bearer scope="…"` when a refusal names none;
    /// `None`: the metadata's `scopes_supported`, space-separated.
    pub challenge_scope: Option<String>,
    /// Who may read `/metrics`.
    pub metrics: MetricsAccess,
}

impl AuthSettings {
    /// Settings for the resource at `resource_url` (its canonical URL, as clients reach it:
    /// `https://mcp.example.com/mcp`), with the challenge scope taken from the metadata and
    /// `/metrics` protected.
    pub fn new(
        authenticator: Arc<dyn Authenticator>,
        metadata: serde_json::Value,
        resource_url: &str,
    ) -> Self {
        AuthSettings {
            authenticator,
            metadata,
            metadata_url: metadata_url(resource_url),
            challenge_scope: None,
            metrics: MetricsAccess::Protected,
        }
    }
}

impl EdgeAuth {
    /// Authentication with `settings`.
    pub fn on(settings: AuthSettings) -> Self {
        EdgeAuth::On(Arc::new(settings))
    }

    /// Whether requests are authenticated.
    pub fn is_on(&self) -> bool {
        matches!(self, EdgeAuth::On(_))
    }

    /// **The choke point**: establishes the caller of one HTTP request. With authentication
    /// on, the credential is verified and the principal inserted into `parts.extensions`
    /// (where [`crate::Gateway`] reads it), or the refusal is answered; with it off, any
    /// principal found there is removed. Returns the principal.
    pub(crate) async fn admit(
        &self,
        parts: &mut http::request::Parts,
    ) -> Result<Option<Arc<Principal>>, Response> {
        // Whatever came in from outside, nobody but this function sets the principal.
        parts.extensions.remove::<Arc<Principal>>();
        let EdgeAuth::On(settings) = self else {
            return Ok(None);
        };
        match settings.authenticator.authenticate(parts).await {
            Ok(principal) => {
                parts.extensions.insert(principal.clone());
                Ok(Some(principal))
            }
            Err(refusal) => Err(settings.challenge(&refusal)),
        }
    }

    /// [`EdgeAuth::admit`] at an endpoint (virtual server) with its own access rules: a
    /// request without a credential passes as anonymous where the endpoint allows it (one
    /// presenting a credential is verified all the same), and the caller must hold what the
    /// endpoint requires (403 `insufficient_scope` otherwise, naming what is missing).
    pub(crate) async fn admit_at(
        &self,
        parts: &mut http::request::Parts,
        access: Option<&EndpointAccess>,
    ) -> Result<Option<Arc<Principal>>, Response> {
        let Some(access) = access else {
            return self.admit(parts).await;
        };
        parts.extensions.remove::<Arc<Principal>>();
        let principal = match self {
            EdgeAuth::Off => None,
            EdgeAuth::On(settings) => match settings.authenticator.authenticate(parts).await {
                Ok(principal) => {
                    parts.extensions.insert(principal.clone());
                    Some(principal)
                }
                Err(refusal) if access.anonymous && refusal.reason == "missing" => None,
                Err(refusal) => return Err(settings.challenge(&refusal)),
            },
        };
        match access.refusal(principal.as_deref()) {
            None => Ok(principal),
            Some(why) => {
                tracing::info!(
                    subject = principal.as_ref().map_or("", |p| p.subject.as_str()),
                    "refused at an endpoint: {why}"
                );
                let scope = access.scopes.join(" ");
                let refusal = Refusal::insufficient_scope(scope, why);
                Err(match self {
                    EdgeAuth::On(settings) => settings.challenge(&refusal),
                    EdgeAuth::Off => (
                        StatusCode::FORBIDDEN,
                        axum::Json(serde_json::json!({
                            "error": "insufficient_scope",
                            "error_description": refusal.description,
                        })),
                    )
                        .into_response(),
                })
            }
        }
    }

    /// The RFC 9728 routes for an MCP endpoint at `endpoint_path` (none when auth is off):
    /// the path-inserted one, and the root one when `root` (the main endpoint's; a virtual
    /// server's router is merged beside it).
    pub(crate) fn metadata_routes(&self, endpoint_path: &str, root: bool) -> Router {
        let EdgeAuth::On(settings) = self else {
            return Router::new();
        };
        let document = Arc::new(settings.metadata.clone());
        let serve = move || {
            let document = document.clone();
            async move {
                let mut response = axum::Json(&*document).into_response();
                response.headers_mut().insert(
                    header::ACCESS_CONTROL_ALLOW_ORIGIN,
                    HeaderValue::from_static("*"),
                );
                response
            }
        };
        let mut router = Router::new();
        if root {
            router = router.route(METADATA_PATH, get(serve.clone()));
        }
        let inserted = metadata_path(endpoint_path);
        if inserted != METADATA_PATH || !root {
            router = router.route(&inserted, get(serve));
        }
        router
    }
}

/// The path-inserted metadata path of an endpoint (RFC 9728 §3.1): `/mcp` →
/// `/.well-known/oauth-protected-resource/mcp`.
pub fn metadata_path(endpoint_path: &str) -> String {
    let rest = endpoint_path.trim_end_matches('/');
    if rest.is_empty() {
        METADATA_PATH.to_owned()
    } else if rest.starts_with('/') {
        format!("{METADATA_PATH}{rest}")
    } else {
        format!("{METADATA_PATH}/{rest}")
    }
}

/// The path-inserted metadata URL of a resource URL (RFC 9728 §3.1):
/// `https://h/mcp` → `https://h/.well-known/oauth-protected-resource/mcp`.
pub fn metadata_url(resource_url: &str) -> String {
    let after_scheme = resource_url.find("://").map_or(0, |i| i + 3);
    let path_start = resource_url[after_scheme..]
        .find(['/', '?', '#'])
        .map_or(resource_url.len(), |i| after_scheme + i);
    let (origin, rest) = resource_url.split_at(path_start);
    let path = rest.split(['?', '#']).next().unwrap_or("");
    format!("{origin}{}", metadata_path(path))
}

impl AuthSettings {
    /// The answer to a refused request: RFC 6750 status and `WWW-Authenticate`, and a JSON
    /// body saying what was wrong (never the credential: refusals do not carry it).
    fn challenge(&self, refusal: &Refusal) -> Response {
        let scope = refusal.scope.clone().or_else(|| self.default_scope());
        let mut value = format!("Bearer resource_metadata=\"{}\"", quote(&self.metadata_url));
        if let Some(scope) = &scope {
            value.push_str(&format!(", scope=\"{}\"", quote(scope)));
        }
        if let Some(error) = refusal.error {
            value.push_str(&format!(
                ", error=\"{}\", error_description=\"{}\"",
                error.as_str(),
                quote(&refusal.description)
            ));
        }
        let status =
            StatusCode::from_u16(refusal.status.code()).unwrap_or(StatusCode::UNAUTHORIZED);
        let body = serde_json::json!({
            "error": refusal.error.map_or("unauthorized", |e| e.as_str()),
            "error_description": refusal.description,
            "reason": refusal.reason,
        });
        let mut response = (status, axum::Json(body)).into_response();
        if let Ok(v) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        } else {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }

    fn default_scope(&self) -> Option<String> {
        if let Some(s) = &self.challenge_scope {
            return Some(s.clone());
        }
        let scopes: Vec<&str> = self
            .metadata
            .get("scopes_supported")?
            .as_array()?
            .iter()
            .filter_map(|s| s.as_str())
            .collect();
        (!scopes.is_empty()).then(|| scopes.join(" "))
    }
}

/// `text` as the inside of an RFC 9110 quoted-string: `"` and `\` escaped, control and
/// non-ASCII characters (which a header value may not carry) replaced by `?`.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => out.push('?'),
        }
    }
    out
}

/// The key a legacy session is bound to: the caller's issuer (when its token had one) and
/// subject.
pub(crate) fn owner_key(principal: &Principal) -> Arc<str> {
    let issuer = principal
        .claims
        .get("iss")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    Arc::from(format!(
        "{}\u{0}{issuer}\u{0}{}",
        principal.method.as_str(),
        principal.subject
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_paths_insert_the_endpoint_path() {
        assert_eq!(
            metadata_path("/mcp"),
            "/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(metadata_path("/"), "/.well-known/oauth-protected-resource");
        assert_eq!(
            metadata_path("/a/b/"),
            "/.well-known/oauth-protected-resource/a/b"
        );
    }

    #[test]
    fn metadata_urls_insert_the_resource_path() {
        assert_eq!(
            metadata_url("https://h.example/mcp"),
            "https://h.example/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(
            metadata_url("http://127.0.0.1:8080/gw/mcp/"),
            "http://127.0.0.1:8080/.well-known/oauth-protected-resource/gw/mcp"
        );
        assert_eq!(
            metadata_url("https://h.example"),
            "https://h.example/.well-known/oauth-protected-resource"
        );
    }

    #[test]
    fn quoting_escapes_quotes_and_drops_controls() {
        assert_eq!(quote(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(quote("x\r\ny é"), "x??y ?");
    }
}
