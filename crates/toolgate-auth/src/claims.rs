//! Checks on a token's claims (time, issuer, audience, required claims) and how a
//! [`Principal`] is read from them (subject, scopes, roles). Shared by JWTs and introspection
//! answers. Refusals quote claim values (shortened, printable only) but never the token.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use toolgate_core::{AuthMethod, Credential, Principal, Refusal};

/// The rules a token's claims must satisfy, from the configuration.
#[derive(Debug, Clone)]
pub(crate) struct ClaimRules {
    pub issuer: Option<String>,
    pub audience: Vec<String>,
    pub leeway: u64,
    pub required: Vec<String>,
    pub scopes_claim: Option<String>,
    pub roles_claim: Option<Vec<String>>,
    pub subject_claim: String,
}

/// Seconds since the Unix epoch.
pub(crate) fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl ClaimRules {
    /// Checks everything but the signature. Returns the token's `exp`. A JWT (`introspected`
    /// false) must carry `exp`, `iss` (when an issuer is configured) and `aud`; an
    /// introspection answer is checked on those only when it includes them (RFC 7662 makes
    /// them optional: the authorization server vouches for the token).
    pub fn check(
        &self,
        claims: &Map<String, Value>,
        now: u64,
        introspected: bool,
    ) -> Result<Option<u64>, Refusal> {
        let exp = match claims.get("exp") {
            None if !introspected => {
                return Err(Refusal::invalid_token(
                    "missing_exp",
                    "the token has no `exp` (expiry) claim; tokens without an expiry are not \
                     accepted",
                ));
            }
            None => None,
            Some(v) => Some(numeric_date(v, "exp")?),
        };
        if let Some(exp) = exp
            && now > exp.saturating_add(self.leeway)
        {
            return Err(Refusal::invalid_token(
                "expired",
                format!("the token expired {} ago; get a new one", human(now - exp)),
            ));
        }
        if let Some(nbf) = claims.get("nbf") {
            let nbf = numeric_date(nbf, "nbf")?;
            if nbf > now.saturating_add(self.leeway) {
                return Err(Refusal::invalid_token(
                    "not_yet_valid",
                    format!(
                        "the token is not valid before {} from now (`nbf`); check the clocks of \
                         the issuer and of this server",
                        human(nbf - now)
                    ),
                ));
            }
        }
        if let Some(iat) = claims.get("iat") {
            let iat = numeric_date(iat, "iat")?;
            if iat > now.saturating_add(self.leeway) {
                return Err(Refusal::invalid_token(
                    "not_yet_valid",
                    format!(
                        "the token claims to be issued {} in the future (`iat`); check the \
                         clocks of the issuer and of this server",
                        human(iat - now)
                    ),
                ));
            }
        }
        if !introspected || claims.contains_key("iss") {
            self.check_issuer(claims)?;
        }
        if !introspected || claims.contains_key("aud") {
            self.check_audience(claims)?;
        }
        for name in &self.required {
            if !claims.contains_key(name) {
                return Err(Refusal::invalid_token(
                    "missing_claim",
                    format!("the token lacks the required claim `{}`", shown(name)),
                ));
            }
        }
        Ok(exp)
    }

    fn check_issuer(&self, claims: &Map<String, Value>) -> Result<(), Refusal> {
        let Some(expected) = &self.issuer else {
            return Ok(());
        };
        match claims.get("iss") {
            Some(Value::String(iss)) if iss == expected => Ok(()),
            Some(Value::String(iss)) => {
                let hint = if iss.trim_end_matches('/') == expected.trim_end_matches('/') {
                    " (they differ only by a trailing slash: set `auth.issuer` exactly as the \
                     tokens carry it)"
                } else {
                    ""
                };
                Err(Refusal::invalid_token(
                    "wrong_issuer",
                    format!(
                        "the issuer was `{}`, expected `{}`{hint}",
                        shown(iss),
                        shown(expected)
                    ),
                ))
            }
            _ => Err(Refusal::invalid_token(
                "wrong_issuer",
                format!(
                    "the token has no string `iss` claim; expected `{}`",
                    shown(expected)
                ),
            )),
        }
    }

    fn check_audience(&self, claims: &Map<String, Value>) -> Result<(), Refusal> {
        let expected = if self.audience.len() == 1 {
            format!("`{}`", shown(&self.audience[0]))
        } else {
            let all: Vec<String> = self
                .audience
                .iter()
                .map(|a| format!("`{}`", shown(a)))
                .collect();
            format!("one of {}", all.join(", "))
        };
        let found: Vec<&str> = match claims.get("aud") {
            Some(Value::String(a)) => vec![a.as_str()],
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if found.is_empty() {
            return Err(Refusal::invalid_token(
                "wrong_audience",
                format!(
                    "the token has no `aud` claim; expected {expected} (have the authorization \
                     server issue tokens for this resource: the RFC 8707 `resource` parameter or \
                     an audience mapper)"
                ),
            ));
        }
        if found.iter().any(|a| self.audience.iter().any(|e| e == a)) {
            return Ok(());
        }
        let got: Vec<String> = found
            .iter()
            .take(5)
            .map(|a| format!("`{}`", shown(a)))
            .collect();
        Err(Refusal::invalid_token(
            "wrong_audience",
            format!(
                "the audience was {}, expected {expected}; the token was issued for another \
                 resource",
                got.join(", ")
            ),
        ))
    }

    /// The caller described by checked claims.
    pub fn principal(
        &self,
        claims: Map<String, Value>,
        method: AuthMethod,
        token: &str,
    ) -> Result<Principal, Refusal> {
        // Introspection answers may name the caller by `username` or only by `client_id`.
        let fallbacks: &[&str] = match method {
            AuthMethod::Introspection => &["username", "client_id"],
            _ => &[],
        };
        let subject = std::iter::once(self.subject_claim.as_str())
            .chain(fallbacks.iter().copied())
            .find_map(|name| match claims.get(name) {
                Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
                _ => None,
            });
        let subject = match subject {
            Some(s) => s,
            _ => {
                return Err(Refusal::invalid_token(
                    "missing_claim",
                    format!(
                        "the token has no string `{}` claim to name the caller (auth.subject_claim)",
                        shown(&self.subject_claim)
                    ),
                ));
            }
        };
        let scopes = match &self.scopes_claim {
            Some(name) => string_list(claims.get(name)),
            None => match claims.get("scope") {
                Some(v) => string_list(Some(v)),
                None => string_list(claims.get("scp")),
            },
        };
        let roles = match &self.roles_claim {
            Some(path) => string_list(lookup_path(&claims, path)),
            None => Vec::new(),
        };
        Ok(Principal {
            subject,
            scopes,
            roles,
            method,
            claims: Arc::new(claims),
            credential: Some(Credential::new(token)),
        })
    }
}

/// Follows a dotted path (`realm_access.roles`) through nested objects.
fn lookup_path<'a>(claims: &'a Map<String, Value>, path: &[String]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let mut value = claims.get(first)?;
    for key in rest {
        value = value.as_object()?.get(key)?;
    }
    Some(value)
}

/// A space-separated string or an array of strings, as a list.
fn string_list(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// A NumericDate claim (RFC 7519 §2: a JSON number, possibly fractional).
fn numeric_date(value: &Value, name: &'static str) -> Result<u64, Refusal> {
    match value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| f as u64)
    }) {
        Some(n) => Ok(n),
        None => Err(Refusal::invalid_token(
            "malformed",
            format!("the `{name}` claim is not a number of seconds since 1970"),
        )),
    }
}

/// A claim value or configured name, safe to quote: printable ASCII, at most 80 characters.
pub(crate) fn shown(value: &str) -> String {
    let mut out: String = value
        .chars()
        .take(80)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if value.chars().count() > 80 {
        out.push('…');
    }
    out
}

/// "45 s", "3 min", "2 h 5 min", "4 days".
pub(crate) fn human(seconds: u64) -> String {
    match seconds {
        0..=119 => format!("{seconds} s"),
        120..=3599 => format!("{} min", seconds / 60),
        3600..=172_799 => {
            let minutes = (seconds % 3600) / 60;
            if minutes == 0 {
                format!("{} h", seconds / 3600)
            } else {
                format!("{} h {minutes} min", seconds / 3600)
            }
        }
        _ => format!("{} days", seconds / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules() -> ClaimRules {
        ClaimRules {
            issuer: Some("https://idp.example/".into()),
            audience: vec!["https://mcp.example/mcp".into()],
            leeway: 60,
            required: vec![],
            scopes_claim: None,
            roles_claim: Some(vec!["realm_access".into(), "roles".into()]),
            subject_claim: "sub".into(),
        }
    }

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    const NOW: u64 = 1_800_000_000;

    fn good() -> Value {
        json!({"iss": "https://idp.example/", "aud": "https://mcp.example/mcp", "sub": "alice", "exp": NOW + 600})
    }

    #[test]
    fn messages_say_what_was_wrong() {
        let cases = [
            (json!({"exp": NOW - 180}), "expired", "expired 3 min ago"),
            (json!({"exp": null}), "malformed", "`exp`"),
            (json!({"nbf": NOW + 3600}), "not_yet_valid", "1 h from now"),
            (
                json!({"iss": "https://idp.example"}),
                "wrong_issuer",
                "trailing slash",
            ),
            (
                json!({"iss": "https://evil"}),
                "wrong_issuer",
                "was `https://evil`, expected `https://idp.example/`",
            ),
            (
                json!({"aud": "https://other"}),
                "wrong_audience",
                "audience was `https://other`, expected `https://mcp.example/mcp`",
            ),
            (json!({"aud": []}), "wrong_audience", "no `aud`"),
        ];
        for (patch, reason, text) in cases {
            let mut c = claims(good());
            for (k, v) in patch.as_object().unwrap() {
                c.insert(k.clone(), v.clone());
            }
            let r = rules().check(&c, NOW, false).unwrap_err();
            assert_eq!(r.reason, reason, "{}", r.description);
            assert!(r.description.contains(text), "{}", r.description);
        }
        let mut c = claims(good());
        c.remove("exp");
        assert_eq!(
            rules().check(&c, NOW, false).unwrap_err().reason,
            "missing_exp"
        );
        assert_eq!(rules().check(&c, NOW, true).unwrap(), None);
    }

    #[test]
    fn leeway_applies_to_exp_and_nbf() {
        let mut c = claims(good());
        c.insert("exp".into(), json!(NOW - 30));
        c.insert("nbf".into(), json!(NOW + 30));
        assert_eq!(rules().check(&c, NOW, false).unwrap(), Some(NOW - 30));
    }

    #[test]
    fn scopes_and_roles_are_read() {
        let mut c = claims(good());
        c.insert("scp".into(), json!(["a", "b"]));
        c.insert("realm_access".into(), json!({"roles": ["admin"]}));
        let p = rules().principal(c.clone(), AuthMethod::Jwt, "t").unwrap();
        assert_eq!(
            (p.scopes, p.roles),
            (vec!["a".into(), "b".into()], vec!["admin".into()])
        );
        c.insert("scope".into(), json!("x y"));
        let p = rules().principal(c, AuthMethod::Jwt, "t").unwrap();
        assert_eq!(p.scopes, vec!["x", "y"]);
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human(45), "45 s");
        assert_eq!(human(180), "3 min");
        assert_eq!(human(7500), "2 h 5 min");
        assert_eq!(human(86_400 * 3), "3 days");
        assert_eq!(shown("a\u{0}b"), "a?b");
    }
}
