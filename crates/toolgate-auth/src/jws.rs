//! Splits a compact JWS (`header.payload.signature`) and decodes its header and claims, so
//! that key selection and claim checks can give precise refusals before and after the
//! signature check (which `jsonwebtoken` performs on the same bytes). Never panics on any
//! input (proptest below).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use toolgate_core::Refusal;

/// A JWT split into its parts, header and claims decoded, signature not yet checked.
pub(crate) struct RawJwt<'a> {
    /// `header.payload`, the signed bytes.
    pub message: &'a str,
    /// The base64url signature.
    pub signature: &'a str,
    pub header: JwtHeader,
    pub claims: serde_json::Map<String, serde_json::Value>,
}

/// The JOSE header fields toolgate reads.
#[derive(Debug, Deserialize)]
pub(crate) struct JwtHeader {
    pub alg: String,
    #[serde(default)]
    pub kid: Option<String>,
    /// Critical extensions: none is understood, so any is a refusal (RFC 7515 §4.1.11).
    #[serde(default)]
    pub crit: Option<serde_json::Value>,
}

/// Whether `token` has the shape of a compact JWS (three non-empty-header segments).
pub(crate) fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2 && !token.starts_with('.')
}

/// Decodes `token`; refusals say which part is wrong.
pub(crate) fn decode(token: &str) -> Result<RawJwt<'_>, Refusal> {
    let mut parts = token.splitn(3, '.');
    let (Some(header), Some(payload), Some(signature)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("it is not three dot-separated parts"));
    };
    if signature.contains('.') {
        return Err(malformed(
            "it has more than three dot-separated parts (a JWE is not accepted)",
        ));
    }
    let message = &token[..header.len() + 1 + payload.len()];
    let header_bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| malformed("its header is not base64url"))?;
    let header: JwtHeader = serde_json::from_slice(&header_bytes)
        .map_err(|_| malformed("its header is not a JSON object with a string `alg`"))?;
    let payload_bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| malformed("its payload is not base64url"))?;
    let claims: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&payload_bytes)
        .map_err(|_| malformed("its payload is not a JSON object"))?;
    Ok(RawJwt {
        message,
        signature,
        header,
        claims,
    })
}

fn malformed(what: &str) -> Refusal {
    Refusal::invalid_token(
        "malformed",
        format!("the bearer token is not a valid JWT: {what}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn decodes_a_well_formed_token() {
        let token = format!(
            "{}.{}.c2ln",
            b64(r#"{"alg":"RS256","kid":"k1"}"#),
            b64(r#"{"sub":"a"}"#)
        );
        let raw = decode(&token).unwrap();
        assert_eq!(raw.header.alg, "RS256");
        assert_eq!(raw.header.kid.as_deref(), Some("k1"));
        assert_eq!(raw.claims["sub"], "a");
        assert_eq!(raw.signature, "c2ln");
        assert!(token.starts_with(raw.message));
    }

    #[test]
    fn refusals_name_the_bad_part() {
        let h = b64(r#"{"alg":"RS256"}"#);
        for (token, part) in [
            ("abc".to_owned(), "three"),
            (format!("{h}.!!.x"), "payload is not base64url"),
            (format!("{}.{}.x", b64("[]"), b64("{}")), "header"),
            (
                format!("{h}.{}.x", b64("[1]")),
                "payload is not a JSON object",
            ),
            (format!("{h}.{}.x.y", b64("{}")), "more than three"),
        ] {
            let r = decode(&token).err().unwrap();
            assert!(r.description.contains(part), "{}", r.description);
            assert_eq!(r.reason, "malformed");
        }
    }

    proptest! {
        #[test]
        fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let text = String::from_utf8_lossy(&bytes);
            let _ = decode(&text);
            let _ = looks_like_jwt(&text);
        }

        #[test]
        fn decoder_never_panics_on_dotted_base64(a in "[A-Za-z0-9_-]{0,60}", b in "[A-Za-z0-9_-]{0,60}", c in "[A-Za-z0-9_.-]{0,60}") {
            let _ = decode(&format!("{a}.{b}.{c}"));
        }
    }
}
