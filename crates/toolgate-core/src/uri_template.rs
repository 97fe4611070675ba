//! Matching `resources/read` URIs against RFC 6570 level-1 templates (`api://x/users/{id}`).
//!
//! Only simple `{var}` expressions are supported: that is all the OpenAPI compiler emits. A
//! variable matches one or more characters other than `/`, `?` and `#`, and its value is
//! percent-decoded before it becomes a tool argument.

use percent_encoding::percent_decode_str;
use rmcp::model::JsonObject;
use serde_json::Value;

/// A parsed URI template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriTemplate {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Var(String),
}

/// A template that is not RFC 6570 level 1.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid URI template `{template}`: {reason}")]
pub struct UriTemplateError {
    /// The template.
    pub template: String,
    /// What is wrong.
    pub reason: String,
}

impl UriTemplate {
    /// Parses `template`.
    pub fn parse(template: &str) -> Result<Self, UriTemplateError> {
        let err = |reason: &str| UriTemplateError {
            template: template.to_owned(),
            reason: reason.to_owned(),
        };
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_owned()));
            }
            let close = rest[open..].find('}').ok_or_else(|| err("unclosed `{`"))? + open;
            let name = &rest[open + 1..close];
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
            {
                return Err(err("only simple `{name}` expressions are supported"));
            }
            if matches!(parts.last(), Some(Part::Var(_))) {
                return Err(err("two variables must be separated by a literal"));
            }
            parts.push(Part::Var(name.to_owned()));
            rest = &rest[close + 1..];
        }
        if rest.contains('}') {
            return Err(err("unmatched `}`"));
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        Ok(UriTemplate { parts })
    }

    /// Matches `uri`, returning the variables as string arguments.
    pub fn matches(&self, uri: &str) -> Option<JsonObject> {
        let mut args = JsonObject::new();
        let mut rest = uri;
        for (i, part) in self.parts.iter().enumerate() {
            match part {
                Part::Literal(lit) => rest = rest.strip_prefix(lit.as_str())?,
                Part::Var(name) => {
                    let end = match self.parts.get(i + 1) {
                        Some(Part::Literal(next)) => rest.find(next.as_str())?,
                        _ => rest.len(),
                    };
                    let raw = &rest[..end];
                    if raw.is_empty() || raw.contains(['/', '?', '#']) {
                        return None;
                    }
                    let value = percent_decode_str(raw).decode_utf8().ok()?.into_owned();
                    args.insert(name.clone(), Value::String(value));
                    rest = &rest[end..];
                }
            }
        }
        rest.is_empty().then_some(args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_and_decodes_variables() {
        let t = UriTemplate::parse("api://todo/users/{user_id}/tasks/{task_id}").unwrap();
        let args = t.matches("api://todo/users/u%201/tasks/t2").unwrap();
        assert_eq!(args["user_id"], "u 1");
        assert_eq!(args["task_id"], "t2");
    }

    #[test]
    fn rejects_values_spanning_segments_and_trailing_text() {
        let t = UriTemplate::parse("api://todo/users/{id}").unwrap();
        assert!(t.matches("api://todo/users/a/b").is_none());
        assert!(t.matches("api://todo/users/").is_none());
        assert!(t.matches("api://todo/other/a").is_none());
    }

    #[test]
    fn rejects_unsupported_expressions() {
        assert!(UriTemplate::parse("api://x/{+path}").is_err());
        assert!(UriTemplate::parse("api://x/{a}{b}").is_err());
        assert!(UriTemplate::parse("api://x/{a").is_err());
    }
}
