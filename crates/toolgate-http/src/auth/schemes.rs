//! One configured credential against the spec's security schemes: which schemes it fits, and
//! where it goes on a request (a header, a query parameter, a cookie, or an OAuth2 token).
//!
//! This module checks a credential on its own (its named scheme exists and fits, its header
//! name and value are valid, an API key knows where it goes, an OAuth2 grant has a token URL)
//! and reports every problem with the credential's config path. Choosing between several
//! credentials, and per operation, is `auth::Credentials`; tokens are `auth::oauth2`.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::{HeaderName, HeaderValue};
use toolgate_openapi::ir::{ParamLocation, SecurityScheme, SecuritySchemeKind};
use url::Url;

use super::oauth2::{ClientAuth, Grant, TokenSource};
use crate::options::{ApiKeyLocation, BackendAuth, Secret};

/// Where a credential goes on a request.
#[derive(Debug)]
pub(crate) enum Placement {
    /// A fixed header (bearer, basic, API key in a header).
    Header(HeaderName, HeaderValue),
    /// An API key query parameter: `name` and the encoded `name=value` pair.
    Query(String, Secret),
    /// An API key cookie: `name` and the `name=value` pair.
    Cookie(String, Secret),
    /// An OAuth2 token (`Authorization: Bearer`), fetched and cached.
    OAuth2(Arc<TokenSource>),
}

/// The part of a request a credential occupies: two credentials in one slot cannot both be
/// sent.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Slot<'a> {
    Header(&'a HeaderName),
    Query(&'a str),
    Cookie(&'a str),
}

impl Placement {
    pub(crate) fn slot(&self) -> Slot<'_> {
        match self {
            Placement::Header(name, _) => Slot::Header(name),
            Placement::OAuth2(_) => Slot::Header(&http::header::AUTHORIZATION),
            Placement::Query(name, _) => Slot::Query(name),
            Placement::Cookie(name, _) => Slot::Cookie(name),
        }
    }
}

/// A header value that is never printed by `http`'s `Debug`.
pub(crate) fn sensitive(value: &str) -> Option<HeaderValue> {
    let mut v = HeaderValue::from_str(value).ok()?;
    v.set_sensitive(true);
    Some(v)
}

/// Short label of a scheme's kind, for messages.
pub(crate) fn scheme_kind_str(kind: &SecuritySchemeKind) -> &'static str {
    match kind {
        SecuritySchemeKind::ApiKey { .. } => "apiKey",
        SecuritySchemeKind::Bearer => "http bearer",
        SecuritySchemeKind::Basic => "http basic",
        SecuritySchemeKind::OAuth2 { .. } => "oauth2",
        SecuritySchemeKind::Other { .. } => "other",
    }
}

/// How well `auth` fits `scheme`: 0 = not at all, 1 = it can be sent for it (a bearer token
/// for an `oauth2` scheme), 2 = the natural credential for it. Between several credentials
/// that fit a scheme, the best fit wins.
pub(crate) fn fit(auth: &BackendAuth, scheme: &SecurityScheme) -> u8 {
    match (auth, &scheme.kind) {
        (BackendAuth::Bearer { .. }, SecuritySchemeKind::Bearer) => 2,
        (
            BackendAuth::Bearer { .. },
            SecuritySchemeKind::OAuth2 { .. } | SecuritySchemeKind::Other { .. },
        ) => 1,
        (BackendAuth::Basic { .. }, SecuritySchemeKind::Basic) => 2,
        (
            BackendAuth::ApiKey { location, name, .. },
            SecuritySchemeKind::ApiKey {
                location: l,
                param_name,
            },
        ) => {
            let same_place = location.is_none_or(|x| param_location(x) == *l)
                && name.as_deref().is_none_or(|n| {
                    if *l == ParamLocation::Header {
                        n.eq_ignore_ascii_case(param_name)
                    } else {
                        n == param_name
                    }
                });
            if same_place { 2 } else { 1 }
        }
        (
            BackendAuth::OAuth2ClientCredentials { .. } | BackendAuth::OAuth2Password { .. },
            SecuritySchemeKind::OAuth2 { .. },
        ) => 2,
        (
            BackendAuth::OAuth2ClientCredentials { .. } | BackendAuth::OAuth2Password { .. },
            SecuritySchemeKind::Bearer,
        ) => 1,
        _ => 0,
    }
}

fn param_location(l: ApiKeyLocation) -> ParamLocation {
    match l {
        ApiKeyLocation::Header => ParamLocation::Header,
        ApiKeyLocation::Query => ParamLocation::Query,
        ApiKeyLocation::Cookie => ParamLocation::Cookie,
    }
}

/// Checks `auth` (at config path `at`, e.g. `auth` or `auth[1]`) against `schemes` and works
/// out where it goes; problems are pushed onto `problems`.
pub(crate) fn placement(
    auth: &BackendAuth,
    at: &str,
    schemes: &[SecurityScheme],
    base_url: &Url,
    problems: &mut Vec<String>,
) -> Option<Placement> {
    let named = match auth.scheme() {
        None => None,
        Some(name) => match schemes.iter().find(|s| s.name == name) {
            None => {
                let names: Vec<_> = schemes.iter().map(|x| format!("`{}`", x.name)).collect();
                problems.push(format!(
                    "{at}.scheme `{name}` is not a security scheme of the spec (it declares: {})",
                    if names.is_empty() {
                        "none".to_owned()
                    } else {
                        names.join(", ")
                    }
                ));
                return None;
            }
            Some(s) if fit(auth, s) == 0 => {
                problems.push(format!(
                    "{at}.scheme `{name}` is an {} scheme in the spec; a `{}` credential cannot \
                     be sent for it",
                    scheme_kind_str(&s.kind),
                    auth.kind_str()
                ));
                return None;
            }
            Some(s) => Some(s),
        },
    };
    match auth {
        BackendAuth::Bearer { token, .. } => {
            let Some(v) = sensitive(&format!("Bearer {}", token.expose())) else {
                problems.push(format!(
                    "{at}.token contains characters not allowed in an HTTP header"
                ));
                return None;
            };
            Some(Placement::Header(http::header::AUTHORIZATION, v))
        }
        BackendAuth::Basic {
            username, password, ..
        } => {
            if username.contains(':') {
                problems.push(format!("{at}.username must not contain `:` (HTTP Basic)"));
                return None;
            }
            let raw = format!("{username}:{}", password.expose());
            let v = sensitive(&format!("Basic {}", BASE64.encode(raw))).expect("base64 is ASCII");
            Some(Placement::Header(http::header::AUTHORIZATION, v))
        }
        BackendAuth::ApiKey {
            location,
            name,
            value,
            ..
        } => api_key(
            at,
            named,
            *location,
            name.as_deref(),
            value,
            schemes,
            problems,
        ),
        BackendAuth::OAuth2ClientCredentials {
            token_url,
            client_id,
            client_secret,
            scopes,
            audience,
            client_auth,
            ..
        } => {
            let from_spec = |kind: &SecuritySchemeKind| match kind {
                SecuritySchemeKind::OAuth2 { token_url, .. } => token_url.clone(),
                _ => None,
            };
            let raw = token_url.clone().or_else(|| match named {
                Some(s) => from_spec(&s.kind),
                None => schemes.iter().find_map(|s| from_spec(&s.kind)),
            });
            let Some(raw) = raw else {
                problems.push(format!(
                    "{at}.token_url is required: the spec declares no oauth2 client-credentials \
                     token URL"
                ));
                return None;
            };
            let url = token_endpoint(at, &raw, base_url, problems)?;
            Some(Placement::OAuth2(Arc::new(TokenSource::new(
                url,
                Grant::ClientCredentials {
                    audience: audience.clone(),
                },
                scopes.clone(),
                Some(ClientAuth {
                    id: client_id.clone(),
                    secret: Some(client_secret.clone()),
                    method: *client_auth,
                }),
            ))))
        }
        BackendAuth::OAuth2Password {
            token_url,
            username,
            password,
            scopes,
            client_id,
            client_secret,
            client_auth,
            ..
        } => {
            let from_spec = |kind: &SecuritySchemeKind| match kind {
                SecuritySchemeKind::OAuth2 {
                    password_token_url, ..
                } => password_token_url.clone(),
                _ => None,
            };
            let raw = token_url.clone().or_else(|| match named {
                Some(s) => from_spec(&s.kind),
                None => schemes.iter().find_map(|s| from_spec(&s.kind)),
            });
            let Some(raw) = raw else {
                problems.push(format!(
                    "{at}.token_url is required: the spec declares no oauth2 password flow \
                     (FastAPI: `OAuth2PasswordBearer(tokenUrl=...)`); set it to the login \
                     endpoint, e.g. `/token`"
                ));
                return None;
            };
            if client_secret.is_some() && client_id.is_none() {
                problems.push(format!("{at}.client_secret is set without client_id"));
                return None;
            }
            let url = token_endpoint(at, &raw, base_url, problems)?;
            Some(Placement::OAuth2(Arc::new(TokenSource::new(
                url,
                Grant::Password {
                    username: username.clone(),
                    password: password.clone(),
                },
                scopes.clone(),
                client_id.as_ref().map(|id| ClientAuth {
                    id: id.clone(),
                    secret: client_secret.clone(),
                    method: *client_auth,
                }),
            ))))
        }
    }
}

/// The token endpoint `raw` (absolute, or relative to the backend base URL as OpenAPI
/// resolves a relative `tokenUrl` against the server URL).
fn token_endpoint(at: &str, raw: &str, base_url: &Url, problems: &mut Vec<String>) -> Option<Url> {
    match Url::parse(raw).or_else(|_| base_url.join(raw)) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
        _ => {
            problems.push(format!(
                "{at}.token_url `{raw}` is not an http(s) URL (nor a path relative to the base \
                 URL {base_url})"
            ));
            None
        }
    }
}

fn api_key(
    at: &str,
    named: Option<&SecurityScheme>,
    location: Option<ApiKeyLocation>,
    name: Option<&str>,
    value: &Secret,
    schemes: &[SecurityScheme],
    problems: &mut Vec<String>,
) -> Option<Placement> {
    let from = |s: &SecurityScheme| match &s.kind {
        SecuritySchemeKind::ApiKey {
            location,
            param_name,
        } => Some((*location, param_name.clone())),
        _ => None,
    };
    let declared = match named {
        Some(s) => from(s),
        None => {
            let api_keys: Vec<_> = schemes.iter().filter_map(from).collect();
            (api_keys.len() == 1).then(|| api_keys[0].clone())
        }
    };
    let location = location
        .map(param_location)
        .or(declared.as_ref().map(|d| d.0));
    let name = name.map(str::to_owned).or(declared.map(|d| d.1));
    let (Some(location), Some(name)) = (location, name) else {
        problems.push(format!(
            "{at} (api_key) needs `location` and `name`, or `scheme` naming one apiKey scheme \
             of the spec"
        ));
        return None;
    };
    if name.is_empty() {
        problems.push(format!("{at}.name must not be empty"));
        return None;
    }
    match location {
        ParamLocation::Header => {
            let Ok(h) = HeaderName::from_bytes(name.as_bytes()) else {
                problems.push(format!("{at}.name `{name}` is not a valid header name"));
                return None;
            };
            let Some(v) = sensitive(value.expose()) else {
                problems.push(format!(
                    "{at}.value contains characters not allowed in an HTTP header"
                ));
                return None;
            };
            Some(Placement::Header(h, v))
        }
        ParamLocation::Query => {
            let pair = Secret::new(format!(
                "{}={}",
                crate::serialize::Escape::Component.apply(&name),
                crate::serialize::Escape::Component.apply(value.expose())
            ));
            Some(Placement::Query(name, pair))
        }
        ParamLocation::Cookie | ParamLocation::Path => {
            if crate::request::invalid_cookie_byte(value.expose()).is_some()
                || crate::request::invalid_cookie_byte(&name).is_some()
            {
                problems.push(format!(
                    "{at} (api_key cookie): the name or value contains characters not allowed \
                     in a cookie"
                ));
                return None;
            }
            let pair = Secret::new(format!("{name}={}", value.expose()));
            Some(Placement::Cookie(name, pair))
        }
    }
}
