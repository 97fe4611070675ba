//! What a replay runs: a recording (JSON Lines written by `toolgate serve`'s `recording`) or
//! a workflow file (YAML: steps chaining tool calls), loaded and checked up front so a bad
//! file fails before any call is made, with every problem and its line or step.

use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};
use toolgate_contract::shape::Shape;

use crate::ReplayError;
use crate::template::Template;

/// One recorded call, as `toolgate serve` wrote it (fields replay does not need are ignored).
#[derive(Debug, Clone, Deserialize)]
pub struct RecordedCall {
    /// The tool called.
    pub tool: String,
    /// Its arguments (redacted ones hold `"[redacted]"` and are sent as such).
    #[serde(default)]
    pub arguments: Map<String, Value>,
    /// Whether the answer was an error.
    #[serde(default)]
    pub is_error: bool,
    /// The shape of the successful result (absent for errors and unstructured results).
    #[serde(default)]
    pub shape: Option<Shape>,
    /// The correlation id of the recorded call.
    #[serde(default)]
    pub correlation_id: Option<String>,
    /// The line it was read from (1-based).
    #[serde(skip)]
    pub line: usize,
}

/// What a workflow step expects of its answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    /// A successful result (the default).
    #[default]
    Success,
    /// An error (`isError: true` or a JSON-RPC error).
    Error,
    /// Either.
    Any,
}

/// A workflow file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowFile {
    /// What the workflow does (shown in reports).
    #[serde(default)]
    pub name: Option<String>,
    /// The steps, run in order on one connection; each may use the results of earlier ones.
    pub steps: Vec<StepFile>,
}

/// A step as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepFile {
    /// The step's name, for references (`${id/pointer}`); default `step<N>` (1-based).
    #[serde(default)]
    pub id: Option<String>,
    /// The tool to call.
    pub tool: String,
    /// Arguments: JSON values where strings may hold `${...}` references.
    #[serde(default)]
    pub arguments: Map<String, Value>,
    /// What the answer should be.
    #[serde(default)]
    pub expect: Expect,
}

/// A compiled workflow step.
#[derive(Debug, Clone)]
pub struct Step {
    /// Its name.
    pub id: String,
    /// The tool.
    pub tool: String,
    /// The arguments' template.
    pub arguments: Template,
    /// What the answer should be.
    pub expect: Expect,
}

/// A compiled workflow.
#[derive(Debug, Clone)]
pub struct Workflow {
    /// Its name.
    pub name: Option<String>,
    /// Its steps.
    pub steps: Vec<Step>,
}

/// What a replay runs.
#[derive(Debug, Clone)]
pub enum Input {
    /// Recorded calls, replayed in order (and concurrently across workers).
    Recording(Vec<RecordedCall>),
    /// A workflow, run as whole iterations.
    Workflow(Workflow),
}

impl Input {
    /// Loads `path`: a workflow if it ends in `.yaml`/`.yml` or its content is not JSON
    /// Lines, else a recording.
    pub fn load(path: &Path) -> Result<Input, ReplayError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ReplayError::Input(format!("cannot read {}: {e}", path.display())))?;
        let yaml = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
        let origin = path.display().to_string();
        if yaml || !text.trim_start().starts_with('{') {
            Workflow::parse(&text, &origin).map(Input::Workflow)
        } else {
            parse_recording(&text, &origin).map(Input::Recording)
        }
    }

    /// Calls in one pass (recorded calls, or workflow steps).
    pub fn calls_per_pass(&self) -> usize {
        match self {
            Input::Recording(calls) => calls.len(),
            Input::Workflow(w) => w.steps.len(),
        }
    }
}

/// A value given on the command line for an argument of recorded calls (`--set`), typically
/// one the recording redacted.
#[derive(Debug, Clone, PartialEq)]
pub struct ArgumentValue {
    /// The tool whose calls get it.
    pub tool: String,
    /// The argument's JSON pointer tokens (`*` for every item or field).
    pub pointer: Vec<String>,
    /// The value.
    pub value: Value,
}

impl ArgumentValue {
    /// Parses `TOOL/POINTER=VALUE` (`create_user/email=a@example.com`); the value is JSON when
    /// it parses as JSON, else a string.
    pub fn parse(text: &str) -> Result<ArgumentValue, String> {
        let usage = || {
            format!(
                "`{text}`: expected TOOL/POINTER=VALUE, e.g. create_user/email=replay@example.com"
            )
        };
        let (target, value) = text.split_once('=').ok_or_else(usage)?;
        let (tool, pointer) = target.split_once('/').ok_or_else(usage)?;
        let pointer = toolgate_contract::shape::pointer_tokens(&format!("/{pointer}"))
            .filter(|p| !tool.is_empty() && !p.iter().all(String::is_empty))
            .ok_or_else(usage)?;
        Ok(ArgumentValue {
            tool: tool.to_owned(),
            pointer,
            value: serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned())),
        })
    }
}

impl Input {
    /// Puts `set`'s value into the arguments of every recorded call of its tool that has the
    /// argument; returns how many calls got it (workflows are not changed).
    pub fn set_argument(&mut self, set: &ArgumentValue) -> usize {
        let Input::Recording(calls) = self else {
            return 0;
        };
        let mut changed = 0;
        for call in calls.iter_mut().filter(|c| c.tool == set.tool) {
            let mut arguments = Value::Object(std::mem::take(&mut call.arguments));
            if toolgate_contract::shape::redact_value(&mut arguments, &set.pointer, &set.value) {
                changed += 1;
            }
            if let Value::Object(map) = arguments {
                call.arguments = map;
            }
        }
        changed
    }
}

/// Parses a recording; every bad line is reported.
pub fn parse_recording(text: &str, origin: &str) -> Result<Vec<RecordedCall>, ReplayError> {
    let mut calls = Vec::new();
    let mut problems = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<RecordedCall>(line) {
            Ok(mut call) => {
                call.line = n + 1;
                calls.push(call);
            }
            Err(e) => problems.push(format!(
                "{origin}:{}: not a recorded call ({{\"tool\": ..., \"arguments\": {{...}}, ...}}): {e}",
                n + 1
            )),
        }
        if problems.len() >= 20 {
            problems.push("(stopped after 20 problems)".to_owned());
            break;
        }
    }
    if !problems.is_empty() {
        return Err(ReplayError::Input(problems.join("\n")));
    }
    if calls.is_empty() {
        return Err(ReplayError::Input(format!(
            "{origin}: the recording has no calls (is `recording` on in the configuration, and were tools called?)"
        )));
    }
    Ok(calls)
}

impl Workflow {
    /// Parses and checks a workflow: step ids unique, every reference to an earlier step.
    pub fn parse(text: &str, origin: &str) -> Result<Workflow, ReplayError> {
        let file: WorkflowFile = serde_norway::from_str(text)
            .map_err(|e| ReplayError::Input(format!("{origin}: not a workflow file: {e}")))?;
        if file.steps.is_empty() {
            return Err(ReplayError::Input(format!(
                "{origin}: the workflow has no steps (`steps: [{{tool: ..., arguments: {{...}}}}]`)"
            )));
        }
        let mut problems = Vec::new();
        let mut steps: Vec<Step> = Vec::new();
        let mut ids: Vec<String> = Vec::new();
        for (i, step) in file.steps.into_iter().enumerate() {
            let id = step.id.clone().unwrap_or_else(|| format!("step{}", i + 1));
            if ids.contains(&id) {
                problems.push(format!("{origin}: steps[{i}]: the id `{id}` is used twice"));
            }
            let earlier: Vec<&str> = ids.iter().map(String::as_str).collect();
            let compiled = Template::compile(&Value::Object(step.arguments), &earlier);
            ids.push(id.clone());
            match compiled {
                Ok(arguments) => steps.push(Step {
                    id,
                    tool: step.tool,
                    arguments,
                    expect: step.expect,
                }),
                Err(errors) => {
                    for e in errors {
                        problems.push(format!("{origin}: steps[{i}] ({id}): {e}"));
                    }
                }
            }
        }
        if !problems.is_empty() {
            return Err(ReplayError::Input(problems.join("\n")));
        }
        Ok(Workflow {
            name: file.name,
            steps,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recordings_report_their_bad_lines() {
        let err = parse_recording("{\"tool\":\"a\"}\n\n{\"tol\":1}\nnope\n", "rec.jsonl")
            .unwrap_err()
            .to_string();
        assert!(err.contains("rec.jsonl:3"), "{err}");
        assert!(err.contains("rec.jsonl:4"), "{err}");
        let calls = parse_recording(
            "{\"v\":1,\"tool\":\"a\",\"arguments\":{\"x\":1},\"is_error\":false,\"shape\":\"string\",\"extra\":1}\n",
            "r",
        )
        .unwrap();
        assert_eq!(calls[0].line, 1);
        assert_eq!(calls[0].shape, Some(Shape::String));
        assert!(parse_recording("\n", "r").is_err());
    }

    #[test]
    fn workflows_check_references_and_ids() {
        let ok = Workflow::parse(
            "name: w\nsteps:\n  - id: a\n    tool: t\n  - tool: u\n    arguments: {x: '${a/id}'}\n    expect: any\n",
            "w.yaml",
        )
        .unwrap();
        assert_eq!(ok.steps[1].id, "step2");
        assert_eq!(ok.steps[1].expect, Expect::Any);
        let err = Workflow::parse(
            "steps:\n  - id: a\n    tool: t\n    arguments: {x: '${b/id}'}\n  - id: a\n    tool: t\n",
            "w.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("`b`"), "{err}");
        assert!(err.contains("used twice"), "{err}");
        assert!(Workflow::parse("steps: []", "w").is_err());
        assert!(Workflow::parse("steps:\n  - tool: t\n    argz: {}\n", "w").is_err());
    }

    #[test]
    fn argument_values_replace_recorded_ones() {
        let mut input = Input::Recording(
            parse_recording(
                "{\"tool\":\"a\",\"arguments\":{\"email\":\"[redacted]\",\"n\":1}}\n{\"tool\":\"b\",\"arguments\":{}}\n",
                "r",
            )
            .unwrap(),
        );
        let set = ArgumentValue::parse("a/email=x@example.com").unwrap();
        assert_eq!(input.set_argument(&set), 1);
        assert_eq!(
            input.set_argument(&ArgumentValue::parse("a/n=5").unwrap()),
            1
        );
        let Input::Recording(calls) = &input else {
            panic!()
        };
        assert_eq!(calls[0].arguments["email"], "x@example.com");
        assert_eq!(calls[0].arguments["n"], 5);
        assert!(ArgumentValue::parse("a=1").is_err());
        assert!(ArgumentValue::parse("/x=1").is_err());
        assert!(ArgumentValue::parse("a/x").is_err());
    }

    #[test]
    fn the_example_workflows_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/replay");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            match Input::load(&path) {
                Ok(Input::Workflow(w)) => assert!(!w.steps.is_empty()),
                other => panic!("{}: {other:?}", path.display()),
            }
            seen += 1;
        }
        assert!(seen > 0);
    }
}
