//! The contract diff: every change between two contracts, judged from the consumer's side.
//!
//! This module compares components (tools, resources, templates, prompts, annotations);
//! `schema/` walks the input and output schemas; `rules.rs` lists every rule id with its
//! severity. Migration notes are applied last (`crate::migrations`).
//!
//! Does not own: rendering (`crate::render`), loading contracts.

mod annotations;
pub mod rules;
mod schema;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::contract::{Contract, PromptContract, ToolContract};
use crate::migrations::Migrations;
pub use schema::Direction;

/// How a change affects an agent written against the old contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// A call or an answer that worked with the old contract may fail or mislead now.
    Breaking,
    /// The contract changed; every old call and every reading of old answers still works.
    Compatible,
    /// Nothing a program relies on changed (descriptions, titles): the model reads it.
    Info,
}

impl Severity {
    /// `breaking`, `compatible` or `info`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Breaking => "breaking",
            Severity::Compatible => "compatible",
            Severity::Info => "info",
        }
    }
}

/// The kind of component a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentKind {
    /// A tool (`tools/list`).
    Tool,
    /// A resource (`resources/list`), named by URI.
    Resource,
    /// A resource template, named by URI template.
    ResourceTemplate,
    /// A prompt (`prompts/list`).
    Prompt,
}

impl ComponentKind {
    /// `tool`, `resource`, `resource_template` or `prompt`.
    pub fn as_str(self) -> &'static str {
        match self {
            ComponentKind::Tool => "tool",
            ComponentKind::Resource => "resource",
            ComponentKind::ResourceTemplate => "resource_template",
            ComponentKind::Prompt => "prompt",
        }
    }
}

/// One change between two contracts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// How it affects consumers (before migration notes: see `covered_by`).
    pub severity: Severity,
    /// Stable rule id (`tool-removed`, `enum-value-removed`, …; see [`rules::RULES`]).
    pub rule: String,
    /// What kind of component changed.
    pub kind: ComponentKind,
    /// The tool or prompt name, or the resource URI (template).
    pub component: String,
    /// JSON pointer into the component's definition (the new one; the old one when removed),
    /// following the schema's structure (`$ref`s are followed, not pointed into).
    pub pointer: String,
    /// One line: what changed and what it means for a caller.
    pub reason: String,
    /// The migration note that covers this breaking change, if one does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub covered_by: Option<String>,
}

impl Finding {
    /// Whether this finding fails the check: breaking and not covered by a migration note.
    pub fn fails(&self) -> bool {
        self.severity == Severity::Breaking && self.covered_by.is_none()
    }
}

/// Which contract a report compares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Side {
    /// Its label (`v1`), if it has one.
    pub label: Option<String>,
    /// Its content hash.
    pub hash: String,
    /// Its tool count.
    pub tools: usize,
}

impl Side {
    fn of(c: &Contract) -> Side {
        Side {
            label: c.label.clone(),
            hash: c.hash.clone(),
            tools: c.tools.len(),
        }
    }

    /// The label, else the start of the hash.
    pub fn name(&self) -> String {
        match &self.label {
            Some(l) => l.clone(),
            None => self.hash.chars().take(19).collect(),
        }
    }
}

/// The outcome of a diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffReport {
    /// The old contract.
    pub old: Side,
    /// The new contract.
    pub new: Side,
    /// Every finding, breaking first, then by component, pointer and rule.
    pub findings: Vec<Finding>,
    /// Migration notes that matched nothing (a typo, or a note whose change is gone).
    pub unused_migrations: Vec<String>,
}

/// Counts for a summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Breaking findings not covered by a migration note.
    pub breaking: usize,
    /// Breaking findings covered by a migration note.
    pub covered: usize,
    /// Compatible findings.
    pub compatible: usize,
    /// Informational findings.
    pub info: usize,
}

impl DiffReport {
    /// How many findings of each kind.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for f in &self.findings {
            match (f.severity, f.covered_by.is_some()) {
                (Severity::Breaking, false) => c.breaking += 1,
                (Severity::Breaking, true) => c.covered += 1,
                (Severity::Compatible, _) => c.compatible += 1,
                (Severity::Info, _) => c.info += 1,
            }
        }
        c
    }

    /// Whether any breaking change is not covered by a migration note.
    pub fn is_breaking(&self) -> bool {
        self.findings.iter().any(Finding::fails)
    }

    /// Findings per rule id (for summaries and evidence).
    pub fn per_rule(&self) -> BTreeMap<&str, usize> {
        let mut m = BTreeMap::new();
        for f in &self.findings {
            *m.entry(f.rule.as_str()).or_insert(0) += 1;
        }
        m
    }
}

/// Every change from `old` to `new`, without migration notes.
pub fn diff(old: &Contract, new: &Contract) -> Vec<Finding> {
    diff_with(old, new, &Migrations::default(), "").findings
}

/// Every change from `old` to `new`, with `migrations` applied; `today` (`YYYY-MM-DD`)
/// decides which deprecation windows have ended.
pub fn diff_with(
    old: &Contract,
    new: &Contract,
    migrations: &Migrations,
    today: &str,
) -> DiffReport {
    let mut out = Sink::default();
    let renames = migrations.renames(old, new);
    tools(old, new, &renames, &mut out);
    resources(old, new, &mut out);
    prompts(old, new, &mut out);
    let mut findings = out.findings;
    let unused_migrations = migrations.apply(&mut findings, today);
    // Failing first, then covered, compatible, info; within each by place.
    findings.sort_by_cached_key(|f| {
        (
            !f.fails(),
            f.severity,
            f.kind,
            f.component.clone(),
            f.pointer.clone(),
            f.rule.clone(),
        )
    });
    findings.dedup();
    DiffReport {
        old: Side::of(old),
        new: Side::of(new),
        findings,
        unused_migrations,
    }
}

/// Collects findings for one component at a time.
#[derive(Default)]
pub(crate) struct Sink {
    findings: Vec<Finding>,
}

impl Sink {
    pub(crate) fn push(
        &mut self,
        kind: ComponentKind,
        component: &str,
        rule: &str,
        pointer: String,
        reason: String,
    ) {
        self.findings.push(Finding {
            severity: rules::severity(rule),
            rule: rule.to_owned(),
            kind,
            component: component.to_owned(),
            pointer,
            reason,
            covered_by: None,
        });
    }
}

fn tools(old: &Contract, new: &Contract, renames: &[(String, String)], out: &mut Sink) {
    let kind = ComponentKind::Tool;
    for o in &old.tools {
        let renamed = renames.iter().find(|(from, _)| from == &o.name);
        match (new.tool(&o.name), renamed) {
            (Some(n), _) => tool(o, n, out),
            (None, Some((_, to))) => match new.tool(to) {
                Some(n) => {
                    out.push(
                        kind,
                        &o.name,
                        "tool-renamed",
                        "/name".into(),
                        format!("tool `{}` is now served as `{to}`", o.name),
                    );
                    tool(o, n, out);
                }
                None => removed_tool(o, out),
            },
            (None, None) => removed_tool(o, out),
        }
    }
    for n in &new.tools {
        let renamed_to = renames.iter().any(|(from, to)| {
            to == &n.name && old.tool(from).is_some() && old.tool(&n.name).is_none()
        });
        if old.tool(&n.name).is_none() && !renamed_to {
            out.push(
                kind,
                &n.name,
                "tool-added",
                String::new(),
                format!("new tool `{}`", n.name),
            );
        }
    }
}

fn removed_tool(o: &ToolContract, out: &mut Sink) {
    out.push(
        ComponentKind::Tool,
        &o.name,
        "tool-removed",
        String::new(),
        format!(
            "tool `{}` is no longer served: agents calling it get an unknown-tool error",
            o.name
        ),
    );
}

/// One tool present in both (under its new name when renamed).
fn tool(o: &ToolContract, n: &ToolContract, out: &mut Sink) {
    let kind = ComponentKind::Tool;
    let name = &n.name;
    if o.description != n.description {
        out.push(
            kind,
            name,
            "description-changed",
            "/description".into(),
            "the tool's description changed (the model reads it to decide when to call the tool)"
                .into(),
        );
    }
    if o.title != n.title {
        out.push(
            kind,
            name,
            "title-changed",
            "/title".into(),
            "the tool's display title changed".into(),
        );
    }
    schema::compare_roots(
        &o.input_schema,
        &n.input_schema,
        "/inputSchema",
        Direction::Input,
        kind,
        name,
        out,
    );
    match (&o.output_schema, &n.output_schema) {
        (Some(os), Some(ns)) => schema::compare_roots(
            os,
            ns,
            "/outputSchema",
            Direction::Output,
            kind,
            name,
            out,
        ),
        (Some(_), None) => out.push(
            kind,
            name,
            "output-schema-removed",
            "/outputSchema".into(),
            "the tool no longer declares an output schema: structured results are no longer promised".into(),
        ),
        (None, Some(_)) => out.push(
            kind,
            name,
            "output-schema-added",
            "/outputSchema".into(),
            "the tool now declares an output schema (structured results)".into(),
        ),
        (None, None) => {}
    }
    annotations::compare(o.annotations.as_ref(), n.annotations.as_ref(), name, out);
}

/// What the diff compares of a resource or template: its URI (or URI template), name,
/// description and MIME type.
type ResourceEntry<'a> = (&'a str, &'a str, Option<&'a str>, Option<&'a str>);

fn resource_entry(r: &crate::contract::ResourceContract) -> ResourceEntry<'_> {
    (
        r.uri.as_str(),
        r.name.as_str(),
        r.description.as_deref(),
        r.mime_type.as_deref(),
    )
}

fn template_entry(r: &crate::contract::TemplateContract) -> ResourceEntry<'_> {
    (
        r.uri_template.as_str(),
        r.name.as_str(),
        r.description.as_deref(),
        r.mime_type.as_deref(),
    )
}

fn resources(old: &Contract, new: &Contract, out: &mut Sink) {
    type Entry<'a> = ResourceEntry<'a>;
    let pairs: [(ComponentKind, Vec<Entry>, Vec<Entry>); 2] = [
        (
            ComponentKind::Resource,
            old.resources.iter().map(resource_entry).collect(),
            new.resources.iter().map(resource_entry).collect(),
        ),
        (
            ComponentKind::ResourceTemplate,
            old.resource_templates.iter().map(template_entry).collect(),
            new.resource_templates.iter().map(template_entry).collect(),
        ),
    ];
    for (kind, olds, news) in pairs {
        let what = match kind {
            ComponentKind::ResourceTemplate => "resource template",
            _ => "resource",
        };
        let (removed, added) = match kind {
            ComponentKind::ResourceTemplate => {
                ("resource-template-removed", "resource-template-added")
            }
            _ => ("resource-removed", "resource-added"),
        };
        for (uri, _, desc, mime) in &olds {
            match news.iter().find(|n| n.0 == *uri) {
                None => out.push(
                    kind,
                    uri,
                    removed,
                    String::new(),
                    format!("{what} `{uri}` is no longer served: reading it fails"),
                ),
                Some((_, _, ndesc, nmime)) => {
                    if mime != nmime {
                        out.push(
                            kind,
                            uri,
                            "resource-mime-type-changed",
                            "/mimeType".into(),
                            format!(
                                "its contents' MIME type changed from {} to {}",
                                mime.unwrap_or("(none)"),
                                nmime.unwrap_or("(none)")
                            ),
                        );
                    }
                    if desc != ndesc {
                        out.push(
                            kind,
                            uri,
                            "description-changed",
                            "/description".into(),
                            format!("the {what}'s description changed"),
                        );
                    }
                }
            }
        }
        for (uri, ..) in &news {
            if !olds.iter().any(|o| o.0 == *uri) {
                out.push(
                    kind,
                    uri,
                    added,
                    String::new(),
                    format!("new {what} `{uri}`"),
                );
            }
        }
    }
}

fn prompts(old: &Contract, new: &Contract, out: &mut Sink) {
    let kind = ComponentKind::Prompt;
    let find = |c: &'_ Contract, name: &str| -> Option<PromptContract> {
        c.prompts.iter().find(|p| p.name == name).cloned()
    };
    for o in &old.prompts {
        let Some(n) = find(new, &o.name) else {
            out.push(
                kind,
                &o.name,
                "prompt-removed",
                String::new(),
                format!("prompt `{}` is no longer served", o.name),
            );
            continue;
        };
        if o.description != n.description {
            out.push(
                kind,
                &o.name,
                "description-changed",
                "/description".into(),
                "the prompt's description changed".into(),
            );
        }
        for (i, na) in n.arguments.iter().enumerate() {
            let pointer = format!("/arguments/{i}");
            match o.arguments.iter().find(|a| a.name == na.name) {
                None if na.required => out.push(
                    kind,
                    &o.name,
                    "prompt-required-argument-added",
                    pointer,
                    format!(
                        "new required argument `{}`: callers that do not send it are refused",
                        na.name
                    ),
                ),
                None => out.push(
                    kind,
                    &o.name,
                    "prompt-optional-argument-added",
                    pointer,
                    format!("new optional argument `{}`", na.name),
                ),
                Some(oa) if na.required && !oa.required => out.push(
                    kind,
                    &o.name,
                    "prompt-argument-became-required",
                    format!("{pointer}/required"),
                    format!("argument `{}` is now required", na.name),
                ),
                Some(_) => {}
            }
        }
        for oa in &o.arguments {
            if !n.arguments.iter().any(|a| a.name == oa.name) {
                out.push(
                    kind,
                    &o.name,
                    "prompt-argument-removed",
                    "/arguments".into(),
                    format!("argument `{}` is no longer accepted", oa.name),
                );
            }
        }
    }
    for n in &new.prompts {
        if find(old, &n.name).is_none() {
            out.push(
                kind,
                &n.name,
                "prompt-added",
                String::new(),
                format!("new prompt `{}`", n.name),
            );
        }
    }
}
