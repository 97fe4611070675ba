//! Workflow templating: the arguments of a step may use the results of earlier steps, as an
//! agent feeds one tool's output into the next call.
//!
//! In any string of a step's arguments, `${step/pointer}` is the value at JSON pointer
//! `pointer` in the result of the earlier step named `step` (its `structuredContent`, else
//! its text parsed as JSON, else the text); `${step}` is the whole result; `${iteration}` is
//! the iteration's number (0-based; unique within a run, for unique names). A string that is
//! exactly one reference becomes the referenced value with its type (a number stays a
//! number); references inside a longer string are written as text (strings as they are,
//! other values as JSON). `$${` writes a literal `${`.
//!
//! References are checked when the workflow is loaded (only earlier steps), and resolved per
//! iteration; a pointer missing from a result fails that step.

use serde_json::{Map, Value};

/// A reference in a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ref {
    /// The step's index, or `None` for `${iteration}`.
    step: Option<usize>,
    /// The reference as written (for messages).
    text: String,
    /// JSON pointer into the step's result (`""`: all of it).
    pointer: String,
}

/// A piece of an interpolated string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Text as written.
    Text(String),
    /// A reference, written as text.
    Ref(Ref),
}

/// A compiled argument template.
#[derive(Debug, Clone, PartialEq)]
pub enum Template {
    /// A value with no reference.
    Literal(Value),
    /// A string that is exactly one reference: the referenced value, typed.
    Ref(Ref),
    /// A string with references inside.
    Text(Vec<Part>),
    /// An array with references inside.
    Array(Vec<Template>),
    /// An object with references inside.
    Object(Vec<(String, Template)>),
}

/// The results available to a step.
pub struct Scope<'a> {
    /// The iteration's number.
    pub iteration: u64,
    /// The results of the steps before, in order.
    pub results: &'a [Value],
}

impl Template {
    /// Compiles `value`; `earlier` names the steps a reference may use. Returns every problem.
    pub fn compile(value: &Value, earlier: &[&str]) -> Result<Template, Vec<String>> {
        let mut problems = Vec::new();
        let t = compile(value, earlier, &mut problems);
        if problems.is_empty() {
            Ok(t)
        } else {
            Err(problems)
        }
    }

    /// The arguments for one iteration, or which reference could not be resolved.
    pub fn render(&self, scope: &Scope<'_>) -> Result<Value, String> {
        Ok(match self {
            Template::Literal(v) => v.clone(),
            Template::Ref(r) => resolve(r, scope)?,
            Template::Text(parts) => {
                let mut out = String::new();
                for part in parts {
                    match part {
                        Part::Text(t) => out.push_str(t),
                        Part::Ref(r) => match resolve(r, scope)? {
                            Value::String(s) => out.push_str(&s),
                            other => out.push_str(&other.to_string()),
                        },
                    }
                }
                Value::String(out)
            }
            Template::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|t| t.render(scope))
                    .collect::<Result<_, _>>()?,
            ),
            Template::Object(fields) => {
                let mut map = Map::new();
                for (k, t) in fields {
                    map.insert(k.clone(), t.render(scope)?);
                }
                Value::Object(map)
            }
        })
    }
}

fn resolve(r: &Ref, scope: &Scope<'_>) -> Result<Value, String> {
    let Some(step) = r.step else {
        return Ok(Value::from(scope.iteration));
    };
    let result = scope
        .results
        .get(step)
        .ok_or_else(|| format!("`${{{}}}`: that step has not run", r.text))?;
    result.pointer(&r.pointer).cloned().ok_or_else(|| {
        format!(
            "`${{{}}}`: the step's result has nothing at `{}`",
            r.text, r.pointer
        )
    })
}

fn compile(value: &Value, earlier: &[&str], problems: &mut Vec<String>) -> Template {
    match value {
        Value::String(s) if s.contains("${") => {
            let parts = parse(s, earlier, problems);
            match parts.as_slice() {
                [Part::Ref(r)] => Template::Ref(r.clone()),
                _ if parts.iter().all(|p| matches!(p, Part::Text(_))) => {
                    Template::Literal(Value::String(
                        parts
                            .into_iter()
                            .map(|p| match p {
                                Part::Text(t) => t,
                                Part::Ref(_) => String::new(),
                            })
                            .collect(),
                    ))
                }
                _ => Template::Text(parts),
            }
        }
        Value::Array(items) => {
            let items: Vec<Template> = items
                .iter()
                .map(|v| compile(v, earlier, problems))
                .collect();
            if items.iter().all(|t| matches!(t, Template::Literal(_))) {
                Template::Literal(value.clone())
            } else {
                Template::Array(items)
            }
        }
        Value::Object(map) => {
            let fields: Vec<(String, Template)> = map
                .iter()
                .map(|(k, v)| (k.clone(), compile(v, earlier, problems)))
                .collect();
            if fields
                .iter()
                .all(|(_, t)| matches!(t, Template::Literal(_)))
            {
                Template::Literal(value.clone())
            } else {
                Template::Object(fields)
            }
        }
        other => Template::Literal(other.clone()),
    }
}

fn parse(s: &str, earlier: &[&str], problems: &mut Vec<String>) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        if rest[..i].ends_with('$') {
            // `$${` is a literal `${`.
            text.push_str(&rest[..i - 1]);
            text.push_str("${");
            rest = &rest[i + 2..];
            continue;
        }
        text.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(end) = after.find('}') else {
            problems.push(format!("`{s}`: `${{` without a closing `}}`"));
            text.push_str(&rest[i..]);
            rest = "";
            break;
        };
        let inner = after[..end].trim();
        let (name, pointer) = match inner.find('/') {
            Some(p) => (&inner[..p], &inner[p..]),
            None => (inner, ""),
        };
        let step = if name == "iteration" && pointer.is_empty() {
            None
        } else {
            match earlier.iter().position(|e| *e == name) {
                Some(i) => Some(i),
                None => {
                    problems.push(format!(
                        "`${{{inner}}}`: no earlier step is named `{name}` (earlier steps: {}); use `${{iteration}}` or `${{<step>/<json pointer>}}`",
                        if earlier.is_empty() { "none".to_owned() } else { earlier.join(", ") }
                    ));
                    None
                }
            }
        };
        if !text.is_empty() {
            parts.push(Part::Text(std::mem::take(&mut text)));
        }
        parts.push(Part::Ref(Ref {
            step,
            text: inner.to_owned(),
            pointer: pointer.to_owned(),
        }));
        rest = &after[end + 1..];
    }
    text.push_str(rest);
    if !text.is_empty() {
        parts.push(Part::Text(text));
    }
    parts
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn render(
        template: Value,
        earlier: &[&str],
        results: &[Value],
        iteration: u64,
    ) -> Result<Value, String> {
        Template::compile(&template, earlier)
            .map_err(|e| e.join("; "))?
            .render(&Scope { iteration, results })
    }

    #[test]
    fn references_keep_types_and_interpolate_text() {
        let results = [json!({"id": 7, "name": "ann", "tags": ["a"]})];
        let got = render(
            json!({
                "user_id": "${user/id}",
                "title": "task ${iteration} for ${user/name} (${user/id})",
                "all": "${user}",
                "first_tag": "${user/tags/0}",
                "nested": [{"x": "${user/id}"}, 1],
                "plain": "no refs",
                "escaped": "$${user}",
                "n": 3
            }),
            &["user"],
            &results,
            4,
        )
        .unwrap();
        assert_eq!(
            got,
            json!({
                "user_id": 7,
                "title": "task 4 for ann (7)",
                "all": results[0],
                "first_tag": "a",
                "nested": [{"x": 7}, 1],
                "plain": "no refs",
                "escaped": "${user}",
                "n": 3
            })
        );
    }

    #[test]
    fn iteration_alone_is_a_number() {
        assert_eq!(
            render(json!({"i": "${iteration}"}), &[], &[], 9).unwrap(),
            json!({"i": 9})
        );
    }

    #[test]
    fn bad_references_are_reported_at_compile_and_render() {
        let err = render(json!({"a": "${nope/id}", "b": "${x"}), &["user"], &[], 0).unwrap_err();
        assert!(err.contains("no earlier step is named `nope`"), "{err}");
        assert!(err.contains("without a closing"), "{err}");
        let err = render(
            json!({"a": "${user/missing}"}),
            &["user"],
            &[json!({"id": 1})],
            0,
        )
        .unwrap_err();
        assert!(err.contains("nothing at `/missing`"), "{err}");
    }

    #[test]
    fn templates_without_references_are_literals() {
        let t = Template::compile(&json!({"a": [1, "x"], "b": "c"}), &[]).unwrap();
        assert!(matches!(t, Template::Literal(_)));
    }
}
