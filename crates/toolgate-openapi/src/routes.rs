//! Selection and route maps: which operations are served and as what.
//!
//! Order: `include_operations` / `exclude_operations` (by operationId), `include_tags` /
//! `exclude_tags`, `overrides[..].hidden`, then the ordered `route_maps` (first match wins; a
//! map matches when the method is listed (or none are), the path regex matches (or there is
//! none) and the operation carries all its tags). Operations no map matches are tools. The login
//! operation of an OAuth2 password flow is then left out unless asked for (`security`).

use regex::Regex;

use crate::SpecError;
use crate::ir::HttpMethod;
use crate::options::{CompileOptions, RouteMap, RouteTarget};

/// Route maps with their regexes compiled once.
pub(crate) struct Routes {
    maps: Vec<(RouteMap, Option<Regex>)>,
}

impl Routes {
    /// Compiles the route maps; a bad regex is an options error naming the map.
    pub(crate) fn new(opts: &CompileOptions) -> Result<Self, SpecError> {
        let mut maps = Vec::with_capacity(opts.route_maps.len());
        for (i, m) in opts.route_maps.iter().enumerate() {
            let re = match &m.path {
                Some(p) => Some(Regex::new(p).map_err(|e| {
                    SpecError::Options(format!(
                        "route_maps[{i}].path `{p}` is not a valid regular expression: {e}"
                    ))
                })?),
                None => None,
            };
            maps.push((m.clone(), re));
        }
        Ok(Routes { maps })
    }

    /// What an operation becomes (`None` = not selected at all).
    pub(crate) fn target(
        &self,
        opts: &CompileOptions,
        op_id: Option<&str>,
        method: HttpMethod,
        path: &str,
        tags: &[String],
    ) -> RouteTarget {
        let id = op_id.unwrap_or_default();
        if !opts.include_operations.is_empty() && !opts.include_operations.iter().any(|o| o == id) {
            return RouteTarget::Exclude;
        }
        if op_id.is_some() && opts.exclude_operations.iter().any(|o| o == id) {
            return RouteTarget::Exclude;
        }
        if !opts.include_tags.is_empty() && !tags.iter().any(|t| opts.include_tags.contains(t)) {
            return RouteTarget::Exclude;
        }
        if tags.iter().any(|t| opts.exclude_tags.contains(t)) {
            return RouteTarget::Exclude;
        }
        for (m, re) in &self.maps {
            let method_ok = m.methods.is_empty() || m.methods.contains(&method);
            let path_ok = re.as_ref().is_none_or(|r| r.is_match(path));
            let tags_ok = m.tags.iter().all(|t| tags.contains(t));
            if method_ok && path_ok && tags_ok {
                return m.to;
            }
        }
        RouteTarget::Tool
    }
}

/// The host part of resource URIs: the namespace, else a slug of the spec title.
pub(crate) fn resource_host(namespace: Option<&str>, title: &str) -> String {
    let src = namespace.unwrap_or(title);
    let mut out = String::new();
    for c in src.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches('-');
    if out.is_empty() {
        "api".to_owned()
    } else {
        out.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_regex_is_options_error() {
        let opts = CompileOptions {
            route_maps: vec![RouteMap {
                methods: vec![],
                path: Some("(".into()),
                tags: vec![],
                to: RouteTarget::Exclude,
            }],
            ..CompileOptions::default()
        };
        let err = Routes::new(&opts).err().unwrap().to_string();
        assert!(err.contains("route_maps[0].path"), "{err}");
    }

    #[test]
    fn host_slug() {
        assert_eq!(resource_host(None, "My Todo API!"), "my-todo-api");
        assert_eq!(resource_host(Some("todo"), "x"), "todo");
        assert_eq!(resource_host(None, "!!!"), "api");
    }
}
