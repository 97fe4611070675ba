//! Structural validation of the raw configuration against its JSON Schema, with messages a user
//! can act on: the path, the unknown or missing key with a "did you mean", the allowed values
//! of an enumeration, and for tagged unions (`auth: {type: bearer, …}`) the allowed tags and
//! the errors of the variant the tag selects. Unions are recognised from the schema itself
//! (`oneOf`/`anyOf` whose alternatives share a property with one constant value), so variants
//! added to the types are covered without touching this module.
//!
//! No message prints an instance value (so nothing from the environment can leak through
//! here); suggestions are made only from values that may be shown.

use serde_json::Value;

use super::ConfigIssue;
use super::environment::{Provenance, child_path};
use super::schema_shape::{
    accepts_type, const_string, const_values, did_you_mean, expected_types, first_sentence,
    is_null_schema, json_type, list, shape, tag_of, type_word,
};

/// Every structural problem of `raw`.
pub(crate) fn check(schema: &Value, raw: &Value, prov: &Provenance) -> Vec<ConfigIssue> {
    let explainer = Explainer {
        defs: schema.get("$defs").cloned(),
        prov,
    };
    let mut issues = Vec::new();
    explainer.check(schema, raw, "", None, &mut issues);
    issues.sort_by_key(|i| sort_key(&i.location));
    issues.dedup();
    issues
}

/// Sorts `sources[10]` after `sources[9]`.
fn sort_key(location: &str) -> String {
    let mut key = String::new();
    let mut digits = String::new();
    for c in location.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            if !digits.is_empty() {
                key.push_str(&format!("{digits:0>10}"));
                digits.clear();
            }
            key.push(c);
        }
    }
    key.push_str(&digits);
    key
}

struct Explainer<'a> {
    /// The root schema's `$defs`, attached to every sub-schema validated on its own.
    defs: Option<Value>,
    prov: &'a Provenance,
}

/// A problem at `location`.
fn issue(location: &str, message: String) -> ConfigIssue {
    ConfigIssue {
        location: super::display_path(location),
        message,
    }
}

impl Explainer<'_> {
    /// Validates `instance` (found at display path `at`) against `schema`; `variant` names the
    /// tagged-union variant being checked (`` `type: bearer` ``), for messages.
    fn check(
        &self,
        schema: &Value,
        instance: &Value,
        at: &str,
        variant: Option<&str>,
        out: &mut Vec<ConfigIssue>,
    ) {
        let doc = self.document(schema);
        let validator = match jsonschema::validator_for(&doc) {
            Ok(v) => v,
            Err(e) => {
                out.push(issue(
                    "(schema)",
                    format!("internal error: the configuration schema does not compile: {e}"),
                ));
                return;
            }
        };
        for e in validator.iter_errors(instance) {
            let pointer = e.instance_path().as_str();
            let path = join_pointer(at, instance, pointer);
            let here = instance.pointer(pointer).unwrap_or(&Value::Null);
            let node = keyword_parent(&doc, e.schema_path().as_str(), &self.defs);
            self.explain(&e, node, here, &path, variant, out);
        }
    }

    /// `schema` as a standalone document: with the root's `$defs`, so its `$ref`s resolve.
    fn document(&self, schema: &Value) -> Value {
        match (schema, &self.defs) {
            (Value::Object(map), Some(defs)) if !map.contains_key("$defs") => {
                let mut map = map.clone();
                map.insert("$defs".to_owned(), defs.clone());
                Value::Object(map)
            }
            _ => schema.clone(),
        }
    }

    fn explain(
        &self,
        e: &jsonschema::ValidationError<'_>,
        node: &Value,
        here: &Value,
        path: &str,
        variant: Option<&str>,
        out: &mut Vec<ConfigIssue>,
    ) {
        use jsonschema::error::ValidationErrorKind as K;
        let node = self.deref(node);
        let for_variant = variant.map(|v| format!(" for {v}")).unwrap_or_default();
        match e.kind() {
            K::AdditionalProperties { unexpected } | K::UnevaluatedProperties { unexpected } => {
                let allowed: Vec<&str> = node
                    .get("properties")
                    .and_then(Value::as_object)
                    .map(|p| p.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                for key in unexpected {
                    let hint = match did_you_mean(key, allowed.iter().copied()) {
                        Some(s) => format!("; did you mean `{s}`?"),
                        None if allowed.is_empty() => String::new(),
                        None => format!("; the keys here are {}", list(&allowed)),
                    };
                    out.push(issue(path, format!("unknown key `{key}`{for_variant}{hint}")));
                }
            }
            K::Required { property } => {
                let key = property.as_str().unwrap_or_default();
                let about = node
                    .get("properties")
                    .and_then(|p| p.get(key))
                    .and_then(|p| p.get("description"))
                    .and_then(Value::as_str)
                    .map(|d| format!(" ({})", first_sentence(d)))
                    .unwrap_or_default();
                // A misspelt key the schema does not reject (no `additionalProperties: false`)
                // shows up as the required one missing.
                let known = node.get("properties").and_then(Value::as_object);
                let closed = node.get("additionalProperties") == Some(&Value::Bool(false));
                let typo = here.as_object().filter(|_| !closed).and_then(|map| {
                    map.keys()
                        .filter(|k| known.is_none_or(|p| !p.contains_key(k.as_str())))
                        .find(|k| did_you_mean(k, [key]).is_some())
                });
                let hint = typo
                    .map(|t| format!("; `{t}` is not a key here: did you mean `{key}`?"))
                    .unwrap_or_default();
                out.push(issue(
                    path,
                    format!("missing key `{key}`{for_variant}{about}{hint}"),
                ));
            }
            K::AnyOf { .. } | K::OneOfNotValid { .. } => self.union(&node, here, path, out),
            K::OneOfMultipleValid { .. } => out.push(issue(
                path,
                "matches more than one of the alternatives allowed here; see docs/config.schema.json"
                    .to_owned(),
            )),
            K::Type { .. } => {
                let expected = expected_types(&node);
                let hint = match self.prov.hidden(path) {
                    Some(why) if here.is_string() && !expected.contains(&"string") => format!(
                        " (the value is {why}: `${{…}}` interpolation always gives a string, so write this value in the file)"
                    ),
                    _ => String::new(),
                };
                out.push(issue(
                    path,
                    format!(
                        "expected {}, found {}{hint}",
                        expected
                            .iter()
                            .map(|t| type_word(t))
                            .collect::<Vec<_>>()
                            .join(" or "),
                        type_word(json_type(here))
                    ),
                ));
            }
            K::Enum { .. } | K::Constant { .. } => {
                let allowed = const_values(&node);
                out.push(issue(path, self.one_of_message(&allowed, here, path)));
            }
            K::Minimum { limit } => out.push(issue(path, format!("must be at least {limit}"))),
            K::Maximum { limit } => out.push(issue(path, format!("must be at most {limit}"))),
            K::ExclusiveMinimum { limit } => {
                out.push(issue(path, format!("must be greater than {limit}")))
            }
            K::ExclusiveMaximum { limit } => {
                out.push(issue(path, format!("must be less than {limit}")))
            }
            K::MinLength { limit } => out.push(issue(
                path,
                format!("must be at least {limit} character(s) long"),
            )),
            K::MaxLength { limit } => out.push(issue(
                path,
                format!("must be at most {limit} character(s) long"),
            )),
            K::MinItems { limit } => {
                out.push(issue(path, format!("must list at least {limit} item(s)")))
            }
            K::MaxItems { limit } => {
                out.push(issue(path, format!("must list at most {limit} item(s)")))
            }
            K::Pattern { pattern } => out.push(issue(
                path,
                format!("must match the regular expression `{pattern}`"),
            )),
            K::Format { format } => out.push(issue(path, format!("must be a valid {format}"))),
            K::UniqueItems => out.push(issue(path, "must not list an item twice".to_owned())),
            // Keywords the configuration schema does not use today: jsonschema's own message
            // with the value masked.
            _ => out.push(issue(path, e.masked_with("the value").to_string())),
        }
    }

    /// Explains why `instance` matches none of the alternatives of the `anyOf`/`oneOf` in
    /// `node`.
    fn union(&self, node: &Value, instance: &Value, path: &str, out: &mut Vec<ConfigIssue>) {
        let mut alternatives = Vec::new();
        self.alternatives(node, &mut alternatives);
        let nullable = alternatives.iter().any(is_null_schema);
        alternatives.retain(|a| !is_null_schema(a));
        let or_null = if nullable {
            " (or null to leave it unset)"
        } else {
            ""
        };
        // An enumeration written as one constant per alternative (documented variants).
        if let Some(values) = alternatives
            .iter()
            .map(const_string)
            .collect::<Option<Vec<_>>>()
            .filter(|v| !v.is_empty())
        {
            out.push(issue(path, self.one_of_message(&values, instance, path)));
            return;
        }
        // A union may mix a tagged union with other shapes (`auth`: one credential or a list
        // of them): the tag is looked for among the alternatives that take this kind of value.
        let same_kind: Vec<Value> = alternatives
            .iter()
            .filter(|a| accepts_type(a, json_type(instance)))
            .cloned()
            .collect();
        let tagged = if instance.is_object() && !same_kind.is_empty() {
            tag_of(&same_kind).or_else(|| tag_of(&alternatives))
        } else {
            tag_of(&alternatives)
        };
        if let Some((tag, variants)) = tagged {
            let values: Vec<&str> = variants.iter().map(|(v, _)| *v).collect();
            let Value::Object(map) = instance else {
                out.push(issue(
                    path,
                    format!(
                        "expected a mapping with `{tag}` set to one of {}, found {}{or_null}",
                        list(&values),
                        type_word(json_type(instance))
                    ),
                ));
                return;
            };
            let tag_path = child_path(path, tag);
            // The one variant that does not require the tag is the default kind.
            let default = variants.iter().find(|(_, alt)| {
                !alt.get("required")
                    .and_then(Value::as_array)
                    .is_some_and(|r| r.iter().any(|v| v.as_str() == Some(tag)))
            });
            match map.get(tag) {
                None if let Some((value, schema)) = default => self.check(
                    schema,
                    instance,
                    path,
                    Some(&format!("`{tag}: {value}` (the default)")),
                    out,
                ),
                None => out.push(issue(
                    path,
                    format!(
                        "missing key `{tag}`: it says which kind this is, one of {}",
                        list(&values)
                    ),
                )),
                Some(Value::String(s)) if values.contains(&s.as_str()) => {
                    let (value, schema) = variants
                        .iter()
                        .find(|(v, _)| *v == s)
                        .expect("checked above");
                    self.check(
                        schema,
                        instance,
                        path,
                        Some(&format!("`{tag}: {value}`")),
                        out,
                    );
                }
                Some(other) => out.push(issue(
                    &tag_path,
                    self.one_of_message(&values, other, &tag_path),
                )),
            }
            return;
        }
        // Untagged: when only one alternative takes this kind of value, its errors are the
        // useful ones.
        let fitting: Vec<&Value> = alternatives
            .iter()
            .filter(|a| accepts_type(a, json_type(instance)))
            .collect();
        if let [only] = fitting.as_slice() {
            self.check(only, instance, path, None, out);
            return;
        }
        let objects: Vec<Value> = alternatives
            .iter()
            .filter(|a| accepts_type(a, "object"))
            .cloned()
            .collect();
        if let Some((tag, variants)) = tag_of(&objects) {
            // One tagged mapping, or a list of them (`auth`).
            let values: Vec<&str> = variants.iter().map(|(v, _)| *v).collect();
            let or_list = if alternatives.iter().any(|a| accepts_type(a, "array")) {
                ", or a list of such mappings"
            } else {
                ""
            };
            out.push(issue(
                path,
                format!(
                    "expected a mapping with `{tag}` set to one of {}{or_list}, found {}{or_null}",
                    list(&values),
                    type_word(json_type(instance))
                ),
            ));
            return;
        }
        let shapes: Vec<String> = alternatives.iter().map(shape).collect();
        out.push(issue(
            path,
            format!(
                "expected {}, found {}{or_null}",
                shapes.join(" or "),
                type_word(json_type(instance))
            ),
        ));
    }

    /// "must be one of …", with a suggestion when the value is a near miss that may be shown.
    fn one_of_message(&self, allowed: &[&str], value: &Value, path: &str) -> String {
        let suggestion = match value {
            Value::String(s) if self.prov.hidden(path).is_none() => {
                did_you_mean(s, allowed.iter().copied())
            }
            _ => None,
        };
        let mut message = match value {
            Value::String(s) if self.prov.hidden(path).is_none() => {
                format!("`{s}` is not ")
            }
            _ => "must be ".to_owned(),
        };
        if allowed.len() == 1 {
            message.push_str(&format!("`{}`", allowed[0]));
        } else {
            message.push_str(&format!("one of {}", list(allowed)));
        }
        if !value.is_string() {
            message.push_str(&format!(
                " (a string), found {}",
                type_word(json_type(value))
            ));
        }
        if let Some(s) = suggestion {
            message.push_str(&format!("; did you mean `{s}`?"));
        }
        message
    }

    /// The alternatives of a union, with `$ref`s resolved and nested unions flattened.
    fn alternatives(&self, node: &Value, out: &mut Vec<Value>) {
        let list = node
            .get("oneOf")
            .or_else(|| node.get("anyOf"))
            .and_then(Value::as_array);
        for alt in list.into_iter().flatten() {
            let alt = self.deref(alt);
            let nested = (alt.get("oneOf").is_some() || alt.get("anyOf").is_some())
                && alt.get("type").is_none()
                && alt.get("properties").is_none();
            if nested {
                self.alternatives(&alt, out);
            } else {
                out.push(alt);
            }
        }
    }

    /// `node` with a `$ref` to `#/$defs/…` replaced by its target.
    fn deref(&self, node: &Value) -> Value {
        let mut current = node.clone();
        for _ in 0..16 {
            let Some(target) = current
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/$defs/"))
                .and_then(|name| self.defs.as_ref()?.get(name))
            else {
                break;
            };
            current = target.clone();
        }
        current
    }
}

/// The schema object holding the keyword at `schema_path` (a JSON pointer into `doc`, which
/// may pass through `$ref`s: they are followed).
fn keyword_parent<'a>(doc: &'a Value, schema_path: &str, defs: &'a Option<Value>) -> &'a Value {
    let segments: Vec<String> = schema_path
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect();
    let mut node = doc;
    for seg in &segments[..segments.len().saturating_sub(1)] {
        if seg == "$ref" {
            let target = node
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/$defs/"))
                .and_then(|name| defs.as_ref()?.get(name));
            match target {
                Some(t) => node = t,
                None => return node,
            }
            continue;
        }
        let next = match node {
            Value::Object(map) => map.get(seg.as_str()),
            Value::Array(items) => seg.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        };
        match next {
            Some(n) => node = n,
            None => return node,
        }
    }
    node
}

/// Display path of the instance at `pointer` below `root` (itself at `at`): object keys are
/// joined with `.`, array indexes written `[i]`.
fn join_pointer(at: &str, root: &Value, pointer: &str) -> String {
    let mut path = at.to_owned();
    let mut node = Some(root);
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        match node {
            Some(Value::Array(items)) => {
                path.push_str(&format!("[{seg}]"));
                node = seg.parse::<usize>().ok().and_then(|i| items.get(i));
            }
            Some(Value::Object(map)) => {
                path = child_path(&path, &seg);
                node = map.get(&seg);
            }
            _ => {
                path = child_path(&path, &seg);
                node = None;
            }
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::{ConfigErrors, json_schema, load};

    fn errors(text: &str, env: &[(&str, &str)]) -> ConfigErrors {
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        load(text, "t.yaml", &env).unwrap_err()
    }

    fn messages_at(err: &ConfigErrors, location: &str) -> Vec<String> {
        err.issues
            .iter()
            .filter(|i| i.location == location)
            .map(|i| i.message.clone())
            .collect()
    }

    const SOURCE: &str = "sources:\n  - name: a\n    spec: a.yaml\n    backend:\n      auth:\n";

    #[test]
    fn a_misspelt_key_in_a_tagged_union_names_the_variant_and_the_key_meant() {
        let err = errors(
            &format!("{SOURCE}        type: bearer\n        tokn: x\n"),
            &[],
        );
        let at = messages_at(&err, "sources[0].backend.auth");
        assert!(
            at.contains(&"unknown key `tokn` for `type: bearer`; did you mean `token`?".to_owned()),
            "{err}"
        );
        assert!(
            at.iter()
                .any(|m| m.starts_with("missing key `token` for `type: bearer`")),
            "{err}"
        );
        assert!(!err.to_string().contains("anyOf"), "{err}");
    }

    #[test]
    fn an_unknown_tag_lists_every_variant_of_the_schema() {
        let err = errors(
            &format!("{SOURCE}        type: barer\n        token: x\n"),
            &[],
        );
        let at = messages_at(&err, "sources[0].backend.auth.type");
        assert_eq!(at.len(), 1, "{err}");
        let variants: Vec<String> = json_schema()["$defs"]["BackendAuth"]["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                v["properties"]["type"]["const"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert!(variants.len() >= 4, "{variants:?}");
        for v in &variants {
            assert!(
                at[0].contains(&format!("`{v}`")),
                "{v} missing from {}",
                at[0]
            );
        }
        assert!(at[0].ends_with("did you mean `bearer`?"), "{}", at[0]);

        let err = errors(&format!("{SOURCE}        token: x\n"), &[]);
        let at = messages_at(&err, "sources[0].backend.auth");
        assert!(at[0].starts_with("missing key `type`"), "{err}");
        assert!(at[0].contains("`bearer`"), "{err}");

        let err = errors(
            "sources:\n  - name: a\n    spec: a.yaml\n    backend:\n      auth: x\n",
            &[],
        );
        let at = messages_at(&err, "sources[0].backend.auth");
        assert!(
            at[0].starts_with("expected a mapping with `type` set to one of `bearer`")
                && at[0].ends_with("found a string (or null to leave it unset)"),
            "{err}"
        );
    }

    #[test]
    fn every_tagged_union_of_the_schema_is_explained_with_its_tags() {
        let schema = json_schema();
        let explainer = Explainer {
            defs: schema.get("$defs").cloned(),
            prov: &Provenance::default(),
        };
        let mut unions = 0;
        for (name, def) in schema["$defs"].as_object().unwrap() {
            let mut alternatives = Vec::new();
            explainer.alternatives(def, &mut alternatives);
            let Some((tag, variants)) = tag_of(&alternatives) else {
                continue;
            };
            unions += 1;
            let mut out = Vec::new();
            explainer.check(
                def,
                &serde_json::json!({ tag: "no-such-kind" }),
                "x",
                None,
                &mut out,
            );
            assert_eq!(out.len(), 1, "{name}: {out:?}");
            for (value, _) in variants {
                assert!(
                    out[0].message.contains(&format!("`{value}`")),
                    "{name}: {out:?}"
                );
            }
        }
        assert!(unions >= 1, "no tagged union found in the schema");
    }

    #[test]
    fn enumerations_and_untagged_unions_say_what_is_allowed() {
        let err = errors(
            "http:\n  session_mode: statefull\nsources:\n  - name: a\n    spec: {inlin: {}}\n  - name: b\n    spec: 42\n    compile:\n      route_maps: [{to: exclud}]\n",
            &[],
        );
        assert_eq!(
            messages_at(&err, "http.session_mode"),
            ["`statefull` is not one of `stateful`, `stateless`; did you mean `stateful`?"],
            "{err}"
        );
        assert!(
            messages_at(&err, "sources[0].spec")[0]
                .ends_with("`inlin` is not a key here: did you mean `inline`?"),
            "{err}"
        );
        assert_eq!(
            messages_at(&err, "sources[1].spec"),
            ["expected a string or a mapping with `inline`, found an integer"],
            "{err}"
        );
        assert!(
            messages_at(&err, "sources[1].compile.route_maps[0].to")[0]
                .ends_with("did you mean `exclude`?"),
            "{err}"
        );
    }

    #[test]
    fn values_from_the_environment_are_neither_quoted_nor_suggested_from() {
        let err = errors(
            &format!(
                "http:\n  session_mode: ${{MODE}}\n{SOURCE}        type: bearer\n        tokn: ${{TOKEN}}\n"
            ),
            &[("MODE", "statefull"), ("TOKEN", "tok-secret-value")],
        );
        let text = err.to_string();
        assert!(
            !text.contains("statefull") && !text.contains("tok-secret-value"),
            "{text}"
        );
        assert!(!text.contains("[redacted]"), "quoted then scrubbed: {text}");
        assert_eq!(
            messages_at(&err, "http.session_mode"),
            ["must be one of `stateful`, `stateless`"],
            "{text}"
        );
        let err = errors(
            "sources:\n  - name: a\n    spec: a.yaml\n    backend:\n      timeout_ms: ${T}\n",
            &[("T", "1000")],
        );
        assert!(
            messages_at(&err, "sources[0].backend.timeout_ms")[0]
                .contains("interpolation always gives a string"),
            "{err}"
        );
    }

    #[test]
    fn missing_variables_and_structural_problems_are_reported_together() {
        let err = errors("server:\n  name: ${NOPE}\nhttp:\n  bnd: x\n", &[]);
        assert!(!messages_at(&err, "server.name").is_empty(), "{err}");
        assert_eq!(
            messages_at(&err, "http"),
            ["unknown key `bnd`; did you mean `bind`?"],
            "{err}"
        );
    }

    #[test]
    fn locations_sort_numerically() {
        let mut locs = vec!["sources[10].name", "sources[9].name", "http.bind"];
        locs.sort_by_key(|l| sort_key(l));
        assert_eq!(locs, ["http.bind", "sources[9].name", "sources[10].name"]);
    }
}
