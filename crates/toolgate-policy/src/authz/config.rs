//! The `authorization:` section of the configuration: rules mapping principals to the tools,
//! resources and prompts they may use. These types are the reference (their doc comments
//! become the configuration reference and the JSON Schema); `rules.rs` compiles them.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Who may call and see which tools, resources and prompts.
///
/// Once this section is present or authentication is on, everything is **denied by
/// default**: a caller sees and uses only what some `allow` rule grants it, and a matching
/// `deny` rule wins over every `allow` rule. A rule with `principals: {any: true}` is public
/// (it also applies to callers without a principal).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AuthorizationConfig {
    /// The rules, in any order (the outcome does not depend on it; the first matching allow
    /// rule is the one reported as the reason).
    pub rules: Vec<RuleConfig>,
    /// What a caller without a principal gets while authentication is off (stdio without a
    /// configured principal, HTTP without `auth`): `allow` (the default: everything, as
    /// without this section) or `rules` (only public rules apply to it).
    pub unauthenticated: Unauthenticated,
    /// The caller every stdio request runs as (stdio has no authentication: the MCP
    /// authorization specification leaves identity to the environment). Absent = no
    /// principal.
    pub stdio_principal: Option<ConfiguredPrincipal>,
}

/// What a caller without a principal gets while authentication is off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Unauthenticated {
    /// Everything (today's behaviour without authentication).
    #[default]
    Allow,
    /// Only what public rules (`principals: {any: true}`) grant.
    Rules,
}

/// A principal given by configuration (stdio).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfiguredPrincipal {
    /// The subject logged and audited for its calls.
    pub subject: String,
    /// Its scopes.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Its roles.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// Whether a rule grants or takes away access.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Grants access to what it selects (the default).
    #[default]
    Allow,
    /// Takes access away, whatever allow rules grant.
    Deny,
}

/// One rule: which principals it applies to, and the tools, resources and prompts it
/// selects for them. A rule without `tools`, `resources` or `prompts` selects none of that
/// kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Name shown by `toolgate access`, in the call log and the audit log.
    pub name: String,
    /// `allow` (default) or `deny`.
    #[serde(default)]
    pub effect: Effect,
    /// Which callers the rule applies to.
    pub principals: PrincipalSelector,
    /// The tools it selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<ToolSelector>,
    /// The resources and resource templates it selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceSelector>,
    /// The prompts it selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompts: Option<PromptSelector>,
}

/// Which callers a rule applies to. Every criterion given must hold; give at least one, or
/// `any: true`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PrincipalSelector {
    /// Every caller, including callers without a principal: a public rule.
    pub any: bool,
    /// Scopes the caller must **all** hold.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// Roles of which the caller must hold **at least one**.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Subjects (`sub`) of which the caller must be one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<String>,
    /// Claims the caller's token must carry: a dotted path (`realm_access.roles`, `tenant`)
    /// → the value it must equal, or contain when the claim is an array.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub claims: BTreeMap<String, serde_json::Value>,
}

/// Which tools a rule selects. Every criterion given must hold (each is a list of
/// alternatives); `{}` selects every tool.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ToolSelector {
    /// Tool names or globs (`list_*`, `github_*`; `*` and `?`, `[abc]`, `{a,b}`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// OpenAPI tags of the operation behind the tool.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Names of the sources the tool comes from.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    /// HTTP methods of the OpenAPI operation behind the tool (`GET`, `POST`, …; any case).
    /// Tools of MCP upstreams have none and never match.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    /// Only tools whose `readOnlyHint` annotation is this (absent hint = `false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// Only tools that are (or are not) destructive: `destructiveHint`, which the MCP
    /// specification defaults to `true` for a tool that is not read-only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destructive: Option<bool>,
}

/// Which resources and resource templates a rule selects; `{}` selects all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ResourceSelector {
    /// Resource URIs or URI templates, or globs over them (`todo://tasks/*`). A template is
    /// selected by its URI template; a URI read through a template is allowed when the
    /// template is.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub uris: Vec<String>,
    /// Names of the sources serving them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
}

/// Which prompts a rule selects; `{}` selects all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PromptSelector {
    /// Prompt names or globs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// Names of the sources serving them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
}
