//! Reading a token endpoint's answer: how long a token lives (`expires_in`, or a JWT's
//! `exp` claim) and a short, secret-free account of an error answer.
//!
//! It does not request or cache tokens (`oauth2`) and never verifies a JWT: the backend does
//! that; the claim only schedules the refresh.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::Value;

/// Most characters of the token endpoint's answer quoted in an error.
const EXCERPT_CHARS: usize = 200;

#[derive(Deserialize)]
struct RfcError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// A positive number of seconds (`expires_in` is a number, or by some providers a string).
pub(crate) fn seconds(v: &Value) -> Option<Duration> {
    let s = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    (s.is_finite() && s > 0.0 && s < 1e10).then(|| Duration::from_secs_f64(s))
}

/// The time left until the `exp` claim of `token`, when it is a JWT (`header.claims.sig`,
/// RFC 7519). The signature is not checked: the backend does that; the claim only schedules
/// the refresh.
pub(crate) fn jwt_lifetime(token: &str, now: SystemTime) -> Option<Duration> {
    #[derive(Deserialize)]
    struct Claims {
        exp: Option<Value>,
    }
    let mut parts = token.split('.');
    let (_, claims, _) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(claims.trim_end_matches('=')).ok()?;
    let exp = serde_json::from_slice::<Claims>(&bytes).ok()?.exp?;
    let exp = SystemTime::UNIX_EPOCH + seconds(&exp)?;
    Some(exp.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A short account of a token endpoint's error answer: RFC 6749's `error` and
/// `error_description` when present, else the start of the body (FastAPI:
/// `{"detail":"Incorrect email or password"}`), with every secret cut out.
pub(crate) fn error_detail(body: &[u8], secrets: &[&str]) -> String {
    let text = match serde_json::from_slice::<RfcError>(body) {
        Ok(e) => match e.error_description {
            Some(d) if !d.is_empty() => format!("{}: {d}", e.error),
            _ => e.error,
        },
        Err(_) => String::from_utf8_lossy(body)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
    };
    let mut text = redact(text, secrets);
    if let Some((cut, _)) = text.char_indices().nth(EXCERPT_CHARS) {
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// `text` with each secret, and its JSON-escaped and form-encoded spellings, replaced.
fn redact(mut text: String, secrets: &[&str]) -> String {
    for secret in secrets {
        let json = serde_json::to_string(secret).unwrap_or_default();
        let spellings = [
            (*secret).to_owned(),
            json.trim_matches('"').to_owned(),
            crate::serialize::Escape::Component.apply(secret),
        ];
        for s in spellings {
            if !s.is_empty() && text.contains(&s) {
                text = text.replace(&s, "[redacted]");
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        format!(
            "eyJhbGciOiJIUzI1NiJ9.{}.c2ln",
            URL_SAFE_NO_PAD.encode(claims)
        )
    }

    #[test]
    fn jwt_exp_gives_the_lifetime() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        assert_eq!(
            jwt_lifetime(&jwt(r#"{"sub":"a","exp":1600}"#), now),
            Some(Duration::from_secs(600))
        );
        // Expired already (clocks differ): zero, which the cache raises to its minimum.
        assert_eq!(
            jwt_lifetime(&jwt(r#"{"exp":900}"#), now),
            Some(Duration::ZERO)
        );
        assert_eq!(jwt_lifetime(&jwt(r#"{"sub":"a"}"#), now), None);
        assert_eq!(jwt_lifetime("opaque-token", now), None);
        assert_eq!(jwt_lifetime("a.b.c.d.e", now), None);
        assert_eq!(jwt_lifetime("a.!!!.c", now), None);
    }

    #[test]
    fn expires_in_may_be_a_number_or_a_string() {
        assert_eq!(
            seconds(&serde_json::json!(3600)),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(
            seconds(&serde_json::json!("60")),
            Some(Duration::from_secs(60))
        );
        assert_eq!(seconds(&serde_json::json!(0)), None);
        assert_eq!(seconds(&serde_json::json!(-5)), None);
        assert_eq!(seconds(&serde_json::json!(null)), None);
    }

    #[test]
    fn error_details_never_carry_secrets() {
        let body = br#"{"detail":[{"type":"string_too_short","loc":["body","password"],"input":"p\"ss w0rd"}]}"#;
        let d = error_detail(body, &["p\"ss w0rd"]);
        assert!(!d.contains("ss w0rd"), "{d}");
        assert!(d.contains("[redacted]"), "{d}");
        let d = error_detail(b"bad grant for p%26w", &["p&w"]);
        assert_eq!(d, "bad grant for [redacted]");
        let d = error_detail(
            br#"{"error":"invalid_grant","error_description":"wrong"}"#,
            &[],
        );
        assert_eq!(d, "invalid_grant: wrong");
        let long = "x".repeat(500);
        assert_eq!(error_detail(long.as_bytes(), &[]).chars().count(), 201);
    }
}
