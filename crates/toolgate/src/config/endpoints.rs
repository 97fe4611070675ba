//! The `endpoints:` section: virtual servers, each an MCP endpoint of its own (`/mcp/{name}`)
//! serving a selection of the catalog with its own identity, tool mode and access rules
//! (docs/large-apis.md, "Virtual servers"); and its semantic checks, reported with the other
//! configuration problems. Building the views is `crate::endpoints`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use toolgate_core::ToolMode;
use toolgate_policy::authz::EndpointSelect;

use super::{Config, ConfigIssue, SourceConfig};

/// One virtual server: an MCP endpoint serving a selection of the catalog. The catalog is
/// compiled once; each endpoint is a view over it, updated by every reload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// Its name (letters, digits, `-`, `_`): the default path's last segment, the name
    /// `serve --endpoint`, `inspect --endpoint` and `access --endpoint` take.
    pub name: String,
    /// The HTTP path it is served at. Default: `/mcp/{name}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `serverInfo.name` announced at this endpoint. Default: `{server.name}-{name}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// Instructions for the model announced at this endpoint. Default: `server.instructions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// What it serves, with the selectors of authorization rules (`tools`, `resources`,
    /// `prompts`; a kind without a selector is not served, `{}` serves all of a kind).
    /// Absent: everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub select: Option<EndpointSelect>,
    /// What it never serves, whatever `select` chooses (same selectors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude: Option<EndpointSelect>,
    /// How its `tools/list` shows its tools (`full`, `meta`, `auto`), for all of them (the
    /// sources' own `tool_mode` is not applied). Absent: as the main endpoint (`server`
    /// and the sources' modes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_mode: Option<ToolMode>,
    /// Tools listed directly beside the meta-tools at this endpoint (names or globs).
    /// Absent: `server.pinned_tools`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned_tools: Option<Vec<String>>,
    /// Who may use it. The `authorization` rules still apply on top (deny by default).
    #[serde(default)]
    pub auth: EndpointAuth,
}

/// Who may use an endpoint, checked when a request arrives.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct EndpointAuth {
    /// Let callers without a credential in (anonymous) while `auth` is on; a credential that
    /// is presented is still verified. What an anonymous caller may use is then up to the
    /// public `authorization` rules (`principals: {any: true}`).
    pub anonymous: bool,
    /// Scopes a caller must all hold (403 `insufficient_scope` otherwise). Needs `auth`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// Roles of which a caller must hold at least one (403 otherwise). Needs `auth`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
}

impl EndpointConfig {
    /// The path it is served at.
    pub fn path(&self) -> String {
        self.path
            .clone()
            .unwrap_or_else(|| format!("/mcp/{}", self.name))
    }
}

/// Paths of the HTTP app an endpoint may not take (besides the main MCP path).
const RESERVED: &[&str] = &["/healthz", "/readyz", "/metrics", "/admin/reload"];

/// Every problem of `config.endpoints` (the rest of the file is known to be well-formed).
pub(crate) fn check(config: &Config) -> Vec<ConfigIssue> {
    let mut issues = Vec::new();
    let mut push = |location: String, message: String| {
        issues.push(ConfigIssue { location, message });
    };
    let sources: Vec<&str> = config.sources.iter().map(SourceConfig::name).collect();
    let mut names = BTreeMap::new();
    let mut paths: BTreeMap<String, usize> = BTreeMap::new();
    for (i, e) in config.endpoints.iter().enumerate() {
        let at = format!("endpoints[{i}]");
        if e.name.is_empty()
            || !e
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            push(
                format!("{at}.name"),
                format!(
                    "`{}` is not a valid endpoint name: use letters, digits, `-` and `_` (it is a path segment and a command-line argument)",
                    e.name
                ),
            );
        } else if let Some(first) = names.insert(e.name.as_str(), i) {
            push(
                format!("{at}.name"),
                format!(
                    "endpoint name `{}` is already used by endpoints[{first}]; names must be unique",
                    e.name
                ),
            );
        }
        let path = e.path();
        let path_at = if e.path.is_some() {
            format!("{at}.path")
        } else {
            format!("{at}.name")
        };
        let trimmed = path.trim_end_matches('/');
        if !path.starts_with('/') || path.contains(['?', '#', '{', '}', '*', ' ']) {
            push(
                path_at.clone(),
                format!(
                    "`{path}` is not a valid endpoint path: start it with `/`, without a query, `{{…}}` or `*`"
                ),
            );
        } else if trimmed == config.http.path.trim_end_matches('/') {
            push(
                path_at.clone(),
                format!(
                    "`{path}` is the main MCP endpoint's path (`http.path`); give this endpoint its own path"
                ),
            );
        } else if RESERVED.contains(&trimmed) || trimmed.starts_with("/.well-known") {
            push(
                path_at.clone(),
                format!(
                    "`{path}` is served by toolgate itself (/healthz, /readyz, /metrics, /admin/reload, /.well-known/…); choose another path"
                ),
            );
        } else if let Some(first) = paths.insert(trimmed.to_owned(), i) {
            push(
                path_at.clone(),
                format!(
                    "`{path}` is already the path of endpoints[{first}]; each endpoint needs its own path"
                ),
            );
        }
        for (kind, select) in [("select", &e.select), ("exclude", &e.exclude)] {
            let Some(select) = select else { continue };
            let named = [
                ("tools", select.tools.as_ref().map(|t| &t.sources)),
                ("resources", select.resources.as_ref().map(|r| &r.sources)),
                ("prompts", select.prompts.as_ref().map(|p| &p.sources)),
            ];
            for (what, listed) in named {
                for (j, s) in listed.into_iter().flatten().enumerate() {
                    if !sources.contains(&s.as_str()) {
                        push(
                            format!("{at}.{kind}.{what}.sources[{j}]"),
                            format!(
                                "no source is named `{s}`; configured sources: {}",
                                list(&sources)
                            ),
                        );
                    }
                }
            }
        }
        if let Err(errors) =
            toolgate_policy::authz::Selection::compile(e.select.as_ref(), e.exclude.as_ref(), &at)
        {
            for error in errors {
                push(error.path, error.message);
            }
        }
        if let Some(pinned) = &e.pinned_tools {
            for (location, message) in
                toolgate_core::curation::glob_problems(&at, "pinned_tools", pinned, &[])
            {
                push(
                    location.replace(".pinned_tools.allow", ".pinned_tools"),
                    message,
                );
            }
        }
        if config.auth.is_none() {
            if !e.auth.scopes.is_empty() || !e.auth.roles.is_empty() {
                push(
                    format!("{at}.auth"),
                    "requiring scopes or roles needs authentication: add an `auth` section \
                     (docs/auth.md), or remove them"
                        .to_owned(),
                );
            }
            if e.auth.anonymous {
                push(
                    format!("{at}.auth.anonymous"),
                    "without an `auth` section every caller is anonymous already; remove it"
                        .to_owned(),
                );
            }
        } else if e.auth.anonymous && (!e.auth.scopes.is_empty() || !e.auth.roles.is_empty()) {
            push(
                format!("{at}.auth.anonymous"),
                "an endpoint open to anonymous callers cannot also require scopes or roles; \
                 choose one"
                    .to_owned(),
            );
        }
    }
    issues
}

fn list(names: &[&str]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    fn problems(yaml: &str) -> Vec<String> {
        match crate::config::load(yaml, "test.yaml", &BTreeMap::new()) {
            Ok(_) => Vec::new(),
            Err(e) => e
                .issues
                .into_iter()
                .map(|i| format!("{}: {}", i.location, i.message))
                .collect(),
        }
    }

    const SOURCES: &str = "sources:\n  - name: todo\n    spec: todo.json\n";

    #[test]
    fn a_well_formed_section_passes() {
        let yaml = format!(
            "{SOURCES}endpoints:\n  - name: readonly\n    select: {{tools: {{read_only: true}}}}\n  - name: admin\n    path: /admin-mcp\n    tool_mode: meta\n"
        );
        assert_eq!(problems(&yaml), Vec::<String>::new());
    }

    #[test]
    fn an_mcp_source_has_a_tool_mode_of_its_own() {
        let yaml = "sources:\n  - name: gh\n    kind: mcp\n    transport: {type: stdio, command: x}\n    tool_mode: meta\n";
        let config = crate::config::load(yaml, "test.yaml", &BTreeMap::new()).unwrap();
        let view = config.tool_view().expect("a view");
        assert_eq!(
            view.sources,
            [("gh".to_owned(), toolgate_core::ToolMode::Meta)]
        );
    }

    #[test]
    fn every_endpoint_problem_is_reported_with_its_place() {
        let yaml = format!(
            "{SOURCES}endpoints:
  - name: a
  - name: a
    path: /mcp/b
  - name: b
  - name: c
    path: /mcp
  - name: d
    path: /metrics
  - name: 'e f'
  - name: g
    select: {{tools: {{sources: [nope], names: ['[x']}}}}
    auth: {{roles: [admin]}}
"
        );
        let p = problems(&yaml);
        let has = |at: &str, says: &str| {
            assert!(
                p.iter().any(|l| l.starts_with(at) && l.contains(says)),
                "no `{at}` … `{says}` in {p:#?}"
            )
        };
        has("endpoints[1].name", "already used by endpoints[0]");
        has("endpoints[2].name", "already the path of endpoints[1]");
        has("endpoints[3].path", "main MCP endpoint");
        has("endpoints[4].path", "served by toolgate itself");
        has("endpoints[5].name", "not a valid endpoint name");
        has(
            "endpoints[6].select.tools.sources[0]",
            "no source is named `nope`; configured sources: `todo`",
        );
        has("endpoints[6].select.tools.names[0]", "not a valid glob");
        has("endpoints[6].auth", "needs authentication");
    }
}
