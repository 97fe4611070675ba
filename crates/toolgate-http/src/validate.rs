//! Argument validation against a tool's `inputSchema`, before any request is built.
//!
//! This module owns compiling the JSON Schema (draft 2020-12, no remote `$ref` retrieval)
//! once per operation and turning *every* violation into an [`ArgumentViolation`] with a JSON
//! pointer, plus the unknown-argument policy, and the start-up check that every schema
//! compiles ([`check_input_schemas`]). It does not coerce values or fill defaults.
//!
//! **Formats.** `format` is asserted for the formats that have one meaning, each defined by
//! an RFC the JSON Schema specification names: `date-time`, `date`, `time` (RFC 3339, except
//! that the time-zone offset may be left out: FastAPI/pydantic and most frameworks accept a
//! local date-time such as `2026-01-31T09:30:00`, and requiring `Z` would make the model change
//! the meaning of the value; a space may separate date and time, as ISO 8601 allows by
//! agreement), `duration` (RFC 3339 appendix A), `email`,
//! `hostname`, `ipv4`, `ipv6`, `uri`, `uri-reference`, `iri`, `iri-reference`, `uuid`,
//! `uri-template`, `json-pointer` and `relative-json-pointer`, as the `jsonschema` crate
//! checks them. `regex` is not asserted (whether a pattern is valid depends on the backend's
//! regex dialect), nor is any other format (`int64`, `byte`, `password`, …): unknown formats
//! are annotations. A format violation says what shape was expected, with an example.
//!
//! **anyOf / oneOf.** When a value fails every branch, and exactly one branch accepts its
//! type (FastAPI's `Optional[X]` is `anyOf: [X, {type: null}]`), that branch's violations are
//! reported instead of "not valid under any of the schemas".

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
    /// logged once (and reported at start by [`check_input_schemas`]); arguments are then
    /// checked for unknown names only.
    fn schema(&self, tool: &str) -> Option<&jsonschema::Validator> {
        self.compiled
            .get_or_init(|| {
                // The validator keeps what it needs; this copy lives only while it compiles.
                match compile(&self.source) {
                    Ok(v) => Some(v),
                    Err(problem) => {
                        tracing::warn!(
                            tool,
                            %problem,
                            "input schema does not compile; arguments are checked for unknown \
                             names only"
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

/// Compiles an input schema with the options every validator uses.
fn compile(schema: &Map<String, Value>) -> Result<jsonschema::Validator, String> {
    let schema = Value::Object(Map::clone(schema));
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        // Whether a pattern is valid depends on the backend's regex dialect.
        .with_format("regex", |_: &str| true)
        .with_format("date-time", is_date_time)
        .with_format("time", is_time)
        .build(&schema)
        .map_err(|e| e.to_string())
}

fn collect_violations(
    schema: &jsonschema::Validator,
    instance: &Value,
    violations: &mut Vec<ArgumentViolation>,
) {
    for error in schema.iter_errors(instance) {
        push_violation(&error, violations);
    }
}

/// Adds `error`, or for an `anyOf`/`oneOf` that failed in every branch, the violations of the
/// one branch that accepts the value's type, when there is exactly one.
fn push_violation(
    error: &jsonschema::ValidationError<'_>,
    violations: &mut Vec<ArgumentViolation>,
) {
    use jsonschema::error::ValidationErrorKind as K;
    let branches = match error.kind() {
        K::AnyOf { context } | K::OneOfNotValid { context } => Some(context),
        _ => None,
    };
    if let Some(branches) = branches {
        let here = error.instance_path().as_str();
        let mut typed = branches.iter().filter(|errors| {
            !errors
                .iter()
                .any(|e| matches!(e.kind(), K::Type { .. }) && e.instance_path().as_str() == here)
        });
        if let (Some(only), None) = (typed.next(), typed.next())
            && !only.is_empty()
        {
            for e in only {
                push_violation(e, violations);
            }
            return;
        }
    }
    let mut message = error.to_string();
    if let K::Format { format } = error.kind()
        && let Some(expected) = format_example(format)
    {
        message.push_str(&format!(" (expected {expected})"));
    }
    violations.push(ArgumentViolation {
        path: error.instance_path().as_str().to_owned(),
        message,
    });
}

/// An RFC 3339 `date-time` whose offset may be absent (see the module docs).
fn is_date_time(text: &str) -> bool {
    let Some((date, time)) = text.split_once(['T', 't']).or_else(|| text.split_once(' ')) else {
        return false;
    };
    is_full_date(date) && is_time(time)
}

/// `YYYY-MM-DD` with a day that exists in that month.
fn is_full_date(text: &str) -> bool {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let (Some(year), Some(month), Some(day)) =
        (digits(&b[0..4]), digits(&b[5..7]), digits(&b[8..10]))
    else {
        return false;
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

/// An RFC 3339 `partial-time` (`HH:MM:SS[.frac]`) with an optional offset (`Z`, `+HH:MM`).
fn is_time(text: &str) -> bool {
    let b = text.as_bytes();
    if b.len() < 8 || b[2] != b':' || b[5] != b':' {
        return false;
    }
    let (Some(h), Some(m), Some(sec)) = (digits(&b[0..2]), digits(&b[3..5]), digits(&b[6..8]))
    else {
        return false;
    };
    if h > 23 || m > 59 || sec > 60 {
        return false;
    }
    let mut rest = &b[8..];
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    match rest {
        [] | [b'Z' | b'z'] => true,
        [b'+' | b'-', oh1, oh2, b':', om1, om2] => {
            matches!((digits(&[*oh1, *oh2]), digits(&[*om1, *om2])), (Some(oh), Some(om)) if oh <= 23 && om <= 59)
        }
        _ => false,
    }
}

/// The number written by ASCII digits only.
fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |n, c| {
        c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
    })
}

/// What a value of an asserted format looks like, for the model.
fn format_example(format: &str) -> Option<&'static str> {
    Some(match format {
        "uuid" => "a UUID such as 3fa85f64-5717-4562-b3fc-2c963f66afa6",
        "date-time" => {
            "an RFC 3339 date-time, such as 2026-01-31T09:30:00Z, 2026-01-31T09:30:00+01:00 \
             or (local time) 2026-01-31T09:30:00"
        }
        "date" => "an RFC 3339 full date, such as 2026-01-31",
        "time" => "an RFC 3339 time, such as 09:30:00, 09:30:00.5 or 09:30:00Z",
        "duration" => "an ISO 8601 duration, such as P3D or PT1H30M",
        "email" => "an email address, such as name@example.com",
        "hostname" => "a host name, such as api.example.com",
        "ipv4" => "an IPv4 address, such as 192.0.2.10",
        "ipv6" => "an IPv6 address, such as 2001:db8::10",
        "uri" | "iri" => "an absolute URI with a scheme, such as https://example.com/a",
        "uri-reference" | "iri-reference" => "a URI or a relative reference, such as /a/b?c=1",
        "uri-template" => "an RFC 6570 URI template, such as /users/{id}",
        "json-pointer" => "a JSON pointer, such as /a/0/b",
        "relative-json-pointer" => "a relative JSON pointer, such as 1/a",
        _ => return None,
    })
}

fn escape_pointer(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// A tool whose input schema does not compile: its arguments are checked for unknown names
/// only, never against the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaProblem {
    /// The tool name.
    pub tool: String,
    /// Why the schema does not compile.
    pub problem: String,
}

impl std::fmt::Display for SchemaProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the input schema of tool `{}` does not compile ({}); its arguments are checked \
             for unknown names only, not against the schema",
            self.tool, self.problem
        )
    }
}

/// The tools, among `(name, input schema)` pairs, whose schema does not compile, for a
/// start-up warning (handlers compile their validator on first use, so without this check
/// such a tool would be found only when it is first called, and then only in the log).
///
/// Compiles every schema once and keeps none (about as long as the first call of each tool
/// would take); a binary may run it off the start-up path.
pub fn check_input_schemas<'a, I>(schemas: I) -> Vec<SchemaProblem>
where
    I: IntoIterator<Item = (&'a str, &'a Map<String, Value>)>,
{
    schemas
        .into_iter()
        .filter_map(|(tool, schema)| {
            compile(schema).err().map(|problem| SchemaProblem {
                tool: tool.to_owned(),
                problem,
            })
        })
        .collect()
}

/// Whether `op.input_schema` compiles as the argument validator would compile it (see
/// [`check_input_schemas`] for a whole catalog).
pub fn check_input_schema(op: &Operation) -> Result<(), String> {
    match check_input_schemas([(op.name.as_str(), &op.input_schema)]).pop() {
        None => Ok(()),
        Some(p) => Err(p.to_string()),
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

    fn violations(schema: Value, a: Value) -> Vec<ArgumentViolation> {
        let o = op(schema, None);
        let v = ArgValidator::new(&o, Arc::new(o.input_schema.clone()));
        match v.validate("t", &mut args(a), UnknownArguments::Reject) {
            Ok(()) => vec![],
            Err(e) => e.violations,
        }
    }

    /// One valid and one invalid value per asserted format.
    const FORMATS: &[(&str, &str, &str)] = &[
        ("uuid", "3fa85f64-5717-4562-b3fc-2c963f66afa6", "not-a-uuid"),
        ("date-time", "2026-01-31T09:30:00Z", "2026-02-30T09:30:00"),
        ("date", "2026-01-31", "31/01/2026"),
        ("time", "09:30:00+01:00", "9:30"),
        ("duration", "PT1H30M", "90 minutes"),
        ("email", "name@example.com", "name.example.com"),
        ("hostname", "api.example.com", "api_example..com"),
        ("ipv4", "192.0.2.10", "192.0.2.300"),
        ("ipv6", "2001:db8::10", "2001:db8:::10"),
        ("uri", "https://example.com/a", "/relative/only"),
        ("uri-reference", "/a/b?c=1", "a b"),
        ("iri", "https://例え.jp/a", "relative"),
        ("uri-template", "/users/{id}", "/users/{id"),
        ("json-pointer", "/a/0", "a/0"),
        ("relative-json-pointer", "1/a", "/a"),
    ];

    #[test]
    fn date_times_and_times_may_leave_the_offset_out() {
        for ok in [
            "2026-01-31T09:30:00",
            "2026-01-31 09:30:00.123",
            "2024-02-29t23:59:60z",
            "2026-01-31T09:30:00-05:30",
        ] {
            assert!(is_date_time(ok), "{ok}");
        }
        for bad in [
            "2026-01-31",
            "2025-02-29T09:30:00",
            "2026-13-01T09:30:00",
            "2026-01-31T24:00:00",
            "2026-01-31T09:30",
            "2026-01-31T09:30:00+5",
            "2026-01-31T09:30:00.",
            "2026-01-31T09:30:00 Z",
        ] {
            assert!(!is_date_time(bad), "{bad}");
        }
        assert!(is_time("09:30:00") && is_time("09:30:00.5+01:00") && !is_time("9:30"));
    }

    #[test]
    fn formats_with_one_meaning_are_asserted_with_an_example() {
        for (format, good, bad) in FORMATS {
            let schema = json!({"type": "object", "properties": {"v": {"type": "string", "format": format}}});
            assert_eq!(
                violations(schema.clone(), json!({"v": good})),
                vec![],
                "{format}: {good}"
            );
            let found = violations(schema, json!({"v": bad}));
            assert_eq!(found.len(), 1, "{format}: {bad} accepted");
            assert_eq!(found[0].path, "/v");
            assert!(
                found[0]
                    .message
                    .contains(&format!("is not a \"{format}\" (expected ")),
                "{}",
                found[0].message
            );
        }
    }

    #[test]
    fn unknown_and_dialect_dependent_formats_are_not_asserted() {
        for format in ["int64", "byte", "password", "binary", "regex", "x-custom"] {
            let schema = json!({"type": "object", "properties": {"v": {"type": "string", "format": format}}});
            assert_eq!(violations(schema, json!({"v": "(?<n"})), vec![], "{format}");
        }
    }

    #[test]
    fn a_nullable_value_reports_the_violation_of_its_type_branch() {
        // FastAPI's `Optional[UUID]`.
        let schema = json!({"type": "object", "properties": {"id": {"anyOf": [
            {"type": "string", "format": "uuid"}, {"type": "null"}]}}});
        assert_eq!(violations(schema.clone(), json!({"id": null})), vec![]);
        let found = violations(schema.clone(), json!({"id": "x"}));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].path, "/id");
        assert!(
            found[0].message.starts_with("\"x\" is not a \"uuid\""),
            "{}",
            found[0].message
        );
        // No branch takes the type: the anyOf itself is reported.
        let found = violations(schema, json!({"id": 3}));
        assert_eq!(found.len(), 1);
        assert!(found[0].message.contains("anyOf"), "{}", found[0].message);
    }

    #[test]
    fn schemas_that_do_not_compile_are_listed_for_a_startup_warning() {
        let good = json!({"type": "object"});
        let bad = json!({"type": "object", "properties": {"a": {"$ref": "https://example.invalid/s.json"}}});
        let (good, bad) = (good.as_object().unwrap(), bad.as_object().unwrap());
        let problems = check_input_schemas([("ok", good), ("broken", bad), ("ok2", good)]);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].tool, "broken");
        let text = problems[0].to_string();
        assert!(
            text.starts_with("the input schema of tool `broken` does not compile ("),
            "{text}"
        );
        assert!(
            text.ends_with("checked for unknown names only, not against the schema"),
            "{text}"
        );
    }
}
