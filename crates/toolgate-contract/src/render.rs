//! A [`DiffReport`] as text (a terminal), Markdown (a pull-request comment) or JSON (a
//! machine). All three list the same findings in the same order.

use serde_json::json;

use crate::diff::{DiffReport, Finding, Severity};

fn status(f: &Finding) -> &'static str {
    match (f.severity, f.covered_by.is_some()) {
        (Severity::Breaking, false) => "BREAKING",
        (Severity::Breaking, true) => "covered",
        (Severity::Compatible, _) => "compatible",
        (Severity::Info, _) => "info",
    }
}

fn verdict(report: &DiffReport) -> &'static str {
    if report.is_breaking() {
        "breaking"
    } else {
        "compatible"
    }
}

fn summary(report: &DiffReport) -> String {
    let c = report.counts();
    format!(
        "{} breaking, {} covered by migration notes, {} compatible, {} info",
        c.breaking, c.covered, c.compatible, c.info
    )
}

/// Plain text: a header, one line per finding (status, rule, component, pointer, reason),
/// the notes that covered findings, and a verdict line.
pub fn text(report: &DiffReport) -> String {
    let mut out = format!(
        "contract diff {} ({}, {} tools) -> {} ({}, {} tools)\n",
        report.old.name(),
        short(&report.old.hash),
        report.old.tools,
        report.new.name(),
        short(&report.new.hash),
        report.new.tools
    );
    if report.findings.is_empty() {
        out.push_str("no changes\n");
    }
    for f in &report.findings {
        let at = if f.pointer.is_empty() {
            String::new()
        } else {
            format!(" {}", f.pointer)
        };
        out.push_str(&format!(
            "{:<10} {:<32} {} `{}`{at}\n           {}\n",
            status(f),
            f.rule,
            f.kind.as_str().replace('_', " "),
            f.component,
            f.reason
        ));
        if let Some(by) = &f.covered_by {
            out.push_str(&format!("           covered by {by}\n"));
        }
    }
    for m in &report.unused_migrations {
        out.push_str(&format!(
            "warning: migration note `{m}` matches no breaking change\n"
        ));
    }
    out.push_str(&format!("{}: {}\n", verdict(report), summary(report)));
    out
}

fn short(hash: &str) -> String {
    hash.chars().take(19).collect()
}

/// Escapes what would break a Markdown table cell: `|` (also inside code spans, where GitHub
/// reads `\|` as the pipe) and line breaks. Backslashes stay: a regular expression in a code
/// span must read as written.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Markdown for a pull-request comment: a verdict heading, a summary, a table of the
/// failing and covered changes, and the compatible and informational ones folded away.
pub fn markdown(report: &DiffReport) -> String {
    let icon = if report.is_breaking() { "❌" } else { "✅" };
    let mut out = format!(
        "### {icon} Tool contract: {} (`{}` → `{}`)\n\n{}.\n",
        verdict(report),
        cell(&report.old.name()),
        cell(&report.new.name()),
        summary(report)
    );
    let table = |rows: &[&Finding]| {
        let mut t =
            String::from("\n| | rule | component | pointer | reason |\n|---|---|---|---|---|\n");
        for f in rows {
            let mut reason = cell(&f.reason);
            if let Some(by) = &f.covered_by {
                reason.push_str(&format!(" — *covered by {}*", cell(by)));
            }
            t.push_str(&format!(
                "| {} | `{}` | {} `{}` | `{}` | {} |\n",
                status(f),
                f.rule,
                f.kind.as_str().replace('_', " "),
                cell(&f.component),
                cell(&f.pointer),
                reason
            ));
        }
        t
    };
    let breaking: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Breaking)
        .collect();
    if !breaking.is_empty() {
        out.push_str(&table(&breaking));
    }
    let rest: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.severity != Severity::Breaking)
        .collect();
    if !rest.is_empty() {
        out.push_str(&format!(
            "\n<details><summary>{} compatible and informational changes</summary>\n{}\n</details>\n",
            rest.len(),
            table(&rest)
        ));
    }
    if !report.unused_migrations.is_empty() {
        out.push_str("\n**Migration notes that match no breaking change:**\n");
        for m in &report.unused_migrations {
            out.push_str(&format!("- {}\n", cell(m)));
        }
    }
    out
}

/// JSON: the sides, the verdict, the counts, per-rule counts and every finding.
pub fn json(report: &DiffReport) -> String {
    let doc = json!({
        "old": report.old,
        "new": report.new,
        "verdict": verdict(report),
        "counts": report.counts(),
        "per_rule": report.per_rule(),
        "findings": report.findings,
        "unused_migrations": report.unused_migrations,
    });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}
