//! Backend credentials: resolving the configured credentials against the spec's
//! `securitySchemes`, deciding which of them each operation gets, and putting them on
//! requests.
//!
//! A source may configure several credentials (`auth` as a list). Each spec scheme gets the
//! credential that names it (`scheme:`), else the best-fitting unnamed one (an `oauth2_*`
//! grant for an `oauth2` scheme before a static bearer token, an API key whose location and
//! name match the scheme before another). An operation gets the credentials of every scheme
//! its security requirements name: all of them when one requirement names several (AND), and
//! those of every alternative (OR) that has one, because FastAPI declares endpoints that
//! depend on two security classes as two alternatives although both are required
//! (fastapi/fastapi#2835); the first named wins when two would fill the same header, query
//! parameter or cookie. When the spec declares no schemes, every credential goes with every
//! request.
//!
//! Submodules: `schemes` (one credential against the schemes: fit, placement, checks),
//! `oauth2` (token grants, cache, refresh, backoff) and `token_answer` (lifetimes and error
//! excerpts from a token endpoint's answer). This module does not authenticate MCP
//! clients (that is the policy crate) and never logs a credential.

mod oauth2;
mod schemes;
mod token_answer;

use std::sync::Arc;

use http::{HeaderName, HeaderValue};
use toolgate_core::error::ToolError;
use toolgate_openapi::ir::{Operation, SecurityScheme};
use url::Url;

pub use oauth2::{ClientAuth, Grant, TokenSource};
pub(crate) use oauth2::{Endpoint, post_token_form};
pub(crate) use schemes::sensitive;
use schemes::{Placement, fit, placement, scheme_kind_str};

use crate::options::BackendAuth;

/// One credential, checked at startup.
#[derive(Debug)]
pub(crate) struct Credential {
    kind: &'static str,
    placement: Placement,
}

/// The credentials of one backend, resolved against its spec's security schemes.
#[derive(Debug, Default)]
pub(crate) struct Credentials {
    list: Vec<Arc<Credential>>,
    /// The credential each spec scheme gets: `(scheme name, index into list)`.
    by_scheme: Vec<(String, usize)>,
    /// The spec declares no security schemes: every credential goes with every request.
    everywhere: bool,
}

impl Credentials {
    /// Resolves `configured` against `schemes`; every problem is pushed onto `problems`.
    pub(crate) fn resolve(
        configured: &[BackendAuth],
        schemes: &[SecurityScheme],
        base_url: &Url,
        problems: &mut Vec<String>,
    ) -> Credentials {
        let at = |i: usize| {
            if configured.len() == 1 {
                "auth".to_owned()
            } else {
                format!("auth[{i}]")
            }
        };
        let before = problems.len();
        let placements: Vec<Option<Placement>> = configured
            .iter()
            .enumerate()
            .map(|(i, a)| placement(a, &at(i), schemes, base_url, problems))
            .collect();
        if problems.len() > before {
            return Credentials::default();
        }
        let list: Vec<Arc<Credential>> = configured
            .iter()
            .zip(placements)
            .filter_map(|(a, p)| {
                p.map(|placement| {
                    Arc::new(Credential {
                        kind: a.kind_str(),
                        placement,
                    })
                })
            })
            .collect();

        if schemes.is_empty() {
            // Every credential goes with every request: two must not fill the same place.
            for (j, b) in list.iter().enumerate() {
                if let Some(i) = list[..j]
                    .iter()
                    .position(|a| a.placement.slot() == b.placement.slot())
                {
                    problems.push(format!(
                        "{} and {} both set {}; the spec declares no security schemes, so every \
                         credential goes with every request: keep one",
                        at(i),
                        at(j),
                        slot_str(&b.placement)
                    ));
                }
            }
            return Credentials {
                list,
                by_scheme: Vec::new(),
                everywhere: true,
            };
        }

        let mut by_scheme = Vec::new();
        for s in schemes {
            let named: Vec<usize> = (0..configured.len())
                .filter(|&i| configured[i].scheme() == Some(s.name.as_str()))
                .collect();
            let chosen = match named.as_slice() {
                [] => {
                    // The best-fitting credential that names no scheme; the first on a tie.
                    let mut best: Option<(usize, u8)> = None;
                    for (i, a) in configured.iter().enumerate() {
                        let f = if a.scheme().is_none() { fit(a, s) } else { 0 };
                        if f > 0 && best.is_none_or(|(_, bf)| f > bf) {
                            best = Some((i, f));
                        }
                    }
                    best.map(|(i, _)| i)
                }
                [one] => Some(*one),
                [first, rest @ ..] => {
                    let others: Vec<String> = rest.iter().map(|&i| at(i)).collect();
                    problems.push(format!(
                        "{} and {} are all for security scheme `{}`; give each scheme one \
                         credential",
                        at(*first),
                        others.join(", "),
                        s.name
                    ));
                    None
                }
            };
            if let Some(i) = chosen {
                by_scheme.push((s.name.clone(), i));
            }
        }
        for (i, a) in configured.iter().enumerate() {
            if !by_scheme.iter().any(|(_, j)| *j == i) {
                let declared: Vec<_> = schemes
                    .iter()
                    .map(|s| format!("`{}` ({})", s.name, scheme_kind_str(&s.kind)))
                    .collect();
                let why = if configured.len() > 1 {
                    "; when several credentials fit a scheme, name the one it is for with \
                     `scheme:`"
                } else {
                    ""
                };
                problems.push(format!(
                    "{} `{}` matches none of the spec's security schemes it could be sent for \
                     ({}); it would never be sent{why}",
                    at(i),
                    a.kind_str(),
                    declared.join(", ")
                ));
            }
        }
        Credentials {
            list,
            by_scheme,
            everywhere: false,
        }
    }

    /// The kind (`bearer`, `oauth2_password`, …) of a credential that sets `Authorization`,
    /// if one does.
    pub(crate) fn authorization_kind(&self) -> Option<&'static str> {
        self.list
            .iter()
            .find(|c| c.placement.slot() == schemes::Slot::Header(&http::header::AUTHORIZATION))
            .map(|c| c.kind)
    }

    /// The OAuth2 token sources (for counting token requests).
    pub(crate) fn token_sources(&self) -> impl Iterator<Item = &TokenSource> {
        self.list.iter().filter_map(|c| match &c.placement {
            Placement::OAuth2(t) => Some(&**t),
            Placement::Header(..) | Placement::Query(..) | Placement::Cookie(..) => None,
        })
    }

    /// The credentials `op` gets: those of every scheme its security requirements name
    /// (every credential when the spec declares no schemes); the first named wins a place
    /// two would fill.
    pub(crate) fn for_operation(&self, op: &Operation) -> OpCredentials {
        if self.everywhere {
            return OpCredentials(self.list.clone().into());
        }
        let mut chosen: Vec<Arc<Credential>> = Vec::new();
        for name in op.security.iter().flatten() {
            let Some((_, i)) = self.by_scheme.iter().find(|(s, _)| s == name) else {
                continue;
            };
            let c = &self.list[*i];
            let taken = chosen
                .iter()
                .any(|x| Arc::ptr_eq(x, c) || x.placement.slot() == c.placement.slot());
            if !taken {
                chosen.push(c.clone());
            }
        }
        OpCredentials(chosen.into())
    }
}

fn slot_str(p: &Placement) -> String {
    match p.slot() {
        schemes::Slot::Header(h) => format!("the `{h}` header"),
        schemes::Slot::Query(q) => format!("the `{q}` query parameter"),
        schemes::Slot::Cookie(c) => format!("the `{c}` cookie"),
    }
}

/// The credentials one operation sends, chosen when its handler is created.
#[derive(Debug, Clone, Default)]
pub(crate) struct OpCredentials(Arc<[Arc<Credential>]>);

impl OpCredentials {
    /// Whether the operation sends no credential.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a credential is an OAuth2 token, which a 401 may be fixed by refreshing.
    pub(crate) fn has_token(&self) -> bool {
        self.0
            .iter()
            .any(|c| matches!(c.placement, Placement::OAuth2(_)))
    }

    /// The credentials for one request (fetching OAuth2 tokens if needed).
    pub(crate) async fn apply(&self, client: &reqwest::Client) -> Result<AuthParts, ToolError> {
        let mut parts = AuthParts::default();
        for c in self.0.iter() {
            match &c.placement {
                Placement::Header(n, v) => parts.headers.push((n.clone(), v.clone())),
                Placement::Query(_, q) => parts.query.push(q.expose().to_owned()),
                Placement::Cookie(_, pair) => parts.cookies.push(pair.expose().to_owned()),
                Placement::OAuth2(source) => {
                    let v = source.bearer(client).await?;
                    parts.headers.push((http::header::AUTHORIZATION, v.clone()));
                    parts.tokens.push((source.clone(), v));
                }
            }
        }
        Ok(parts)
    }
}

/// Where a request's credentials go; filled by [`OpCredentials::apply`].
#[derive(Debug, Default)]
pub(crate) struct AuthParts {
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Encoded `name=value` query pieces.
    pub query: Vec<String>,
    /// `name=value` cookie pieces.
    pub cookies: Vec<String>,
    /// The OAuth2 tokens used, so a 401 can drop exactly them.
    tokens: Vec<(Arc<TokenSource>, HeaderValue)>,
}

impl AuthParts {
    /// Drops the OAuth2 tokens this request carried (the backend answered 401 to it).
    /// Returns whether there were any: then the request may succeed with fresh tokens.
    pub(crate) fn reject_tokens(&self) -> bool {
        for (source, used) in &self.tokens {
            source.reject(used);
        }
        !self.tokens.is_empty()
    }
}
