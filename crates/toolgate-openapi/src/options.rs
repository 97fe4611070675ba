//! Compile options: naming, selection, route maps and per-operation overrides.
//!
//! These types are also the `openapi` part of toolgate's YAML configuration, so they derive
//! `Deserialize` with `deny_unknown_fields` and `JsonSchema`; their `///` docs are the user
//! reference.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ir::HttpMethod;

/// How one spec is compiled into MCP components.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CompileOptions {
    /// Prefix for every component name of this source (`<namespace>_<name>`). Counted in the
    /// name length cap.
    pub namespace: Option<String>,
    /// Maximum length of an MCP name, namespace and dedupe suffix included.
    pub max_name_length: usize,
    /// Maximum length of a tool description in characters; longer ones are cut at a word
    /// boundary and end with `…`. `0` keeps descriptions whole.
    pub max_description_length: usize,
    /// Explicit names by `operationId` (take precedence over `x-mcp-name` and derived names).
    pub names: BTreeMap<String, String>,
    /// Only operations with these operationIds are served (empty = all).
    pub include_operations: Vec<String>,
    /// Operations with these operationIds are never served.
    pub exclude_operations: Vec<String>,
    /// Serve the login operation of an OAuth2 password flow (the operation at the spec's
    /// `tokenUrl`, e.g. FastAPI's `POST /token`) as a tool. Off by default: a model should not
    /// handle passwords, and toolgate logs in itself (`backend.auth` of type
    /// `oauth2_password`). Listing its operationId in `include_operations` serves it too.
    pub include_login_operation: bool,
    /// Only operations carrying at least one of these tags are served (empty = all).
    pub include_tags: Vec<String>,
    /// Operations carrying any of these tags are never served.
    pub exclude_tags: Vec<String>,
    /// Ordered route maps; the first that matches an operation decides what it becomes.
    /// Operations no map matches become tools.
    pub route_maps: Vec<RouteMap>,
    /// Per-operation overrides, keyed by operationId (or by `METHOD /path` when the operation
    /// has none).
    pub overrides: BTreeMap<String, OperationOverride>,
    /// URI scheme of resources and resource templates (`<scheme>://<source>/<path>`).
    pub resource_scheme: String,
    /// Key under which a non-object JSON result is wrapped so `structuredContent` is an object.
    pub output_wrap_key: String,
    /// Allow `$ref`s to http(s) URLs. Off by default: a spec must not make the gateway fetch
    /// arbitrary URLs (SSRF).
    pub allow_remote_refs: bool,
    /// Most bytes (compact JSON) of `$defs` one tool's `outputSchema` carries; definitions
    /// farther from the response than that are replaced by their `type` alone, so the schema
    /// stays valid for every real response but describes nested objects less precisely. Input
    /// schemas are never trimmed this way. Keeps `tools/list` small for large APIs (output
    /// schemas were 78 % of GitHub's). `0` = no cap.
    pub max_output_schema_defs_bytes: usize,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            namespace: None,
            max_name_length: 64,
            max_description_length: 1024,
            names: BTreeMap::new(),
            include_operations: Vec::new(),
            exclude_operations: Vec::new(),
            include_login_operation: false,
            include_tags: Vec::new(),
            exclude_tags: Vec::new(),
            route_maps: Vec::new(),
            overrides: BTreeMap::new(),
            resource_scheme: "api".to_owned(),
            output_wrap_key: "result".to_owned(),
            allow_remote_refs: false,
            max_output_schema_defs_bytes: 4096,
        }
    }
}

/// Maps matching operations to a kind of MCP component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteMap {
    /// HTTP methods this map applies to (empty = any).
    #[serde(default)]
    pub methods: Vec<HttpMethod>,
    /// Regular expression the path template must match (e.g. `^/admin/`). Absent = any.
    #[serde(default)]
    pub path: Option<String>,
    /// Tags the operation must all carry (empty = any).
    #[serde(default)]
    pub tags: Vec<String>,
    /// What matching operations become.
    pub to: RouteTarget,
}

/// What a route map turns an operation into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RouteTarget {
    /// An MCP tool.
    Tool,
    /// An MCP resource (GET without required arguments) or resource template (GET with path
    /// parameters); other operations fall back to tools with a warning.
    Resource,
    /// Not served at all.
    Exclude,
}

/// Overrides for one operation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct OperationOverride {
    /// MCP name.
    pub name: Option<String>,
    /// Display title.
    pub title: Option<String>,
    /// Tool description.
    pub description: Option<String>,
    /// Do not serve this operation.
    pub hidden: bool,
    /// Override `readOnlyHint`.
    pub read_only: Option<bool>,
    /// Override `destructiveHint`.
    pub destructive: Option<bool>,
    /// Override `idempotentHint`.
    pub idempotent: Option<bool>,
    /// Override `openWorldHint`.
    pub open_world: Option<bool>,
}
