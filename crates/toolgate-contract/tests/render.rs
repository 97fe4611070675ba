//! The three renderings of one report with every kind of line: a failing breaking change, a
//! covered one (rename and default notes), a compatible and an informational change, a note
//! that matched nothing, and text that would break a Markdown table.

use serde_json::json;
use toolgate_contract::{Contract, Migrations, ToolContract, diff_with, render};

fn tool(name: &str, input: serde_json::Value, description: &str) -> ToolContract {
    ToolContract {
        name: name.into(),
        title: None,
        description: Some(description.into()),
        input_schema: input,
        output_schema: None,
        annotations: Some(json!({"readOnlyHint": true})),
    }
}

fn report() -> toolgate_contract::DiffReport {
    let empty = json!({"type": "object", "properties": {}});
    let old = Contract::new(
        Some("v1".into()),
        "test",
        vec![
            tool(
                "list_tasks",
                json!({"type": "object", "properties": {"status": {"type": "string", "enum": ["open", "done", "a|b"]}}}),
                "Lists tasks.",
            ),
            tool("remove", empty.clone(), "Removes."),
            tool("create", empty.clone(), "Creates."),
        ],
        vec![],
        vec![],
        vec![],
    );
    let new = Contract::new(
        Some("v2".into()),
        "test",
        vec![
            tool(
                "list_tasks",
                json!({"type": "object", "properties": {"status": {"type": "string", "enum": ["open", "done"]}, "page": {"type": "integer"}}}),
                "Lists tasks | all of them.",
            ),
            tool("delete", empty, "Removes."),
            tool(
                "create",
                json!({"type": "object", "properties": {"project": {"type": "string"}}, "required": ["project"]}),
                "Creates.",
            ),
        ],
        vec![],
        vec![],
        vec![],
    );
    let migrations: Migrations = serde_json::from_value(json!({"migrations": [
        {"kind": "rename", "tool": "remove", "to": "delete", "note": "renamed in v2"},
        {"kind": "default", "tool": "create", "argument": "project", "value": "inbox", "note": "filled by the API"},
        {"kind": "deprecation", "tool": "gone", "sunset": "2026-01-01", "note": "never existed"}
    ]}))
    .unwrap();
    migrations.validate().unwrap();
    diff_with(&old, &new, &migrations, "2026-06-01")
}

#[test]
fn text() {
    let r = report();
    assert!(r.is_breaking());
    insta::assert_snapshot!(render::text(&r));
}

#[test]
fn markdown() {
    insta::assert_snapshot!(render::markdown(&report()));
}

#[test]
fn json() {
    insta::assert_snapshot!(render::json(&report()));
}

#[test]
fn markdown_stays_within_a_comment() {
    let r = report();
    let full = render::markdown(&r);
    // Room for the breaking table's first row only: the rest is counted, not cut mid-row.
    let short = render::markdown_within(&r, 250);
    assert!(short.len() < full.len());
    assert!(short.contains("`enum-value-removed`"), "{short}");
    assert!(!short.contains("`tool-renamed`"), "{short}");
    assert!(
        short.contains("*4 more findings are not shown here"),
        "{short}"
    );
    assert!(
        short
            .lines()
            .filter(|l| l.starts_with("| "))
            .all(|l| l.ends_with(" |")),
        "{short}"
    );
    assert!(!full.contains("more findings are not shown"));
}
