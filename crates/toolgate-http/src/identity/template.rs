//! Header templates over the caller's identity (`"{sub}"`, `"org:{claims.org.id}"`) and the
//! sanitizing that makes any claim value a safe HTTP header value.
//!
//! A template is parsed once at start; rendering reads the [`Principal`] and yields `None`
//! when a placeholder has no value (no such claim, an object, an empty list), so the header
//! is left out rather than sent half-filled. [`sanitize`] percent-encodes every byte outside
//! printable ASCII (and `%` itself, and spaces at either end), so CR/LF or other control
//! characters can never split a header and non-ASCII claims (names, e-mails) arrive
//! deterministically as their UTF-8 percent-encoding (RFC 3986), which the backend can decode.

use std::fmt::Write as _;

use http::HeaderValue;
use serde_json::Value;
use toolgate_core::context::Principal;

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Subject,
    Scopes,
    Roles,
    Method,
    /// A dotted path into the claims.
    Claim(Vec<String>),
}

/// A parsed header template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template(Vec<Piece>);

impl Template {
    /// Parses `text`; the error says what is wrong in words a config author can act on.
    pub(crate) fn parse(text: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '}' => return Err("a lone `}`; write `}}` for a literal brace".to_owned()),
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => name.push(c),
                            None => {
                                return Err(format!(
                                    "`{{{name}` is not closed; write `}}` after the placeholder \
                                     name, or `{{{{` for a literal brace"
                                ));
                            }
                        }
                    }
                    if !literal.is_empty() {
                        pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                    }
                    pieces.push(placeholder(name.trim())?);
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        if !pieces.iter().any(|p| !matches!(p, Piece::Literal(_))) {
            return Err(format!(
                "`{text}` has no placeholder; a fixed value belongs in the source's `headers`"
            ));
        }
        Ok(Template(pieces))
    }

    /// The value for `principal`, or `None` when a placeholder has no value.
    pub(crate) fn render(&self, principal: &Principal) -> Option<String> {
        let mut out = String::new();
        for piece in &self.0 {
            match piece {
                Piece::Literal(l) => out.push_str(l),
                Piece::Subject => out.push_str(non_empty(&principal.subject)?),
                Piece::Scopes => out.push_str(&joined(&principal.scopes)?),
                Piece::Roles => out.push_str(&joined(&principal.roles)?),
                Piece::Method => out.push_str(principal.method.as_str()),
                Piece::Claim(path) => {
                    let mut at = principal.claims.get(&path[0])?;
                    for key in &path[1..] {
                        at = at.get(key)?;
                    }
                    write_claim(&mut out, at)?;
                }
            }
        }
        Some(out)
    }
}

fn placeholder(name: &str) -> Result<Piece, String> {
    Ok(match name {
        "sub" | "subject" => Piece::Subject,
        "scopes" | "scope" => Piece::Scopes,
        "roles" => Piece::Roles,
        "method" => Piece::Method,
        _ => match name.strip_prefix("claims.") {
            Some(path) if !path.is_empty() && path.split('.').all(|k| !k.is_empty()) => {
                Piece::Claim(path.split('.').map(str::to_owned).collect())
            }
            _ => {
                return Err(format!(
                    "unknown placeholder `{{{name}}}`; use `{{sub}}`, `{{scopes}}`, `{{roles}}`, \
                     `{{method}}` or `{{claims.PATH}}` (e.g. `{{claims.org.id}}`)"
                ));
            }
        },
    })
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

fn joined(list: &[String]) -> Option<String> {
    (!list.is_empty()).then(|| list.join(" "))
}

/// Writes a claim value: strings as they are, numbers and booleans as JSON writes them, lists
/// of those space-separated. Objects, nulls and empty values have no header form.
fn write_claim(out: &mut String, value: &Value) -> Option<()> {
    match value {
        Value::String(s) if !s.is_empty() => out.push_str(s),
        Value::Number(n) => write!(out, "{n}").ok()?,
        Value::Bool(b) => write!(out, "{b}").ok()?,
        Value::Array(items) if !items.is_empty() => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                match item {
                    Value::String(_) | Value::Number(_) | Value::Bool(_) => write_claim(out, item)?,
                    _ => return None,
                }
            }
        }
        _ => return None,
    }
    Some(())
}

/// Why a value could not be made a header.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TooLong {
    pub len: usize,
}

/// `value` as a header value of printable ASCII: bytes outside `!`..`~`, `%`, and spaces at
/// either end are percent-encoded (`%0D`, `%C3%A9`); the result may be at most `max` bytes.
pub(crate) fn sanitize(value: &str, max: usize) -> Result<HeaderValue, TooLong> {
    let bytes = value.as_bytes();
    let first = bytes.iter().position(|&b| b != b' ').unwrap_or(bytes.len());
    let last = bytes.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1);
    let mut out = String::with_capacity(value.len());
    for (i, &b) in bytes.iter().enumerate() {
        let inner_space = b == b' ' && i >= first && i < last;
        if (b.is_ascii_graphic() && b != b'%') || inner_space {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
        if out.len() > max {
            // Keep counting to report the full length.
            let rest: usize = bytes[i + 1..]
                .iter()
                .map(|&b| {
                    if b.is_ascii_graphic() && b != b'%' {
                        1
                    } else {
                        3
                    }
                })
                .sum();
            return Err(TooLong {
                len: out.len() + rest,
            });
        }
    }
    let mut v = HeaderValue::from_str(&out).expect("printable ASCII is a valid header value");
    v.set_sensitive(true);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use proptest::prelude::*;
    use serde_json::json;
    use toolgate_core::context::AuthMethod;

    use super::*;

    fn principal() -> Principal {
        let mut p = Principal::new(
            "alice",
            vec!["todos:read".into(), "todos:write".into()],
            AuthMethod::Jwt,
        );
        p.roles = vec!["admin".into()];
        p.claims = Arc::new(
            json!({"sub": "alice", "org": {"id": 42, "name": "Zürich AG"}, "groups": ["a", "b"], "nested": {"x": {}}})
                .as_object()
                .unwrap()
                .clone(),
        );
        p
    }

    fn render(t: &str) -> Option<String> {
        Template::parse(t).unwrap().render(&principal())
    }

    #[test]
    fn placeholders_render_from_the_principal() {
        assert_eq!(render("{sub}").as_deref(), Some("alice"));
        assert_eq!(
            render("{scopes}").as_deref(),
            Some("todos:read todos:write")
        );
        assert_eq!(render("{roles}").as_deref(), Some("admin"));
        assert_eq!(render("{method}").as_deref(), Some("jwt"));
        assert_eq!(render("org-{claims.org.id}").as_deref(), Some("org-42"));
        assert_eq!(render("{claims.groups}").as_deref(), Some("a b"));
        assert_eq!(
            render("{{literal}} {sub}").as_deref(),
            Some("{literal} alice")
        );
    }

    #[test]
    fn missing_or_shapeless_values_leave_the_header_out() {
        assert_eq!(render("{claims.email}"), None);
        assert_eq!(render("{claims.org}"), None, "an object has no header form");
        assert_eq!(render("{claims.org.id.deeper}"), None);
        assert_eq!(render("{claims.nested.x}"), None);
        let bare = Principal::new("svc", vec![], AuthMethod::ApiKey);
        assert_eq!(Template::parse("{scopes}").unwrap().render(&bare), None);
    }

    #[test]
    fn bad_templates_say_what_to_write() {
        let e = Template::parse("{user}").unwrap_err();
        assert!(e.contains("unknown placeholder `{user}`"), "{e}");
        assert!(Template::parse("{sub").unwrap_err().contains("not closed"));
        assert!(Template::parse("a}b").unwrap_err().contains("lone `}`"));
        assert!(
            Template::parse("fixed")
                .unwrap_err()
                .contains("no placeholder")
        );
        assert!(Template::parse("{claims.}").is_err());
        assert!(Template::parse("{claims.a..b}").is_err());
    }

    #[test]
    fn sanitizing_encodes_controls_non_ascii_and_percent() {
        let v = |s: &str| sanitize(s, 1024).unwrap().to_str().unwrap().to_owned();
        assert_eq!(v("alice"), "alice");
        assert_eq!(v("a\r\nX-Admin: 1"), "a%0D%0AX-Admin: 1");
        assert_eq!(v("Zürich"), "Z%C3%BCrich");
        assert_eq!(v("50%"), "50%25");
        assert_eq!(v(" padded "), "%20padded%20");
        assert_eq!(v("tab\there\x7f"), "tab%09here%7F");
        assert_eq!(sanitize(&"x".repeat(10), 9), Err(TooLong { len: 10 }));
        assert_eq!(sanitize("éé", 11), Err(TooLong { len: 12 }));
        assert!(sanitize("éé", 12).is_ok());
    }

    proptest! {
        #[test]
        fn any_template_text_parses_or_says_why_and_renders_without_panicking(
            text in "[{}a-z.]{0,24}|\\PC{0,24}"
        ) {
            if let Ok(t) = Template::parse(&text) {
                let _ = t.render(&principal());
            }
        }

        #[test]
        fn any_value_becomes_a_valid_reversible_header(s in any::<String>()) {
            let v = sanitize(&s, usize::MAX).unwrap();
            let text = v.to_str().unwrap();
            prop_assert!(text.bytes().all(|b| b == b' ' || b.is_ascii_graphic()));
            prop_assert!(!text.starts_with(' ') && !text.ends_with(' '));
            let back = percent_encoding::percent_decode_str(text).decode_utf8().unwrap();
            prop_assert_eq!(back, s);
        }
    }
}
