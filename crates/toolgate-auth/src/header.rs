//! Where a credential is read from: the `Authorization: Bearer` header (RFC 6750 §2.1), or a
//! configured API-key header. Never the query string (refused, RFC 6750 §2.3 is not offered)
//! and never a cookie. Hand-written because it is a few lines of RFC 7235 syntax and the
//! refusals must be precise; a proptest checks it never panics.

use http::HeaderName;
use http::header::AUTHORIZATION;
use toolgate_core::{Refusal, RefusalStatus};

/// The credential of a request and where it came from.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Presented<'a> {
    /// `Authorization: Bearer <token>`: the token's bytes as sent, within the length limit.
    /// Their syntax is checked ([`bearer_text`]) only when the token is not in the
    /// verified-token cache: a cached token was checked before it was verified, and reading
    /// every byte of the token again on each request is a cost worth saving.
    Bearer(&'a [u8]),
    /// The configured API-key header.
    ApiKeyHeader(&'a str),
}

/// Reads the one credential of a request head.
pub(crate) fn extract<'a>(
    parts: &'a http::request::Parts,
    api_key_header: Option<&HeaderName>,
    max_len: usize,
) -> Result<Presented<'a>, Refusal> {
    if query_has_token(parts.uri.query()) {
        return Err(Refusal::invalid_request(
            "token_in_query",
            "access tokens are accepted only in the `Authorization` header, never in the query \
             string (`access_token=`): send `Authorization: Bearer <token>` and remove the \
             token from the URL (it may already be in logs; consider it leaked)",
        ));
    }
    let mut authorization = parts.headers.get_all(AUTHORIZATION).iter();
    let first = authorization.next();
    if authorization.next().is_some() {
        return Err(Refusal::invalid_request(
            "multiple_credentials",
            "the request has more than one `Authorization` header; send exactly one",
        ));
    }
    let api_key = match api_key_header {
        Some(name) => {
            let mut values = parts.headers.get_all(name).iter();
            let value = values.next();
            if values.next().is_some() {
                return Err(Refusal::invalid_request(
                    "multiple_credentials",
                    format!("the request has more than one `{name}` header; send exactly one"),
                ));
            }
            value.map(|v| (name, v))
        }
        None => None,
    };
    match (first, api_key) {
        (Some(_), Some((name, _))) => Err(Refusal::invalid_request(
            "multiple_credentials",
            format!(
                "the request has both an `Authorization` and a `{name}` header; send one credential"
            ),
        )),
        (None, None) => Err(Refusal::missing(
            "this endpoint requires authentication: send `Authorization: Bearer <access token>`",
        )),
        (None, Some((name, value))) => {
            let value = credential_text(value.as_bytes(), max_len, name.as_str())?;
            Ok(Presented::ApiKeyHeader(value))
        }
        (Some(value), None) => bearer_bytes(value.as_bytes(), max_len).map(Presented::Bearer),
    }
}

/// Parses an `Authorization` value into its bearer token (RFC 6750 §2.1: the scheme is
/// case-insensitive, the token is `token68`).
pub(crate) fn parse_authorization(value: &[u8], max_len: usize) -> Result<&str, Refusal> {
    bearer_text(bearer_bytes(value, max_len)?)
}

/// The token of a bearer `Authorization` value, its length checked but not its syntax.
fn bearer_bytes(value: &[u8], max_len: usize) -> Result<&[u8], Refusal> {
    let Some(space) = value.iter().position(|b| *b == b' ') else {
        return Err(scheme_refusal(value));
    };
    let (scheme, rest) = value.split_at(space);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Err(scheme_refusal(scheme));
    }
    let token = trim_spaces(rest);
    check_length(token, max_len, "Authorization")?;
    Ok(token)
}

/// A bearer token's bytes as text, if they are `token68`.
pub(crate) fn bearer_text(token: &[u8]) -> Result<&str, Refusal> {
    check_syntax(token, "Authorization")
}

fn trim_spaces(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

/// Checks a credential's length and syntax (`token68`) and returns it as text.
fn credential_text<'a>(value: &'a [u8], max_len: usize, header: &str) -> Result<&'a str, Refusal> {
    check_length(value, max_len, header)?;
    check_syntax(value, header)
}

/// Refuses a credential longer than `max_len` or empty.
fn check_length(value: &[u8], max_len: usize, header: &str) -> Result<(), Refusal> {
    if value.len() > max_len {
        return Err(Refusal::invalid_token(
            "too_long",
            format!(
                "the credential in `{header}` is {} bytes long, more than the {max_len} accepted",
                value.len()
            ),
        ));
    }
    if value.is_empty() {
        return Err(Refusal::invalid_request(
            "malformed_header",
            format!("the `{header}` header holds no credential after the scheme"),
        ));
    }
    Ok(())
}

/// Refuses a credential that is not `token68`; returns it as text.
fn check_syntax<'a>(value: &'a [u8], header: &str) -> Result<&'a str, Refusal> {
    if !is_token68(value) {
        return Err(Refusal::invalid_request(
            "malformed_header",
            format!(
                "the credential in `{header}` contains characters a bearer token cannot hold \
                 (spaces, quotes, control or non-ASCII characters); send the token exactly as issued"
            ),
        ));
    }
    // token68 is ASCII, so this cannot fail.
    std::str::from_utf8(value)
        .map_err(|_| Refusal::invalid_request("malformed_header", "not ASCII"))
}

/// RFC 7235 `token68`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_token68(value: &[u8]) -> bool {
    let body_end = value.iter().rposition(|b| *b != b'=').map_or(0, |i| i + 1);
    body_end > 0 && value[..body_end].iter().all(|b| TOKEN68[usize::from(*b)])
}

/// The bytes of a `token68` body (before its `=` padding), as a table: one load per byte of a
/// token read on every request.
const TOKEN68: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] =
            c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
        b += 1;
    }
    table
};

fn scheme_refusal(scheme: &[u8]) -> Refusal {
    let shown: String = String::from_utf8_lossy(scheme)
        .chars()
        .take(20)
        .filter(|c| c.is_ascii_graphic())
        .collect();
    let looks_bare = scheme.len() > 20 && !shown.eq_ignore_ascii_case("bearer");
    let description = if looks_bare || shown.is_empty() {
        "the `Authorization` header is not `Bearer <token>`; add the `Bearer ` scheme before the \
         token"
            .to_owned()
    } else {
        format!(
            "the `Authorization` scheme `{shown}` is not accepted; send `Authorization: Bearer \
             <access token>`"
        )
    };
    Refusal {
        status: RefusalStatus::Unauthorized,
        error: None,
        description,
        scope: None,
        reason: "unsupported_scheme",
    }
}

/// Whether the query string carries an `access_token` parameter.
fn query_has_token(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        q.split('&').any(|pair| {
            let name = pair.split('=').next().unwrap_or("");
            name.eq_ignore_ascii_case("access_token") || name.eq_ignore_ascii_case("access%5Ftoken")
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parts(uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
        let mut builder = http::Request::builder().uri(uri);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        for scheme in ["Bearer", "bearer", "BEARER"] {
            let p = parts(
                "/mcp",
                &[("authorization", &format!("{scheme}  abc.def-_~+/=="))],
            );
            assert_eq!(
                extract(&p, None, 100).unwrap(),
                Presented::Bearer(b"abc.def-_~+/==")
            );
        }
    }

    #[test]
    fn refusals_have_the_rfc_6750_status() {
        type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16, &'a str);
        let cases: [Case; 7] = [
            ("/mcp", vec![], 401, "missing"),
            (
                "/mcp?access_token=x",
                vec![("authorization", "Bearer a")],
                400,
                "token_in_query",
            ),
            (
                "/mcp",
                vec![("authorization", "Bearer a"), ("authorization", "Bearer b")],
                400,
                "multiple_credentials",
            ),
            (
                "/mcp",
                vec![("authorization", "Basic dXNlcg==")],
                401,
                "unsupported_scheme",
            ),
            (
                "/mcp",
                vec![("authorization", "Bearer a b")],
                400,
                "malformed_header",
            ),
            (
                "/mcp",
                vec![("authorization", "Bearer ")],
                400,
                "malformed_header",
            ),
            (
                "/mcp",
                vec![("authorization", "Bearer\t")],
                401,
                "unsupported_scheme",
            ),
        ];
        // What the request is refused for: the head, then (not found in the cache) the
        // token's syntax.
        let refusal = |p: &http::request::Parts| match extract(p, None, 100) {
            Ok(Presented::Bearer(token)) => bearer_text(token).unwrap_err(),
            Ok(other) => panic!("accepted {other:?}"),
            Err(r) => r,
        };
        for (uri, headers, status, reason) in cases {
            let p = parts(uri, &headers);
            let r = refusal(&p);
            assert_eq!(
                (r.status.code(), r.reason),
                (status, reason),
                "{uri} {headers:?}"
            );
        }
        let long = format!("Bearer {}", "a".repeat(101));
        let r = extract(&parts("/", &[("authorization", &long)]), None, 100).unwrap_err();
        assert_eq!((r.status.code(), r.reason), (401, "too_long"));
        assert!(!r.description.contains("aaaa"));
    }

    #[test]
    fn api_key_header_is_read_when_configured() {
        let name = HeaderName::from_static("x-api-key");
        let p = parts("/", &[("x-api-key", "k1")]);
        assert_eq!(
            extract(&p, Some(&name), 100).unwrap(),
            Presented::ApiKeyHeader("k1")
        );
        let both = parts("/", &[("x-api-key", "k1"), ("authorization", "Bearer t")]);
        assert_eq!(
            extract(&both, Some(&name), 100).unwrap_err().reason,
            "multiple_credentials"
        );
        assert_eq!(extract(&p, None, 100).unwrap_err().reason, "missing");
    }

    proptest! {
        #[test]
        fn authorization_parser_never_panics(value in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_authorization(&value, 200);
        }

        #[test]
        fn accepted_tokens_are_token68(value in "[ -~]{0,80}") {
            if let Ok(token) = parse_authorization(value.as_bytes(), 200) {
                prop_assert!(is_token68(token.as_bytes()));
                prop_assert!(!token.contains(' '));
            }
        }
    }
}
