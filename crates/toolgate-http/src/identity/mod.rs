//! The caller's identity at the backend, per source and opt-in (`identity:` in the source
//! options): claims as headers (`template`), a JWT minted by toolgate (`mint`) and published
//! in toolgate's JWKS ([`jwks_document`]), and RFC 8693 token exchange (`exchange`).
//!
//! [`Identity`] is built once per backend from its options (every problem reported at once,
//! with the option's path) and asked once per call for the headers the call carries. The
//! header names it owns are removed from every request before its values are set, so a value
//! supplied by the client (a tool argument for a header parameter of the same name) never
//! reaches the backend. It does not authenticate callers (the principal comes from the call
//! context) and never logs a token or key.

mod exchange;
mod mint;
mod template;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};
use toolgate_core::context::{AuthMethod, Principal};
use toolgate_core::error::{ToolError, ToolErrorKind};
use url::Url;

pub(crate) use exchange::Exchanger;
pub(crate) use mint::Minter;
use template::{Template, sanitize};

use crate::HttpBackend;
use crate::auth::Credentials;
use crate::options::{HttpSourceOptions, IdentityOptions};

/// Header names an identity header may not take: the connection's, the body's, and the
/// credentials' (`Authorization` comes from `mint` or `token_exchange`).
const RESERVED: &[&str] = &[
    "authorization",
    "cookie",
    "content-type",
    "content-length",
    "transfer-encoding",
    "connection",
    "host",
    "x-request-id",
];

/// One backend's identity settings, checked at start.
#[derive(Debug)]
pub(crate) struct Identity {
    headers: Vec<(HeaderName, Template)>,
    require_principal: bool,
    max_header_bytes: usize,
    minter: Option<Minter>,
    exchanger: Option<Exchanger>,
    /// Every header this identity sets (and so removes from what the client supplied).
    names: Vec<HeaderName>,
}

/// What one call adds: headers, and the exchanged token's owner to forget it on a 401.
#[derive(Default)]
pub(crate) struct IdentityParts {
    pub headers: Vec<(HeaderName, HeaderValue)>,
    exchanged_for: Option<Arc<Principal>>,
}

impl IdentityParts {
    /// The token values this call carries (minted or exchanged), to cut out of error pages
    /// that echo the request.
    pub(crate) fn token_values(&self, identity: Option<&Identity>) -> Vec<String> {
        let Some(id) = identity else {
            return Vec::new();
        };
        let token_headers: Vec<&HeaderName> = id
            .minter
            .iter()
            .map(|m| &m.header)
            .chain(id.exchanger.iter().map(|x| &x.header))
            .collect();
        let mut out = Vec::new();
        for (name, value) in &self.headers {
            if token_headers.contains(&name)
                && let Ok(text) = value.to_str()
            {
                out.push(text.to_owned());
                if let Some(bare) = text.strip_prefix("Bearer ") {
                    out.push(bare.to_owned());
                }
            }
        }
        out
    }
}

impl Identity {
    /// The identity settings of a backend at `base_url`, or `None` when none are configured
    /// or some are invalid (then `problems` says why).
    pub(crate) fn new(
        options: &IdentityOptions,
        base_url: &Url,
        problems: &mut Vec<String>,
    ) -> Option<Identity> {
        if !options.is_configured() {
            return None;
        }
        let before = problems.len();
        let mut headers = Vec::new();
        let mut names: Vec<HeaderName> = Vec::new();
        for (name, text) in &options.headers {
            let at = format!("identity.headers.{name}");
            let header = match HeaderName::from_bytes(name.as_bytes()) {
                Ok(h) if RESERVED.contains(&h.as_str()) => {
                    problems.push(format!(
                        "{at}: `{name}` cannot carry claims; pick a header of its own such as \
                         `X-User-Id` (a token for `Authorization` comes from identity.mint or \
                         identity.token_exchange)"
                    ));
                    None
                }
                Ok(h) => Some(h),
                Err(_) => {
                    problems.push(format!("{at}: `{name}` is not a valid HTTP header name"));
                    None
                }
            };
            let template = Template::parse(text)
                .map_err(|e| problems.push(format!("{at}: {e}")))
                .ok();
            if let (Some(h), Some(t)) = (header, template) {
                names.push(h.clone());
                headers.push((h, t));
            }
        }
        if options.max_header_bytes == 0 {
            problems.push("identity.max_header_bytes must be greater than 0".to_owned());
        }
        let minter = options
            .mint
            .as_ref()
            .and_then(|m| Minter::new(m, base_url.as_str(), "identity.mint", problems));
        let exchanger = options
            .token_exchange
            .as_ref()
            .and_then(|t| Exchanger::new(t, "identity.token_exchange", problems));
        for (what, header) in [
            ("identity.mint.header", minter.as_ref().map(|m| &m.header)),
            (
                "identity.token_exchange.header",
                exchanger.as_ref().map(|e| &e.header),
            ),
        ] {
            let Some(h) = header else { continue };
            if names.contains(h) {
                problems.push(format!(
                    "{what}: `{h}` is already set by another identity option; give each its \
                     own header"
                ));
            } else {
                names.push(h.clone());
            }
        }
        if problems.len() > before {
            return None;
        }
        Some(Identity {
            headers,
            require_principal: options.require_principal,
            max_header_bytes: options.max_header_bytes,
            minter,
            exchanger,
            names,
        })
    }

    /// Problems between the identity options and the rest of the source's options: a header the
    /// identity sets that another option sets or forwards too.
    pub(crate) fn conflicts(
        &self,
        options: &HttpSourceOptions,
        static_headers: &HeaderMap,
        forward: &[HeaderName],
        auth: &Credentials,
        problems: &mut Vec<String>,
    ) {
        for name in self.names() {
            if static_headers.contains_key(name) {
                problems.push(format!(
                    "identity sets the `{name}` header and `headers` sets it too; keep one"
                ));
            }
            if forward.contains(name) {
                problems.push(format!(
                    "forward_headers lists `{name}`, which identity sets from the authenticated \
                     caller; a client-sent value is never forwarded, so remove it from \
                     forward_headers"
                ));
            }
            if name == http::header::AUTHORIZATION {
                if options.forward_authorization {
                    problems.push(
                        "forward_authorization and identity both set the Authorization header; \
                         choose one (identity.mint or identity.token_exchange instead of passing \
                         the caller's token through is the safer choice)"
                            .to_owned(),
                    );
                }
                if let Some(kind) = auth.authorization_kind() {
                    problems.push(format!(
                        "auth `{kind}` and identity both set the Authorization header; give the \
                         identity token another header (identity.mint.header or \
                         identity.token_exchange.header, e.g. `X-Identity-Token`)"
                    ));
                }
            }
        }
    }

    /// The headers this identity sets; requests never carry other values for them.
    pub(crate) fn names(&self) -> &[HeaderName] {
        &self.names
    }

    /// The minter, when this backend gets minted tokens.
    pub(crate) fn minter(&self) -> Option<&Minter> {
        self.minter.as_ref()
    }

    /// The exchanger, when this backend gets exchanged tokens.
    pub(crate) fn exchanger(&self) -> Option<&Exchanger> {
        self.exchanger.as_ref()
    }

    /// The identity headers of one call of `tool` by `principal`.
    pub(crate) async fn apply(
        &self,
        principal: Option<&Arc<Principal>>,
        client: &reqwest::Client,
        tool: &str,
    ) -> Result<IdentityParts, ToolError> {
        let mut parts = IdentityParts::default();
        let Some(principal) = principal else {
            if self.require_principal {
                return Err(ToolError::new(
                    ToolErrorKind::Rejected,
                    format!(
                        "tool `{tool}` passes the caller's identity to its backend and needs an \
                         authenticated caller; this call has none (turn on authentication, or \
                         set the source's identity.require_principal to false)"
                    ),
                ));
            }
            return Ok(parts);
        };
        for (name, template) in &self.headers {
            let Some(raw) = template.render(principal) else {
                continue;
            };
            let value = sanitize(&raw, self.max_header_bytes).map_err(|e| {
                ToolError::new(
                    ToolErrorKind::Rejected,
                    format!(
                        "the caller's `{name}` for tool `{tool}` would be {} bytes, over \
                         identity.max_header_bytes ({}); it is not cut short (a shortened \
                         identity is another identity): raise the limit or map a shorter claim",
                        e.len, self.max_header_bytes
                    ),
                )
            })?;
            parts.headers.push((name.clone(), value));
        }
        if let Some(m) = &self.minter {
            parts
                .headers
                .push((m.header.clone(), m.header_value(principal).await?));
        }
        if let Some(x) = &self.exchanger {
            // Only OAuth access tokens are exchanged: a static API key is the caller's
            // long-lived secret and is never sent to a token endpoint.
            let access_token = matches!(
                principal.method,
                AuthMethod::Jwt | AuthMethod::Introspection
            );
            let Some(credential) = principal.credential.as_ref().filter(|_| access_token) else {
                return Err(ToolError::new(
                    ToolErrorKind::Rejected,
                    format!(
                        "tool `{tool}` exchanges the caller's OAuth access token for a backend \
                         token (RFC 8693), but the caller (authenticated by {}) presented no \
                         access token to exchange (API keys are never sent to a token endpoint)",
                        principal.method.as_str()
                    ),
                ));
            };
            let v = x.header_value(client, principal, credential).await?;
            parts.headers.push((x.header.clone(), v));
            parts.exchanged_for = Some(principal.clone());
        }
        Ok(parts)
    }

    /// The backend answered 401 to a request with these parts: an exchanged token is dropped
    /// so the caller's next call exchanges again.
    pub(crate) async fn refused(&self, parts: &IdentityParts) {
        if let (Some(x), Some(p)) = (&self.exchanger, &parts.exchanged_for)
            && let Some(c) = &p.credential
        {
            x.forget(p, c).await;
        }
    }

    /// Values to keep out of everything printed (the signing key file's text).
    pub(crate) fn secret_values(&self) -> Vec<String> {
        let Some(text) = self.minter.as_ref().and_then(|m| m.key_text.as_ref()) else {
            return Vec::new();
        };
        let mut out = vec![text.clone()];
        out.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with("-----"))
                .map(str::to_owned),
        );
        out
    }
}

/// Whether a token with `claims` names `base_url` in its `aud` (exactly, or as its origin or
/// a path prefix). `None` when the token has no `aud`.
pub(crate) fn audience_is(claims: &serde_json::Map<String, Value>, base_url: &Url) -> Option<bool> {
    let aud = claims.get("aud")?;
    let list: Vec<&str> = match aud {
        Value::String(s) => vec![s],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => return Some(false),
    };
    let origin = base_url.origin().ascii_serialization();
    let base = base_url.as_str().trim_end_matches('/');
    Some(list.iter().any(|a| {
        let a = a.trim_end_matches('/');
        a == origin || a == base || (base.starts_with(a) && a.starts_with(&origin))
    }))
}

/// Warns once per backend when a forwarded token was issued for someone else.
#[derive(Debug, Default)]
pub(crate) struct AudienceWarning(AtomicBool);

impl AudienceWarning {
    pub(crate) fn check(&self, principal: Option<&Arc<Principal>>, base_url: &Url) {
        let Some(p) = principal else { return };
        if audience_is(&p.claims, base_url) == Some(false) && !self.0.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(
                backend = %base_url.origin().ascii_serialization(),
                subject = %p.subject,
                "forward_authorization passes the caller's token to a backend that is not its \
                 audience (`aud`); the backend may accept a token not meant for it. Prefer \
                 identity.token_exchange or identity.mint (warned once)"
            );
        }
    }
}

/// toolgate's JSON Web Key Set (RFC 7517): the public keys of every backend that gets minted
/// tokens, each once (by `kid`). Serve it at `/.well-known/jwks.json`.
pub fn jwks_document<'a>(backends: impl IntoIterator<Item = &'a HttpBackend>) -> Value {
    let mut keys: Vec<Value> = Vec::new();
    let mut kids: Vec<String> = Vec::new();
    for b in backends {
        let Some(m) = b.identity().and_then(Identity::minter) else {
            continue;
        };
        let jwk = m.jwk();
        let kid = jwk.common.key_id.clone().unwrap_or_default();
        if kids.contains(&kid) {
            continue;
        }
        kids.push(kid);
        keys.push(serde_json::to_value(jwk).expect("a JWK serializes"));
    }
    json!({ "keys": keys })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audience_checks_origin_base_and_prefix() {
        let base = Url::parse("https://api.example.com/v1/").unwrap();
        let c = |aud: Value| json!({ "aud": aud }).as_object().unwrap().clone();
        assert_eq!(
            audience_is(&c(json!("https://api.example.com")), &base),
            Some(true)
        );
        assert_eq!(
            audience_is(&c(json!(["x", "https://api.example.com/v1"])), &base),
            Some(true)
        );
        assert_eq!(
            audience_is(&c(json!("https://toolgate.example.com")), &base),
            Some(false)
        );
        assert_eq!(
            audience_is(&c(json!("https://api.example.com.evil")), &base),
            Some(false)
        );
        assert_eq!(audience_is(&serde_json::Map::new(), &base), None);
    }

    #[test]
    fn identity_headers_set_elsewhere_are_configuration_errors() {
        let options: HttpSourceOptions = serde_json::from_value(json!({
            "headers": {"X-User-Id": "static"},
            "forward_headers": ["X-User-Id"],
            "forward_authorization": true,
            "identity": {
                "headers": {"X-User-Id": "{sub}"},
                "mint": {"issuer": "https://tg"}
            }
        }))
        .unwrap();
        let base = Url::parse("http://127.0.0.1:1").unwrap();
        let err = HttpBackend::new(base.clone(), Vec::new(), options)
            .unwrap_err()
            .to_string();
        for want in [
            "identity sets the `x-user-id` header and `headers` sets it too",
            "forward_headers lists `x-user-id`",
            "forward_authorization and identity both set the Authorization header",
        ] {
            assert!(err.contains(want), "missing {want:?} in:\n{err}");
        }
        let options: HttpSourceOptions = serde_json::from_value(json!({
            "auth": {"type": "bearer", "token": "service-token"},
            "identity": {"token_exchange": {"token_url": "https://idp/token", "client_id": "c"}}
        }))
        .unwrap();
        let err = HttpBackend::new(base, Vec::new(), options)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("auth `bearer` and identity both set the Authorization header"),
            "{err}"
        );
    }

    #[test]
    fn identity_problems_name_the_option() {
        let options: IdentityOptions = serde_json::from_value(json!({
            "headers": {"Authorization": "{sub}", "X-Bad Name": "{sub}", "X-Ok": "{nope}"},
            "max_header_bytes": 0,
            "mint": {"issuer": "https://tg", "header": "X-Id-Token"},
            "token_exchange": {"token_url": "relative/token", "client_id": "c", "header": "X-Id-Token"}
        }))
        .unwrap();
        let mut problems = Vec::new();
        let base = Url::parse("http://127.0.0.1:1").unwrap();
        assert!(Identity::new(&options, &base, &mut problems).is_none());
        let all = problems.join("\n");
        for want in [
            "identity.headers.Authorization: `Authorization` cannot carry claims",
            "identity.headers.X-Bad Name: `X-Bad Name` is not a valid HTTP header name",
            "identity.headers.X-Ok: unknown placeholder `{nope}`",
            "identity.max_header_bytes must be greater than 0",
            "identity.token_exchange.token_url must be an absolute",
        ] {
            assert!(all.contains(want), "missing {want:?} in:\n{all}");
        }
    }
}
