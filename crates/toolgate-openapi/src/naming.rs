//! MCP names for operations.
//!
//! Base name, first that applies: `options.names[operationId]`, `overrides[..].name`,
//! `x-mcp-name` (explicit names, kept as written), else a name derived from the
//! `operationId`, else `<method>_<path>`. A derived name recognises the operation id shapes
//! FastAPI generates or is commonly told to generate:
//! - the default `generate_unique_id`, `{function}{path}_{method}` with non-word characters
//!   as `_` (`read_user_users__user_id__get` → `read_user`);
//! - a tag prefix, `{tag}-{function}`, the `generate_unique_id_function` of the full-stack
//!   FastAPI template (`items-read_items` → `read_items`), recognised only when the prefix is
//!   one of the operation's own tags and the rest is a Python identifier; combined with the
//!   default shape too (`items-read_items_items__get`).
//!
//! The short name is used unless it collides with another operation's: then each colliding
//! operation whose id was recognised takes its longer, still readable form (the tag kept,
//! `items_read_items`; FastAPI's full default id), so the choice never depends on document
//! order. A derived name uses `_` as its only separator (`list-pets` → `list_pets`).
//!
//! Then: sanitized to `[A-Za-z0-9_-]` (other characters become `_`, runs of `_` collapse,
//! `_`/`-` trimmed at both ends), prefixed with `<namespace>_`, capped at `max_name_length`
//! (longer names keep their head and end in `_` + 6 hex chars of the SHA-256 of the
//! untruncated name), and made unique in document order (`_2`, `_3`, … within the cap, with
//! a warning).

use std::collections::{HashMap, HashSet};

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

/// Whether `s` is a Python identifier (ASCII), as FastAPI route names are by default.
fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Splits a `{tag}-{name}` operation id whose `tag` is one of `tags` (the longest such tag
/// when several match) and whose `name` is an identifier, possibly with FastAPI's default
/// `_{path}_{method}` tail (removed).
pub fn strip_tag_prefix<'s>(
    op_id: &'s str,
    tags: &[String],
    path: &str,
    method: &str,
) -> Option<(&'s str, &'s str)> {
    tags.iter()
        .filter(|t| !t.is_empty())
        .filter_map(|tag| {
            let rest = op_id.strip_prefix(tag.as_str())?.strip_prefix('-')?;
            let name = strip_fastapi_tail(rest, path, method).unwrap_or(rest);
            is_identifier(name).then_some((&op_id[..tag.len()], name))
        })
        .max_by_key(|(tag, _)| tag.len())
}

/// The names an operation may get, best first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidates {
    /// The preferred base name (before sanitizing).
    pub short: String,
    /// A longer, still readable base taken when `short` collides with another operation's
    /// name: the tag kept, or FastAPI's full default id.
    pub long: Option<String>,
    /// The base when `short` sanitizes to nothing: `<method>_<path>`.
    pub fallback: String,
}

impl Candidates {
    /// An explicit name (from the options or `x-mcp-name`), kept as written.
    pub fn explicit(name: impl Into<String>, path: &str, method: &str) -> Self {
        Candidates {
            short: name.into(),
            long: None,
            fallback: method_path(path, method),
        }
    }

    /// The names derived from an operation's id (or its method and path without one).
    pub fn derived(op_id: Option<&str>, path: &str, method: &str, tags: &[String]) -> Self {
        let fallback = method_path(path, method);
        let Some(id) = op_id.filter(|id| !sanitize(id).is_empty()) else {
            return Candidates {
                short: underscores(&fallback),
                long: None,
                fallback,
            };
        };
        let (short, long) = if let Some((tag, name)) = strip_tag_prefix(id, tags, path, method) {
            (name.to_owned(), Some(format!("{tag}_{name}")))
        } else if let Some(name) = strip_fastapi_tail(id, path, method) {
            (name.to_owned(), Some(id.to_owned()))
        } else {
            (id.to_owned(), None)
        };
        Candidates {
            short: underscores(&short),
            long: long.map(|l| underscores(&l)),
            fallback,
        }
    }
}

/// `<method>_<path>`, the base of an operation without a usable id.
fn method_path(path: &str, method: &str) -> String {
    format!("{}_{}", method.to_ascii_lowercase(), path)
}

/// One separator style for derived names.
fn underscores(s: &str) -> String {
    s.replace('-', "_")
}

/// Name derived from the operation when nothing explicit is given (the short candidate).
pub fn derived_base(op_id: Option<&str>, path: &str, method: &str) -> String {
    Candidates::derived(op_id, path, method, &[]).short
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

    /// `base` (or `fallback`, or `operation`) sanitized, namespaced and capped: the name it
    /// gets unless that name is taken.
    pub fn shape(&self, namespace: Option<&str>, base: &str, fallback: &str) -> String {
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
        if name.len() > self.max {
            let hash = short_hash(&name);
            let h = head(&name, self.max - hash.len() - 1);
            if h.is_empty() {
                hash
            } else {
                format!("{h}_{hash}")
            }
        } else {
            name
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
        let capped = self.shape(namespace, base, fallback);
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

    /// Names every operation of a spec, in document order: each takes its short name unless
    /// that collides with another operation's short name and it has a longer form (then the
    /// longer form), and what still collides is deduplicated by [`Namer::assign`].
    pub fn assign_all(
        &mut self,
        namespace: Option<&str>,
        candidates: &[Candidates],
    ) -> Vec<(String, Option<String>)> {
        let shaped: Vec<String> = candidates
            .iter()
            .map(|c| self.shape(namespace, &c.short, &c.fallback))
            .collect();
        let mut uses: HashMap<&str, usize> = HashMap::new();
        for name in &shaped {
            *uses.entry(name.as_str()).or_default() += 1;
        }
        candidates
            .iter()
            .zip(&shaped)
            .map(|(c, name)| {
                let base = match &c.long {
                    Some(long) if uses[name.as_str()] > 1 => long,
                    _ => &c.short,
                };
                self.assign(namespace, base, &c.fallback)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| s.to_string()).collect()
    }

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
    fn tag_prefixes_are_recognised_only_for_the_operations_own_tags() {
        let c = |id: &str, t: &[&str]| Candidates::derived(Some(id), "/x", "get", &tags(t));
        let both = |short: &str, long: &str| (short.to_owned(), Some(long.to_owned()));
        let got = |c: Candidates| (c.short, c.long);
        assert_eq!(
            got(c("items-read_items", &["items"])),
            both("read_items", "items_read_items")
        );
        assert_eq!(
            got(c("login-login_access_token", &["login"])),
            both("login_access_token", "login_login_access_token")
        );
        assert_eq!(
            got(c("users-read_user_me", &["admin", "users"])),
            both("read_user_me", "users_read_user_me")
        );
        // Tags with separators or spaces, as FastAPI writes them into the id.
        assert_eq!(
            got(c("user-admin-list_users", &["user-admin"])),
            both("list_users", "user_admin_list_users")
        );
        assert_eq!(
            got(c("My Items-read_items", &["My Items"])),
            both("read_items", "My Items_read_items")
        );
        // Not one of its tags, or not an identifier after the tag: kept whole, one separator.
        assert_eq!(
            got(c("items-read_items", &["users"])),
            ("items_read_items".to_owned(), None)
        );
        assert_eq!(
            got(c("items-read-items", &["items"])),
            ("items_read_items".to_owned(), None)
        );
        assert_eq!(got(c("items-", &["items"])), ("items_".to_owned(), None));
        // The tag prefix and FastAPI's default tail together.
        let combined = Candidates::derived(
            Some("items-read_items_items__get"),
            "/items/",
            "get",
            &tags(&["items"]),
        );
        assert_eq!(got(combined), both("read_items", "items_read_items"));
        // The default shape falls back on the full id.
        let default = Candidates::derived(
            Some("read_user_users__user_id__get"),
            "/users/{user_id}",
            "get",
            &[],
        );
        assert_eq!(
            got(default),
            both("read_user", "read_user_users__user_id__get")
        );
    }

    #[test]
    fn derived_names_use_one_separator_and_explicit_names_are_kept() {
        assert_eq!(derived_base(Some("list-pets"), "/pets", "get"), "list_pets");
        assert_eq!(
            derived_base(None, "/user-groups/{id}", "GET"),
            "get_/user_groups/{id}"
        );
        let mut n = Namer::new(64);
        let explicit = Candidates::explicit("list-pets", "/pets", "get");
        assert_eq!(n.assign_all(None, &[explicit])[0].0, "list-pets");
    }

    #[test]
    fn only_colliding_short_names_take_their_longer_form() {
        let t = |t: &str| tags(&[t]);
        let ops = [
            Candidates::derived(Some("items-read_items"), "/items/", "get", &t("items")),
            Candidates::derived(Some("users-create_user"), "/users/", "post", &t("users")),
            Candidates::derived(
                Some("private-create_user"),
                "/private/users/",
                "post",
                &t("private"),
            ),
            Candidates::explicit("read_user_me", "/users/me", "get"),
            Candidates::derived(Some("users-read_user_me"), "/users/me2", "get", &t("users")),
        ];
        let mut n = Namer::new(64);
        let names: Vec<String> = n
            .assign_all(Some("fsft"), &ops)
            .into_iter()
            .map(|(name, why)| {
                assert_eq!(why, None, "{name}");
                name
            })
            .collect();
        assert_eq!(
            names,
            [
                "fsft_read_items",
                "fsft_users_create_user",
                "fsft_private_create_user",
                "fsft_read_user_me",
                "fsft_users_read_user_me",
            ]
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
