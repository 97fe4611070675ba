//! What of a tool is searched: its [`ToolDoc`], taken from its MCP definition and what its
//! source knows (tags, method, path), and the one-line summary a search result shows.
//!
//! The same type is what the evaluation set's committed extracts hold (`eval/*.json`), so
//! the evaluation ranks exactly the texts a running gateway indexes.
//!
//! Does not own: tokenizing or ranking.

use rmcp::model::Tool;
use serde::{Deserialize, Serialize};

/// Characters of a description that are indexed: the head says what an operation does; the
/// rest (pagination notes, OAuth scope lists, deprecation notices) mostly adds noise.
pub const DESCRIPTION_INDEXED_CHARS: usize = 400;

/// Characters of a result's summary at most.
pub const SUMMARY_CHARS: usize = 160;

/// The searchable texts of one tool.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ToolDoc {
    /// The served name.
    pub name: String,
    /// The summary (MCP `title`, from the spec's `summary`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The head of the description ([`DESCRIPTION_INDEXED_CHARS`]).
    pub description: String,
    /// Top-level argument names.
    pub params: Vec<String>,
    /// OpenAPI tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// HTTP method, for tools compiled from OpenAPI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// HTTP path template, for tools compiled from OpenAPI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl ToolDoc {
    /// The searchable texts of `tool`, with what its source knows about it.
    pub fn of_tool(tool: &Tool, tags: &[String], method: Option<&str>, path: Option<&str>) -> Self {
        let title = tool
            .title
            .clone()
            .or_else(|| tool.annotations.as_ref().and_then(|a| a.title.clone()))
            .filter(|t| !t.trim().is_empty());
        ToolDoc {
            name: tool.name.to_string(),
            title,
            description: head(
                &strip_markup(tool.description.as_deref().unwrap_or("")),
                DESCRIPTION_INDEXED_CHARS,
            ),
            params: tool
                .input_schema
                .get("properties")
                .and_then(|p| p.as_object())
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default(),
            tags: tags.to_vec(),
            method: method.map(str::to_owned),
            path: path.map(str::to_owned),
        }
    }

    /// One line saying what the tool does: its summary, else its description's first
    /// sentence, followed by its method and path when it has them.
    pub fn summary(&self) -> String {
        let what = self
            .title
            .clone()
            .unwrap_or_else(|| first_sentence(&self.description));
        let what = head(what.trim(), SUMMARY_CHARS);
        match (&self.method, &self.path) {
            (Some(m), Some(p)) if what.is_empty() => format!("{m} {p}"),
            (Some(m), Some(p)) => format!("{what} ({m} {p})"),
            _ => what,
        }
    }

    /// The literal segments of the path (not its `{parameters}`) and the verbs people use
    /// for its method: what the `path` field indexes.
    pub fn path_text(&self) -> String {
        let mut text = String::new();
        if let Some(p) = &self.path {
            for seg in p
                .split('/')
                .filter(|s| !s.starts_with('{') && !s.is_empty())
            {
                text.push_str(seg);
                text.push(' ');
            }
        }
        text.push_str(match self.method.as_deref() {
            Some("GET") => "get list",
            Some("POST") => "create",
            Some("PUT") => "update set",
            Some("PATCH") => "update",
            Some("DELETE") => "delete",
            _ => "",
        });
        text
    }
}

/// `s` without HTML tags (Stripe's descriptions are HTML: `<p>`, `<code>`, `<a href=…>`
/// would otherwise be indexed as words).
fn strip_markup(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    let collapsed: Vec<&str> = out.split_whitespace().collect();
    collapsed.join(" ")
}

/// `s` cut to at most `max` characters at a word boundary.
fn head(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let cut: String = s.chars().take(max).collect();
    match cut.rfind(char::is_whitespace) {
        Some(i) if i > 0 => format!("{}…", cut[..i].trim_end()),
        _ => format!("{cut}…"),
    }
}

/// The first sentence of `s` (up to a period followed by a space, or a line break).
fn first_sentence(s: &str) -> String {
    let end = s
        .char_indices()
        .find(|&(i, c)| c == '\n' || (c == '.' && s[i + 1..].starts_with(' ')))
        .map_or(s.len(), |(i, _)| i);
    s[..end].trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_prefer_the_title_then_the_first_sentence_and_name_the_route() {
        let mut d = ToolDoc {
            name: "repos_get".into(),
            title: Some("Get a repository".into()),
            description: "The parent and source objects are present. More.".into(),
            method: Some("GET".into()),
            path: Some("/repos/{owner}/{repo}".into()),
            ..ToolDoc::default()
        };
        assert_eq!(d.summary(), "Get a repository (GET /repos/{owner}/{repo})");
        d.title = None;
        assert_eq!(
            d.summary(),
            "The parent and source objects are present (GET /repos/{owner}/{repo})"
        );
        assert_eq!(d.path_text(), "repos get list");
    }

    #[test]
    fn markup_is_not_indexed() {
        assert_eq!(
            strip_markup("<p>Creates a <code>Customer</code>.</p>\n<p>More</p>"),
            "Creates a Customer . More"
        );
    }

    #[test]
    fn long_texts_are_cut_at_a_word() {
        assert_eq!(head("hello wonderful world", 12), "hello…");
        assert_eq!(head("short", 10), "short");
    }
}
