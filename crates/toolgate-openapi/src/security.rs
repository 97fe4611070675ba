//! Security: the spec's `securitySchemes` as [`SecurityScheme`]s, operations' security
//! requirements, and recognising the login operation of an OAuth2 password flow.
//!
//! Owns what the compiler reads about credentials: scheme kinds (`apiKey` in a header, query or
//! cookie, `http` bearer/basic, `oauth2` with its client-credentials and password token URLs;
//! FastAPI's `OAuth2PasswordBearer`, `HTTPBearer`, `HTTPBasic` and `APIKey*` classes declare
//! exactly these) and which operation is the password flow's `tokenUrl` (FastAPI's
//! `POST /token` or `/api/v1/login/access-token`), so that it is not handed to the model. It
//! does not decide which credential goes where (the executor matches the configured
//! credentials to these schemes) and holds no credential.

use serde_json::Value;
use url::Url;

use crate::compiler::Compiler;
use crate::ir::{
    Diagnostic, HttpMethod, ParamLocation, SecurityScheme, SecuritySchemeKind, Severity,
};
use crate::refs::{PointerExt, child};

/// Security requirement alternatives of an operation or the document: each entry is one
/// alternative (OR), naming the schemes that apply together (AND).
pub(crate) fn security_of(v: &Value) -> Vec<Vec<String>> {
    v.as_array()
        .map(|alts| {
            alts.iter()
                .filter_map(Value::as_object)
                .map(|o| o.keys().cloned().collect())
                .collect()
        })
        .unwrap_or_default()
}

impl Compiler<'_> {
    /// The root document's `components.securitySchemes` (Swagger 2.0 `securityDefinitions`
    /// were converted into it); a scheme that cannot be read is skipped with a warning.
    pub(crate) fn security_schemes(&mut self) -> Vec<SecurityScheme> {
        let root = self.doc(0);
        let Some(schemes) = root
            .ptr("/components/securitySchemes")
            .and_then(Value::as_object)
        else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for name in schemes.keys() {
            let ptr = child("/components/securitySchemes", name);
            let loc = match self.follow((0, ptr.clone())) {
                Ok(l) => l,
                Err(e) => {
                    self.diagnostics.push(Diagnostic {
                        severity: Severity::Warning,
                        pointer: format!("#{ptr}"),
                        operation: None,
                        message: format!("security scheme `{name}` ignored: {e}"),
                    });
                    continue;
                }
            };
            let d = self.doc(loc.0);
            let s = d.ptr(&loc.1).unwrap_or(&Value::Null);
            out.push(SecurityScheme {
                name: name.clone(),
                kind: scheme_kind(s),
            });
        }
        out
    }
}

/// The credential shape of one security scheme object.
fn scheme_kind(s: &Value) -> SecuritySchemeKind {
    let get = |k: &str| s.get(k).and_then(Value::as_str).unwrap_or_default();
    let flow_url = |flow: &str| {
        s.ptr(&format!("/flows/{flow}/tokenUrl"))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
    };
    match get("type") {
        "apiKey" => {
            let location = match get("in") {
                "query" => ParamLocation::Query,
                "cookie" => ParamLocation::Cookie,
                _ => ParamLocation::Header,
            };
            SecuritySchemeKind::ApiKey {
                location,
                param_name: get("name").to_owned(),
            }
        }
        "http" => match get("scheme").to_ascii_lowercase().as_str() {
            "bearer" => SecuritySchemeKind::Bearer,
            "basic" => SecuritySchemeKind::Basic,
            other => SecuritySchemeKind::Other {
                description: format!("http {other}"),
            },
        },
        "oauth2" => SecuritySchemeKind::OAuth2 {
            token_url: flow_url("clientCredentials"),
            password_token_url: flow_url("password"),
        },
        other => SecuritySchemeKind::Other {
            description: other.to_owned(),
        },
    }
}

/// The login operations of a spec: the paths of its OAuth2 password flows' `tokenUrl`s,
/// resolved against the spec's server URL (OpenAPI: relative URLs resolve against the
/// server).
pub(crate) struct LoginRoutes {
    /// `(scheme name, absolute path of its token URL)`.
    token_paths: Vec<(String, String)>,
    /// The path of the spec's server URL, without its trailing `/` (`""` for the root).
    server_prefix: String,
}

impl LoginRoutes {
    /// The login routes of `schemes`, for a spec whose default server URL is `server_url`.
    pub(crate) fn new(schemes: &[SecurityScheme], server_url: Option<&str>) -> Self {
        // Any origin does: only paths are compared, and when the server is absolute, a token
        // URL on another host (an identity provider) names no operation of this spec.
        let origin = Url::parse("http://spec.invalid/").expect("a valid URL");
        let absolute_server = server_url.is_some_and(|s| Url::parse(s).is_ok());
        let server = server_url
            .and_then(|s| Url::parse(s).or_else(|_| origin.join(s)).ok())
            .unwrap_or_else(|| origin.clone());
        let token_paths = schemes
            .iter()
            .filter_map(|s| match &s.kind {
                SecuritySchemeKind::OAuth2 {
                    password_token_url: Some(raw),
                    ..
                } => {
                    let resolved = server.join(raw).ok()?;
                    (!absolute_server || resolved.host_str() == server.host_str())
                        .then(|| (s.name.clone(), trimmed(resolved.path()).to_owned()))
                }
                _ => None,
            })
            .collect();
        LoginRoutes {
            token_paths,
            server_prefix: trimmed(server.path()).to_owned(),
        }
    }

    /// The scheme whose password flow logs in at `method path`, if any. The path matches as
    /// written in the spec or below the server's path (`servers: [{url: /api}]`).
    pub(crate) fn scheme_of(&self, method: HttpMethod, path: &str) -> Option<&str> {
        if method != HttpMethod::Post || self.token_paths.is_empty() {
            return None;
        }
        let path = trimmed(path);
        let full = format!("{}{path}", self.server_prefix);
        self.token_paths
            .iter()
            .find(|(_, token)| *token == path || *token == full)
            .map(|(name, _)| name.as_str())
    }
}

/// `path` without trailing `/` (the root stays `/`-less too: `""`).
fn trimmed(path: &str) -> &str {
    path.trim_end_matches('/')
}

/// The message of the info diagnostic for a login operation that is not served.
pub(crate) fn login_excluded_message(scheme: &str, op_id: Option<&str>) -> String {
    let include = match op_id {
        Some(id) => format!(" or list `{id}` in `compile.include_operations`"),
        None => String::new(),
    };
    format!(
        "not served: this is the login operation of the OAuth2 password flow of security scheme \
         `{scheme}` (its tokenUrl); a model should not handle passwords, and toolgate logs in \
         itself when the source's `backend.auth` is `{{type: oauth2_password, username, \
         password}}`. To serve it anyway, set `compile.include_login_operation: true`{include}."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn password(name: &str, url: &str) -> SecurityScheme {
        SecurityScheme {
            name: name.into(),
            kind: SecuritySchemeKind::OAuth2 {
                token_url: None,
                password_token_url: Some(url.into()),
            },
        }
    }

    #[test]
    fn token_urls_resolve_against_the_server_like_other_relative_urls() {
        let post = HttpMethod::Post;
        // FastAPI's full-stack template: no servers, an absolute path.
        let r = LoginRoutes::new(&[password("OAuth2", "/api/v1/login/access-token")], None);
        assert_eq!(
            r.scheme_of(post, "/api/v1/login/access-token"),
            Some("OAuth2")
        );
        assert_eq!(
            r.scheme_of(HttpMethod::Get, "/api/v1/login/access-token"),
            None
        );
        assert_eq!(r.scheme_of(post, "/api/v1/login"), None);
        // FastAPI's tutorial: `tokenUrl="token"`, relative to the server.
        let r = LoginRoutes::new(&[password("OAuth2", "token")], None);
        assert_eq!(r.scheme_of(post, "/token"), Some("OAuth2"));
        let r = LoginRoutes::new(&[password("OAuth2", "token")], Some("/api/"));
        assert_eq!(r.scheme_of(post, "/token"), Some("OAuth2"));
        // Paths under a server path.
        let r = LoginRoutes::new(&[password("OAuth2", "/api/token/")], Some("/api"));
        assert_eq!(r.scheme_of(post, "/token"), Some("OAuth2"));
        let r = LoginRoutes::new(
            &[password("OAuth2", "https://api.example.com/v1/token")],
            Some("https://api.example.com/v1"),
        );
        assert_eq!(r.scheme_of(post, "/token"), Some("OAuth2"));
        // An identity provider elsewhere names no operation of this spec.
        let r = LoginRoutes::new(
            &[password("OAuth2", "https://idp.example.com/token")],
            Some("https://api.example.com"),
        );
        assert_eq!(r.scheme_of(post, "/token"), None);
    }

    #[test]
    fn scheme_kinds_of_fastapi_security_classes() {
        let kind = |v: serde_json::Value| scheme_kind(&v);
        assert_eq!(
            kind(
                serde_json::json!({"type": "oauth2", "flows": {"password": {"scopes": {}, "tokenUrl": "token"}}})
            ),
            SecuritySchemeKind::OAuth2 {
                token_url: None,
                password_token_url: Some("token".into())
            }
        );
        assert_eq!(
            kind(serde_json::json!({"type": "http", "scheme": "bearer"})),
            SecuritySchemeKind::Bearer
        );
        assert_eq!(
            kind(serde_json::json!({"type": "http", "scheme": "Basic"})),
            SecuritySchemeKind::Basic
        );
        assert_eq!(
            kind(serde_json::json!({"type": "apiKey", "in": "cookie", "name": "session"})),
            SecuritySchemeKind::ApiKey {
                location: ParamLocation::Cookie,
                param_name: "session".into()
            }
        );
    }
}
