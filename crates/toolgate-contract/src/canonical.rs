//! Canonical JSON: object keys sorted at every depth, and inside JSON Schemas the keywords
//! whose arrays are sets (`required`, `type`, `enum`) sorted and deduplicated, so two
//! catalogs that differ only in order hash alike. Values that are data, not schema (`default`,
//! `const`, `examples`), keep their arrays as they are.
//!
//! Does not own: `$ref` resolution (contracts keep `$ref`s as the compiler emitted them).

use serde_json::{Map, Value};

/// Keywords whose value is one schema.
const SCHEMA_KEYWORDS: [&str; 12] = [
    "items",
    "additionalProperties",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
    "additionalItems",
    "contentSchema",
];
/// Keywords whose value is a map of name → schema.
const SCHEMA_MAPS: [&str; 5] = [
    "properties",
    "patternProperties",
    "$defs",
    "definitions",
    "dependentSchemas",
];
/// Keywords whose value is an array of schemas.
const SCHEMA_ARRAYS: [&str; 4] = ["allOf", "anyOf", "oneOf", "prefixItems"];
/// Keywords whose array value is a set.
const SET_KEYWORDS: [&str; 3] = ["required", "type", "enum"];

/// `value` with every object's keys sorted (no schema knowledge).
pub(crate) fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&map[k])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// A JSON Schema in canonical form.
pub(crate) fn schema(value: &Value) -> Value {
    let Value::Object(map) = value else {
        return sorted(value);
    };
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    let mut out = Map::with_capacity(map.len());
    for key in keys {
        let v = &map[key];
        let canonical = match (key.as_str(), v) {
            (k, _) if SCHEMA_KEYWORDS.contains(&k) => match v {
                // Draft 4's tuple form of `items`.
                Value::Array(items) => Value::Array(items.iter().map(schema).collect()),
                _ => schema(v),
            },
            (k, Value::Object(m)) if SCHEMA_MAPS.contains(&k) => {
                let mut names: Vec<&String> = m.keys().collect();
                names.sort();
                Value::Object(
                    names
                        .into_iter()
                        .map(|n| (n.clone(), schema(&m[n])))
                        .collect(),
                )
            }
            (k, Value::Array(items)) if SCHEMA_ARRAYS.contains(&k) => {
                Value::Array(items.iter().map(schema).collect())
            }
            (k, Value::Array(items)) if SET_KEYWORDS.contains(&k) => {
                let mut items: Vec<Value> = items.iter().map(sorted).collect();
                items.sort_by_cached_key(|v| serde_json::to_string(v).unwrap_or_default());
                items.dedup();
                Value::Array(items)
            }
            _ => sorted(v),
        };
        out.insert(key.clone(), canonical);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn schema_sets_are_sorted_and_data_is_not() {
        let s = json!({
            "type": "object",
            "required": ["b", "a", "b"],
            "properties": {
                "z": {"enum": ["y", "x"], "default": ["q", "p"]},
                "a": {"type": ["string", "null"], "examples": [{"required": ["d", "c"]}]}
            }
        });
        let c = schema(&s);
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"properties":{"a":{"examples":[{"required":["d","c"]}],"type":["null","string"]},"z":{"default":["q","p"],"enum":["x","y"]}},"required":["a","b"],"type":"object"}"#
        );
    }

    #[test]
    fn a_property_named_like_a_keyword_is_a_schema_not_a_set() {
        let s =
            json!({"properties": {"required": {"type": "string"}, "enum": {"type": "integer"}}});
        let c = schema(&s);
        assert_eq!(c["properties"]["required"], json!({"type": "string"}));
        assert_eq!(c["properties"]["enum"], json!({"type": "integer"}));
    }
}
