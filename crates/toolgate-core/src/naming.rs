//! The naming rules every source shares for the names it serves: sanitized to
//! `[A-Za-z0-9_-]` (other characters become `_`, runs of `_` collapse, `_`/`-` trimmed at both
//! ends), prefixed with `<namespace>_`, capped at a maximum length (a longer name keeps its
//! head and ends in `_` + 6 hex digits of the SHA-256 of the untruncated name), and made
//! unique within a source in order of appearance (`_2`, `_3`, … within the cap).
//!
//! The OpenAPI compiler applies the same rules (`toolgate_openapi::naming`, which stays free
//! of this crate so the compiler remains pure); a test in the `toolgate` crate checks both
//! agree. Does not own: where a source's base names come from.

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

fn short_hash(s: &str) -> String {
    let digest = Sha256::digest(s.as_bytes());
    digest[..3].iter().map(|b| format!("{b:02x}")).collect()
}

/// Cuts an ASCII name to `max` bytes, trimming separators at the cut.
fn head(s: &str, max: usize) -> &str {
    s[..s.len().min(max)].trim_end_matches(['_', '-'])
}

/// Assigns unique, capped names within one source.
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

    /// The final name for `base` in `namespace`, or `None` when nothing of `base` survives
    /// sanitizing. The second value says why the name differs from the obvious one, when it
    /// was made unique.
    pub fn assign(
        &mut self,
        namespace: Option<&str>,
        base: &str,
    ) -> Option<(String, Option<String>)> {
        let mut name = sanitize(base);
        if name.is_empty() {
            return None;
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
            return Some((capped, None));
        }
        (2usize..).find_map(|n| {
            let suffix = format!("_{n}");
            let h = head(&capped, self.max - suffix.len());
            let candidate = if h.is_empty() {
                format!("op{suffix}")
            } else {
                format!("{h}{suffix}")
            };
            self.used.insert(candidate.clone()).then(|| {
                let why = format!("name `{capped}` is already used; renamed to `{candidate}`");
                (candidate, Some(why))
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sanitized_namespaced_capped_and_unique() {
        let mut n = Namer::new(20);
        assert_eq!(
            n.assign(Some("gh"), "create issue").unwrap().0,
            "gh_create_issue"
        );
        let (long, _) = n.assign(None, "a_very_long_operation_name_indeed").unwrap();
        assert_eq!(long.len(), 20);
        let (again, why) = n.assign(Some("gh"), "create.issue").unwrap();
        assert_eq!(again, "gh_create_issue_2");
        assert!(why.is_some());
        assert!(n.assign(Some("gh"), "!!!").is_none());
    }
}
