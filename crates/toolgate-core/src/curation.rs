//! The curation vocabulary every kind of source shares: which entries are served (allow/deny
//! names and globs), and how tools are presented (aliases, descriptions, hidden fixed or
//! default argument values, annotation hints). These types are part of toolgate's YAML
//! configuration (`deny_unknown_fields`, `JsonSchema`; their `///` docs are the user
//! reference); [`Filter`], [`curate_tool`] and [`HiddenArguments`] apply them. Used by
//! upstream MCP sources (`toolgate-upstream`) and by OpenAPI sources (`tools:`, applied in
//! `toolgate::sources`).

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use globset::{Glob, GlobSet, GlobSetBuilder};
use rmcp::model::{
    ArgumentInfo, CallToolResult, CompleteResult, CompletionContext, JsonObject, ResourceContents,
    Tool,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::context::CallContext;
use crate::error::ToolError;
use crate::handler::ToolHandler;

/// Which entries are served, by name (tools, prompts) or URI (resources).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Selection {
    /// Only entries matching one of these names or globs (`*`, `?`, `[a-z]`) are served;
    /// empty = all. Matched against the server's own names.
    pub allow: Vec<String>,
    /// Entries matching one of these are never served (wins over `allow`).
    pub deny: Vec<String>,
}

/// Which tools are served and how they are presented to clients.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ToolCuration {
    /// Only tools matching one of these names or globs are served; empty = all. Matched
    /// against the server's own names.
    pub allow: Vec<String>,
    /// Tools matching one of these are never served (wins over `allow`).
    pub deny: Vec<String>,
    /// Served names by the server's name, replacing the namespaced name (still sanitized
    /// and capped).
    pub aliases: BTreeMap<String, String>,
    /// Descriptions by the server's name, replacing the server's.
    pub descriptions: BTreeMap<String, String>,
    /// Argument values by the server's tool name. `fixed` values are always sent and hidden
    /// from the model (e.g. a tenant id); `defaults` are sent when the model gives none and
    /// hidden too.
    pub arguments: BTreeMap<String, ArgumentValues>,
    /// Annotation hints by the server's tool name, replacing the server's.
    pub annotations: BTreeMap<String, AnnotationOverride>,
}

/// Hidden argument values of one tool.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ArgumentValues {
    /// Always sent, whatever the model passes; removed from the tool's input schema.
    pub fixed: serde_json::Map<String, serde_json::Value>,
    /// Sent when the model passes nothing for them; removed from the input schema.
    pub defaults: serde_json::Map<String, serde_json::Value>,
}

impl ArgumentValues {
    /// Whether no value is hidden.
    pub fn is_empty(&self) -> bool {
        self.fixed.is_empty() && self.defaults.is_empty()
    }

    /// Every hidden argument's name with its value and kind (`fixed` or `defaults`).
    pub fn entries(&self) -> impl Iterator<Item = (&'static str, &String, &Value)> {
        self.fixed
            .iter()
            .map(|(k, v)| ("fixed", k, v))
            .chain(self.defaults.iter().map(|(k, v)| ("defaults", k, v)))
    }
}

/// The arguments sent: the model's, with the hidden defaults filled in and the fixed values
/// forced (whatever the model passed for them).
pub fn with_hidden(mut arguments: JsonObject, hidden: &ArgumentValues) -> JsonObject {
    for (k, v) in &hidden.defaults {
        arguments.entry(k.clone()).or_insert_with(|| v.clone());
    }
    for (k, v) in &hidden.fixed {
        arguments.insert(k.clone(), v.clone());
    }
    arguments
}

/// A tool with hidden argument values: the handler of any source, called with the model's
/// arguments completed by [`with_hidden`]. The tool's served input schema leaves them out
/// ([`curate_tool`]); the handler validates what it receives against the full one, so a
/// fixed value is checked like any argument.
pub struct HiddenArguments {
    inner: Arc<dyn ToolHandler>,
    hidden: ArgumentValues,
}

impl HiddenArguments {
    /// `inner`, with `hidden` filled in on every call (`inner` itself when nothing is hidden).
    pub fn wrap(inner: Arc<dyn ToolHandler>, hidden: &ArgumentValues) -> Arc<dyn ToolHandler> {
        if hidden.is_empty() {
            return inner;
        }
        Arc::new(HiddenArguments {
            inner,
            hidden: hidden.clone(),
        })
    }
}

impl ToolHandler for HiddenArguments {
    fn call(
        &self,
        ctx: &CallContext,
        arguments: JsonObject,
    ) -> BoxFuture<'static, Result<CallToolResult, ToolError>> {
        self.inner.call(ctx, with_hidden(arguments, &self.hidden))
    }

    fn read(
        &self,
        ctx: &CallContext,
        uri: &str,
        arguments: JsonObject,
    ) -> BoxFuture<'static, Result<Vec<ResourceContents>, ToolError>> {
        self.inner.read(ctx, uri, arguments)
    }

    fn complete(
        &self,
        ctx: &CallContext,
        uri: &str,
        argument: ArgumentInfo,
        context: Option<CompletionContext>,
    ) -> BoxFuture<'static, Result<CompleteResult, ToolError>> {
        self.inner.complete(ctx, uri, argument, context)
    }

    fn subscribe(
        &self,
        ctx: &CallContext,
        uri: &str,
        subscribe: bool,
    ) -> BoxFuture<'static, Result<(), ToolError>> {
        self.inner.subscribe(ctx, uri, subscribe)
    }

    fn interactive(&self) -> bool {
        self.inner.interactive()
    }
}

/// Annotation hints replacing the server's.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AnnotationOverride {
    /// `readOnlyHint`.
    pub read_only: Option<bool>,
    /// `destructiveHint`.
    pub destructive: Option<bool>,
    /// `idempotentHint`.
    pub idempotent: Option<bool>,
    /// `openWorldHint`.
    pub open_world: Option<bool>,
}

/// Allow/deny lists compiled once (invalid globs are left out: `glob_problems` reports them
/// when the configuration is checked).
pub struct Filter {
    allow: Option<GlobSet>,
    deny: GlobSet,
}

impl Filter {
    /// The filter of `allow` (empty: everything) and `deny` (wins).
    pub fn new(allow: &[String], deny: &[String]) -> Filter {
        fn set(patterns: &[String]) -> GlobSet {
            let mut b = GlobSetBuilder::new();
            for p in patterns {
                // Checked when the configuration was loaded.
                if let Ok(g) = Glob::new(p) {
                    b.add(g);
                }
            }
            b.build().unwrap_or_else(|_| GlobSet::empty())
        }
        Filter {
            allow: (!allow.is_empty()).then(|| set(allow)),
            deny: set(deny),
        }
    }

    /// The filter of a selection.
    pub fn of(selection: &Selection) -> Filter {
        Filter::new(&selection.allow, &selection.deny)
    }

    /// Whether `name` is served.
    pub fn admits(&self, name: &str) -> bool {
        self.allow.as_ref().is_none_or(|a| a.is_match(name)) && !self.deny.is_match(name)
    }
}

/// The tool as served: its name, and the curation applied (hidden arguments leave the input
/// schema; descriptions and hints replaced).
pub fn curate_tool(
    tool: &Tool,
    name: String,
    description: Option<&String>,
    hidden: &ArgumentValues,
    annotations: Option<&AnnotationOverride>,
) -> Tool {
    let mut served = tool.clone();
    served.name = name.into();
    if let Some(d) = description {
        served.description = Some(d.clone().into());
    }
    if !hidden.fixed.is_empty() || !hidden.defaults.is_empty() {
        let mut schema = (*served.input_schema).clone();
        let names: Vec<&String> = hidden.fixed.keys().chain(hidden.defaults.keys()).collect();
        if let Some(Value::Object(props)) = schema.get_mut("properties") {
            for n in &names {
                props.remove(n.as_str());
            }
        }
        if let Some(Value::Array(required)) = schema.get_mut("required") {
            required.retain(|r| !r.as_str().is_some_and(|r| names.iter().any(|n| *n == r)));
        }
        served.input_schema = Arc::new(schema);
    }
    if let Some(o) = annotations {
        let mut a = served.annotations.clone().unwrap_or_default();
        if let Some(v) = o.read_only {
            a.read_only_hint = Some(v);
        }
        if let Some(v) = o.destructive {
            a.destructive_hint = Some(v);
        }
        if let Some(v) = o.idempotent {
            a.idempotent_hint = Some(v);
        }
        if let Some(v) = o.open_world {
            a.open_world_hint = Some(v);
        }
        served.annotations = Some(a);
    }
    served
}

/// Invalid globs in `allow`/`deny` of `field`, each with its location under `at`.
pub fn glob_problems(
    at: &str,
    field: &str,
    allow: &[String],
    deny: &[String],
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (kind, patterns) in [("allow", allow), ("deny", deny)] {
        for p in patterns {
            if let Err(e) = Glob::new(p) {
                out.push((
                    format!("{at}.{field}.{kind}"),
                    format!("`{p}` is not a valid glob: {e}"),
                ));
            }
        }
    }
    out
}
