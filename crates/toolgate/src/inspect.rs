//! `toolgate inspect SPEC…` (or `--config FILE`): what specs compile into, and why anything
//! was skipped. With `--config`, each source is compiled with its own options and base URL.
//!
//! The JSON view (`--json`) holds everything a reviewer needs without an MCP client: each
//! component's definition exactly as clients receive it (for tools: input and output schemas
//! and annotations; for resources and templates: their URIs), the backend base URL derived as
//! `serve` derives it ([`sources::resolve_base_url`]), and the diagnostics. The table view is
//! compact: names, operations, kinds, annotation hints and argument names. Output is scrubbed
//! by [`crate::redact`]; credentials in a spec URL (`?api_key=…`) are registered first.
//!
//! Exit code 0 when every operation compiled, 1 when some were skipped, 2 when a spec is
//! unusable as a whole.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use serde_json::{Value, json};
use toolgate_openapi::{CompiledSpec, ComponentKind, Operation, Severity};
use url::Url;

use crate::Failure;
use crate::cli::InspectArgs;
use crate::config::{OpenApiSourceConfig, SourceConfig, SpecLocation};
use crate::sources::{self, SourceError};
use crate::{redact, run};

/// One inspected spec.
struct Report {
    /// How the text view names it: the spec, or the configured source and its spec.
    label: String,
    /// The configured source's name (with `--config`).
    source: Option<String>,
    /// Where the spec came from (`(inline)` for an inline spec).
    spec: String,
    compiled: CompiledSpec,
    /// The backend base URL `serve` would use, or why there is none.
    base_url: Result<Url, String>,
}

/// Runs `inspect`.
pub async fn run(args: InspectArgs) -> Result<ExitCode, Failure> {
    if let (Some(name), Some(path)) = (&args.endpoint, &args.config) {
        return crate::endpoints::inspect(path, name, args.json).await;
    }
    let (sources, relative_to) = match &args.config {
        Some(path) => {
            let config = run::load_config_file(path)?;
            (config.sources, run::parent_dir(path))
        }
        None => {
            for spec in &args.specs {
                redact::register_url(spec);
            }
            let sources = args
                .specs
                .iter()
                .map(|spec| {
                    SourceConfig::from(OpenApiSourceConfig {
                        name: "inspect".to_owned(),
                        spec: SpecLocation::Location(spec.clone()),
                        base_url: None,
                        compile: toolgate_openapi::CompileOptions {
                            namespace: args.namespace.clone(),
                            ..Default::default()
                        },
                        backend: Default::default(),
                        tools: Default::default(),
                        tool_mode: None,
                    })
                })
                .collect();
            (sources, PathBuf::from("."))
        }
    };
    let mut reports = Vec::new();
    let mut mcp = Vec::new();
    let mut any_skipped = false;
    for source in &sources {
        let source = match source {
            SourceConfig::OpenApi(s) => s,
            SourceConfig::Mcp(m) => {
                let (report, failed) = inspect_mcp(m, &relative_to).await?;
                any_skipped |= failed;
                mcp.push(report);
                continue;
            }
        };
        let spec = match &source.spec {
            SpecLocation::Location(spec) => spec.clone(),
            SpecLocation::Inline { .. } => "(inline)".to_owned(),
        };
        let source_name = args.config.as_ref().map(|_| source.name.clone());
        let label = match &source_name {
            None => spec.clone(),
            Some(name) => format!("source `{name}` ({spec})"),
        };
        let loaded = sources::load_spec(&source.name, &source.spec, &relative_to)
            .await
            .map_err(|e| Failure::Input(format!("{label}: {e}")))?;
        let spec_uri = loaded.base_uri.clone();
        let compiled = sources::compile_spec(source, loaded)
            .await
            .map_err(|e| Failure::Input(format!("{label}: {e}")))?;
        let base_url =
            sources::resolve_base_url(source, &compiled, spec_uri.as_ref()).map_err(reason);
        any_skipped |= compiled
            .diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error);
        reports.push(Report {
            label,
            source: source_name,
            spec,
            compiled,
            base_url,
        });
    }
    if args.json {
        let out: Vec<Value> = reports.iter().map(report_json).collect();
        let mut doc = json!({ "specs": out });
        if !mcp.is_empty() {
            doc["mcp_servers"] = Value::Array(mcp.iter().map(|m| m.json.clone()).collect());
        }
        redact::println(&serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        for report in &reports {
            redact::println(&table(report));
        }
        for report in &mcp {
            redact::println(&report.text);
        }
    }
    Ok(if any_skipped {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// What `inspect` shows of an MCP source.
struct McpReport {
    text: String,
    json: Value,
}

/// Connects to an MCP source as `serve` would, lists what it serves (names after namespacing
/// and curation, with the server's own names), then stops it. The second value is true when
/// the server could not be reached.
async fn inspect_mcp(
    source: &toolgate_upstream::McpSourceConfig,
    relative_to: &std::path::Path,
) -> Result<(McpReport, bool), Failure> {
    let catalog = toolgate_core::catalog::shared(toolgate_core::Catalog::default());
    let assembly = toolgate_core::Assembly::new(catalog.clone(), None);
    let upstream =
        toolgate_upstream::Upstream::new(source.clone(), relative_to, assembly, Default::default())
            .map_err(|e| Failure::Input(e.to_string()))?;
    upstream.start().await;
    let status = upstream.status();
    let (up_tools, up_resources, up_templates, up_prompts) = upstream.counts();
    let report = upstream.report();
    upstream.stop().await;
    let catalog = catalog.load_full();
    let failed = status.phase == toolgate_upstream::Phase::Down;
    let mut text = format!(
        "source `{}` (MCP server): {}",
        source.name,
        status.phase.as_str()
    );
    if let Some(e) = &status.last_error {
        text.push_str(&format!(" ({e})"));
    }
    text.push_str(&format!(
        "; the server lists {up_tools} tools, {up_resources} resources, {up_templates} templates, {up_prompts} prompts; served: {} tools, {} resources, {} templates, {} prompts\n",
        catalog.tools().len(),
        catalog.resources().len(),
        catalog.templates().len(),
        catalog.prompts().len()
    ));
    for t in catalog.tools() {
        let d = t.tool.description.as_deref().unwrap_or("");
        let d: String = d.chars().take(70).collect();
        text.push_str(&format!("  tool      {:40} {d}\n", t.tool.name));
    }
    for r in catalog.resources() {
        text.push_str(&format!("  resource  {}\n", r.resource.uri));
    }
    for t in catalog.templates() {
        text.push_str(&format!("  template  {}\n", t.template.uri_template));
    }
    for p in catalog.prompts() {
        text.push_str(&format!("  prompt    {}\n", p.prompt.name));
    }
    for w in &report {
        text.push_str(&format!("  note      {w}\n"));
    }
    let json = json!({
        "notes": report,
        "source": source.name,
        "status": status.phase.as_str(),
        "error": status.last_error,
        "server_lists": {"tools": up_tools, "resources": up_resources, "templates": up_templates, "prompts": up_prompts},
        "tools": catalog.tools().iter().map(|t| &t.tool).collect::<Vec<_>>(),
        "resources": catalog.resources().iter().map(|r| &r.resource).collect::<Vec<_>>(),
        "resource_templates": catalog.templates().iter().map(|t| &t.template).collect::<Vec<_>>(),
        "prompts": catalog.prompts().iter().map(|p| &p.prompt).collect::<Vec<_>>(),
    });
    Ok((McpReport { text, json }, failed))
}

/// Why no base URL could be derived, without the source name (`inspect` has no sources).
fn reason(e: SourceError) -> String {
    match e {
        SourceError::BaseUrl { reason, .. } => reason,
        e @ (SourceError::ReadFile { .. }
        | SourceError::Fetch { .. }
        | SourceError::Spec { .. }
        | SourceError::Backend { .. }
        | SourceError::Duplicate(_)) => e.to_string(),
    }
}

fn kind_str(op: &Operation) -> String {
    match &op.kind {
        ComponentKind::Tool => "tool".to_owned(),
        ComponentKind::Resource { uri } => format!("resource {uri}"),
        ComponentKind::ResourceTemplate { uri_template } => format!("template {uri_template}"),
    }
}

fn arguments(op: &Operation) -> Vec<String> {
    let required: Vec<&str> = op
        .input_schema
        .get("required")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    op.input_schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|props| {
            props
                .keys()
                .map(|k| {
                    if required.contains(&k.as_str()) {
                        format!("{k}*")
                    } else {
                        k.clone()
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The annotation hints that are set, as words (`read-only, idempotent`).
fn hints(op: &Operation) -> String {
    let a = &op.annotations;
    let words: Vec<&str> = [
        (a.read_only, "read-only", "writes"),
        (a.destructive, "destructive", "non-destructive"),
        (a.idempotent, "idempotent", "non-idempotent"),
        (a.open_world, "open-world", "closed-world"),
    ]
    .into_iter()
    .filter_map(|(v, yes, no)| v.map(|v| if v { yes } else { no }))
    .collect();
    if words.is_empty() {
        "-".to_owned()
    } else {
        words.join(", ")
    }
}

fn base_url_text(base_url: &Result<Url, String>) -> String {
    match base_url {
        Ok(u) => u.to_string(),
        Err(why) => format!("(none: {why})"),
    }
}

/// The table view of one spec.
fn table(report: &Report) -> String {
    let c = &report.compiled;
    let skipped = c
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let mut out = format!(
        "{}: {} {} (OpenAPI {}), {} operations compiled, {} skipped, base URL {}\n",
        report.label,
        c.title,
        c.version,
        c.spec_version,
        c.operations.len(),
        skipped,
        base_url_text(&report.base_url)
    );
    let rows: Vec<[String; 5]> = c
        .operations
        .iter()
        .map(|op| {
            [
                op.name.clone(),
                format!("{} {}", op.method, op.path),
                kind_str(op),
                hints(op),
                arguments(op).join(", "),
            ]
        })
        .collect();
    let header = [
        "NAME",
        "OPERATION",
        "KIND",
        "HINTS",
        "ARGUMENTS (* = required)",
    ];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count()).min(60);
        }
    }
    let line = |cells: [&str; 5]| {
        format!(
            "  {:w0$}  {:w1$}  {:w2$}  {:w3$}  {}",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            cells[4],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
        )
        .trim_end()
        .to_owned()
    };
    out.push_str(&line(header));
    out.push('\n');
    for row in &rows {
        out.push_str(&line([&row[0], &row[1], &row[2], &row[3], &row[4]]));
        out.push('\n');
    }
    if !c.diagnostics.is_empty() {
        out.push_str("  diagnostics:\n");
        for d in &c.diagnostics {
            out.push_str(&format!("    {d}\n"));
        }
    }
    out
}

/// What MCP clients receive for `op`: the tool, resource or resource template definition.
fn definition(op: &Operation) -> Value {
    let (name, description, title) = (op.name.clone(), op.description.clone(), op.title.clone());
    let value = match &op.kind {
        ComponentKind::Tool => serde_json::to_value(sources::tool_of(
            op,
            Arc::new(op.input_schema.clone()),
            op.output_schema.clone().map(Arc::new),
        )),
        ComponentKind::Resource { uri } => {
            serde_json::to_value(sources::resource_of(uri, name, description, title))
        }
        ComponentKind::ResourceTemplate { uri_template } => {
            serde_json::to_value(sources::template_of(uri_template, name, description, title))
        }
    };
    value.unwrap_or(Value::Null)
}

fn report_json(report: &Report) -> Value {
    let c = &report.compiled;
    json!({
        "source": report.source,
        "spec": report.spec,
        "title": c.title,
        "version": c.version,
        "spec_version": c.spec_version,
        "base_url": report.base_url.as_ref().ok().map(Url::as_str),
        "base_url_problem": report.base_url.as_ref().err(),
        "spec_server": c.base_url,
        "security_schemes": c.security_schemes,
        "operations": c.operations.iter().map(|op| {
            let mut entry = json!({
                "name": op.name,
                "kind": match &op.kind {
                    ComponentKind::Tool => "tool",
                    ComponentKind::Resource { .. } => "resource",
                    ComponentKind::ResourceTemplate { .. } => "resource_template",
                },
                "method": op.method.as_str(),
                "path": op.path,
                "operation_id": op.operation_id,
                "tags": op.tags,
                "deprecated": op.deprecated,
                "security": op.security,
                "arguments": arguments(op),
                "definition": definition(op),
            });
            // A resource template's variables are validated against this schema; tools carry
            // theirs in the definition.
            if !matches!(op.kind, ComponentKind::Tool) {
                entry["input_schema"] = Value::Object(op.input_schema.clone());
            }
            entry
        }).collect::<Vec<_>>(),
        "diagnostics": c.diagnostics,
    })
}
