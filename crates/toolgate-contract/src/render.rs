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

/// The most characters [`markdown`] writes: GitHub keeps at most 65,536 in a comment, and the
/// heading, summary and notes need some of it.
pub const MARKDOWN_BUDGET: usize = 60_000;

fn row(f: &Finding) -> String {
    let mut reason = cell(&f.reason);
    if let Some(by) = &f.covered_by {
        reason.push_str(&format!(" — *covered by {}*", cell(by)));
    }
    format!(
        "| {} | `{}` | {} `{}` | `{}` | {} |\n",
        status(f),
        f.rule,
        f.kind.as_str().replace('_', " "),
        cell(&f.component),
        cell(&f.pointer),
        reason
    )
}

/// A table of `rows` within `budget` characters; the rows left out are counted.
fn table(rows: &[&Finding], budget: &mut usize) -> (String, usize) {
    let mut t =
        String::from("\n| | rule | component | pointer | reason |\n|---|---|---|---|---|\n");
    for (i, f) in rows.iter().enumerate() {
        let r = row(f);
        if r.len() > *budget {
            // Nothing after a row that did not fit: breaking changes are never left out for
            // a shorter compatible one.
            *budget = 0;
            return (t, rows.len() - i);
        }
        *budget -= r.len();
        t.push_str(&r);
    }
    (t, 0)
}

/// Markdown for a pull-request comment: a verdict heading, a summary, a table of the
/// failing and covered changes, and the compatible and informational ones folded away. It
/// stays within [`MARKDOWN_BUDGET`] characters (breaking changes first): rows that do not fit
/// are counted, and the text or JSON report has them all.
pub fn markdown(report: &DiffReport) -> String {
    markdown_within(report, MARKDOWN_BUDGET)
}

/// [`markdown`] within `budget` characters of table rows.
pub fn markdown_within(report: &DiffReport, mut budget: usize) -> String {
    let icon = if report.is_breaking() { "❌" } else { "✅" };
    let mut out = format!(
        "### {icon} Tool contract: {} (`{}` → `{}`)\n\n{}.\n",
        verdict(report),
        cell(&report.old.name()),
        cell(&report.new.name()),
        summary(report)
    );
    let mut left_out = 0;
    let breaking: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Breaking)
        .collect();
    if !breaking.is_empty() {
        let (t, n) = table(&breaking, &mut budget);
        out.push_str(&t);
        left_out += n;
    }
    let rest: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.severity != Severity::Breaking)
        .collect();
    if !rest.is_empty() {
        let (t, n) = table(&rest, &mut budget);
        left_out += n;
        // None fitted: no empty table.
        if n < rest.len() {
            out.push_str(&format!(
            "\n<details><summary>{} compatible and informational changes</summary>\n{t}\n</details>\n",
            rest.len(),
        ));
        }
    }
    if left_out > 0 {
        out.push_str(&format!(
            "\n*{left_out} more findings are not shown here (a comment holds 65,536 characters); `--format text` or `--format json` lists them all.*\n"
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
