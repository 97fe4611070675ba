//! The shape of a JSON value: its types and fields without its values, so two answers to the
//! same call can be compared for what an agent relies on (a field it reads is still there,
//! still a string) and not for what changes from one call to the next (ids, timestamps).
//!
//! Recording (`toolgate-policy`'s recorder) stores the shape of each result; replay
//! (`toolgate-replay`) derives the shape of the candidate's answer and [`compare`]s them.
//!
//! The comparison is lenient where values are volatile and strict where consumers break:
//! - `integer` and `number` are one family (a price of `10` today may be `10.5` tomorrow);
//! - `null` matches anything, either way (an optional value that is absent this time);
//! - an array's items are compared by their merged shape, and an empty array matches any
//!   array (nothing to compare);
//! - an object must keep every field the expected one always had (a field present in only
//!   some items of an array is optional); new fields are fine (additive changes are compatible);
//! - a redacted part (`redacted`) is never compared.
//!
//! Does not own: where shapes come from (MCP results) or what a mismatch means for an exit code.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The shape of a JSON value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// `null`.
    Null,
    /// `true` or `false`.
    Boolean,
    /// A number without a fraction.
    Integer,
    /// A number with a fraction.
    Number,
    /// A string.
    String,
    /// An array and the merged shape of its items (`None`: it was empty).
    Array(Option<Box<Shape>>),
    /// An object.
    Object(ObjectShape),
    /// Items of an array that disagree on their type: each kind seen, merged.
    AnyOf(Vec<Shape>),
    /// Removed by a redaction rule before the shape was taken: never compared.
    Redacted,
}

/// The fields of an object shape.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectShape {
    /// Each field's shape.
    pub fields: BTreeMap<String, Shape>,
    /// Fields that were missing from some of the merged objects (array items).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub optional: BTreeSet<String>,
}

impl Shape {
    /// The shape of `value`.
    pub fn of(value: &Value) -> Shape {
        match value {
            Value::Null => Shape::Null,
            Value::Bool(_) => Shape::Boolean,
            Value::Number(n) if n.is_i64() || n.is_u64() => Shape::Integer,
            Value::Number(_) => Shape::Number,
            Value::String(_) => Shape::String,
            Value::Array(items) => {
                let mut merged: Option<Shape> = None;
                for item in items {
                    let shape = Shape::of(item);
                    merged = Some(match merged {
                        None => shape,
                        Some(m) => m.merge(shape),
                    });
                }
                Shape::Array(merged.map(Box::new))
            }
            Value::Object(map) => Shape::Object(ObjectShape {
                fields: map.iter().map(|(k, v)| (k.clone(), Shape::of(v))).collect(),
                optional: BTreeSet::new(),
            }),
        }
    }

    /// The kind's name, as in messages (`object`, `string`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Shape::Null => "null",
            Shape::Boolean => "boolean",
            Shape::Integer => "integer",
            Shape::Number => "number",
            Shape::String => "string",
            Shape::Array(_) => "array",
            Shape::Object(_) => "object",
            Shape::AnyOf(_) => "any_of",
            Shape::Redacted => "redacted",
        }
    }

    /// The type family used for comparison (integer and number are one).
    fn family(&self) -> &'static str {
        match self {
            Shape::Integer | Shape::Number => "number",
            other => other.kind(),
        }
    }

    /// One shape covering both (items of one array).
    pub fn merge(self, other: Shape) -> Shape {
        match (self, other) {
            (Shape::Redacted, _) | (_, Shape::Redacted) => Shape::Redacted,
            (Shape::Integer, Shape::Number) | (Shape::Number, Shape::Integer) => Shape::Number,
            (Shape::Array(a), Shape::Array(b)) => Shape::Array(match (a, b) {
                (None, x) | (x, None) => x,
                (Some(a), Some(b)) => Some(Box::new(a.merge(*b))),
            }),
            (Shape::Object(a), Shape::Object(b)) => Shape::Object(a.merge(b)),
            (Shape::AnyOf(mut kinds), other) | (other, Shape::AnyOf(mut kinds)) => {
                add_kind(&mut kinds, other);
                Shape::AnyOf(kinds)
            }
            (a, b) if a == b => a,
            (a, b) => {
                let mut kinds = vec![a];
                add_kind(&mut kinds, b);
                Shape::AnyOf(kinds)
            }
        }
    }
}

/// The unescaped tokens of a JSON pointer (`/a/b~1c` → `a`, `b/c`); `None` unless it is
/// empty or starts with `/`.
pub fn pointer_tokens(pointer: &str) -> Option<Vec<String>> {
    if pointer.is_empty() {
        return Some(Vec::new());
    }
    let rest = pointer.strip_prefix('/')?;
    Some(
        rest.split('/')
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
            .collect(),
    )
}

impl Shape {
    /// Marks the part at `tokens` (a JSON pointer's tokens; `*` or an index for array items,
    /// `*` for every field) as [`Shape::Redacted`]. Returns whether anything was marked.
    pub fn redact(&mut self, tokens: &[String]) -> bool {
        let Some((first, rest)) = tokens.split_first() else {
            *self = Shape::Redacted;
            return true;
        };
        match self {
            Shape::Array(Some(items)) if first == "*" || first.parse::<usize>().is_ok() => {
                items.redact(rest)
            }
            Shape::Object(o) if first == "*" => {
                let mut any = false;
                for shape in o.fields.values_mut() {
                    any |= shape.redact(rest);
                }
                any
            }
            Shape::Object(o) => o.fields.get_mut(first).is_some_and(|s| s.redact(rest)),
            Shape::AnyOf(kinds) => {
                let mut any = false;
                for k in kinds {
                    any |= k.redact(tokens);
                }
                any
            }
            _ => false,
        }
    }
}

/// Replaces the part of `value` at `tokens` (as in [`Shape::redact`]) with `with`. Returns
/// whether anything was replaced.
pub fn redact_value(value: &mut Value, tokens: &[String], with: &Value) -> bool {
    let Some((first, rest)) = tokens.split_first() else {
        *value = with.clone();
        return true;
    };
    match value {
        Value::Array(items) if first == "*" => {
            let mut any = false;
            for item in items {
                any |= redact_value(item, rest, with);
            }
            any
        }
        Value::Array(items) => first
            .parse::<usize>()
            .ok()
            .and_then(|i| items.get_mut(i))
            .is_some_and(|v| redact_value(v, rest, with)),
        Value::Object(map) if first == "*" => {
            let mut any = false;
            for v in map.values_mut() {
                any |= redact_value(v, rest, with);
            }
            any
        }
        Value::Object(map) => map
            .get_mut(first.as_str())
            .is_some_and(|v| redact_value(v, rest, with)),
        _ => false,
    }
}

/// Adds `shape` to the kinds of an `AnyOf`, merged into the kind of its family if present.
fn add_kind(kinds: &mut Vec<Shape>, shape: Shape) {
    if let Shape::AnyOf(more) = shape {
        for s in more {
            add_kind(kinds, s);
        }
        return;
    }
    match kinds.iter().position(|k| k.family() == shape.family()) {
        Some(i) => {
            let k = kinds.swap_remove(i);
            kinds.push(k.merge(shape));
        }
        None => kinds.push(shape),
    }
    kinds.sort_by_key(|k| k.kind());
}

impl ObjectShape {
    fn merge(mut self, mut other: ObjectShape) -> ObjectShape {
        let mut optional: BTreeSet<String> =
            self.optional.union(&other.optional).cloned().collect();
        for key in self.fields.keys() {
            if !other.fields.contains_key(key) {
                optional.insert(key.clone());
            }
        }
        for (key, shape) in std::mem::take(&mut other.fields) {
            match self.fields.remove(&key) {
                Some(mine) => {
                    self.fields.insert(key, mine.merge(shape));
                }
                None => {
                    optional.insert(key.clone());
                    self.fields.insert(key, shape);
                }
            }
        }
        self.optional = optional;
        self
    }
}

/// One way an answer's shape differs from the expected one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShapeMismatch {
    /// JSON pointer of the place, in the answer.
    pub pointer: String,
    /// What was expected there (a kind name, or `field`).
    pub expected: String,
    /// What was found (a kind name, or `missing`).
    pub actual: String,
}

/// Compares `actual` with `expected` under the rules of the module; returns every difference
/// (empty when the shapes are compatible).
pub fn compare(expected: &Shape, actual: &Shape) -> Vec<ShapeMismatch> {
    let mut out = Vec::new();
    walk(expected, actual, &mut String::new(), &mut out);
    out
}

fn walk(expected: &Shape, actual: &Shape, pointer: &mut String, out: &mut Vec<ShapeMismatch>) {
    match (expected, actual) {
        (Shape::Redacted, _) | (_, Shape::Redacted) | (Shape::Null, _) | (_, Shape::Null) => {}
        (Shape::Array(Some(e)), Shape::Array(Some(a))) => {
            let len = pointer.len();
            pointer.push_str("/*");
            walk(e, a, pointer, out);
            pointer.truncate(len);
        }
        (Shape::Array(_), Shape::Array(_)) => {}
        (Shape::Object(e), Shape::Object(a)) => {
            for (key, shape) in &e.fields {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
                match a.fields.get(key) {
                    Some(found) => walk(shape, found, pointer, out),
                    None if e.optional.contains(key) => {}
                    None => out.push(ShapeMismatch {
                        pointer: pointer.clone(),
                        expected: name(shape),
                        actual: "missing".to_owned(),
                    }),
                }
                pointer.truncate(len);
            }
        }
        (Shape::AnyOf(kinds), actual) => {
            let kinds_actual: Vec<&Shape> = match actual {
                Shape::AnyOf(more) => more.iter().collect(),
                one => vec![one],
            };
            for a in kinds_actual {
                match kinds.iter().find(|k| k.family() == a.family()) {
                    Some(k) => walk(k, a, pointer, out),
                    None => out.push(mismatch(pointer, expected, a)),
                }
            }
        }
        (e, Shape::AnyOf(kinds)) => match kinds.iter().find(|k| k.family() == e.family()) {
            // The answer mixes kinds where one was expected: its items of the expected kind
            // are compared, the others are a retype.
            Some(k) => {
                walk(e, k, pointer, out);
                if kinds.len() > 1 {
                    out.push(mismatch(pointer, e, actual));
                }
            }
            None => out.push(mismatch(pointer, e, actual)),
        },
        (e, a) if e.family() == a.family() => {}
        (e, a) => out.push(mismatch(pointer, e, a)),
    }
}

/// A shape's name in a mismatch: its type family (`number` for integers too), or the
/// families of an `any_of` joined by `|`.
fn name(shape: &Shape) -> String {
    match shape {
        Shape::AnyOf(kinds) => kinds
            .iter()
            .map(Shape::family)
            .collect::<Vec<_>>()
            .join("|"),
        other => other.family().to_owned(),
    }
}

fn mismatch(pointer: &str, expected: &Shape, actual: &Shape) -> ShapeMismatch {
    ShapeMismatch {
        pointer: pointer.to_owned(),
        expected: name(expected),
        actual: name(actual),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn diff(expected: Value, actual: Value) -> Vec<(String, String, String)> {
        compare(&Shape::of(&expected), &Shape::of(&actual))
            .into_iter()
            .map(|m| (m.pointer, m.expected, m.actual))
            .collect()
    }

    fn m(p: &str, e: &str, a: &str) -> (String, String, String) {
        (p.to_owned(), e.to_owned(), a.to_owned())
    }

    #[test]
    fn comparison_table() {
        type Case = (&'static str, Value, Value, Vec<(String, String, String)>);
        let cases: Vec<Case> = vec![
            ("same values", json!({"id": 1}), json!({"id": 1}), vec![]),
            (
                "volatile values",
                json!({"id": 1, "t": "a"}),
                json!({"id": 99, "t": "zz"}),
                vec![],
            ),
            (
                "integer becomes number",
                json!({"p": 10}),
                json!({"p": 10.5}),
                vec![],
            ),
            (
                "null either way",
                json!({"a": null, "b": "x"}),
                json!({"a": "x", "b": null}),
                vec![],
            ),
            (
                "new field is additive",
                json!({"a": 1}),
                json!({"a": 1, "b": true}),
                vec![],
            ),
            (
                "field removed",
                json!({"a": 1, "b": "x"}),
                json!({"a": 1}),
                vec![m("/b", "string", "missing")],
            ),
            (
                "field retyped",
                json!({"a": "1"}),
                json!({"a": 1}),
                vec![m("/a", "string", "number")],
            ),
            (
                "nested field removed",
                json!({"o": {"x": [1]}}),
                json!({"o": {}}),
                vec![m("/o/x", "array", "missing")],
            ),
            (
                "array item retyped",
                json!([{"id": 1}]),
                json!([{"id": "1"}]),
                vec![m("/*/id", "number", "string")],
            ),
            (
                "empty arrays match",
                json!({"l": []}),
                json!({"l": [{"a": 1}]}),
                vec![],
            ),
            (
                "array becomes object",
                json!({"l": [1]}),
                json!({"l": {}}),
                vec![m("/l", "array", "object")],
            ),
            (
                "optional item field",
                json!([{"a": 1, "b": 2}, {"a": 1}]),
                json!([{"a": 5}]),
                vec![],
            ),
            (
                "required item field",
                json!([{"a": 1, "b": 2}, {"a": 1}]),
                json!([{"b": 5}]),
                vec![m("/*/a", "number", "missing")],
            ),
            (
                "mixed items kept",
                json!([1, "a"]),
                json!(["b", 2.5]),
                vec![],
            ),
            (
                "mixed items gain a kind",
                json!([1, "a"]),
                json!([true]),
                vec![m("/*", "number|string", "boolean")],
            ),
            (
                "pointer escapes",
                json!({"a/b": 1}),
                json!({}),
                vec![m("/a~1b", "number", "missing")],
            ),
        ];
        for (name, expected, actual, want) in cases {
            assert_eq!(diff(expected, actual), want, "{name}");
        }
    }

    #[test]
    fn redacted_parts_are_never_compared() {
        let mut expected = Shape::of(&json!({"token": "x", "n": 1}));
        if let Shape::Object(o) = &mut expected {
            o.fields.insert("token".to_owned(), Shape::Redacted);
        }
        assert!(compare(&expected, &Shape::of(&json!({"token": 5, "n": 2}))).is_empty());
    }

    #[test]
    fn pointers_redact_values_and_shapes() {
        let tokens = |p: &str| pointer_tokens(p).unwrap();
        let mut v =
            json!({"user": {"password": "s3cret", "name": "a"}, "keys": [{"k": "x"}, {"k": "y"}]});
        let with = json!("[redacted]");
        assert!(redact_value(&mut v, &tokens("/user/password"), &with));
        assert!(redact_value(&mut v, &tokens("/keys/*/k"), &with));
        assert!(!redact_value(&mut v, &tokens("/nope/x"), &with));
        assert!(!v.to_string().contains("s3cret"));
        assert_eq!(v["keys"][1]["k"], "[redacted]");
        let mut shape = Shape::of(&json!({"token": "t", "items": [{"s": 1}]}));
        assert!(shape.redact(&tokens("/token")));
        assert!(shape.redact(&tokens("/items/*/s")));
        assert!(
            compare(
                &shape,
                &Shape::of(&json!({"token": 1, "items": [{"s": "x"}]}))
            )
            .is_empty()
        );
        assert_eq!(pointer_tokens("a"), None);
        assert_eq!(tokens("/a~1b~0"), vec!["a/b~".to_owned()]);
    }

    #[test]
    fn shapes_round_trip_through_json() {
        let shape = Shape::of(&json!({"a": [1, 2.5], "b": [{"x": 1}, {}], "c": null}));
        let text = serde_json::to_string(&shape).unwrap();
        assert!(!text.contains("2.5"), "{text}");
        let back: Shape = serde_json::from_str(&text).unwrap();
        assert_eq!(back, shape);
    }
}
