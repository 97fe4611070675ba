//! `toolgate inspect SPEC…`: what a spec compiles into, and why anything was skipped.
//!
//! Exit code 0 when every operation compiled, 1 when some were skipped, 2 when a spec is
//! unusable as a whole.

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::{Value, json};
use toolgate_openapi::{CompiledSpec, ComponentKind, Operation, Severity};

use crate::Failure;
use crate::cli::InspectArgs;
use crate::config::{SourceConfig, SpecLocation};
use crate::sources;

/// Runs `inspect`.
pub async fn run(args: InspectArgs) -> Result<ExitCode, Failure> {
    let mut reports = Vec::new();
    let mut any_skipped = false;
    for spec in &args.specs {
        let compile = toolgate_openapi::CompileOptions {
            namespace: args.namespace.clone(),
            ..Default::default()
        };
        let source = SourceConfig {
            name: "inspect".to_owned(),
            spec: SpecLocation::Location(spec.clone()),
            base_url: None,
            compile,
            backend: Default::default(),
        };
        let loaded = sources::load_spec(&source.name, &source.spec, &PathBuf::from("."))
            .await
            .map_err(|e| Failure::Input(format!("{spec}: {e}")))?;
        let compiled = sources::compile_spec(&source, loaded)
            .await
            .map_err(|e| Failure::Input(format!("{spec}: {e}")))?;
        any_skipped |= compiled
            .diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error);
        reports.push((spec.clone(), compiled));
    }
    if args.json {
        let out: Vec<Value> = reports.iter().map(|(s, c)| report_json(s, c)).collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "specs": out })).unwrap_or_default()
        );
    } else {
        for (spec, compiled) in &reports {
            print_table(spec, compiled);
        }
    }
    Ok(if any_skipped {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
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

fn print_table(spec: &str, c: &CompiledSpec) {
    let skipped = c
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    println!(
        "{spec}: {} {} (OpenAPI {}), {} operations compiled, {} skipped, base URL {}",
        c.title,
        c.version,
        c.spec_version,
        c.operations.len(),
        skipped,
        c.base_url.as_deref().unwrap_or("(none)")
    );
    let rows: Vec<[String; 4]> = c
        .operations
        .iter()
        .map(|op| {
            [
                op.name.clone(),
                format!("{} {}", op.method, op.path),
                kind_str(op),
                arguments(op).join(", "),
            ]
        })
        .collect();
    let header = ["NAME", "OPERATION", "KIND", "ARGUMENTS (* = required)"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count()).min(60);
        }
    }
    let line = |cells: [&str; 4]| {
        format!(
            "  {:w0$}  {:w1$}  {:w2$}  {}",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        )
    };
    println!("{}", line(header));
    for row in &rows {
        println!("{}", line([&row[0], &row[1], &row[2], &row[3]]));
    }
    if !c.diagnostics.is_empty() {
        println!("  diagnostics:");
        for d in &c.diagnostics {
            println!("    {d}");
        }
    }
    println!();
}

fn report_json(spec: &str, c: &CompiledSpec) -> Value {
    json!({
        "spec": spec,
        "title": c.title,
        "version": c.version,
        "spec_version": c.spec_version,
        "base_url": c.base_url,
        "operations": c.operations.iter().map(|op| json!({
            "name": op.name,
            "kind": kind_str(op),
            "method": op.method.as_str(),
            "path": op.path,
            "operation_id": op.operation_id,
            "arguments": arguments(op),
        })).collect::<Vec<_>>(),
        "diagnostics": c.diagnostics,
    })
}
