//! What the recorder keeps per tool: the redaction pointers that apply to it (its globs
//! matched once) and the last few serialized shapes of its results.
//!
//! A tool answers with the same shape call after call, so the line's `shape` is serialized
//! once per tool and shape and then copied: a result that fits a cached [`Template`] (the
//! same keys in the same order, the same kinds) reuses that shape's bytes; any other result
//! has its shape taken, redacted and serialized, and becomes the newest cached shape. The
//! check is exact (never a hash): a cached shape is reused only for a result whose shape is
//! that shape.
//!
//! Does not own: writing the rest of the line (`line`, `layer`).

use std::sync::{Arc, RwLock};

use arc_swap::ArcSwap;
use serde_json::Value;
use toolgate_contract::shape::{self, Shape};

/// Tools remembered at most; past that a tool's state is built per call (the map holds only
/// tools that answered with a shape, so a client calling made-up names cannot grow it).
const MAX_TOOLS: usize = 4096;

/// Shapes kept per tool (a tool whose answers alternate between a few shapes).
const SHAPES_PER_TOOL: usize = 4;

/// The largest serialized shape kept (bigger ones are rare and taken per call), so the cache
/// stays small whatever the tools answer: at most `MAX_TOOLS × SHAPES_PER_TOOL` of these.
const MAX_CACHED_SHAPE: usize = 16 * 1024;

/// One redaction rule, compiled.
pub(super) struct Rule {
    pub(super) tools: globset::GlobMatcher,
    pub(super) arguments: Vec<Vec<String>>,
    pub(super) result: Vec<Vec<String>>,
}

/// The compiled redaction rules.
pub(super) struct Redaction {
    pub(super) rules: Vec<Rule>,
}

impl Redaction {
    /// Compiles `recording.redact`, reporting every problem.
    pub(super) fn compile(
        config: &std::collections::BTreeMap<String, Vec<String>>,
    ) -> Result<Redaction, Vec<String>> {
        let mut rules = Vec::new();
        let mut problems = Vec::new();
        for (glob, pointers) in config {
            let tools = match globset::Glob::new(glob) {
                Ok(g) => g.compile_matcher(),
                Err(e) => {
                    problems.push(format!("recording.redact.{glob}: not a tool glob: {e}"));
                    continue;
                }
            };
            let mut rule = Rule {
                tools,
                arguments: Vec::new(),
                result: Vec::new(),
            };
            for pointer in pointers {
                let tokens = shape::pointer_tokens(pointer).unwrap_or_default();
                match tokens.split_first() {
                    Some((first, rest)) if first == "arguments" && !rest.is_empty() => {
                        rule.arguments.push(rest.to_vec());
                    }
                    Some((first, rest)) if first == "result" => rule.result.push(rest.to_vec()),
                    _ => problems.push(format!(
                        "recording.redact.{glob}: `{pointer}` must be a JSON pointer under \
                         /arguments (e.g. /arguments/password) or /result (e.g. /result/token)"
                    )),
                }
            }
            rules.push(rule);
        }
        if problems.is_empty() {
            Ok(Redaction { rules })
        } else {
            Err(problems)
        }
    }
}

/// The structure of a JSON value in its own order: what decides its shape, compared without
/// building one. Objects keep their keys in the value's order (`serde_json`'s map keeps the
/// order it parsed), so checking a value is one walk with one key comparison per field.
#[derive(Debug, PartialEq)]
pub(super) enum Template {
    Null,
    Boolean,
    Integer,
    Number,
    String,
    /// An empty array.
    Empty,
    /// A non-empty array whose items all have this template.
    Array(Box<Template>),
    Object(Box<[(Box<str>, Template)]>),
}

impl Template {
    /// The template of `value`; `None` when an array's items differ in structure (their
    /// shape is a merge, which a template does not describe).
    pub(super) fn of(value: &Value) -> Option<Template> {
        Some(match value {
            Value::Null => Template::Null,
            Value::Bool(_) => Template::Boolean,
            Value::Number(n) if n.is_i64() || n.is_u64() => Template::Integer,
            Value::Number(_) => Template::Number,
            Value::String(_) => Template::String,
            Value::Array(items) => match items.split_first() {
                None => Template::Empty,
                Some((first, rest)) => {
                    let item = Template::of(first)?;
                    if !rest.iter().all(|v| item.fits(v)) {
                        return None;
                    }
                    Template::Array(Box::new(item))
                }
            },
            Value::Object(map) => Template::Object(
                map.iter()
                    .map(|(k, v)| Some((Box::from(k.as_str()), Template::of(v)?)))
                    .collect::<Option<_>>()?,
            ),
        })
    }

    /// Whether `value` has exactly this structure. Then its shape is the shape of the value
    /// the template was taken from: same kinds at the same places, the same fields, and array
    /// items that all have one shape (merging a shape with itself gives it back).
    pub(super) fn fits(&self, value: &Value) -> bool {
        match (self, value) {
            (Template::Null, Value::Null)
            | (Template::Boolean, Value::Bool(_))
            | (Template::String, Value::String(_)) => true,
            (Template::Integer, Value::Number(n)) => n.is_i64() || n.is_u64(),
            (Template::Number, Value::Number(n)) => !(n.is_i64() || n.is_u64()),
            (Template::Empty, Value::Array(items)) => items.is_empty(),
            (Template::Array(item), Value::Array(items)) => {
                !items.is_empty() && items.iter().all(|v| item.fits(v))
            }
            (Template::Object(fields), Value::Object(map)) => {
                fields.len() == map.len()
                    && fields
                        .iter()
                        .zip(map)
                        .all(|((key, t), (k, v))| **key == **k && t.fits(v))
            }
            _ => false,
        }
    }
}

/// A result structure and its shape's line text (redacted for the tool).
struct Cached {
    template: Template,
    /// The shape, redacted and serialized.
    json: Box<[u8]>,
}

/// A tool's name as written, redaction pointers and cached shapes.
pub(super) struct Tool {
    /// The name as a JSON string (quoted, escaped).
    pub(super) name_json: Box<[u8]>,
    /// Argument pointers of every rule matching the tool.
    pub(super) arguments: Vec<Vec<String>>,
    /// Result pointers of every rule matching the tool.
    result: Vec<Vec<String>>,
    /// Newest first.
    shapes: ArcSwap<Vec<Arc<Cached>>>,
}

impl Tool {
    /// Appends the line text of `value`'s shape (redacted) to `out`.
    pub(super) fn write_shape(&self, value: &Value, out: &mut Vec<u8>) {
        let shapes = self.shapes.load();
        if let Some(hit) = shapes.iter().find(|c| c.template.fits(value)) {
            out.extend_from_slice(&hit.json);
            return;
        }
        drop(shapes);
        let mut shape = Shape::of(value);
        for pointer in &self.result {
            shape.redact(pointer);
        }
        let json = serde_json::to_vec(&shape).unwrap_or_else(|_| b"null".to_vec());
        out.extend_from_slice(&json);
        // Arrays of items that differ are never cached (no template describes them).
        if json.len() > MAX_CACHED_SHAPE {
            return;
        }
        if let Some(template) = Template::of(value) {
            let cached = Arc::new(Cached {
                template,
                json: json.into_boxed_slice(),
            });
            self.shapes.rcu(|old| {
                let mut shapes = Vec::with_capacity(SHAPES_PER_TOOL);
                shapes.push(cached.clone());
                shapes.extend(
                    old.iter()
                        .filter(|c| c.template != cached.template)
                        .take(SHAPES_PER_TOOL - 1)
                        .cloned(),
                );
                shapes
            });
        }
    }
}

/// Every tool's state, built on first use.
pub(super) struct Tools {
    redaction: Redaction,
    known: RwLock<hashbrown::HashMap<Box<str>, Arc<Tool>>>,
}

impl Tools {
    pub(super) fn new(redaction: Redaction) -> Tools {
        Tools {
            redaction,
            known: RwLock::new(hashbrown::HashMap::new()),
        }
    }

    /// The state of `name`: remembered, or built now (see [`Tools::remember`]); the flag says
    /// whether it is remembered already.
    pub(super) fn get(&self, name: &str) -> (Arc<Tool>, bool) {
        let known = self.known.read().unwrap_or_else(|e| e.into_inner());
        if let Some(tool) = known.get(name) {
            return (tool.clone(), true);
        }
        drop(known);
        let mut name_json = Vec::with_capacity(name.len() + 2);
        super::line::write_str(&mut name_json, name);
        let mut tool = Tool {
            name_json: name_json.into_boxed_slice(),
            arguments: Vec::new(),
            result: Vec::new(),
            shapes: ArcSwap::from_pointee(Vec::new()),
        };
        for rule in self
            .redaction
            .rules
            .iter()
            .filter(|r| r.tools.is_match(name))
        {
            tool.arguments.extend(rule.arguments.iter().cloned());
            tool.result.extend(rule.result.iter().cloned());
        }
        (Arc::new(tool), false)
    }

    /// How many tools are remembered.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.known.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Remembers `tool` as `name`'s state (after it answered with a shape), unless another
    /// call did first or [`MAX_TOOLS`] are remembered.
    pub(super) fn remember(&self, name: &str, tool: Arc<Tool>) {
        let mut known = self.known.write().unwrap_or_else(|e| e.into_inner());
        if known.len() < MAX_TOOLS && !known.contains_key(name) {
            known.insert(Box::from(name), tool);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A value fits a template only if its shape is the shape of the value the template was
    /// taken from (what makes a cached shape never stale).
    #[test]
    fn a_template_fits_only_values_of_its_shape() {
        let values = [
            json!(null),
            json!(true),
            json!(1),
            json!(-1),
            json!(u64::MAX),
            json!(1.5),
            json!("s"),
            json!([]),
            json!([1]),
            json!([1, 2, 3]),
            json!([1, 2.5]),
            json!([2.5, 1.5]),
            json!([1, "a"]),
            json!([[]]),
            json!([[], [1]]),
            json!([[1], [1, 2]]),
            json!([[1]]),
            json!({}),
            json!({"a": 1}),
            json!({"a": 1.5}),
            json!({"a": null}),
            json!({"b": 1}),
            json!({"a": 1, "b": 1}),
            json!({"b": 1, "a": 1}),
            json!({"a": 1, "b": "1"}),
            json!({"a": {"x": [1]}}),
            json!({"a": {"x": []}}),
            json!({"a": {"y": [1]}}),
            json!([{"a": 1}, {"a": 2}]),
            json!([{"a": 1}]),
            json!([{"a": 1}, {}]),
            json!([{"a": 1}, {"b": 1}]),
            json!([{"a": [1, "x"]}, {"a": [1, "x"]}]),
            json!([{"a": [{"b": true}, {"b": false}]}]),
        ];
        let mut fits = 0;
        for a in &values {
            let Some(template) = Template::of(a) else {
                continue;
            };
            assert!(template.fits(a), "{a}");
            for b in &values {
                if template.fits(b) {
                    fits += 1;
                    assert_eq!(Shape::of(b), Shape::of(a), "{a} fits {b}");
                }
            }
        }
        assert!(
            fits > values.len(),
            "values of one shape were compared: {fits}"
        );
        for differing in [json!([1, "a"]), json!([{"a": 1}, {}]), json!([[], [1]])] {
            assert_eq!(Template::of(&differing), None, "{differing}");
        }
        // Same fields in another order: another template (a cache miss, never a wrong hit).
        let ab = Template::of(&json!({"a": 1, "b": 1})).unwrap();
        assert!(!ab.fits(&json!({"b": 1, "a": 1})));
    }
}
