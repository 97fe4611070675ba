//! Argument validation against a tool's `inputSchema`, before any request is built.
//!
//! This module owns compiling the JSON Schema (draft 2020-12, no remote `$ref` retrieval)
//! once per operation and turning *every* violation into an [`ArgumentViolation`] with a JSON
//! pointer, plus the unknown-argument policy. It does not coerce values or fill defaults.

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value};
use toolgate_core::error::{ArgumentViolation, ToolError};
use toolgate_openapi::ir::{BodyMode, Operation};

use crate::body::FILENAME_SUFFIX;
use crate::options::UnknownArguments;

/// The validator of one operation's arguments. The schema is compiled on the first call, not
/// at start: a spec with a thousand tools starts in milliseconds instead of compiling a
/// thousand validators few of which will ever run.
pub(crate) struct ArgValidator {
    /// The input schema (shared with the tool definition), kept until (and after)
    /// compilation.
    source: Arc<Map<String, Value>>,
    /// The compiled schema; `None` inside when it does not compile.
    compiled: OnceLock<Option<jsonschema::Validator>>,
    /// Argument names the operation accepts (schema properties plus filename siblings);
    /// `None` when the schema lists no `properties` (nothing to check names against).
    known: Option<BTreeSet<String>>,
    /// Filename-sibling arguments (accepted but not part of the schema).
    siblings: BTreeSet<String>,
}

impl std::fmt::Debug for ArgValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArgValidator")
            .field("compiled", &self.compiled.get().map(Option::is_some))
            .field("known", &self.known)
            .finish()
    }
}

impl ArgValidator {
    /// Prepares validation of `op`'s arguments against `schema`, its input schema (which
    /// compiles on first use).
    pub(crate) fn new(op: &Operation, schema: Arc<Map<String, Value>>) -> Self {
        let properties = schema.get("properties").and_then(Value::as_object);
        let mut known: BTreeSet<String> = properties
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        let mut siblings = BTreeSet::new();
        if let Some(body) = &op.body {
            for file in &body.file_fields {
                let arg = match &body.mode {
                    BodyMode::Properties { fields } => fields
                        .iter()
                        .find(|(_, p)| p == file)
                        .map(|(a, _)| a.clone())
                        .unwrap_or_else(|| file.clone()),
                    BodyMode::Whole { .. } => file.clone(),
                };
                let sibling = format!("{arg}{FILENAME_SUFFIX}");
                if !known.contains(&sibling) {
                    siblings.insert(sibling);
                }
            }
        }
        known.extend(siblings.iter().cloned());
        let known = properties.is_some().then_some(known);
        ArgValidator {
            source: schema,
            compiled: OnceLock::new(),
            known,
            siblings,
        }
    }

    /// The compiled schema, compiling it on first use. A schema that does not compile is
    /// logged once; arguments are then checked for unknown names only.
    fn schema(&self, tool: &str) -> Option<&jsonschema::Validator> {
        self.compiled
            .get_or_init(|| {
                // The validator keeps what it needs; this copy lives only while it compiles.
                let schema = Value::Object(Map::clone(&self.source));
                match jsonschema::draft202012::options().build(&schema) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        tracing::warn!(
                            tool,
                            problem = %e,
                            "input schema does not compile; arguments are checked for unknown names only"
                        );
                        None
                    }
                }
            })
            .as_ref()
    }

    /// Validates `args` in place: unknown arguments are dropped (`Ignore`) or reported
    /// (`Reject`), then every schema violation is collected.
    pub(crate) fn validate(
        &self,
        tool: &str,
        args: &mut Map<String, Value>,
        policy: UnknownArguments,
    ) -> Result<(), ToolError> {
        let mut violations = Vec::new();
        let unknown: Vec<String> = match &self.known {
            Some(known) => args
                .keys()
                .filter(|k| !known.contains(*k))
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        for name in &unknown {
            args.remove(name);
            if policy == UnknownArguments::Reject {
                let expected = self
                    .known
                    .iter()
                    .flatten()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                violations.push(ArgumentViolation {
                    path: format!("/{}", escape_pointer(name)),
                    message: if expected.is_empty() {
                        format!("unknown argument `{name}`: this tool takes no arguments")
                    } else {
                        format!("unknown argument `{name}`; the tool accepts: {expected}")
                    },
                });
            }
        }
        for name in &self.siblings {
            if let Some(v) = args.get(name)
                && !v.is_string()
            {
                violations.push(ArgumentViolation {
                    path: format!("/{}", escape_pointer(name)),
                    message: format!("{v} is not of type \"string\" (a file name)"),
                });
            }
        }
        if let Some(schema) = self.schema(tool) {
            // Siblings are not schema properties: validate without them.
            if self.siblings.iter().any(|s| args.contains_key(s)) {
                let mut copy = args.clone();
                copy.retain(|k, _| !self.siblings.contains(k));
                collect_violations(schema, &Value::Object(copy), &mut violations);
            } else {
                // Validate the arguments in place: move them into a `Value` and back, rather
                // than cloning them on every call.
                let instance = Value::Object(std::mem::take(args));
                collect_violations(schema, &instance, &mut violations);
                if let Value::Object(map) = instance {
                    *args = map;
                }
            }
        }
        if violations.is_empty() {
            Ok(())
        } else {
            Err(ToolError::invalid_arguments(tool, violations))
        }
    }
}

fn collect_violations(
    schema: &jsonschema::Validator,
    instance: &Value,
    violations: &mut Vec<ArgumentViolation>,
) {
    for error in schema.iter_errors(instance) {
        violations.push(ArgumentViolation {
            path: error.instance_path().as_str().to_owned(),
            message: error.to_string(),
        });
    }
}

fn escape_pointer(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// Whether `op.input_schema` compiles as a draft 2020-12 validator. A handler for an
/// operation whose schema does not compile still works but only checks argument names; the
/// CLI can call this to report such operations at startup.
pub fn check_input_schema(op: &Operation) -> Result<(), String> {
    let schema = Value::Object(op.input_schema.clone());
    match jsonschema::draft202012::options().build(&schema) {
        Ok(_) => Ok(()),
        Err(problem) => Err(format!(
            "the input schema of tool `{}` does not compile: {problem}",
            op.name
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use toolgate_openapi::ir::{Annotations, Body, BodyMode, ComponentKind, HttpMethod, Operation};

    fn op(schema: Value, body: Option<Body>) -> Operation {
        Operation {
            name: "t".into(),
            kind: ComponentKind::Tool,
            operation_id: None,
            method: HttpMethod::Post,
            path: "/t".into(),
            pointer: "#/paths/~1t/post".into(),
            server_url: None,
            title: None,
            description: "t".into(),
            tags: vec![],
            deprecated: false,
            params: vec![],
            body,
            input_schema: schema.as_object().unwrap().clone(),
            output_schema: None,
            output_wrap: None,
            annotations: Annotations::default(),
            security: vec![],
        }
    }

    fn args(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn schema_without_properties_skips_the_name_check() {
        let o = op(json!({"type": "object"}), None);
        assert!(check_input_schema(&o).is_ok());
        let v = ArgValidator::new(&o, Arc::new(o.input_schema.clone()));
        let mut a = args(json!({"anything": 1}));
        v.validate("t", &mut a, UnknownArguments::Reject).unwrap();
    }

    #[test]
    fn filename_siblings_are_accepted_for_file_fields() {
        let body = Body {
            content_type: "multipart/form-data".into(),
            required: true,
            mode: BodyMode::Properties {
                fields: vec![("file".into(), "file".into())],
            },
            file_fields: vec!["file".into()],
            part_content_types: vec![],
        };
        let schema = json!({"type": "object", "properties": {"file": {"type": "string"}},
                            "additionalProperties": false});
        let v = {
            let o = op(schema, Some(body));
            ArgValidator::new(&o, Arc::new(o.input_schema.clone()))
        };
        let mut a = args(json!({"file": "aGk=", "file_filename": "a.txt"}));
        v.validate("t", &mut a, UnknownArguments::Reject).unwrap();
        let mut a = args(json!({"file": "aGk=", "file_filename": 3}));
        let err = v
            .validate("t", &mut a, UnknownArguments::Reject)
            .unwrap_err();
        assert_eq!(err.violations[0].path, "/file_filename");
    }

    #[test]
    fn uncompilable_schema_degrades_to_the_name_check() {
        let schema = json!({"type": "object", "properties": {"a": {"$ref": "https://example.invalid/s.json"}}});
        let o = op(schema, None);
        let v = ArgValidator::new(&o, Arc::new(o.input_schema.clone()));
        assert!(check_input_schema(&o).is_err());
        let mut a = args(json!({"a": 1, "b": 2}));
        let err = v
            .validate("t", &mut a, UnknownArguments::Reject)
            .unwrap_err();
        assert_eq!(err.violations.len(), 1);
        assert!(
            err.message
                .contains("unknown argument `b`; the tool accepts: `a`"),
            "{}",
            err.message
        );
    }
}
