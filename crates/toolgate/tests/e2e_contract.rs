//! `toolgate contract snapshot|diff` as a user runs them: the binary on the demo API's v1 and
//! v2 specs (examples/contract), its exit codes (0 compatible, 1 breaking, 2 bad input), the
//! text and Markdown reports (insta snapshots), migration notes, and configuration input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_toolgate");

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/contract")
        .join(name)
}

fn toolgate(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("TOOLGATE_CONFIG")
        .output()
        .expect("toolgate runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Snapshots `spec` with `label` into `dir`.
fn snapshot(dir: &Path, spec: &Path, label: &str) -> PathBuf {
    let out_file = dir.join(format!("{label}.contract.json"));
    let out = toolgate(&[
        "contract",
        "snapshot",
        path(spec),
        "--label",
        label,
        "-o",
        path(&out_file),
    ]);
    assert_eq!(common::exit_code(&out), 0, "{}", stderr(&out));
    out_file
}

fn write_json(dir: &Path, name: &str, v: &Value) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_string_pretty(v).unwrap()).unwrap();
    p
}

fn v1() -> Value {
    serde_json::from_str(&std::fs::read_to_string(example("todo-v1.json")).unwrap()).unwrap()
}

/// The operation of `v` with this operationId.
fn operation<'a>(v: &'a mut Value, id: &str) -> &'a mut Value {
    let paths = v["paths"].as_object_mut().unwrap();
    for item in paths.values_mut() {
        for op in item.as_object_mut().unwrap().values_mut() {
            if op.get("operationId").and_then(Value::as_str) == Some(id) {
                return op;
            }
        }
    }
    panic!("no operation {id}")
}

#[test]
fn a_snapshot_is_byte_stable_and_equals_its_spec() {
    let dir = tempfile::tempdir().unwrap();
    let one = snapshot(dir.path(), &example("todo-v1.json"), "v1");
    let first = std::fs::read(&one).unwrap();
    let again = toolgate(&[
        "contract",
        "snapshot",
        "--openapi",
        path(&example("todo-v1.json")),
        "--label",
        "v1",
    ]);
    assert_eq!(common::exit_code(&again), 0, "{}", stderr(&again));
    assert_eq!(
        again.stdout, first,
        "stdout and -o must hold the same bytes, run after run"
    );
    let doc: Value = serde_json::from_slice(&first).unwrap();
    assert_eq!(doc["format"], "toolgate-contract/1");
    assert_eq!(doc["label"], "v1");
    assert_eq!(doc["tools"].as_array().unwrap().len(), 9);
    assert!(doc["hash"].as_str().unwrap().starts_with("sha256:"));
    // A snapshot against the spec it was taken from: no change at all.
    let out = toolgate(&[
        "contract",
        "diff",
        path(&one),
        path(&example("todo-v1.json")),
    ]);
    assert_eq!(common::exit_code(&out), 0, "{}", stdout(&out));
    assert!(stdout(&out).contains("no changes"), "{}", stdout(&out));
}

#[test]
fn the_demo_v1_to_v2_has_one_breaking_change() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = snapshot(dir.path(), &example("todo-v1.json"), "v1");
    let v2 = snapshot(dir.path(), &example("todo-v2.json"), "v2");
    let text = toolgate(&["contract", "diff", path(&v1), path(&v2)]);
    assert_eq!(common::exit_code(&text), 1, "{}", stderr(&text));
    insta::assert_snapshot!("demo_v1_v2_text", stdout(&text));
    let md = toolgate(&[
        "contract",
        "diff",
        path(&v1),
        path(&v2),
        "--format",
        "markdown",
    ]);
    assert_eq!(common::exit_code(&md), 1);
    insta::assert_snapshot!("demo_v1_v2_markdown", stdout(&md));
    let js = toolgate(&["contract", "diff", path(&v1), path(&v2), "--format", "json"]);
    assert_eq!(common::exit_code(&js), 1);
    let report: Value = serde_json::from_str(&stdout(&js)).unwrap();
    assert_eq!(report["verdict"], "breaking");
    assert_eq!(report["counts"]["breaking"], 1);
    assert_eq!(report["findings"][0]["rule"], "maximum-decreased");
    assert_eq!(report["findings"][0]["component"], "list_tasks");
    assert_eq!(
        report["findings"][0]["pointer"],
        "/inputSchema/properties/limit/maximum"
    );
    // Specs work as inputs directly, and the other way round v2 → v1 breaks differently.
    let back = toolgate(&[
        "contract",
        "diff",
        path(&example("todo-v2.json")),
        path(&example("todo-v1.json")),
        "--format",
        "json",
    ]);
    assert_eq!(common::exit_code(&back), 1);
    let report: Value = serde_json::from_str(&stdout(&back)).unwrap();
    let rules: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "breaking")
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"argument-removed"), "{rules:?}");
    assert!(rules.contains(&"output-field-removed"), "{rules:?}");
}

#[test]
fn a_compatible_change_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut v = v1();
    let op = operation(&mut v, "list_users");
    op["description"] = json!("Lists every user, oldest first.");
    let changed = write_json(dir.path(), "v1b.json", &v);
    let out = toolgate(&[
        "contract",
        "diff",
        path(&example("todo-v1.json")),
        path(&changed),
    ]);
    assert_eq!(common::exit_code(&out), 0, "{}", stdout(&out));
    assert!(
        stdout(&out).contains("description-changed"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("compatible: 0 breaking"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn migration_notes_cover_a_rename_a_default_and_an_ended_deprecation() {
    let dir = tempfile::tempdir().unwrap();
    let mut v = v1();
    // delete_task → remove_task; create_task gets a required `project`; complete_task goes.
    operation(&mut v, "delete_task")["operationId"] = json!("remove_task");
    let create = v["components"]["schemas"]["TaskCreate"]
        .as_object_mut()
        .unwrap();
    create["properties"]["project"] = json!({"type": "string", "default": "inbox"});
    create["required"]
        .as_array_mut()
        .unwrap()
        .push(json!("project"));
    let paths = v["paths"].as_object_mut().unwrap();
    paths.remove("/api/v1/tasks/{task_id}/complete");
    let v3 = write_json(dir.path(), "v3.json", &v);
    let old = example("todo-v1.json");

    let bare = toolgate(&[
        "contract",
        "diff",
        path(&old),
        path(&v3),
        "--format",
        "json",
    ]);
    assert_eq!(common::exit_code(&bare), 1);
    let report: Value = serde_json::from_str(&stdout(&bare)).unwrap();
    assert_eq!(report["counts"]["breaking"], 3, "{report:#}");

    let notes = dir.path().join("migrations.yaml");
    std::fs::write(
        &notes,
        r#"migrations:
  - kind: rename
    tool: delete_task
    to: remove_task
    note: "renamed in 2.0, see CHANGELOG"
  - kind: default
    tool: create_task
    argument: project
    value: inbox
    note: "the API files tasks without a project under inbox until 2027"
  - kind: deprecation
    tool: complete_task
    sunset: "2026-06-30"
    note: "deprecated in 1.4 in favour of update_task with status=completed"
  - kind: default
    tool: create_tasks
    argument: project
    value: inbox
    note: "a typo: no such tool"
"#,
    )
    .unwrap();
    let before_sunset = toolgate(&[
        "contract",
        "diff",
        path(&old),
        path(&v3),
        "--migrations",
        path(&notes),
        "--as-of",
        "2026-06-01",
    ]);
    assert_eq!(
        common::exit_code(&before_sunset),
        1,
        "{}",
        stdout(&before_sunset)
    );
    let text = stdout(&before_sunset);
    assert!(text.contains("before its sunset date 2026-06-30"), "{text}");
    assert!(
        text.contains("covered by rename delete_task → remove_task"),
        "{text}"
    );
    assert!(text.contains("1 breaking, 2 covered"), "{text}");
    assert!(
        text.contains("warning: migration note `default create_tasks project = \"inbox\"` matches no breaking change"),
        "{text}"
    );

    let after = toolgate(&[
        "contract",
        "diff",
        path(&old),
        path(&v3),
        "--migrations",
        path(&notes),
        "--as-of",
        "2026-07-01",
        "--format",
        "json",
    ]);
    assert_eq!(common::exit_code(&after), 0, "{}", stdout(&after));
    let report: Value = serde_json::from_str(&stdout(&after)).unwrap();
    assert_eq!(report["counts"]["breaking"], 0, "{report:#}");
    assert_eq!(report["counts"]["covered"], 3, "{report:#}");
    // The rename was followed: the two are compared as one tool, not removed + added.
    let rules: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"tool-renamed"), "{rules:?}");
    assert!(!rules.contains(&"tool-added"), "{rules:?}");
}

#[test]
fn bad_input_exits_two_with_a_precise_message() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = example("todo-v1.json");
    let cases: Vec<(Vec<String>, &str)> = {
        let missing = dir.path().join("missing.json");
        let not_a_spec = write_json(dir.path(), "other.json", &json!({"hello": "world"}));
        let list = write_json(dir.path(), "list.json", &json!([1, 2]));
        let snap = snapshot(dir.path(), &v1, "v1");
        let mut doc: Value = serde_json::from_slice(&std::fs::read(&snap).unwrap()).unwrap();
        doc["tools"][0]["description"] = json!("edited by hand");
        let edited = write_json(dir.path(), "edited.json", &doc);
        let bad_notes = dir.path().join("bad.yaml");
        std::fs::write(
            &bad_notes,
            "migrations:\n  - kind: deprecation\n    tool: x\n    sunset: soon\n    note: n\n",
        )
        .unwrap();
        let unknown_kind = dir.path().join("unknown.yaml");
        std::fs::write(&unknown_kind, "migrations:\n  - kind: alias\n    tool: x\n").unwrap();
        let s = |p: &Path| p.to_str().unwrap().to_owned();
        vec![
            (vec!["diff".into(), s(&missing), s(&v1)], "OLD `"),
            (
                vec!["diff".into(), s(&v1), s(&not_a_spec)],
                "not a contract snapshot (no `format: toolgate-contract/1`), an OpenAPI document",
            ),
            (
                vec!["diff".into(), s(&v1), s(&list)],
                "found a list at the top",
            ),
            (
                vec!["diff".into(), s(&edited), s(&v1)],
                "does not match its hash",
            ),
            (
                vec![
                    "diff".into(),
                    s(&v1),
                    s(&v1),
                    "--migrations".into(),
                    s(&bad_notes),
                ],
                "migrations[0].sunset: `soon` is not a date",
            ),
            (
                vec![
                    "diff".into(),
                    s(&v1),
                    s(&v1),
                    "--migrations".into(),
                    s(&unknown_kind),
                ],
                "unknown variant `alias`",
            ),
            (
                vec![
                    "diff".into(),
                    s(&v1),
                    s(&v1),
                    "--as-of".into(),
                    "yesterday".into(),
                ],
                "--as-of `yesterday` is not a date",
            ),
            (
                vec!["snapshot".into(), s(&snap)],
                "already a contract snapshot",
            ),
        ]
    };
    for (args, expected) in cases {
        let mut argv = vec!["contract"];
        argv.extend(args.iter().map(String::as_str));
        let out = toolgate(&argv);
        assert_eq!(common::exit_code(&out), 2, "{argv:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(expected),
            "{argv:?}: expected {expected:?} in {}",
            stderr(&out)
        );
        assert!(stdout(&out).is_empty(), "{argv:?}: {}", stdout(&out));
    }
}

#[test]
fn a_configuration_is_snapshotted_as_served() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(example("todo-v1.json"), dir.path().join("todo.json")).unwrap();
    let config = dir.path().join("toolgate.yaml");
    std::fs::write(
        &config,
        "sources:\n  - name: todo\n    spec: todo.json\n    tools:\n      deny: [\"delete_*\"]\n      aliases: { create_user: add_user }\n      annotations: { get_task: { open_world: false } }\n",
    )
    .unwrap();
    let out = toolgate(&[
        "contract",
        "snapshot",
        "--config",
        path(&config),
        "--label",
        "cfg",
    ]);
    assert_eq!(common::exit_code(&out), 0, "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let names: Vec<&str> = doc["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"add_user") && !names.contains(&"create_user"),
        "{names:?}"
    );
    assert!(!names.contains(&"delete_task"), "{names:?}");
    let get = doc["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "get_task")
        .unwrap();
    assert_eq!(get["annotations"]["openWorldHint"], false);
    // Detected as a configuration when given positionally, and compared with the bare spec:
    // the curation shows as changes.
    let out = toolgate(&[
        "contract",
        "diff",
        path(&example("todo-v1.json")),
        path(&config),
        "--format",
        "json",
    ]);
    assert_eq!(common::exit_code(&out), 1, "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let found: Vec<(String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_owned(),
                f["component"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for expected in [
        ("tool-removed", "create_user"),
        ("tool-removed", "delete_task"),
        ("tool-added", "add_user"),
        ("open-world-hint-removed", "get_task"),
    ] {
        assert!(
            found.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "{expected:?} not in {found:?}"
        );
    }
}

#[test]
fn an_mcp_source_is_started_listed_and_in_the_contract() {
    let Some(node) = common::dependency("TOOLGATE_TEST_NODE22") else {
        return;
    };
    let Some(modules) = common::dependency("TOOLGATE_TEST_NODE_MODULES") else {
        return;
    };
    let server = modules.join("@modelcontextprotocol/server-everything/dist/index.js");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("toolgate.yaml");
    let source = json!({"sources": [{
        "name": "everything",
        "kind": "mcp",
        "transport": {"type": "stdio", "command": node, "args": [server, "stdio"]},
    }]});
    std::fs::write(&config, serde_json::to_string(&source).unwrap()).unwrap();
    let out = toolgate(&["contract", "snapshot", "--config", path(&config)]);
    assert_eq!(common::exit_code(&out), 0, "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let names: Vec<&str> = doc["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"everything_echo"), "{names:?}");
    assert!(!doc["prompts"].as_array().unwrap().is_empty(), "{doc:#}");
    assert!(
        !doc["resources"].as_array().unwrap().is_empty()
            || !doc["resource_templates"].as_array().unwrap().is_empty(),
        "{doc:#}"
    );
    // The same server twice: the same contract.
    let again = toolgate(&["contract", "diff", path(&config), path(&config)]);
    assert_eq!(
        common::exit_code(&again),
        0,
        "{}{}",
        stdout(&again),
        stderr(&again)
    );

    // A server that cannot start is bad input, not a contract without its tools.
    let broken = dir.path().join("broken.yaml");
    let source = json!({"sources": [{
        "name": "nothing",
        "kind": "mcp",
        "transport": {"type": "stdio", "command": dir.path().join("no-such-server")},
    }]});
    std::fs::write(&broken, serde_json::to_string(&source).unwrap()).unwrap();
    let out = toolgate(&["contract", "snapshot", "--config", path(&broken)]);
    assert_eq!(common::exit_code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("MCP source `nothing` could not be started"),
        "{}",
        stderr(&out)
    );
}
