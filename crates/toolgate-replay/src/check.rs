//! Judging one answer: what came back (success, tool error, JSON-RPC error, nothing), and how
//! it differs from what was expected — error vs success, the recorded result's shape
//! (`toolgate_contract::shape`), and the tool's `outputSchema` in a contract snapshot.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use toolgate_bench::client::ErrorKind;
use toolgate_contract::Contract;
use toolgate_contract::shape::{self, Shape};

/// What came back for one call.
#[derive(Debug, Clone)]
pub enum Answer {
    /// A result without `isError`: its output (for later steps) and the structured part.
    Success {
        /// `structuredContent`, else the text parsed as JSON, else the text, else `null`.
        output: Value,
        /// Whether `output` is structured (structuredContent or JSON text): its shape counts.
        structured: bool,
        /// Whether it came as `structuredContent` (the part `outputSchema` describes).
        structured_content: bool,
        /// Retries the gateway made.
        retries: u64,
    },
    /// A result with `isError: true`.
    ToolError {
        /// Its text.
        message: String,
        /// Retries the gateway made.
        retries: u64,
    },
    /// A JSON-RPC error.
    RpcError {
        /// Its code.
        code: i64,
        /// Its message.
        message: String,
    },
    /// No answer (transport failure, timeout, HTTP error, not JSON-RPC).
    Missing {
        /// Why, as a bounded kind (`timeout`, `http_503`, …).
        kind: String,
        /// The detail.
        message: String,
    },
}

impl Answer {
    /// Reads a JSON-RPC response (or why there is none).
    pub fn from_response(response: Result<Value, (ErrorKind, String)>) -> Answer {
        let message = match response {
            Ok(m) => m,
            Err((kind, message)) => {
                return Answer::Missing {
                    kind: kind.to_string(),
                    message,
                };
            }
        };
        if let Some(error) = message.get("error") {
            return Answer::RpcError {
                code: error.get("code").and_then(Value::as_i64).unwrap_or(0),
                message: error
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            };
        }
        let Some(mut result) = message.get("result").cloned() else {
            return Answer::Missing {
                kind: "bad_response".to_owned(),
                message: "a JSON-RPC response with neither result nor error".to_owned(),
            };
        };
        let retries = result
            .pointer("/_meta/toolgate~1attempts")
            .and_then(Value::as_u64)
            .map_or(0, |a| a.saturating_sub(1));
        let text = result
            .get("content")
            .and_then(Value::as_array)
            .and_then(|c| {
                c.iter()
                    .find(|b| b.get("type") == Some(&Value::from("text")))
            })
            .and_then(|b| b.get("text"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        if result.get("isError") == Some(&Value::Bool(true)) {
            return Answer::ToolError {
                message: text.unwrap_or_default(),
                retries,
            };
        }
        if let Some(structured) = result.get_mut("structuredContent").map(Value::take) {
            return Answer::Success {
                output: structured,
                structured: true,
                structured_content: true,
                retries,
            };
        }
        let parsed = text
            .as_deref()
            .filter(|t| t.trim_start().starts_with(['{', '[']))
            .and_then(|t| serde_json::from_str::<Value>(t).ok());
        match (parsed, text) {
            (Some(v), _) => Answer::Success {
                output: v,
                structured: true,
                structured_content: false,
                retries,
            },
            (None, text) => Answer::Success {
                output: text.map_or(Value::Null, Value::String),
                structured: false,
                structured_content: false,
                retries,
            },
        }
    }

    /// Whether it is an error (or nothing).
    pub fn is_error(&self) -> bool {
        !matches!(self, Answer::Success { .. })
    }

    /// Retries the gateway made for it.
    pub fn retries(&self) -> u64 {
        match self {
            Answer::Success { retries, .. } | Answer::ToolError { retries, .. } => *retries,
            Answer::RpcError { .. } | Answer::Missing { .. } => 0,
        }
    }

    /// What it is, in a word (for mismatch reports).
    pub fn kind(&self) -> String {
        match self {
            Answer::Success { .. } => "success".to_owned(),
            Answer::ToolError { .. } => "tool_error".to_owned(),
            Answer::RpcError { code, .. } => format!("jsonrpc_error {code}"),
            Answer::Missing { kind, .. } => kind.clone(),
        }
    }

    fn detail(&self) -> String {
        let cut = |s: &str| s.chars().take(200).collect::<String>();
        match self {
            Answer::Success { .. } => String::new(),
            Answer::ToolError { message, .. } | Answer::RpcError { message, .. } => cut(message),
            Answer::Missing { message, .. } => cut(message),
        }
    }
}

/// Why an answer does not match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MismatchKind {
    /// No answer at all (transport failure, timeout, HTTP error).
    NoAnswer,
    /// An error where success was expected, or the reverse.
    ErrorStatus,
    /// The result's shape differs from the recorded one.
    Shape,
    /// The result does not validate against the tool's `outputSchema` in the contract, or the
    /// tool is not in the contract.
    Contract,
    /// A workflow step's arguments could not be built from earlier results.
    Template,
}

/// One difference found in one answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Why.
    pub kind: MismatchKind,
    /// Where in the result (JSON pointer; empty for the whole answer).
    pub pointer: String,
    /// What was expected.
    pub expected: String,
    /// What came.
    pub actual: String,
    /// More (an error's message, a schema violation).
    pub detail: String,
}

/// What an answer should be.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// `Some(true)`: an error; `Some(false)`: success; `None`: either.
    pub error: Option<bool>,
    /// The recorded result's shape.
    pub shape: Option<&'a Shape>,
}

/// Checks answers; holds the contract's output validators, compiled once per tool.
pub struct Checker {
    contract: Option<HashMap<String, Option<jsonschema::Validator>>>,
}

impl Checker {
    /// A checker; with a contract, successful structured results are validated against
    /// their tool's `outputSchema`. Fails when a schema of the contract does not compile.
    pub fn new(contract: Option<&Contract>) -> Result<Checker, String> {
        let contract = match contract {
            None => None,
            Some(c) => {
                let mut tools = HashMap::new();
                for tool in &c.tools {
                    let validator = match &tool.output_schema {
                        Some(schema) => Some(jsonschema::validator_for(schema).map_err(|e| {
                            format!(
                                "the contract's outputSchema of `{}` does not compile: {e}",
                                tool.name
                            )
                        })?),
                        None => None,
                    };
                    tools.insert(tool.name.clone(), validator);
                }
                Some(tools)
            }
        };
        Ok(Checker { contract })
    }

    /// Every difference between `answer` and `expected` (and the contract) for a call of `tool`.
    pub fn check(&self, tool: &str, expected: Expected<'_>, answer: &Answer) -> Vec<Found> {
        let mut found = Vec::new();
        if let Answer::Missing { kind, message } = answer {
            found.push(Found {
                kind: MismatchKind::NoAnswer,
                pointer: String::new(),
                expected: "an answer".to_owned(),
                actual: kind.clone(),
                detail: message.chars().take(200).collect(),
            });
            return found;
        }
        if let Some(error) = expected.error
            && error != answer.is_error()
        {
            found.push(Found {
                kind: MismatchKind::ErrorStatus,
                pointer: String::new(),
                expected: if error { "error" } else { "success" }.to_owned(),
                actual: answer.kind(),
                detail: answer.detail(),
            });
            return found;
        }
        let Answer::Success {
            output,
            structured,
            structured_content,
            ..
        } = answer
        else {
            return found;
        };
        if let Some(want) = expected.shape {
            if *structured {
                for m in shape::compare(want, &Shape::of(output)) {
                    found.push(Found {
                        kind: MismatchKind::Shape,
                        pointer: m.pointer,
                        expected: m.expected,
                        actual: m.actual,
                        detail: String::new(),
                    });
                }
            } else {
                found.push(Found {
                    kind: MismatchKind::Shape,
                    pointer: String::new(),
                    expected: want.kind().to_owned(),
                    actual: "unstructured".to_owned(),
                    detail: "the result has no structuredContent and its text is not JSON"
                        .to_owned(),
                });
            }
        }
        if let Some(tools) = &self.contract {
            match tools.get(tool) {
                None => found.push(Found {
                    kind: MismatchKind::Contract,
                    pointer: String::new(),
                    expected: "a tool of the contract".to_owned(),
                    actual: "unknown tool".to_owned(),
                    detail: format!("`{tool}` is not in the contract snapshot"),
                }),
                Some(Some(validator)) if *structured_content => {
                    for e in validator.iter_errors(output).take(5) {
                        found.push(Found {
                            kind: MismatchKind::Contract,
                            pointer: e.instance_path().as_str().to_owned(),
                            expected: "valid per outputSchema".to_owned(),
                            actual: "invalid".to_owned(),
                            detail: e.to_string().chars().take(200).collect(),
                        });
                    }
                }
                Some(_) => {}
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ok(structured: Value) -> Answer {
        Answer::from_response(Ok(json!({
            "jsonrpc": "2.0", "id": 1,
            "result": {"content": [{"type": "text", "text": "x"}], "structuredContent": structured,
                       "_meta": {"toolgate/attempts": 3}}
        })))
    }

    #[test]
    fn answers_are_classified() {
        let a = ok(json!({"id": 1}));
        assert!(!a.is_error());
        assert_eq!(a.retries(), 2);
        let text = Answer::from_response(Ok(
            json!({"id": 1, "result": {"content": [{"type": "text", "text": "[1]"}]}}),
        ));
        assert!(matches!(
            text,
            Answer::Success {
                structured: true,
                structured_content: false,
                ..
            }
        ));
        let tool = Answer::from_response(Ok(
            json!({"id": 1, "result": {"content": [{"type": "text", "text": "boom"}], "isError": true}}),
        ));
        assert_eq!(tool.kind(), "tool_error");
        let rpc = Answer::from_response(Ok(
            json!({"id": 1, "error": {"code": -32602, "message": "no"}}),
        ));
        assert_eq!(rpc.kind(), "jsonrpc_error -32602");
        let none = Answer::from_response(Err((ErrorKind::Timeout, "late".to_owned())));
        assert_eq!(none.kind(), "timeout");
    }

    #[test]
    fn checks_status_shape_and_contract() {
        let checker = Checker::new(None).unwrap();
        let recorded = Shape::of(&json!({"id": 1, "title": "t"}));
        let expect = Expected {
            error: Some(false),
            shape: Some(&recorded),
        };
        assert!(
            checker
                .check("t", expect, &ok(json!({"id": 2, "title": "u", "new": 1})))
                .is_empty()
        );
        let found = checker.check("t", expect, &ok(json!({"id": "2"})));
        let kinds: Vec<_> = found.iter().map(|f| (f.kind, f.pointer.as_str())).collect();
        assert_eq!(
            kinds,
            vec![
                (MismatchKind::Shape, "/id"),
                (MismatchKind::Shape, "/title")
            ]
        );
        let rpc = Answer::from_response(Ok(
            json!({"id": 1, "error": {"code": -32602, "message": "unknown tool"}}),
        ));
        let found = checker.check("t", expect, &rpc);
        assert_eq!(found[0].kind, MismatchKind::ErrorStatus);
        assert_eq!(found[0].detail, "unknown tool");
        assert!(
            checker
                .check(
                    "t",
                    Expected {
                        error: None,
                        shape: None
                    },
                    &rpc
                )
                .is_empty()
        );

        let contract: Contract = serde_json::from_value(json!({
            "format": toolgate_contract::FORMAT, "toolgate_version": "0", "hash": "",
            "tools": [{"name": "t", "inputSchema": {"type": "object"},
                       "outputSchema": {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}}}],
            "resources": [], "resource_templates": [], "prompts": []
        }))
        .unwrap();
        let checker = Checker::new(Some(&contract)).unwrap();
        let none = Expected {
            error: Some(false),
            shape: None,
        };
        assert!(checker.check("t", none, &ok(json!({"id": 1}))).is_empty());
        let found = checker.check("t", none, &ok(json!({"id": "x"})));
        assert_eq!(
            (found[0].kind, found[0].pointer.as_str()),
            (MismatchKind::Contract, "/id")
        );
        assert_eq!(
            checker.check("u", none, &ok(json!({})))[0].actual,
            "unknown tool"
        );
    }
}
