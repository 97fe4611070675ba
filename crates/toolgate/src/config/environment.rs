//! What the environment puts into a configuration: `${VAR}` interpolation, `TOOLGATE_…`
//! overrides, and the record of which values came from there ([`Provenance`]), so that errors
//! never print them and the output redactor knows them.
//!
//! This module does not validate anything beyond the syntax of `${…}` and of override names;
//! the schema and semantic checks are in the sibling modules.

use std::collections::BTreeMap;

use serde_json::Value;

use super::ConfigIssue;
use crate::redact;

/// Where the values of a configuration came from, as far as hiding them matters.
#[derive(Debug, Default)]
pub(crate) struct Provenance {
    /// Display path (`sources[0].backend.auth.token`) → the variables its value came from
    /// (`${MY_TOKEN}` or `TOOLGATE_HTTP__BIND`).
    from_env: BTreeMap<String, Vec<String>>,
    /// The values of the variables `${…}` interpolated: all of them are scrubbed from output.
    /// Override values are not (a `TOOLGATE_HTTP__BIND` address would be masked in every log
    /// line); they are hidden from errors like interpolated ones, and scrubbed when their key
    /// names a credential.
    interpolated: Vec<String>,
}

impl Provenance {
    /// Why the value at `path` must not be printed, if it must not: it came from the
    /// environment (wholly or in part), or it sits under a credential-named key or in
    /// `headers` (whose values are secrets).
    pub(crate) fn hidden(&self, path: &str) -> Option<String> {
        let vars: Vec<&str> = self
            .from_env
            .iter()
            .filter(|(tainted, _)| related(path, tainted))
            .flat_map(|(_, vars)| vars.iter().map(String::as_str))
            .collect();
        if !vars.is_empty() {
            return Some(format!("from {}", vars.join(", ")));
        }
        let keys = keys_of(path);
        if keys.last().is_some_and(|k| redact::is_credential_name(k)) {
            return Some("a credential".to_owned());
        }
        if keys.iter().rev().skip(1).any(|k| *k == "headers") {
            return Some("a header value".to_owned());
        }
        None
    }

    /// `value` quoted in backticks for a message, or a placeholder saying why it is not shown.
    pub(crate) fn show(&self, path: &str, value: &str) -> String {
        match self.hidden(path) {
            None => format!("`{value}`"),
            Some(why) => format!("the value ({why}, not shown)"),
        }
    }

    /// Every value that must be scrubbed from output: the interpolated variables' values, and
    /// in `raw` (overrides applied), the strings under credential-named keys or in `headers`,
    /// and the credentials in URLs.
    pub(crate) fn secrets(&self, raw: &Value) -> Vec<String> {
        let mut found = self.interpolated.clone();
        collect_literal_secrets(raw, false, &mut found);
        found
    }
}

/// Whether a value printed at `path` could contain what was set at `tainted`: the same
/// place, inside it, or around it.
fn related(path: &str, tainted: &str) -> bool {
    let inside = |outer: &str, inner: &str| {
        inner.strip_prefix(outer).is_some_and(|rest| {
            rest.is_empty() || rest.starts_with('.') || rest.starts_with('[') || outer.is_empty()
        })
    };
    inside(tainted, path) || inside(path, tainted)
}

/// The object keys along a display path (`a.b[0].c` → `a`, `b`, `c`).
fn keys_of(path: &str) -> Vec<&str> {
    path.split('.')
        .map(|seg| seg.split('[').next().unwrap_or_default())
        .filter(|k| !k.is_empty())
        .collect()
}

/// Collects the strings of `value` that are secrets: every string in a `headers` mapping,
/// strings (or lists of strings) directly under a credential-named key, and credentials in
/// URLs. The keys inside a credential-named mapping (`auth: {type: bearer, …}`) are judged on
/// their own names.
fn collect_literal_secrets(value: &Value, secret_here: bool, found: &mut Vec<String>) {
    match value {
        Value::String(s) => {
            if secret_here {
                found.push(s.clone());
            }
            found.extend(redact::url_credentials(s));
        }
        Value::Array(items) => {
            for item in items {
                let secret = secret_here && !item.is_object();
                collect_literal_secrets(item, secret, found);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                let secret = match v {
                    Value::Object(headers) if k == "headers" => {
                        // Header values are secrets whatever the header is called.
                        for value in headers.values() {
                            collect_literal_secrets(value, true, found);
                        }
                        continue;
                    }
                    Value::Object(_) => false,
                    _ => secret_here || redact::is_credential_name(k),
                };
                collect_literal_secrets(v, secret, found);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Appends a key or index to a display path.
pub(crate) fn child_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Replaces `${VAR}` in every string with the variable's value; `$${` stands for a literal
/// `${`. Records each substitution in `prov`.
pub(crate) fn interpolate(
    value: &mut Value,
    path: &str,
    env: &BTreeMap<String, String>,
    prov: &mut Provenance,
    issues: &mut Vec<ConfigIssue>,
) {
    match value {
        Value::String(s) if s.contains("${") => {
            let mut out = String::with_capacity(s.len());
            let mut rest = s.as_str();
            let mut used = Vec::new();
            while let Some(i) = rest.find('$') {
                out.push_str(&rest[..i]);
                let tail = &rest[i..];
                if let Some(t) = tail.strip_prefix("$${") {
                    out.push_str("${");
                    rest = t;
                } else if let Some(t) = tail.strip_prefix("${") {
                    match t.find('}') {
                        Some(end) => {
                            let name = &t[..end];
                            match env.get(name) {
                                Some(v) => {
                                    out.push_str(v);
                                    prov.interpolated.push(v.clone());
                                    used.push(format!("`${{{name}}}`"));
                                }
                                None => issues.push(ConfigIssue {
                                    location: super::display_path(path),
                                    message: format!(
                                        "environment variable `{name}` is not set (referenced as `${{{name}}}`); set it or write `$${{` for a literal `${{`"
                                    ),
                                }),
                            }
                            rest = &t[end + 1..];
                        }
                        None => {
                            issues.push(ConfigIssue {
                                location: super::display_path(path),
                                message: "unclosed `${` in string; write `${NAME}`".to_owned(),
                            });
                            rest = "";
                        }
                    }
                } else {
                    out.push('$');
                    rest = &tail[1..];
                }
            }
            out.push_str(rest);
            *s = out;
            if !used.is_empty() {
                prov.from_env
                    .entry(path.to_owned())
                    .or_default()
                    .extend(used);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                interpolate(v, &format!("{path}[{i}]"), env, prov, issues);
            }
        }
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                interpolate(v, &child_path(path, k), env, prov, issues);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
    }
}

/// Applies `TOOLGATE_<SECTION>__<KEY>=value` overrides (`__` separates levels; names are
/// lower-cased; values are parsed as YAML scalars, so `true`, `8080` and `[a, b]` work).
/// `TOOLGATE_CONFIG` and other variables without `__` are not overrides. Records each
/// override in `prov`.
pub(crate) fn apply_env_overrides(
    raw: &mut Value,
    env: &BTreeMap<String, String>,
    prov: &mut Provenance,
    issues: &mut Vec<ConfigIssue>,
) {
    for (key, value) in env {
        let Some(rest) = key.strip_prefix("TOOLGATE_") else {
            continue;
        };
        if !rest.contains("__") {
            continue;
        }
        let segments: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
        if segments.iter().any(|s| s.is_empty()) {
            issues.push(ConfigIssue {
                location: key.clone(),
                message: "empty segment in environment override; use TOOLGATE_SECTION__KEY"
                    .to_owned(),
            });
            continue;
        }
        let parsed: Value = serde_norway::from_str(value).unwrap_or(Value::String(value.clone()));
        let mut node = &mut *raw;
        let mut reached = true;
        for seg in &segments[..segments.len() - 1] {
            let Value::Object(map) = node else {
                issues.push(ConfigIssue {
                    location: key.clone(),
                    message: format!("cannot override inside `{seg}`: it is not a section"),
                });
                reached = false;
                break;
            };
            node = map
                .entry(seg.clone())
                .or_insert_with(|| Value::Object(Default::default()));
        }
        if !reached {
            continue;
        }
        match node {
            Value::Object(map) => {
                map.insert(segments[segments.len() - 1].clone(), parsed);
                prov.from_env
                    .entry(segments.join("."))
                    .or_default()
                    .push(format!("`{key}`"));
            }
            _ => issues.push(ConfigIssue {
                location: key.clone(),
                message: format!(
                    "cannot override inside `{}`: it is not a section",
                    segments[segments.len() - 2]
                ),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_from_the_environment_and_credentials_are_hidden() {
        let mut prov = Provenance::default();
        prov.from_env
            .insert("sources[0].base_url".into(), vec!["`${API}`".into()]);
        prov.from_env
            .insert("http".into(), vec!["`TOOLGATE_HTTP`".into()]);
        assert!(prov.hidden("sources[0].base_url").is_some());
        assert!(
            prov.hidden("http.bind").is_some(),
            "inside a replaced section"
        );
        assert!(prov.hidden("sources[0].name").is_none());
        assert!(prov.hidden("sources[1].base_url").is_none());
        assert!(prov.hidden("sources[0].base_url_x").is_none());
        assert!(prov.hidden("sources[0].backend.auth.password").is_some());
        assert!(prov.hidden("sources[0].backend.headers.X-Tenant").is_some());
        assert_eq!(prov.show("sources[0].name", "a b"), "`a b`");
        assert_eq!(
            prov.show("sources[0].base_url", "x"),
            "the value (from `${API}`, not shown)"
        );
    }

    #[test]
    fn overrides_are_hidden_from_errors_but_only_interpolated_values_are_scrubbed() {
        let mut raw = serde_json::json!({"server": {"name": "${NAME}"}});
        let env: BTreeMap<String, String> = [
            ("NAME", "interpolated-name"),
            ("TOOLGATE_HTTP__BIND", "0.0.0.0:8080"),
            ("TOOLGATE_HTTP__API_KEY", "override-key"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let mut prov = Provenance::default();
        let mut issues = Vec::new();
        interpolate(&mut raw, "", &env, &mut prov, &mut issues);
        apply_env_overrides(&mut raw, &env, &mut prov, &mut issues);
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(raw["http"]["bind"], "0.0.0.0:8080");
        assert!(
            prov.hidden("http.bind")
                .unwrap()
                .contains("TOOLGATE_HTTP__BIND")
        );
        assert!(prov.hidden("server.name").unwrap().contains("${NAME}"));
        let secrets = prov.secrets(&raw);
        assert!(
            secrets.contains(&"interpolated-name".to_owned()),
            "{secrets:?}"
        );
        assert!(secrets.contains(&"override-key".to_owned()), "{secrets:?}");
        assert!(!secrets.contains(&"0.0.0.0:8080".to_owned()), "{secrets:?}");
    }

    #[test]
    fn literal_credentials_and_url_credentials_are_secrets() {
        let prov = Provenance::default();
        let raw = serde_json::json!({
            "sources": [{
                "spec": "https://h/openapi.json?token=tok-in-url",
                "backend": {"headers": {"X-Tenant": "acme-tenant"}, "auth": {"type": "basic", "username": "admin", "password": "literal-pw"}}
            }]
        });
        let found = prov.secrets(&raw);
        for s in ["tok-in-url", "acme-tenant", "literal-pw"] {
            assert!(found.iter().any(|f| f == s), "{s} in {found:?}");
        }
        assert!(
            !found.iter().any(|f| f == "admin" || f == "basic"),
            "{found:?}"
        );
    }
}
