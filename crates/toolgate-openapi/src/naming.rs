//! MCP names for operations.
//!
//! Base name, first that applies: `options.names[operationId]`, `overrides[..].name`,
//! `x-mcp-name`, the `operationId` (with FastAPI's generated `_<path>_<method>` tail removed),
//! `<method>_<path>`. Then: sanitized to `[A-Za-z0-9_-]` (other characters become `_`, runs of
//! `_` collapse, `_`/`-` trimmed at both ends), prefixed with `<namespace>_`, capped at
//! `max_name_length` (longer names keep their head and end in `_` + 6 hex chars of the SHA-256
//! of the untruncated name), and made unique in document order (`_2`, `_3`, … within the cap,
//! with a warning).

use std::collections::HashSet;

use sha2::{Digest, Sha256};

/// Sanitizes a name to `[A-Za-z0-9_-]`.
pub fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '-' {
            c
        } else {
            '_'
        };
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    out.trim_matches(|c| c == '_' || c == '-').to_owned()
}

/// Python's `re.sub(r"\W", "_", s)`.
fn fastapi_word(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Recovers the function name from a FastAPI-generated operationId
/// (`{name}{path}` with non-word characters replaced by `_`, then `_{method}`).
pub fn strip_fastapi_tail<'s>(op_id: &'s str, path: &str, method: &str) -> Option<&'s str> {
    let tail = format!("{}_{}", fastapi_word(path), method.to_ascii_lowercase());
    op_id
        .strip_suffix(tail.as_str())
        .filter(|name| !name.is_empty() && !name.chars().all(|c| c == '_'))
}

/// Name derived from the operation when nothing explicit is given.
pub fn derived_base(op_id: Option<&str>, path: &str, method: &str) -> String {
    match op_id {
        Some(id) if !sanitize(id).is_empty() => strip_fastapi_tail(id, path, method)
            .unwrap_or(id)
            .to_owned(),
        _ => format!("{}_{}", method.to_ascii_lowercase(), path),
    }
}

fn short_hash(s: &str) -> String {
    let digest = Sha256::digest(s.as_bytes());
    digest[..3].iter().map(|b| format!("{b:02x}")).collect()
}

/// Cuts an ASCII name to `max` bytes, trimming separators at the cut.
fn head(s: &str, max: usize) -> &str {
    s[..s.len().min(max)].trim_end_matches(['_', '-'])
}

/// Assigns unique, capped names.
#[derive(Debug)]
pub struct Namer {
    max: usize,
    used: HashSet<String>,
}

impl Namer {
    /// A namer capping names at `max` characters (at least 8).
    pub fn new(max: usize) -> Self {
        Namer {
            max: max.max(8),
            used: HashSet::new(),
        }
    }

    /// The final name for `base` (falling back to `fallback`, then `operation`). The second
    /// value says why the name differs from the obvious one, when it was deduplicated.
    pub fn assign(
        &mut self,
        namespace: Option<&str>,
        base: &str,
        fallback: &str,
    ) -> (String, Option<String>) {
        let mut name = sanitize(base);
        if name.is_empty() {
            name = sanitize(fallback);
        }
        if name.is_empty() {
            name = "operation".to_owned();
        }
        if let Some(ns) = namespace.map(sanitize).filter(|n| !n.is_empty()) {
            name = format!("{ns}_{name}");
        }
        let capped = if name.len() > self.max {
            let hash = short_hash(&name);
            let h = head(&name, self.max - hash.len() - 1);
            if h.is_empty() {
                hash
            } else {
                format!("{h}_{hash}")
            }
        } else {
            name
        };
        if self.used.insert(capped.clone()) {
            return (capped, None);
        }
        for n in 2usize.. {
            let suffix = format!("_{n}");
            let h = head(&capped, self.max - suffix.len());
            let candidate = if h.is_empty() {
                format!("op{suffix}")
            } else {
                format!("{h}{suffix}")
            };
            if self.used.insert(candidate.clone()) {
                let why = format!("name `{capped}` is already used; renamed to `{candidate}`");
                return (candidate, Some(why));
            }
        }
        unreachable!("an unbounded counter always finds a free name")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fastapi_tail_is_stripped() {
        assert_eq!(
            strip_fastapi_tail("read_user_users__user_id__get", "/users/{user_id}", "get"),
            Some("read_user")
        );
        assert_eq!(
            strip_fastapi_tail("list_items_api_v1_items_get", "/api/v1/items", "GET"),
            Some("list_items")
        );
        assert_eq!(strip_fastapi_tail("listPets", "/pets", "get"), None);
        // The method must match.
        assert_eq!(
            strip_fastapi_tail("read_user_users__user_id__get", "/users/{user_id}", "post"),
            None
        );
    }

    #[test]
    fn sanitize_collapses_and_trims() {
        assert_eq!(sanitize("get /users/{id}"), "get_users_id");
        assert_eq!(sanitize("__a..b__"), "a_b");
        assert_eq!(sanitize("naïve-name"), "na_ve-name");
    }

    #[test]
    fn long_names_are_truncated_with_hash() {
        let mut n = Namer::new(20);
        let (a, _) = n.assign(None, "a_very_long_operation_name_indeed", "");
        assert_eq!(a.len(), 20);
        assert!(a.starts_with("a_very_long_o"));
        let (b, why) = n.assign(None, "a_very_long_operation_name_indeed", "");
        assert!(b.len() <= 20 && b != a && why.is_some());
    }

    #[test]
    fn duplicates_get_suffixes() {
        let mut n = Namer::new(64);
        assert_eq!(n.assign(Some("ns"), "x", "").0, "ns_x");
        assert_eq!(n.assign(Some("ns"), "x", "").0, "ns_x_2");
        assert_eq!(n.assign(Some("ns"), "x", "").0, "ns_x_3");
    }
}
