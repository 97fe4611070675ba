//! Plan parsing: a good plan loads; every bad one is refused with the path of the problem.

use super::*;

const GOOD: &str = r#"
tool: todo-api
objective: promote todo v2
candidate: {config: todo.yaml}
baseline: todo.v1.contract.json
migrations: migrations.yaml
replay: {input: workflow.yaml, windows: 3, concurrency: 2}
budgets:
  default: {p50_ms: 50, p95_ms: 200}
  tools:
    create_task: {p95_ms: 300}
retry_ceiling: {retries_per_call: 0.2}
auth:
  roles:
    - {role: reader, may: [list_tasks], may_not: [delete_task]}
  probes:
    - {name: expired, token: {env: GATE_EXPIRED}, tool: list_tasks, expect: refused}
rollback:
  target_seconds: 5
  break: {config: broken.yaml}
  probe: {tool: list_tasks}
"#;

fn problems(text: &str) -> String {
    Plan::parse(text, "gate.yaml").unwrap_err().to_string()
}

#[test]
fn a_complete_plan_loads_with_defaults_and_resolves_paths() {
    let mut plan = Plan::parse(GOOD, "gate.yaml").unwrap();
    assert_eq!(plan.replay.as_ref().unwrap().repeat, 1);
    assert_eq!(
        plan.budgets
            .as_ref()
            .unwrap()
            .of("create_task")
            .unwrap()
            .p95_ms,
        Some(300.0)
    );
    assert_eq!(
        plan.budgets.as_ref().unwrap().of("other").unwrap().p50_ms,
        Some(50.0)
    );
    assert_eq!(plan.retry_ceiling.unwrap().growth_tolerance, 0.01);
    assert_eq!(plan.rollback.as_ref().unwrap().trigger, Trigger::Admin);
    plan.baseline = Some(PathBuf::from("../contracts/./v1.json"));
    plan.resolve(Path::new("/plans/gate"));
    assert_eq!(
        plan.baseline.as_deref(),
        Some(Path::new("/plans/contracts/v1.json"))
    );
    assert_eq!(
        plan.candidate.config.as_deref(),
        Some(Path::new("/plans/gate/todo.yaml"))
    );
    assert_eq!(
        plan.rollback.as_ref().unwrap().break_,
        Break::Config(PathBuf::from("/plans/gate/broken.yaml"))
    );
    // The built-in breaks are plain words.
    let plan = Plan::parse(
        &GOOD.replace("break: {config: broken.yaml}", "break: restart"),
        "g",
    )
    .unwrap();
    assert_eq!(plan.rollback.unwrap().break_, Break::Restart);
}

#[test]
fn an_unknown_key_is_named_with_its_path() {
    let e = problems(&GOOD.replace("create_task: {p95_ms: 300}", "create_task: {p95: 300}"));
    assert!(
        e.starts_with("gate.yaml: budgets.tools.create_task: unknown field `p95`"),
        "{e}"
    );
    let e = problems(&GOOD.replace("retry_ceiling:", "retry_cieling:"));
    assert!(e.contains("unknown field `retry_cieling`"), "{e}");
    let e = problems(&GOOD.replace("expect: refused", "expect: denied"));
    assert!(
        e.contains("auth.probes[0].expect: unknown variant `denied`"),
        "{e}"
    );
    let e = problems(&GOOD.replace("windows: 3", "windows: many"));
    assert!(e.contains("replay.windows: invalid type"), "{e}");
    let e = problems("tool: x\n");
    assert!(e.contains("missing field `objective`"), "{e}");
}

#[test]
fn every_semantic_problem_is_reported_at_once() {
    let text = r#"
tool: ""
objective: o
candidate: {url: "ftp://x", bearer: {env: A, file: b}}
baseline: b.json
replay: {input: w.yaml, windows: 1}
budgets: {default: {}, tools: {slow: {p95_ms: -1}}}
auth: {roles: [{role: r}]}
rollback: {target_seconds: 0, probe: {tool: t}}
"#;
    let e = problems(text);
    for expected in [
        "gate.yaml: tool: must not be empty",
        "candidate.url: `ftp://x` is not an http(s) URL",
        "candidate.contract: a `url` candidate needs it",
        "candidate.bearer: give exactly one of `env: VAR` and `file: PATH`",
        "replay.windows: 1 — budgets need at least 2",
        "budgets.default: give p50_ms, p95_ms or both",
        "budgets.tools.slow.p95_ms: a positive number",
        "auth.roles: the role matrix is computed from the candidate's configuration",
        "auth.roles[0]: give `may`, `may_not` or both",
        "rollback: the drill breaks and reloads a candidate the gate starts",
        "rollback.target_seconds: a positive number",
    ] {
        assert!(e.contains(expected), "`{expected}` missing from:\n{e}");
    }
}

#[test]
fn budgets_and_retry_ceiling_need_a_replay() {
    let e = problems(
        "tool: t\nobjective: o\ncandidate: {config: c.yaml}\nbudgets: {default: {p95_ms: 1}}\nretry_ceiling: {retries_per_call: 0.1}\n",
    );
    assert!(
        e.contains("budgets: latency is measured by the replay"),
        "{e}"
    );
    assert!(
        e.contains("retry_ceiling: retries are measured by the replay"),
        "{e}"
    );
}

#[test]
fn a_break_is_a_word_or_a_config_file() {
    let e = problems(&GOOD.replace("break: {config: broken.yaml}", "break: explode"));
    assert!(e.contains("rollback: break: unknown `explode`"), "{e}");
    let e = problems(&GOOD.replace("break: {config: broken.yaml}", "break: {file: broken.yaml}"));
    assert!(
        e.contains("rollback: break: unknown field `file`, expected `config`"),
        "{e}"
    );
}
