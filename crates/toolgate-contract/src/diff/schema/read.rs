//! Reading a schema: following local `$ref`s, splitting nullability off, the types a schema
//! allows, and small formatting helpers for reasons and pointers.

use std::borrow::Cow;
use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// Follows local `$ref`s of `s` in `root`; sibling keywords of a `$ref` override the target's.
/// Returns the schema and the first `$ref` followed.
pub(super) fn resolve<'v>(root: &'v Value, s: &'v Value) -> (Cow<'v, Value>, Option<String>) {
    let mut current = s;
    let mut first = None;
    let mut overlay = Map::new();
    for _ in 0..32 {
        let Some(r) = current.get("$ref").and_then(Value::as_str) else {
            break;
        };
        let Some(target) = r.strip_prefix('#').and_then(|p| root.pointer(p)) else {
            break;
        };
        if let Some(map) = current.as_object() {
            for (k, v) in map {
                if k != "$ref" && !overlay.contains_key(k) {
                    overlay.insert(k.clone(), v.clone());
                }
            }
        }
        first.get_or_insert_with(|| r.to_owned());
        current = target;
    }
    let current = match current {
        Value::Bool(true) => return (Cow::Owned(Value::Object(Map::new())), first),
        other => other,
    };
    if overlay.is_empty() {
        return (Cow::Borrowed(current), first);
    }
    let mut merged = current.as_object().cloned().unwrap_or_default();
    merged.extend(overlay);
    (Cow::Owned(Value::Object(merged)), first)
}

pub(super) fn has_ref(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.contains_key("$ref") || m.values().any(has_ref),
        Value::Array(a) => a.iter().any(has_ref),
        _ => false,
    }
}

pub(super) fn is_null_schema(v: &Value) -> bool {
    v.get("type").and_then(Value::as_str) == Some("null")
        && v.as_object().is_some_and(|m| {
            m.keys()
                .all(|k| matches!(k.as_str(), "type" | "description" | "title"))
        })
}

/// Keywords that only annotate: a one-branch `anyOf` carrying them is that branch.
pub(super) const ANNOTATIONS: [&str; 5] =
    ["description", "title", "default", "deprecated", "examples"];

/// Splits nullability off a schema: `type: [T, "null"]`, an `anyOf`/`oneOf` branch
/// `{type: null}`, or `null` in an `enum` (OpenAPI 3.0 `nullable`, as the compiler emits it).
pub(super) fn split_null(s: &Value) -> (Cow<'_, Value>, bool) {
    let Some(map) = s.as_object() else {
        return (Cow::Borrowed(s), false);
    };
    let null_type = matches!(map.get("type"), Some(Value::Array(t)) if t.len() > 1 && t.iter().any(|t| t == "null"));
    let null_enum = matches!(map.get("enum"), Some(Value::Array(v)) if v.len() > 1 && v.iter().any(Value::is_null));
    let null_branch = |kw: &str| matches!(map.get(kw), Some(Value::Array(b)) if b.len() > 1 && b.iter().any(is_null_schema));
    if !null_type && !null_enum && !null_branch("anyOf") && !null_branch("oneOf") {
        // The common case: nothing to split, nothing copied.
        return (Cow::Borrowed(s), false);
    }
    let mut out = map.clone();
    if let Some(Value::Array(types)) = map.get("type")
        && null_type
    {
        let rest: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
        out.insert(
            "type".into(),
            if rest.len() == 1 {
                rest[0].clone()
            } else {
                Value::Array(rest)
            },
        );
    }
    if let Some(Value::Array(values)) = map.get("enum")
        && null_enum
    {
        let rest: Vec<Value> = values.iter().filter(|v| !v.is_null()).cloned().collect();
        out.insert("enum".into(), Value::Array(rest));
    }
    for kw in ["anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = map.get(kw)
            && null_branch(kw)
        {
            let rest: Vec<Value> = branches
                .iter()
                .filter(|b| !is_null_schema(b))
                .cloned()
                .collect();
            let only_annotations = map
                .keys()
                .all(|k| k == kw || ANNOTATIONS.contains(&k.as_str()));
            if rest.len() == 1 && only_annotations {
                // `anyOf: [T, null]` is `T`, nullable: compare T itself.
                let mut merged = match &rest[0] {
                    Value::Object(b) => b.clone(),
                    _ => Map::new(),
                };
                for (k, v) in map {
                    if k != kw {
                        merged.insert(k.clone(), v.clone());
                    }
                }
                return (Cow::Owned(Value::Object(merged)), true);
            }
            out.insert(kw.into(), Value::Array(rest));
        }
    }
    (Cow::Owned(Value::Object(out)), true)
}

/// The types a schema allows (`None`: any), through `anyOf`/`oneOf` when it has no `type`.
pub(super) fn types<'v>(root: &'v Value, s: &'v Value, depth: usize) -> Option<BTreeSet<String>> {
    match s.get("type") {
        Some(Value::String(t)) => return Some(BTreeSet::from([t.clone()])),
        Some(Value::Array(ts)) => {
            return Some(
                ts.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
            );
        }
        _ => {}
    }
    if depth > 8 {
        return None;
    }
    for kw in ["anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = s.get(kw) {
            let mut all = BTreeSet::new();
            for b in branches {
                let (b, _) = resolve(root, b);
                all.extend(types(root, &b, depth + 1)?);
            }
            return Some(all);
        }
    }
    None
}

/// Whether a type set accepts values of type `t` (`number` accepts integers).
pub(super) fn accepts(set: &BTreeSet<String>, t: &str) -> bool {
    set.contains(t) || (t == "integer" && set.contains("number"))
}

pub(super) fn type_list(set: &BTreeSet<String>) -> String {
    set.iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" or ")
}

pub(super) fn escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

pub(super) fn values_list(values: &[&Value]) -> String {
    values
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Clone, Copy, PartialEq)]
pub(super) enum Extra<'v> {
    Open,
    Closed,
    Schema(&'v Value),
}

pub(super) fn extra(s: &Value) -> Extra<'_> {
    match s.get("additionalProperties") {
        None | Some(Value::Bool(true)) => Extra::Open,
        Some(Value::Bool(false)) => Extra::Closed,
        Some(v) if v.as_object().is_some_and(Map::is_empty) => Extra::Open,
        Some(v) => Extra::Schema(v),
    }
}
