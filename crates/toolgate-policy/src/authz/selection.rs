//! What a virtual server (an entry of `endpoints:`) serves of the catalog: its `select` and
//! `exclude` sections, in the vocabulary of the authorization rules (`tools`, `resources`,
//! `prompts` selectors with the same names, globs, tags, sources, methods and annotations),
//! compiled by the same code, so one selector means the same thing in both places.
//!
//! The compiled [`Selection`] is a `toolgate_core::endpoint::Selector`: the endpoint's view
//! (`toolgate-core`) applies it once per catalog version. Does not own: who may use the
//! endpoint (checked at the transport) or routing.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use toolgate_core::{PromptEntry, ToolEntry};

use super::config::{PromptSelector, ResourceSelector, ToolSelector};
use super::rules::{NamedMatch, RuleError, ToolMatch};

/// Tools, resources and prompts chosen by selectors. A kind without a selector is not
/// chosen; `{}` chooses all of a kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct EndpointSelect {
    /// The tools chosen (as in an authorization rule: `names`, `tags`, `sources`,
    /// `methods`, `read_only`, `destructive`; every criterion given must hold).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tools: Option<ToolSelector>,
    /// The resources and resource templates chosen (`uris`, `sources`). A source's dynamic
    /// resources (an upstream's URI prefix) are chosen when the prefix itself matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceSelector>,
    /// The prompts chosen (`names`, `sources`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompts: Option<PromptSelector>,
}

#[derive(Debug, Clone)]
struct Compiled {
    tools: Option<ToolMatch>,
    resources: Option<NamedMatch>,
    prompts: Option<NamedMatch>,
}

impl Compiled {
    fn compile(s: &EndpointSelect, path: &str, errors: &mut Vec<RuleError>) -> Self {
        Compiled {
            tools: s
                .tools
                .as_ref()
                .map(|t| ToolMatch::compile(t, &format!("{path}.tools"), errors)),
            resources: s
                .resources
                .as_ref()
                .map(|r| NamedMatch::resources(r, &format!("{path}.resources"), errors)),
            prompts: s
                .prompts
                .as_ref()
                .map(|p| NamedMatch::prompts(p, &format!("{path}.prompts"), errors)),
        }
    }
}

/// An endpoint's compiled `select` (absent: everything) and `exclude` (wins).
#[derive(Debug, Clone)]
pub struct Selection {
    select: Option<Compiled>,
    exclude: Option<Compiled>,
}

impl Selection {
    /// Compiles an endpoint's `select` and `exclude`; `path` is where they sit in the
    /// configuration (`endpoints[0]`). Every problem is reported, each with its path.
    pub fn compile(
        select: Option<&EndpointSelect>,
        exclude: Option<&EndpointSelect>,
        path: &str,
    ) -> Result<Selection, Vec<RuleError>> {
        let mut errors = Vec::new();
        let selection = Selection {
            select: select.map(|s| Compiled::compile(s, &format!("{path}.select"), &mut errors)),
            exclude: exclude.map(|s| Compiled::compile(s, &format!("{path}.exclude"), &mut errors)),
        };
        if errors.is_empty() {
            Ok(selection)
        } else {
            Err(errors)
        }
    }

    fn decide(&self, chosen: impl Fn(&Compiled) -> bool) -> bool {
        self.select.as_ref().is_none_or(&chosen) && !self.exclude.as_ref().is_some_and(&chosen)
    }
}

impl toolgate_core::Selector for Selection {
    fn tool(&self, entry: &ToolEntry) -> bool {
        self.decide(|c| c.tools.as_ref().is_some_and(|m| m.matches(entry)))
    }

    fn resource(&self, uri: &str, source: &str) -> bool {
        self.decide(|c| c.resources.as_ref().is_some_and(|m| m.matches(uri, source)))
    }

    fn prefix(&self, prefix: &str, source: &str) -> bool {
        self.resource(prefix, source)
    }

    fn prompt(&self, entry: &PromptEntry) -> bool {
        self.decide(|c| {
            c.prompts
                .as_ref()
                .is_some_and(|m| m.matches(&entry.prompt.name, &entry.source))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rmcp::model::{JsonObject, Tool, ToolAnnotations};
    use toolgate_core::{Selector as _, ToolMeta};

    use super::*;

    struct Nop;
    impl toolgate_core::ToolHandler for Nop {
        fn call(
            &self,
            _: &toolgate_core::CallContext,
            _: JsonObject,
        ) -> futures::future::BoxFuture<
            'static,
            Result<rmcp::model::CallToolResult, toolgate_core::ToolError>,
        > {
            Box::pin(async { Ok(rmcp::model::CallToolResult::success(vec![])) })
        }
    }

    fn tool(name: &str, source: &str, read_only: bool, tags: &[&str]) -> ToolEntry {
        ToolEntry {
            tool: Tool::new(name.to_owned(), "d", Arc::new(JsonObject::new()))
                .with_annotations(ToolAnnotations::new().read_only(read_only)),
            source: Arc::from(source),
            handler: Arc::new(Nop),
            meta: ToolMeta {
                tags: tags.iter().map(|t| t.to_string()).collect(),
                ..ToolMeta::default()
            },
        }
    }

    fn select(json: serde_json::Value) -> EndpointSelect {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn no_select_serves_everything_and_exclude_wins() {
        let s = Selection::compile(None, None, "endpoints[0]").unwrap();
        assert!(s.tool(&tool("a", "x", false, &[])));
        assert!(s.resource("todo://a", "x"));
        let ex = select(serde_json::json!({"tools": {"names": ["delete_*"]}}));
        let s = Selection::compile(None, Some(&ex), "endpoints[0]").unwrap();
        assert!(s.tool(&tool("list", "x", false, &[])));
        assert!(!s.tool(&tool("delete_todo", "x", false, &[])));
        assert!(s.resource("todo://a", "x"), "exclude names tools only");
    }

    #[test]
    fn select_by_annotation_source_tag_and_glob() {
        let sel = select(serde_json::json!({"tools": {"read_only": true}}));
        let s = Selection::compile(Some(&sel), None, "endpoints[0]").unwrap();
        assert!(s.tool(&tool("list", "x", true, &[])));
        assert!(!s.tool(&tool("create", "x", false, &[])));
        assert!(!s.resource("todo://a", "x"), "a kind without a selector");
        let sel = select(serde_json::json!({
            "tools": {"sources": ["gh"], "tags": ["repos"], "names": ["repos_*"]},
            "prompts": {}
        }));
        let s = Selection::compile(Some(&sel), None, "endpoints[0]").unwrap();
        assert!(s.tool(&tool("repos_get", "gh", false, &["repos"])));
        assert!(!s.tool(&tool("repos_get", "other", false, &["repos"])));
        assert!(!s.tool(&tool("repos_get", "gh", false, &["issues"])));
        assert!(!s.tool(&tool("issues_get", "gh", false, &["repos"])));
    }

    #[test]
    fn a_bad_glob_is_reported_with_its_path() {
        let sel = select(serde_json::json!({"tools": {"names": ["[oops"]}}));
        let errors = Selection::compile(Some(&sel), None, "endpoints[2]").unwrap_err();
        assert_eq!(errors[0].path, "endpoints[2].select.tools.names[0]");
    }
}
