//! The HTML report: one self-contained file (inline CSS, inline SVG plots, no script, no
//! external asset) for the people who sign off: the verdict, each check with its evidence,
//! per-tool latency per window against the budget, the contract diff, the role matrix, the
//! probes and the rollback drill. Every string from the plan, the candidate or the evidence
//! goes through [`escape`].

use std::fmt::Write as _;

use serde_json::Value;

use crate::checks::{self, LatencyRow, Status};
use crate::plan::ProbeExpect;
use crate::report::GateReport;
use crate::verdict::NextStep;

/// Escapes text for HTML element content and double-quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = "body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1d232a}
h1{font-size:1.4rem;margin-bottom:.2rem}h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #d0d7de;padding-bottom:.2rem}
.verdict{padding:.8rem 1rem;border-radius:6px;font-family:ui-monospace,monospace;word-break:break-all}
.rollout{background:#dafbe1;border:1px solid #4ac26b}.patch{background:#fff8c5;border:1px solid #d4a72c}.hold{background:#ffebe9;border:1px solid #ff8182}
table{border-collapse:collapse;margin:.5rem 0;font-size:13px}td,th{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;vertical-align:top}th{background:#f6f8fa}
.pass{color:#1a7f37;font-weight:600}.fail{color:#cf222e;font-weight:600}.skipped{color:#6e7781;font-weight:600}
.warn{color:#9a6700}code{font-family:ui-monospace,monospace;font-size:12px}.muted{color:#6e7781}
.plots{display:flex;flex-wrap:wrap;gap:1rem}.plot{border:1px solid #d0d7de;border-radius:6px;padding:.5rem}.plot h3{font-size:13px;margin:0 0 .3rem}
svg text{font:10px system-ui,sans-serif;fill:#57606a}";

/// The report as one HTML document.
pub fn render(report: &GateReport) -> String {
    let mut h = String::new();
    let v = &report.verdict;
    let class = match v.next_step {
        NextStep::Rollout => "rollout",
        NextStep::Patch => "patch",
        NextStep::Hold => "hold",
    };
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<title>gate: {} — {}</title><style>{CSS}</style></head><body>\n",
        escape(&v.tool),
        escape(&v.objective)
    );
    let _ = writeln!(
        h,
        "<h1>Release gate: {} — {}</h1><p class=\"muted\">candidate <code>{}</code>{} · plan <code>{}</code> · {} · toolgate {}</p>",
        escape(&v.tool),
        escape(&v.objective),
        escape(&report.candidate),
        report
            .baseline
            .as_ref()
            .map(|b| format!(" · baseline <code>{}</code>", escape(b)))
            .unwrap_or_default(),
        escape(&report.plan),
        escape(&report.generated_at),
        escape(&report.toolgate_version)
    );
    let _ = writeln!(
        h,
        "<div class=\"verdict {class}\"><strong>next step: {}</strong><br>{}</div>",
        v.next_step.as_str(),
        escape(&v.line())
    );
    checks_section(&mut h, report);
    latency_section(&mut h, &report.latency);
    contract_section(&mut h, report.contract_diff.as_ref());
    auth_section(&mut h, report);
    drill_section(&mut h, report);
    h.push_str("</body></html>\n");
    h
}

fn checks_section(h: &mut String, report: &GateReport) {
    h.push_str("<h2>Checks</h2><table><tr><th>check</th><th>result</th><th>summary</th><th>evidence</th></tr>\n");
    for c in &report.checks {
        let status = c.status.as_str();
        let mut ev = String::new();
        if !c.evidence.is_empty() || !c.warnings.is_empty() {
            let _ = write!(
                ev,
                "<details{}><summary>{} line(s)</summary><ul>",
                if c.status == Status::Fail {
                    " open"
                } else {
                    ""
                },
                c.evidence.len() + c.warnings.len()
            );
            for e in &c.evidence {
                let _ = write!(ev, "<li>{}</li>", escape(e));
            }
            for w in &c.warnings {
                let _ = write!(ev, "<li class=\"warn\">warning: {}</li>", escape(w));
            }
            ev.push_str("</ul></details>");
        }
        let _ = writeln!(
            h,
            "<tr><td><code>{}</code></td><td class=\"{status}\">{status}</td><td>{}{}</td><td>{ev}</td></tr>",
            c.kind.as_str(),
            escape(&c.summary),
            c.metric
                .as_ref()
                .map(|m| format!("<br><code>{}</code>", escape(m)))
                .unwrap_or_default()
        );
    }
    h.push_str("</table>\n");
}

fn latency_section(h: &mut String, rows: &[LatencyRow]) {
    if rows.is_empty() {
        return;
    }
    h.push_str("<h2>Latency per tool and window</h2><p class=\"muted\">p50 (blue) and p95 (orange) per replay window; dashed: the budgets. A tool fails when over budget in two consecutive windows.</p><div class=\"plots\">\n");
    for r in rows {
        let _ = writeln!(
            h,
            "<div class=\"plot\"><h3><code>{}</code> <span class=\"{}\">{}</span></h3>{}<div class=\"muted\">{}</div></div>",
            escape(&r.tool),
            if r.failed { "fail" } else { "pass" },
            if r.failed {
                "over budget"
            } else if r.budget.is_some() {
                "within budget"
            } else {
                "no budget"
            },
            plot(r),
            escape(
                &r.budget
                    .map_or_else(|| "no budget applies".into(), |b| checks::budget_text(&b))
            )
        );
    }
    h.push_str("</div>\n<table><tr><th>tool</th><th>window</th><th>calls</th><th>p50 ms</th><th>p95 ms</th><th>over</th></tr>\n");
    for r in rows {
        for w in &r.windows {
            let _ = writeln!(
                h,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td></tr>",
                escape(&r.tool),
                w.window,
                w.calls,
                w.p50_ms.map_or("-".into(), checks::num),
                w.p95_ms.map_or("-".into(), checks::num),
                if w.over { "fail" } else { "pass" },
                if w.over { "over" } else { "ok" }
            );
        }
    }
    h.push_str("</table>\n");
}

/// An inline SVG of p50 and p95 per window with the budget lines.
fn plot(r: &LatencyRow) -> String {
    let (w, ht, left, bottom, top, right) = (260.0, 140.0, 40.0, 20.0, 8.0, 8.0);
    let values = r
        .windows
        .iter()
        .flat_map(|w| [w.p50_ms, w.p95_ms])
        .flatten();
    let budgets = r.budget.iter().flat_map(|b| [b.p50_ms, b.p95_ms]).flatten();
    let max = values.chain(budgets).fold(0.0f64, f64::max).max(1.0) * 1.1;
    let n = r.windows.len().max(1);
    let x = |i: usize| {
        if n == 1 {
            left + (w - left - right) / 2.0
        } else {
            left + (w - left - right) * i as f64 / (n - 1) as f64
        }
    };
    let y = |v: f64| top + (ht - top - bottom) * (1.0 - v / max);
    let mut s = format!(
        "<svg width=\"{w}\" height=\"{ht}\" viewBox=\"0 0 {w} {ht}\" role=\"img\" aria-label=\"latency per window\">"
    );
    let _ = write!(
        s,
        "<line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#8c959f\"/>",
        ht - bottom,
        w - right,
        ht - bottom
    );
    let _ = write!(
        s,
        "<line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{}\" stroke=\"#8c959f\"/>",
        ht - bottom
    );
    let _ = write!(
        s,
        "<text x=\"2\" y=\"{}\">{}</text><text x=\"2\" y=\"{}\">0</text>",
        top + 8.0,
        checks::num(max),
        ht - bottom
    );
    for (i, win) in r.windows.iter().enumerate() {
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">w{}</text>",
            x(i),
            ht - 5.0,
            win.window
        );
    }
    if let Some(b) = r.budget {
        for (limit, color) in [(b.p50_ms, "#0969da"), (b.p95_ms, "#bc4c00")] {
            if let Some(l) = limit {
                let _ = write!(
                    s,
                    "<line x1=\"{left}\" y1=\"{0:.1}\" x2=\"{1}\" y2=\"{0:.1}\" stroke=\"{color}\" stroke-dasharray=\"4 3\"/>",
                    y(l),
                    w - right
                );
            }
        }
    }
    for (pick, color) in [(0usize, "#0969da"), (1, "#bc4c00")] {
        let points: Vec<(f64, f64)> = r
            .windows
            .iter()
            .enumerate()
            .filter_map(|(i, win)| {
                if pick == 0 { win.p50_ms } else { win.p95_ms }.map(|v| (x(i), y(v)))
            })
            .collect();
        if points.len() > 1 {
            let d: Vec<String> = points
                .iter()
                .map(|(a, b)| format!("{a:.1},{b:.1}"))
                .collect();
            let _ = write!(
                s,
                "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>",
                d.join(" ")
            );
        }
        for (a, b) in points {
            let _ = write!(
                s,
                "<circle cx=\"{a:.1}\" cy=\"{b:.1}\" r=\"3\" fill=\"{color}\"/>"
            );
        }
    }
    s.push_str("</svg>");
    s
}

fn contract_section(h: &mut String, diff: Option<&Value>) {
    let Some(diff) = diff else { return };
    let findings = diff["findings"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let name = |side: &Value| {
        side["label"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| {
                side["hash"]
                    .as_str()
                    .unwrap_or("?")
                    .chars()
                    .take(19)
                    .collect()
            })
    };
    let _ = write!(
        h,
        "<h2>Contract diff</h2><p>{} → {}: {} finding(s)</p>",
        escape(&name(&diff["old"])),
        escape(&name(&diff["new"])),
        findings.len()
    );
    if findings.is_empty() {
        return;
    }
    h.push_str("<table><tr><th>severity</th><th>rule</th><th>component</th><th>pointer</th><th>reason</th></tr>\n");
    for f in findings {
        let s = |k: &str| f[k].as_str().unwrap_or_default().to_owned();
        let covered = f["covered_by"].as_str();
        let severity = s("severity");
        let class = match (severity.as_str(), covered) {
            ("breaking", None) => "fail",
            ("breaking", Some(_)) => "warn",
            _ => "muted",
        };
        let _ = writeln!(
            h,
            "<tr><td class=\"{class}\">{}{}</td><td><code>{}</code></td><td><code>{}</code></td><td><code>{}</code></td><td>{}{}</td></tr>",
            escape(&severity),
            if covered.is_some() { " (covered)" } else { "" },
            escape(&s("rule")),
            escape(&s("component")),
            escape(&s("pointer")),
            escape(&s("reason")),
            covered
                .map(|c| format!("<br><span class=\"muted\">covered by {}</span>", escape(c)))
                .unwrap_or_default()
        );
    }
    h.push_str("</table>\n");
}

fn auth_section(h: &mut String, report: &GateReport) {
    if report.role_matrix.is_empty() && report.probes.is_empty() {
        return;
    }
    h.push_str("<h2>Role matrix</h2>");
    if !report.role_matrix.is_empty() {
        let mut principals: Vec<&str> = Vec::new();
        let mut tools: Vec<&str> = Vec::new();
        for c in &report.role_matrix {
            if !principals.contains(&c.principal.as_str()) {
                principals.push(&c.principal);
            }
            if !tools.contains(&c.tool.as_str()) {
                tools.push(&c.tool);
            }
        }
        h.push_str("<p class=\"muted\">Each cell: expected / what the candidate's rules give.</p><table><tr><th>tool</th>");
        for p in &principals {
            let _ = write!(h, "<th><code>{}</code></th>", escape(p));
        }
        h.push_str("</tr>\n");
        for t in &tools {
            let _ = write!(h, "<tr><td><code>{}</code></td>", escape(t));
            for p in &principals {
                match report
                    .role_matrix
                    .iter()
                    .find(|c| c.principal == *p && c.tool == *t)
                {
                    None => h.push_str("<td class=\"muted\">—</td>"),
                    Some(c) => {
                        let got = match c.allowed {
                            Some(true) => "allow",
                            Some(false) => "deny",
                            None => "not served",
                        };
                        let ok = c.allowed.unwrap_or(false) == c.expected_allowed;
                        let _ = write!(
                            h,
                            "<td class=\"{}\" title=\"{}\">{} / {got}</td>",
                            if ok { "pass" } else { "fail" },
                            escape(&c.why),
                            if c.expected_allowed { "allow" } else { "deny" }
                        );
                    }
                }
            }
            h.push_str("</tr>\n");
        }
        h.push_str("</table>\n");
    }
    if !report.probes.is_empty() {
        h.push_str("<h2>Probes</h2><table><tr><th>probe</th><th>token from</th><th>tool</th><th>expected</th><th>answer</th><th>result</th></tr>\n");
        for p in &report.probes {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td><code>{}</code></td><td class=\"{}\">{}</td></tr>",
                escape(&p.name),
                escape(&p.token),
                escape(&p.tool),
                if p.expect == ProbeExpect::Refused {
                    "refused"
                } else {
                    "allowed"
                },
                escape(&p.answer),
                if p.passed() { "pass" } else { "fail" },
                if p.passed() { "pass" } else { "fail" }
            );
        }
        h.push_str("</table>\n");
    }
}

fn drill_section(h: &mut String, report: &GateReport) {
    let Some(d) = &report.rollback else { return };
    let _ = writeln!(
        h,
        "<h2>Rollback drill</h2><table>\
<tr><th>break</th><td><code>{}</code></td></tr><tr><th>trigger</th><td><code>{}</code></td></tr>\
<tr><th>reload</th><td>{}</td></tr><tr><th>kept last known good</th><td>{}</td></tr>\
<tr><th>failed probe calls</th><td>{}</td></tr><tr><th>recovery</th><td>{}</td></tr>\
<tr><th>target</th><td>{} s</td></tr><tr><th>restored afterwards</th><td>{}</td></tr></table>",
        escape(&d.break_kind),
        escape(&d.trigger),
        escape(&d.reload_outcome),
        d.rolled_back,
        d.failed_calls,
        d.recovery_seconds
            .map_or("never".into(), |s| format!("{} s", checks::num(s))),
        checks::num(d.target_seconds),
        d.restored
    );
    if !d.detail.is_empty() {
        let _ = writeln!(h, "<p class=\"muted\">{}</p>", escape(&d.detail));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::{Check, CheckKind, ProbeOutcome, WindowLatency};
    use crate::plan::Budget;
    use crate::verdict::Verdict;

    #[test]
    fn every_string_is_escaped_and_nothing_external_is_loaded() {
        let evil = "<script>alert('x')</script>&\"";
        let mut check = Check::skipped(CheckKind::AuthScope, evil);
        check.evidence.push(evil.into());
        let report = GateReport {
            format: crate::report::FORMAT.into(),
            toolgate_version: "0".into(),
            generated_at: evil.into(),
            plan: evil.into(),
            verdict: Verdict::decide(evil, evil, std::slice::from_ref(&check)),
            candidate: evil.into(),
            baseline: Some(evil.into()),
            checks: vec![check],
            contract_diff: Some(
                serde_json::json!({"old": {"label": evil}, "new": {"hash": evil},
                "findings": [{"severity": "breaking", "rule": evil, "component": evil, "pointer": evil, "reason": evil}]}),
            ),
            replay: None,
            latency: vec![LatencyRow {
                tool: evil.into(),
                budget: Some(Budget {
                    p50_ms: Some(10.0),
                    p95_ms: Some(20.0),
                }),
                windows: vec![
                    WindowLatency {
                        window: 0,
                        calls: 3,
                        p50_ms: Some(5.0),
                        p95_ms: Some(25.0),
                        over: true,
                    },
                    WindowLatency {
                        window: 1,
                        calls: 3,
                        p50_ms: Some(6.0),
                        p95_ms: Some(30.0),
                        over: true,
                    },
                ],
                failed: true,
            }],
            role_matrix: vec![checks::RoleCell {
                principal: evil.into(),
                tool: evil.into(),
                expected_allowed: true,
                allowed: Some(false),
                why: evil.into(),
            }],
            probes: vec![ProbeOutcome {
                name: evil.into(),
                token: evil.into(),
                tool: evil.into(),
                expect: ProbeExpect::Refused,
                answer: evil.into(),
                refused: true,
            }],
            rollback: None,
        };
        let html = render(&report);
        assert!(!html.contains("<script"), "unescaped: {html}");
        assert!(!html.contains("alert('x')"));
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"));
        for external in ["src=", "href=", "@import", "url("] {
            assert!(!html.contains(external), "external asset `{external}`");
        }
        assert!(
            html.contains("<svg") && html.contains("<polyline"),
            "a latency plot"
        );
    }
}
