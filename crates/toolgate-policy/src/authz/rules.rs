//! The compiled rules and the one implementation of matching: which rules apply to a caller
//! ([`Policy::grant`]) and whether those rules let it use a tool, resource or prompt
//! ([`Policy::decide`]). The pipeline layer, the visible-set cache and `toolgate access` all
//! call these two functions, so what `access` prints is what the gateway does.
//!
//! Globs are `globset`'s (`*`, `?`, `[…]`, `{a,b}`; `*` also crosses `/`, so `todo://*`
//! selects every URI of that scheme).

use std::sync::Arc;

use globset::{GlobBuilder, GlobMatcher};
use serde_json::Value;
use toolgate_core::{Decision, Principal, PromptEntry, ToolEntry};

use super::config::{
    AuthorizationConfig, Effect, PrincipalSelector, PromptSelector, ResourceSelector, RuleConfig,
    ToolSelector, Unauthenticated,
};

/// A configuration problem of the `authorization` section, with the path of the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct RuleError {
    /// Where, e.g. `authorization.rules[2].tools.names[0]`.
    pub path: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// Name patterns (exact names or globs), kept with their text for diagnostics.
#[derive(Debug, Clone, Default)]
pub struct Patterns(Vec<(String, GlobMatcher)>);

impl Patterns {
    fn compile(texts: &[String], path: &str, errors: &mut Vec<RuleError>) -> Patterns {
        let mut out = Vec::with_capacity(texts.len());
        for (i, text) in texts.iter().enumerate() {
            match GlobBuilder::new(text).literal_separator(false).build() {
                Ok(glob) => out.push((text.clone(), glob.compile_matcher())),
                Err(e) => errors.push(RuleError {
                    path: format!("{path}[{i}]"),
                    message: format!(
                        "`{text}` is not a valid glob ({}); use `*`, `?`, `[abc]` or `{{a,b}}`, \
                         and escape a literal one as `[*]`",
                        e.kind()
                    ),
                }),
            }
        }
        Patterns(out)
    }

    /// Whether there are no patterns (then the criterion does not restrict).
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `name` matches one of the patterns.
    fn matches(&self, name: &str) -> bool {
        self.0.iter().any(|(_, m)| m.is_match(name))
    }

    /// The patterns' texts and matchers (for diagnostics).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &GlobMatcher)> {
        self.0.iter().map(|(t, m)| (t.as_str(), m))
    }
}

/// Which callers a rule applies to.
#[derive(Debug, Clone)]
struct PrincipalMatch {
    any: bool,
    scopes: Vec<String>,
    roles: Vec<String>,
    subjects: Vec<String>,
    claims: Vec<(Vec<String>, Value)>,
}

impl PrincipalMatch {
    fn compile(s: &PrincipalSelector, path: &str, errors: &mut Vec<RuleError>) -> Self {
        let nothing = s.scopes.is_empty()
            && s.roles.is_empty()
            && s.subjects.is_empty()
            && s.claims.is_empty();
        if !s.any && nothing {
            errors.push(RuleError {
                path: path.to_owned(),
                message: "selects no caller: list `scopes`, `roles`, `subjects` or `claims`, or \
                          set `any: true` for a public rule"
                    .to_owned(),
            });
        }
        if s.any && !nothing {
            errors.push(RuleError {
                path: path.to_owned(),
                message: "`any: true` selects every caller, so the other criteria would be \
                          ignored: remove them or remove `any`"
                    .to_owned(),
            });
        }
        let claims = s
            .claims
            .iter()
            .map(|(k, v)| (k.split('.').map(str::to_owned).collect(), v.clone()))
            .collect();
        PrincipalMatch {
            any: s.any,
            scopes: s.scopes.clone(),
            roles: s.roles.clone(),
            subjects: s.subjects.clone(),
            claims,
        }
    }

    fn matches(&self, principal: Option<&Principal>) -> bool {
        if self.any {
            return true;
        }
        let Some(p) = principal else {
            return false;
        };
        self.scopes.iter().all(|s| p.has_scope(s))
            && (self.roles.is_empty() || self.roles.iter().any(|r| p.has_role(r)))
            && (self.subjects.is_empty() || self.subjects.contains(&p.subject))
            && self
                .claims
                .iter()
                .all(|(path, want)| claim_matches(&p.claims, path, want))
    }
}

/// Whether the claim at `path` equals `want`, or contains it when the claim is an array.
fn claim_matches(claims: &serde_json::Map<String, Value>, path: &[String], want: &Value) -> bool {
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let mut value = match claims.get(first) {
        Some(v) => v,
        None => return false,
    };
    for key in rest {
        match value.get(key.as_str()) {
            Some(v) => value = v,
            None => return false,
        }
    }
    value == want || value.as_array().is_some_and(|a| a.contains(want))
}

/// Which tools a rule selects.
#[derive(Debug, Clone)]
pub(super) struct ToolMatch {
    names: Patterns,
    tags: Vec<String>,
    sources: Vec<String>,
    methods: Vec<String>,
    read_only: Option<bool>,
    destructive: Option<bool>,
}

impl ToolMatch {
    pub(super) fn compile(s: &ToolSelector, path: &str, errors: &mut Vec<RuleError>) -> Self {
        ToolMatch {
            names: Patterns::compile(&s.names, &format!("{path}.names"), errors),
            tags: s.tags.clone(),
            sources: s.sources.clone(),
            methods: s.methods.iter().map(|m| m.to_ascii_uppercase()).collect(),
            read_only: s.read_only,
            destructive: s.destructive,
        }
    }

    pub(super) fn matches(&self, e: &ToolEntry) -> bool {
        let annotations = e.tool.annotations.as_ref();
        let read_only = annotations.and_then(|a| a.read_only_hint).unwrap_or(false);
        // MCP: `destructiveHint` defaults to true, and means nothing for a read-only tool.
        let destructive =
            !read_only && annotations.and_then(|a| a.destructive_hint).unwrap_or(true);
        (self.names.is_empty() || self.names.matches(&e.tool.name))
            && (self.tags.is_empty() || e.meta.tags.iter().any(|t| self.tags.contains(t)))
            && (self.sources.is_empty() || self.sources.iter().any(|s| **s == *e.source))
            && (self.methods.is_empty()
                || e.meta
                    .http_method
                    .is_some_and(|m| self.methods.iter().any(|w| w == m)))
            && self.read_only.is_none_or(|want| want == read_only)
            && self.destructive.is_none_or(|want| want == destructive)
    }
}

/// Which resources, or which prompts, a rule selects (a name or URI and a source).
#[derive(Debug, Clone)]
pub(super) struct NamedMatch {
    names: Patterns,
    sources: Vec<String>,
}

impl NamedMatch {
    pub(super) fn resources(s: &ResourceSelector, path: &str, errors: &mut Vec<RuleError>) -> Self {
        NamedMatch {
            names: Patterns::compile(&s.uris, &format!("{path}.uris"), errors),
            sources: s.sources.clone(),
        }
    }

    pub(super) fn prompts(s: &PromptSelector, path: &str, errors: &mut Vec<RuleError>) -> Self {
        NamedMatch {
            names: Patterns::compile(&s.names, &format!("{path}.names"), errors),
            sources: s.sources.clone(),
        }
    }

    pub(super) fn matches(&self, name: &str, source: &str) -> bool {
        (self.names.is_empty() || self.names.matches(name))
            && (self.sources.is_empty() || self.sources.iter().any(|s| s == source))
    }
}

/// One compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Its configured name.
    pub name: Arc<str>,
    /// Whether it takes access away.
    pub deny: bool,
    principals: PrincipalMatch,
    tools: Option<ToolMatch>,
    resources: Option<NamedMatch>,
    prompts: Option<NamedMatch>,
}

impl Rule {
    /// The tool name patterns of the rule (for diagnostics), if it selects tools by name.
    pub fn tool_names(&self) -> Option<&Patterns> {
        self.tools.as_ref().map(|t| &t.names)
    }

    /// Whether the rule applies to `principal` (`None`: a caller without a principal).
    pub fn applies_to(&self, principal: Option<&Principal>) -> bool {
        self.principals.matches(principal)
    }

    /// Whether the rule selects `item`.
    pub fn selects(&self, item: &Item<'_>) -> bool {
        match item {
            Item::Tool(e) => self.tools.as_ref().is_some_and(|m| m.matches(e)),
            Item::Resource { uri, source } => self
                .resources
                .as_ref()
                .is_some_and(|m| m.matches(uri, source)),
            Item::Prompt(e) => self
                .prompts
                .as_ref()
                .is_some_and(|m| m.matches(&e.prompt.name, &e.source)),
        }
    }
}

/// What a decision is about.
#[derive(Clone, Copy)]
pub enum Item<'a> {
    /// A tool.
    Tool(&'a ToolEntry),
    /// A resource: a fixed resource's URI, a template's URI template, or (for a URI served
    /// by a prefix route) the URI itself; and the source serving it.
    Resource {
        /// The URI or URI template.
        uri: &'a str,
        /// The serving source.
        source: &'a str,
    },
    /// A prompt.
    Prompt(&'a PromptEntry),
}

/// The rules that apply to one caller: the key of its visible set (two callers to whom the
/// same rules apply see the same things).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Grant {
    /// Everything (a caller without a principal while authentication is off and
    /// `unauthenticated: allow`).
    All,
    /// The positions, in [`Policy::rules`], of the rules that apply.
    Rules(Arc<[u32]>),
}

/// The compiled `authorization` section.
#[derive(Debug, Clone)]
pub struct Policy {
    rules: Vec<Rule>,
    anonymous_all: bool,
}

impl Policy {
    /// Compiles `config`; `authentication` says whether callers are authenticated (then a
    /// caller without a principal gets only what public rules grant). Every problem is
    /// reported, each with its path.
    pub fn compile(
        config: &AuthorizationConfig,
        authentication: bool,
    ) -> Result<Policy, Vec<RuleError>> {
        let mut errors = Vec::new();
        let mut names = std::collections::HashSet::new();
        let rules = config
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let path = format!("authorization.rules[{i}]");
                if !names.insert(r.name.as_str()) {
                    errors.push(RuleError {
                        path: format!("{path}.name"),
                        message: format!(
                            "rule name `{}` is used twice; names must be unique",
                            r.name
                        ),
                    });
                }
                compile_rule(r, &path, &mut errors)
            })
            .collect();
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Policy {
            rules,
            anonymous_all: !authentication && config.unauthenticated == Unauthenticated::Allow,
        })
    }

    /// The compiled rules, in configuration order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The rules that apply to `principal` (`None`: a caller without a principal).
    pub fn grant(&self, principal: Option<&Principal>) -> Grant {
        if principal.is_none() && self.anonymous_all {
            return Grant::All;
        }
        Grant::Rules(
            (0u32..)
                .zip(&self.rules)
                .filter(|(_, r)| r.applies_to(principal))
                .map(|(i, _)| i)
                .collect(),
        )
    }

    /// Whether a caller with `grant` may use `item`, and why: a matching deny rule wins; else
    /// the first matching allow rule grants; else it is denied.
    pub fn decide(&self, grant: &Grant, item: &Item<'_>) -> Decision {
        let rules = match grant {
            Grant::All => {
                return Decision {
                    allowed: true,
                    reason: "unauthenticated_allowed",
                    rule: None,
                };
            }
            Grant::Rules(rules) => rules,
        };
        let mut allow = None;
        for rule in rules.iter().filter_map(|&i| self.rules.get(i as usize)) {
            if !rule.selects(item) {
                continue;
            }
            if rule.deny {
                return Decision {
                    allowed: false,
                    reason: "deny_rule",
                    rule: Some(rule.name.clone()),
                };
            }
            allow.get_or_insert(rule);
        }
        match allow {
            Some(rule) => Decision {
                allowed: true,
                reason: "rule",
                rule: Some(rule.name.clone()),
            },
            None => Decision {
                allowed: false,
                reason: "no_rule",
                rule: None,
            },
        }
    }
}

fn compile_rule(r: &RuleConfig, path: &str, errors: &mut Vec<RuleError>) -> Rule {
    if r.name.trim().is_empty() {
        errors.push(RuleError {
            path: format!("{path}.name"),
            message: "a rule needs a name (shown by `toolgate access` and in the logs)".to_owned(),
        });
    }
    if r.tools.is_none() && r.resources.is_none() && r.prompts.is_none() {
        errors.push(RuleError {
            path: path.to_owned(),
            message: format!(
                "rule `{}` selects nothing: give `tools`, `resources` or `prompts` (`{{}}` selects all of a kind)",
                r.name
            ),
        });
    }
    Rule {
        name: Arc::from(r.name.as_str()),
        deny: r.effect == Effect::Deny,
        principals: PrincipalMatch::compile(&r.principals, &format!("{path}.principals"), errors),
        tools: r
            .tools
            .as_ref()
            .map(|t| ToolMatch::compile(t, &format!("{path}.tools"), errors)),
        resources: r
            .resources
            .as_ref()
            .map(|s| NamedMatch::resources(s, &format!("{path}.resources"), errors)),
        prompts: r
            .prompts
            .as_ref()
            .map(|s| NamedMatch::prompts(s, &format!("{path}.prompts"), errors)),
    }
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
