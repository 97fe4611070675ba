//! `toolgate gate --plan` as a release manager runs it, with the binary and real processes:
//! a clean candidate (authentication on, role matrix, live probes, a rollback drill through
//! `POST /admin/reload`) gets `rollout`; a tool over its latency budget in both windows gets
//! `patch` (with a restart drill that still passes), and so do retries over the ceiling (counted
//! at a flaky backend too); a drill that breaks the backend is rolled back by the hot reload's
//! readiness grace; a breaking contract change gets `hold`,
//! and `rollout` once a migration note covers it; bad plans and unreachable candidates exit 2.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_toolgate");

/// API keys whose SHA-256 are in [`AUTH`] (the same pair as e2e_reload_admin.rs).
const ADMIN_KEY: &str = "admin-key-0123456789abcdef";
const READER_KEY: &str = "reader-key-0123456789abcdef";
const HS_SECRET: &str = "gate-test-hs-secret-0123456789-abcdef";

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn gate(plan: &Path, extra: &[&str]) -> Output {
    let dir = plan.parent().unwrap();
    Command::new(BIN)
        .arg("gate")
        .arg("--plan")
        .arg(plan)
        .args(["--json", dir.join("report.json").to_str().unwrap()])
        .args(["--html", dir.join("report.html").to_str().unwrap()])
        .args(extra)
        .env_remove("TOOLGATE_CONFIG")
        .env("GATE_ADMIN_KEY", ADMIN_KEY)
        .env("GATE_READER_KEY", READER_KEY)
        .output()
        .expect("toolgate runs")
}

/// The verdict line: the last line on stdout.
fn verdict(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout)
        .trim_end()
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned()
}

fn report(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap()
}

fn check<'a>(report: &'a Value, kind: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == kind)
        .unwrap_or_else(|| panic!("no check {kind} in {report:#}"))
}

fn snapshot(input: &Path, label: &str, out: &Path) {
    let o = Command::new(BIN)
        .args([
            "contract",
            "snapshot",
            input.to_str().unwrap(),
            "--label",
            label,
            "-o",
        ])
        .arg(out)
        .output()
        .unwrap();
    assert_eq!(common::exit_code(&o), 0, "{}", common::output_text(&o));
}

/// An HS256 token for `gate-test` that expired an hour ago.
fn expired_token() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({"sub": "gate", "aud": "gate-test", "scope": "tools:call",
        "roles": ["admin"], "exp": now - 3600, "iat": now - 7200});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(HS_SECRET.as_bytes()),
    )
    .unwrap()
}

const AUTH: &str = "auth:
  audience: [gate-test]
  roles_claim: roles
  jwt:
    hs_secret: HS
  api_keys:
    - id: admin
      sha256: 1b3af7d2f1f3428ee7d76d5be730b93565efcf2ecbb7819caf9002bca23d4545
      scopes: [toolgate:admin]
      roles: [admin]
    - id: reader
      sha256: 75b38889ff0e52878a7637a97ae16cbe0af0f5542459765a705db1e2e8b7d33d
      roles: [reader]
authorization:
  rules:
    - name: read
      principals: {roles: [reader, admin]}
      tools: {read_only: true}
    - name: admin
      principals: {roles: [admin]}
      tools: {}
";

const WORKFLOW: &str = r#"
name: a user, a task, and the task read back
steps:
  - id: user
    tool: create_user
    arguments: {name: "gate ${iteration}", email: "gate-${iteration}@example.com"}
  - id: task
    tool: create_task
    arguments: {user_id: "${user/id}", title: "task of ${user/name}", priority: high}
  - id: read
    tool: get_task
    arguments: {task_id: "${task/id}"}
"#;

#[test]
fn a_clean_candidate_passes_every_check_and_the_drill_measures_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let api = common::todo_api_thread();
    write(d, "todo.json", &todo_api::openapi().to_string());
    let config = write(
        d,
        "candidate.yaml",
        &format!(
            "sources:\n  - name: todo\n    spec: todo.json\n    base_url: http://{api}\n{}",
            AUTH.replace("hs_secret: HS", &format!("hs_secret: {HS_SECRET}"))
        ),
    );
    snapshot(&config, "v1", &d.join("baseline.json"));
    write(d, "workflow.yaml", WORKFLOW);
    write(d, "expired.jwt", &expired_token());
    let plan = write(
        d,
        "gate.yaml",
        r#"
tool: todo-api
objective: promote todo v1.1
candidate: {config: candidate.yaml, bearer: {env: GATE_ADMIN_KEY}}
baseline: baseline.json
replay: {input: workflow.yaml, windows: 2, repeat: 10, concurrency: 2}
budgets: {default: {p50_ms: 20000, p95_ms: 30000}}
retry_ceiling: {retries_per_call: 0.5}
auth:
  roles:
    - {role: reader, may: [get_task, list_tasks], may_not: [delete_task, create_task]}
    - {role: admin, may: [delete_task, create_task]}
  probes:
    - {name: a reader deletes, token: {env: GATE_READER_KEY}, tool: delete_task, arguments: {task_id: "00000000-0000-0000-0000-000000000000"}, expect: refused}
    - {name: an expired token, token: {file: expired.jwt}, tool: list_tasks, expect: refused}
    - {name: no token, tool: list_tasks, expect: refused}
    - {name: an admin lists, token: {env: GATE_ADMIN_KEY}, tool: list_tasks, expect: allowed}
rollback:
  target_seconds: 60
  break: invalid_config
  probe: {tool: list_tasks}
  admin_token: {env: GATE_ADMIN_KEY}
"#,
    );
    let out = gate(&plan, &[]);
    assert_eq!(common::exit_code(&out), 0, "{}", common::output_text(&out));
    let line = verdict(&out);
    assert!(
        line.starts_with("tool=todo-api objective=\"promote todo v1.1\" preview_result=pass primary_metric=p95_ms:"),
        "{line}"
    );
    assert!(line.ends_with(" next_step=rollout"), "{line}");
    let r = report(d);
    assert_eq!(r["format"], "toolgate-gate/1");
    for kind in [
        "schema_contract",
        "auth_scope",
        "latency_budget",
        "retry_ceiling",
        "rollback_drill",
    ] {
        assert_eq!(
            check(&r, kind)["status"],
            "pass",
            "{kind}: {:#}",
            check(&r, kind)
        );
    }
    assert_eq!(
        r["replay"]["calls"], 60,
        "2 windows × 10 iterations × 3 steps"
    );
    assert_eq!(r["latency"].as_array().unwrap().len(), 3);
    assert_eq!(r["role_matrix"].as_array().unwrap().len(), 6);
    let probes = r["probes"].as_array().unwrap();
    assert_eq!(probes[1]["answer"], "http_401", "{probes:#?}");
    assert_eq!(probes[2]["answer"], "http_401", "{probes:#?}");
    assert_eq!(probes[3]["answer"], "ok", "{probes:#?}");
    // The drill: the broken configuration was refused, the candidate kept serving, and it was
    // put back afterwards.
    let drill = &r["rollback"];
    assert_eq!(drill["rolled_back"], true, "{drill:#}");
    assert_eq!(drill["restored"], true, "{drill:#}");
    assert_eq!(drill["failed_calls"], 0, "{drill:#}");
    assert!(drill["recovery_seconds"].as_f64().is_some(), "{drill:#}");
    assert!(
        drill["reload_outcome"]
            .as_str()
            .unwrap()
            .contains("reload refused"),
        "{drill:#}"
    );
    // Tokens never reach the outputs; the drill's copy of the configuration is gone.
    let html = std::fs::read_to_string(d.join("report.html")).unwrap();
    let json = std::fs::read_to_string(d.join("report.json")).unwrap();
    for secret in [ADMIN_KEY, READER_KEY, HS_SECRET, expired_token().as_str()] {
        for (name, s) in [
            ("stdout", common::output_text(&out)),
            ("json", json.clone()),
            ("html", html.clone()),
        ] {
            assert!(!s.contains(secret), "a token in {name}");
        }
    }
    assert!(
        html.contains("<svg") && html.contains("Rollback drill"),
        "the HTML report"
    );
    let leftovers: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".gate-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(
        std::fs::read_to_string(&config)
            .unwrap()
            .contains("sources:"),
        "the original is untouched"
    );
}

/// A backend with a slow and a fast operation, from a thread of its own.
fn slow_backend(delay: Duration) -> SocketAddr {
    use axum::{Json, Router, routing::get};
    let router = Router::new()
        .route(
            "/slow",
            get(move || async move {
                tokio::time::sleep(delay).await;
                Json(serde_json::json!({"ok": true}))
            }),
        )
        .route(
            "/fast",
            get(|| async { Json(serde_json::json!({"ok": true})) }),
        );
    common::router_thread(router)
}

/// An OpenAPI document with two GET operations answering `{"ok": true}`: `/{name}`
/// (`{name}_echo`) and `/fast` (`fast_echo`).
fn two_echo_spec(name: &str) -> String {
    let op = |path: &str| {
        serde_json::json!({"get": {"operationId": format!("{path}_echo"), "responses": {"200": {
            "description": "ok",
            "content": {"application/json": {"schema": {"type": "object",
                "properties": {"ok": {"type": "boolean"}}}}}}}}})
    };
    serde_json::json!({"openapi": "3.0.3", "info": {"title": name, "version": "1"},
        "paths": {format!("/{name}"): op(name), "/fast": op("fast")}})
    .to_string()
}

#[test]
fn a_tool_over_budget_in_two_consecutive_windows_gives_patch() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Every call of slow_echo takes at least 60 ms: over a 20 ms budget whatever the machine.
    let api = slow_backend(Duration::from_millis(60));
    write(d, "slow.json", &two_echo_spec("slow"));
    write(
        d,
        "candidate.yaml",
        &format!("sources:\n  - name: slow\n    spec: slow.json\n    base_url: http://{api}\n"),
    );
    write(
        d,
        "workflow.yaml",
        "name: slow then fast\nsteps:\n  - {id: s, tool: slow_echo, arguments: {}}\n  - {id: f, tool: fast_echo, arguments: {}}\n",
    );
    let plan = write(
        d,
        "gate.yaml",
        r#"
tool: slow-api
objective: promote slow-api v2
candidate: {config: candidate.yaml, mode: session}
replay: {input: workflow.yaml, windows: 2, repeat: 5, concurrency: 1}
budgets:
  default: {p95_ms: 30000}
  tools:
    slow_echo: {p50_ms: 10, p95_ms: 20}
rollback:
  target_seconds: 60
  break: restart
  probe: {tool: fast_echo}
"#,
    );
    let out = gate(&plan, &[]);
    assert_eq!(common::exit_code(&out), 1, "{}", common::output_text(&out));
    let line = verdict(&out);
    assert!(
        line.starts_with("tool=slow-api objective=\"promote slow-api v2\" preview_result=fail primary_metric=p95_ms:slow_echo="),
        "{line}"
    );
    assert!(
        line.contains(">20 ") && line.ends_with(" next_step=patch"),
        "{line}"
    );
    let r = report(d);
    assert_eq!(r["replay"]["settings"]["mode"], "session", "candidate.mode");
    let latency = check(&r, "latency_budget");
    assert_eq!(latency["status"], "fail", "{latency:#}");
    assert!(
        latency["summary"].as_str().unwrap().contains("slow_echo"),
        "{latency:#}"
    );
    let rows = r["latency"].as_array().unwrap();
    let slow = rows.iter().find(|x| x["tool"] == "slow_echo").unwrap();
    assert_eq!(slow["failed"], true);
    assert!(
        slow["windows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|w| w["over"] == true),
        "{slow:#}"
    );
    let fast = rows.iter().find(|x| x["tool"] == "fast_echo").unwrap();
    assert_eq!(fast["failed"], false, "{fast:#}");
    // The restart drill: the same artifact started again and answered.
    let drill = check(&r, "rollback_drill");
    assert_eq!(drill["status"], "pass", "{drill:#}");
    assert!(r["rollback"]["recovery_seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(check(&r, "schema_contract")["status"], "pass");
    assert_eq!(check(&r, "auth_scope")["status"], "skipped");
    assert_eq!(check(&r, "retry_ceiling")["status"], "skipped");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("SKIP auth_scope") && stdout.contains("FAIL latency_budget"),
        "{stdout}"
    );
}

/// A backend whose `/flaky` answers 503 to every other request (counted), and `/fast` 200.
fn flaky_backend() -> (SocketAddr, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    use axum::http::StatusCode;
    use axum::{Json, Router, routing::get};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let hits = Arc::new(AtomicU64::new(0));
    let counter = hits.clone();
    let router = Router::new()
        .route(
            "/flaky",
            get(move || {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n.is_multiple_of(2) {
                        Err(StatusCode::SERVICE_UNAVAILABLE)
                    } else {
                        Ok(Json(serde_json::json!({"ok": true})))
                    }
                }
            }),
        )
        .route(
            "/fast",
            get(|| async { Json(serde_json::json!({"ok": true})) }),
        );
    (common::router_thread(router), hits)
}

/// The retry ceiling on real retries: the candidate retries every other backend answer (503),
/// the replay counts the attempts each result reports, and the gate compares them with the
/// plan's ceiling: over it, `patch`. The retries the gate reports are the ones the backend got.
#[test]
fn retries_over_the_ceiling_give_patch_and_match_what_the_backend_saw() {
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (api, hits) = flaky_backend();
    write(d, "flaky.json", &two_echo_spec("flaky"));
    write(
        d,
        "candidate.yaml",
        &format!(
            "resilience:\n  retry: {{base_delay_ms: 1, max_delay_ms: 5, budget: {{ratio: 1.0}}}}\n\
             sources:\n  - name: flaky\n    spec: flaky.json\n    base_url: http://{api}\n"
        ),
    );
    write(
        d,
        "workflow.yaml",
        "name: flaky then fast\nsteps:\n  - {id: s, tool: flaky_echo, arguments: {}}\n  - {id: f, tool: fast_echo, arguments: {}}\n",
    );
    let plan = write(
        d,
        "gate.yaml",
        r#"
tool: flaky-api
objective: promote flaky-api v2
candidate: {config: candidate.yaml, mode: stateless}
replay: {input: workflow.yaml, windows: 2, repeat: 5, concurrency: 1}
budgets:
  default: {p95_ms: 30000}
retry_ceiling: {retries_per_call: 0.2}
"#,
    );
    let out = gate(&plan, &[]);
    assert_eq!(common::exit_code(&out), 1, "{}", common::output_text(&out));
    let line = verdict(&out);
    assert!(
        line.starts_with(
            "tool=flaky-api objective=\"promote flaky-api v2\" preview_result=fail primary_metric=retries_per_call:flaky_echo=1>0.2 "
        ) && line.ends_with(" next_step=patch"),
        "{line}"
    );
    let r = report(d);
    let ceiling = check(&r, "retry_ceiling");
    assert_eq!(ceiling["status"], "fail", "{ceiling:#}");
    let tools = r["replay"]["tools"].as_array().unwrap();
    let flaky = tools.iter().find(|t| t["tool"] == "flaky_echo").unwrap();
    let (calls, retries) = (
        flaky["total"]["calls"].as_u64().unwrap(),
        flaky["total"]["retries"].as_u64().unwrap(),
    );
    assert_eq!(calls, 10, "{flaky:#}");
    assert_eq!(
        retries, 10,
        "each call's first attempt got a 503: {flaky:#}"
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        calls + retries,
        "the backend saw every call and every retry, and nothing else"
    );
    let fast = tools.iter().find(|t| t["tool"] == "fast_echo").unwrap();
    assert_eq!(fast["total"]["retries"], 0, "{fast:#}");
    assert_eq!(check(&r, "latency_budget")["status"], "pass");
}

#[test]
fn a_breaking_contract_change_holds_and_a_migration_note_rolls_out() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let api = common::todo_api_thread();
    let examples = common::repo_root().join("examples/contract");
    snapshot(
        &examples.join("todo-v1.json"),
        "v1",
        &d.join("v1.contract.json"),
    );
    std::fs::copy(examples.join("todo-v2.json"), d.join("todo-v2.json")).unwrap();
    write(
        d,
        "v2.yaml",
        &format!("sources:\n  - name: todo\n    spec: todo-v2.json\n    base_url: http://{api}\n"),
    );
    let plan = write(
        d,
        "gate.yaml",
        "tool: todo-api\nobjective: promote todo v2\ncandidate: {config: v2.yaml}\nbaseline: v1.contract.json\n",
    );
    let out = gate(&plan, &[]);
    assert_eq!(common::exit_code(&out), 1, "{}", common::output_text(&out));
    assert_eq!(
        verdict(&out),
        "tool=todo-api objective=\"promote todo v2\" preview_result=fail primary_metric=breaking_changes=1 next_step=hold"
    );
    let r = report(d);
    let contract = check(&r, "schema_contract");
    assert_eq!(contract["status"], "fail");
    assert!(
        contract["evidence"][0]
            .as_str()
            .unwrap()
            .contains("maximum-decreased"),
        "{contract:#}"
    );
    assert_eq!(
        r["contract_diff"]["findings"][0]["rule"],
        "maximum-decreased"
    );
    let html = std::fs::read_to_string(d.join("report.html")).unwrap();
    assert!(html.contains("maximum-decreased") && html.contains("next step: hold"));

    // A deprecation window that has ended covers it.
    write(
        d,
        "migrations.yaml",
        "migrations:\n  - kind: deprecation\n    tool: list_tasks\n    sunset: \"2026-06-30\"\n    note: limit above 100 deprecated in 1.4\n",
    );
    let plan = write(
        d,
        "gate.yaml",
        "tool: todo-api\nobjective: promote todo v2\ncandidate: {config: v2.yaml}\nbaseline: v1.contract.json\nmigrations: migrations.yaml\n",
    );
    let out = gate(&plan, &["--as-of", "2026-07-01"]);
    assert_eq!(common::exit_code(&out), 0, "{}", common::output_text(&out));
    assert_eq!(
        verdict(&out),
        "tool=todo-api objective=\"promote todo v2\" preview_result=pass primary_metric=checks_passed=1/1 next_step=rollout"
    );
}

#[test]
fn bad_plans_and_unreachable_candidates_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "workflow.yaml", WORKFLOW);
    let base = "tool: t\nobjective: o\n";
    for (plan, expected) in [
        (
            format!(
                "{base}candidate: {{url: \"http://127.0.0.1:9/mcp\"}}\nreplay: {{input: workflow.yaml}}\nbudgets: {{tools: {{get_task: {{p95: 3}}}}}}\n"
            ),
            "budgets.tools.get_task: unknown field `p95`",
        ),
        (
            format!("{base}candidate: {{config: c.yaml, url: \"http://x\"}}\n"),
            "candidate: give exactly one of `config: FILE` and `url: URL`",
        ),
        (
            format!(
                "{base}candidate: {{url: \"http://127.0.0.1:9/mcp\", bearer: {{env: GATE_TEST_UNSET_VARIABLE}}}}\n"
            ),
            "candidate.bearer: the environment variable GATE_TEST_UNSET_VARIABLE is not set",
        ),
        (
            // Nothing listens on port 9.
            format!(
                "{base}candidate: {{url: \"http://127.0.0.1:9/mcp\"}}\nreplay: {{input: workflow.yaml}}\n"
            ),
            "the candidate cannot be reached",
        ),
    ] {
        let p = write(d, "gate.yaml", &plan);
        let out = gate(&p, &[]);
        assert_eq!(
            common::exit_code(&out),
            2,
            "{plan}\n{}",
            common::output_text(&out)
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(expected),
            "`{expected}` missing:\n{}",
            common::output_text(&out)
        );
        assert!(
            !d.join("report.json").exists(),
            "no report for a plan that did not run"
        );
    }
}

/// examples/gate as docs/gate.md runs it, against a Todo API on a free port (the example's
/// `127.0.0.1:8000` rewritten) and with budgets no machine misses (no timed assertion):
/// v2's breaking change holds before the migration note's sunset, `rollout` after it.
#[test]
fn the_example_plan_holds_then_rolls_out_after_the_sunset() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let api = common::todo_api_thread();
    let examples = common::repo_root().join("examples");
    for sub in ["gate", "contract", "replay"] {
        std::fs::create_dir(d.join(sub)).unwrap();
        for entry in std::fs::read_dir(examples.join(sub)).unwrap() {
            let entry = entry.unwrap();
            let text = std::fs::read_to_string(entry.path()).unwrap();
            let text = text
                .replace("127.0.0.1:8000", &api.to_string())
                .replace("p50_ms: 50", "p50_ms: 30000")
                .replace("p95_ms: 200", "p95_ms: 30000")
                .replace("p95_ms: 100", "p95_ms: 30000")
                .replace("target_seconds: 5", "target_seconds: 60");
            std::fs::write(d.join(sub).join(entry.file_name()), text).unwrap();
        }
    }
    let plan = d.join("gate/gate.yaml");
    let out = gate(&plan, &["--as-of", "2027-03-30"]);
    assert_eq!(common::exit_code(&out), 1, "{}", common::output_text(&out));
    assert_eq!(
        verdict(&out),
        "tool=todo-api objective=\"promote todo-api v2\" preview_result=fail primary_metric=breaking_changes=1 next_step=hold"
    );
    let r = report(&d.join("gate"));
    for kind in [
        "auth_scope",
        "latency_budget",
        "retry_ceiling",
        "rollback_drill",
    ] {
        assert_eq!(
            check(&r, kind)["status"],
            "pass",
            "{kind}: {:#}",
            check(&r, kind)
        );
    }
    let out = gate(&plan, &["--as-of", "2027-03-31"]);
    assert_eq!(common::exit_code(&out), 0, "{}", common::output_text(&out));
    assert!(
        verdict(&out).ends_with("next_step=rollout"),
        "{}",
        common::output_text(&out)
    );
}

/// A drill whose "broken" configuration is one the candidate accepts (a source removed): the
/// reload through SIGHUP applies it, nothing was rolled back, and the probe's tool is gone —
/// the drill fails and the verdict is `hold`.
#[test]
fn a_drill_whose_break_is_accepted_fails_and_holds() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let api = common::todo_api_thread();
    write(d, "todo.json", &todo_api::openapi().to_string());
    write(
        d,
        "candidate.yaml",
        &format!("sources:\n  - name: todo\n    spec: todo.json\n    base_url: http://{api}\n"),
    );
    // Valid, but serving another API: the drill's probe tool disappears.
    write(d, "slow.json", &two_echo_spec("slow"));
    write(
        d,
        "other.yaml",
        &format!("sources:\n  - name: slow\n    spec: slow.json\n    base_url: http://{api}\n"),
    );
    let plan = write(
        d,
        "gate.yaml",
        "tool: todo-api\nobjective: drill\ncandidate: {config: candidate.yaml}\nrollback:\n  target_seconds: 2\n  break: {config: other.yaml}\n  trigger: sighup\n  probe: {tool: list_tasks}\n",
    );
    let out = gate(&plan, &[]);
    assert_eq!(common::exit_code(&out), 1, "{}", common::output_text(&out));
    assert_eq!(
        verdict(&out),
        "tool=todo-api objective=drill preview_result=fail primary_metric=recovery_s=never>2 next_step=hold"
    );
    let r = report(d);
    let drill = &r["rollback"];
    assert_eq!(drill["rolled_back"], false, "{drill:#}");
    assert_eq!(drill["recovery_seconds"], Value::Null, "{drill:#}");
    assert_eq!(
        drill["reload_outcome"], "reload applied (SIGHUP)",
        "{drill:#}"
    );
    assert!(drill["failed_calls"].as_u64().unwrap() > 0, "{drill:#}");
    // Put back afterwards.
    assert_eq!(drill["restored"], true, "{drill:#}");
    assert_eq!(check(&r, "rollback_drill")["status"], "fail");
}

/// The drill's "failing backend" break: a valid configuration whose source points at a backend
/// that is down. Hot reload applies it, the source's readiness probe fails within the grace
/// period, and the reload rolls back to the last known good configuration: the probe tool
/// answers again, and the drill passes with the measured recovery time.
#[test]
fn a_dead_backend_is_rolled_back_and_the_drill_measures_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let api = common::todo_api_thread();
    write(d, "todo.json", &todo_api::openapi().to_string());
    write(
        d,
        "candidate.yaml",
        &format!("sources:\n  - name: todo\n    spec: todo.json\n    base_url: http://{api}\n"),
    );
    // The same API, its backend gone (nothing listens on port 9).
    write(
        d,
        "dead.yaml",
        "sources:\n  - name: todo\n    spec: todo.json\n    base_url: http://127.0.0.1:9\n",
    );
    let plan = write(
        d,
        "gate.yaml",
        "tool: todo-api\nobjective: drill a dead backend\ncandidate: {config: candidate.yaml}\nrollback:\n  target_seconds: 60\n  break: {config: dead.yaml}\n  trigger: sighup\n  probe: {tool: list_tasks}\n",
    );
    let out = gate(&plan, &[]);
    assert_eq!(common::exit_code(&out), 0, "{}", common::output_text(&out));
    let line = verdict(&out);
    assert!(
        line.starts_with(
            "tool=todo-api objective=\"drill a dead backend\" preview_result=pass primary_metric="
        ) && line.ends_with(" next_step=rollout"),
        "{line}"
    );
    let r = report(d);
    let drill = &r["rollback"];
    assert_eq!(drill["rolled_back"], true, "{drill:#}");
    let recovery = drill["recovery_seconds"].as_f64().unwrap();
    assert!(recovery > 0.0 && recovery <= 60.0, "{drill:#}");
    assert_eq!(drill["restored"], true, "{drill:#}");
    assert_eq!(check(&r, "rollback_drill")["status"], "pass");
}
