//! Meta-tool mode: how a catalog's tools are shown to clients when there are too many to
//! list. Instead of every tool, `tools/list` shows three meta-tools — `search_tools`,
//! `describe_tool`, `call_tool` — and the tools listed directly (the pinned ones, and those of
//! sources in `full` mode).
//!
//! This module owns the vocabulary and the per-catalog decision: the settings
//! ([`ToolView`], [`ToolMode`]), which tools a catalog lists directly ([`MetaState`],
//! computed once when the catalog is built), the meta-tools' definitions, and the one
//! rewrite that makes `call_tool` an ordinary call: [`unwrap_call`], run by the pipeline's
//! Resolve step (the outermost layer, on every transport and path), turns
//! `call_tool {name, arguments}` into `tools/call name(arguments)` before any policy runs, so
//! validation, authorization, rate limits, logs and metrics see the real tool.
//!
//! Does not own: answering `search_tools`, `describe_tool` and the listing (they depend on
//! what the caller may see: `toolgate-policy`'s `meta` layer), or ranking (`toolgate-search`).

use std::sync::Arc;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::catalog::ToolEntry;
use crate::pipeline::McpRequest;

/// The name of the meta-tool that searches the catalog.
pub const SEARCH_TOOLS: &str = "search_tools";
/// The name of the meta-tool that returns full tool definitions.
pub const DESCRIBE_TOOL: &str = "describe_tool";
/// The name of the meta-tool that calls a catalog tool.
pub const CALL_TOOL: &str = "call_tool";

/// How a server (or a source) lists its tools.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ToolMode {
    /// Every tool in `tools/list`.
    #[default]
    Full,
    /// `search_tools`, `describe_tool` and `call_tool` (plus pinned tools) instead.
    Meta,
    /// `meta` when there are more tools than `meta_tools.auto_threshold`, else `full`.
    Auto,
}

/// The settings deciding what a catalog lists directly.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolView {
    /// The mode of every source without its own.
    pub mode: ToolMode,
    /// Above this many tools, `auto` means `meta` (counted over the catalog for the server's
    /// mode, over the source for a source's own `auto`).
    pub auto_threshold: usize,
    /// Names or globs of tools always listed directly.
    pub pinned: Vec<String>,
    /// Sources with a mode of their own, by name.
    pub sources: Vec<(String, ToolMode)>,
}

impl ToolView {
    /// Whether this view can ever hide a tool behind the meta-tools.
    pub fn may_use_meta(&self) -> bool {
        self.mode != ToolMode::Full || self.sources.iter().any(|(_, m)| *m != ToolMode::Full)
    }

    /// What a catalog with `tools` lists directly, or `None` when it lists everything.
    pub fn state(&self, tools: &[ToolEntry]) -> Option<MetaState> {
        if !self.may_use_meta() {
            return None;
        }
        let pinned =
            (!self.pinned.is_empty()).then(|| crate::curation::Filter::new(&self.pinned, &[]));
        let resolve = |mode: ToolMode, count: usize| match mode {
            ToolMode::Full => false,
            ToolMode::Meta => true,
            ToolMode::Auto => count > self.auto_threshold,
        };
        let server_meta = resolve(self.mode, tools.len());
        let mut per_source: Vec<(&str, bool)> = Vec::new();
        for (name, mode) in &self.sources {
            let count = tools.iter().filter(|t| &*t.source == name).count();
            per_source.push((name, resolve(*mode, count)));
        }
        let behind_meta = |t: &ToolEntry| {
            per_source
                .iter()
                .find(|(s, _)| *s == &*t.source)
                .map_or(server_meta, |(_, m)| *m)
        };
        let mut direct = Vec::new();
        let mut hidden = 0usize;
        for (i, t) in tools.iter().enumerate() {
            let is_pinned = pinned.as_ref().is_some_and(|f| f.admits(&t.tool.name));
            if is_pinned || !behind_meta(t) {
                direct.push(i);
            } else {
                hidden += 1;
            }
        }
        (hidden > 0).then(|| MetaState {
            direct,
            definitions: definitions(),
        })
    }
}

/// What one catalog lists in meta-tool mode (present only when some tool is behind the
/// meta-tools).
#[derive(Debug, Clone)]
pub struct MetaState {
    /// Positions in the catalog's tools listed directly, in catalog order.
    pub direct: Vec<usize>,
    /// The meta-tools' definitions, listed first.
    pub definitions: Arc<[Tool]>,
}

/// A meta-tool a call addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaTool {
    /// `search_tools`.
    Search,
    /// `describe_tool`.
    Describe,
    /// A `call_tool` whose arguments did not name a tool to call (answered with what is
    /// wrong; a well-formed one becomes a call of the tool it names).
    Call,
}

impl MetaTool {
    /// The meta-tool called `name`, if any.
    pub fn named(name: &str) -> Option<MetaTool> {
        match name {
            SEARCH_TOOLS => Some(MetaTool::Search),
            DESCRIBE_TOOL => Some(MetaTool::Describe),
            CALL_TOOL => Some(MetaTool::Call),
            _ => None,
        }
    }

    /// Its name (a bounded metric label).
    pub fn name(self) -> &'static str {
        match self {
            MetaTool::Search => SEARCH_TOOLS,
            MetaTool::Describe => DESCRIBE_TOOL,
            MetaTool::Call => CALL_TOOL,
        }
    }
}

/// Turns a well-formed `call_tool {name, arguments}` into a call of the named tool; leaves
/// any other request, and a malformed `call_tool`, as it is (the latter then resolves to
/// [`MetaTool::Call`] and is answered with what is wrong). Returns whether it rewrote.
pub fn unwrap_call(request: &mut McpRequest) -> bool {
    let McpRequest::CallTool { name, arguments } = request else {
        return false;
    };
    if name != CALL_TOOL || call_problem(arguments).is_some() {
        return false;
    }
    let mut arguments = std::mem::take(arguments);
    let Some(Value::String(inner)) = arguments.remove("name") else {
        return false;
    };
    let inner_arguments = match arguments.remove("arguments") {
        Some(Value::Object(a)) => a,
        _ => JsonObject::new(),
    };
    *request = McpRequest::CallTool {
        name: inner,
        arguments: inner_arguments,
    };
    true
}

/// What is wrong with `call_tool`'s arguments, if anything.
pub fn call_problem(arguments: &JsonObject) -> Option<String> {
    match arguments.get("name") {
        Some(Value::String(n)) if n == CALL_TOOL => {
            return Some(
                "`name` must be a tool of the catalog; `call_tool` cannot call itself".to_owned(),
            );
        }
        Some(Value::String(n)) if !n.is_empty() => {}
        Some(_) => {
            return Some(
                "`name` must be a non-empty string: the tool to call (as returned by search_tools)"
                    .to_owned(),
            );
        }
        None => {
            return Some(
                "`name` is required: the tool to call (as returned by search_tools)".to_owned(),
            );
        }
    }
    match arguments.get("arguments") {
        None | Some(Value::Null) | Some(Value::Object(_)) => {}
        Some(_) => {
            return Some(
                "`arguments` must be an object: the tool's arguments, as its inputSchema (describe_tool) says"
                    .to_owned(),
            );
        }
    }
    arguments
        .keys()
        .find(|k| *k != "name" && *k != "arguments")
        .map(|k| {
            format!(
                "unknown argument `{k}`: call_tool takes `name` and `arguments` (put the tool's own arguments inside `arguments`)"
            )
        })
}

fn schema(value: Value) -> Arc<JsonObject> {
    match value {
        Value::Object(o) => Arc::new(o),
        _ => Arc::new(JsonObject::new()),
    }
}

/// The three meta-tools' definitions (kept short: they are what every client reads on every
/// turn instead of the catalog).
pub fn definitions() -> Arc<[Tool]> {
    let search = Tool::new(
        SEARCH_TOOLS,
        "Find the tools for a task among this server's tools. Returns the best matches: name, summary, and why each matched. Then describe_tool, then call_tool.",
        schema(json!({
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "What you want to do, in words"},
                "limit": {"type": "integer", "minimum": 1, "maximum": 50, "default": 10}
            },
            "required": ["query"]
        })),
    )
    .with_annotations(ToolAnnotations::new().read_only(true).open_world(false));
    let describe = Tool::new(
        DESCRIBE_TOOL,
        "Full definitions (input and output schemas, annotations) of tools found by search_tools.",
        schema(json!({
            "type": "object",
            "properties": {
                "names": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 20}
            },
            "required": ["names"]
        })),
    )
    .with_annotations(ToolAnnotations::new().read_only(true).open_world(false));
    let call = Tool::new(
        CALL_TOOL,
        "Call a tool by name with arguments matching its inputSchema (from describe_tool).",
        schema(json!({
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "arguments": {"type": "object"}
            },
            "required": ["name"]
        })),
    );
    Arc::from(vec![search, describe, call])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(arguments: Value) -> McpRequest {
        McpRequest::CallTool {
            name: CALL_TOOL.to_owned(),
            arguments: arguments.as_object().cloned().unwrap_or_default(),
        }
    }

    #[test]
    fn a_well_formed_call_tool_becomes_a_call_of_the_named_tool() {
        let mut r = call(json!({"name": "repos_get", "arguments": {"owner": "o"}}));
        assert!(unwrap_call(&mut r));
        match r {
            McpRequest::CallTool { name, arguments } => {
                assert_eq!(name, "repos_get");
                assert_eq!(Value::Object(arguments), json!({"owner": "o"}));
            }
            other => panic!("{other:?}"),
        }
        let mut no_args = call(json!({"name": "meta_root"}));
        assert!(unwrap_call(&mut no_args));
    }

    #[test]
    fn a_malformed_call_tool_is_left_alone_with_a_precise_problem() {
        for (args, says) in [
            (json!({}), "`name` is required"),
            (json!({"name": 3}), "non-empty string"),
            (json!({"name": "x", "arguments": [1]}), "must be an object"),
            (
                json!({"name": "x", "owner": "o"}),
                "unknown argument `owner`",
            ),
            (json!({"name": "call_tool"}), "cannot call itself"),
        ] {
            let mut r = call(args.clone());
            assert!(!unwrap_call(&mut r), "{args}");
            let problem = call_problem(args.as_object().unwrap()).unwrap();
            assert!(problem.contains(says), "{problem}");
        }
        let mut other = McpRequest::CallTool {
            name: "repos_get".into(),
            arguments: JsonObject::new(),
        };
        assert!(!unwrap_call(&mut other));
    }

    #[test]
    fn the_meta_tool_listing_stays_small() {
        let bytes = serde_json::to_vec(&*definitions()).unwrap().len();
        assert!(bytes < 1500, "{bytes} bytes");
    }
}
