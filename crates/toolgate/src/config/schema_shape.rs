//! Reading the configuration's JSON Schema for messages: the JSON types a node allows and
//! their words for YAML users, constants and enumerations, the tag of a tagged union, how an
//! alternative looks, and "did you mean" suggestions. Pure functions over `serde_json::Value`;
//! validation itself is jsonschema's (see `schema_errors`).

use serde_json::{Map, Value};

/// The closest of `candidates` to `input`, if it is a plausible misspelling (a small edit
/// distance for its length, ignoring case and `-`/`_`), or a prefix of it.
pub(crate) fn did_you_mean<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let norm = |s: &str| s.to_lowercase().replace('-', "_");
    let input_n = norm(input);
    candidates
        .into_iter()
        .filter(|c| *c != input)
        .filter_map(|c| {
            let c_n = norm(c);
            let distance = strsim::damerau_levenshtein(&input_n, &c_n);
            let budget = (c_n.chars().count() / 3).max(1);
            let prefix = input_n.chars().count() >= 3 && c_n.starts_with(&input_n);
            (distance <= budget || prefix).then_some((distance, c))
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `a`, `b` and `c` as "`a`, `b`, `c`".
pub(crate) fn list(items: &[&str]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn first_sentence(text: &str) -> &str {
    let text = text.trim();
    match text.find(". ").or_else(|| text.find(".\n")) {
        Some(i) => &text[..i],
        None => text.trim_end_matches('.'),
    }
}

pub(crate) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The YAML-user's word for a JSON type.
pub(crate) fn type_word(t: &str) -> &'static str {
    match t {
        "null" => "null",
        "boolean" => "a boolean (true/false)",
        "integer" => "an integer",
        "number" => "a number",
        "string" => "a string",
        "array" => "a list",
        "object" => "a mapping",
        _ => "a value",
    }
}

/// The non-null types `node` allows.
pub(crate) fn expected_types(node: &Value) -> Vec<&str> {
    let types: Vec<&str> = match node.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let non_null: Vec<&str> = types.iter().copied().filter(|t| *t != "null").collect();
    if non_null.is_empty() { types } else { non_null }
}

pub(crate) fn accepts_type(node: &Value, t: &str) -> bool {
    let types = expected_types(node);
    types.is_empty() || types.contains(&t) || (t == "integer" && types.contains(&"number"))
}

pub(crate) fn is_null_schema(node: &Value) -> bool {
    node.get("type").and_then(Value::as_str) == Some("null")
}

/// The one string a schema allows (`const`, or an `enum` of one).
pub(crate) fn const_string(node: &Value) -> Option<&str> {
    node.get("const").and_then(Value::as_str).or_else(|| {
        match node
            .get("enum")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
        {
            Some([Value::String(s)]) => Some(s.as_str()),
            _ => None,
        }
    })
}

/// The strings an `enum` or `const` allows.
pub(crate) fn const_values(node: &Value) -> Vec<&str> {
    match (node.get("enum"), node.get("const")) {
        (Some(Value::Array(values)), _) => values.iter().filter_map(Value::as_str).collect(),
        (_, Some(Value::String(s))) => vec![s.as_str()],
        _ => Vec::new(),
    }
}

/// The tag of a tagged union: a property every alternative has with one constant string
/// value, distinct across alternatives; with the alternatives by tag value.
pub(crate) fn tag_of(alternatives: &[Value]) -> Option<(&str, Vec<(&str, &Value)>)> {
    fn props(alt: &Value) -> Option<&Map<String, Value>> {
        alt.get("properties").and_then(Value::as_object)
    }
    let first: &Map<String, Value> = props(alternatives.first()?)?;
    first.keys().find_map(|tag| {
        let variants: Vec<(&str, &Value)> = alternatives
            .iter()
            .map(|alt| Some((const_string(props(alt)?.get(tag)?)?, alt)))
            .collect::<Option<_>>()?;
        let mut values: Vec<&str> = variants.iter().map(|(v, _)| *v).collect();
        values.sort_unstable();
        values.dedup();
        (values.len() == variants.len()).then_some((tag.as_str(), variants))
    })
}

/// How one alternative looks, for "expected … or …".
pub(crate) fn shape(node: &Value) -> String {
    let types = expected_types(node);
    if types == ["object"] || node.get("properties").is_some() {
        let required: Vec<&str> = node
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        return if required.is_empty() {
            "a mapping".to_owned()
        } else {
            format!("a mapping with {}", list(&required))
        };
    }
    match types.as_slice() {
        [] => "a value".to_owned(),
        ts => ts
            .iter()
            .map(|t| type_word(t))
            .collect::<Vec<_>>()
            .join(" or "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_misses_are_suggested_and_far_ones_are_not() {
        let keys = [
            "token",
            "bind",
            "headers",
            "timeout_ms",
            "api_key",
            "oauth2_client_credentials",
        ];
        for (typo, want) in [
            ("tokn", Some("token")),
            ("Token", Some("token")),
            ("bnd", Some("bind")),
            ("header", Some("headers")),
            ("timeout", Some("timeout_ms")),
            ("api-key", Some("api_key")),
            ("apikey", Some("api_key")),
            ("oauth2", Some("oauth2_client_credentials")),
            ("colour", None),
            ("x", None),
        ] {
            assert_eq!(did_you_mean(typo, keys), want, "{typo}");
        }
    }
}
