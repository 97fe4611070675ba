//! `toolgate reload --check` (what a reload of a file would do, exit 0 / 2, nothing running
//! touched) and `POST /admin/reload` on the real binary: it reloads and answers the outcome
//! as JSON; it is protected (loopback only and no browser `Origin` with authentication off;
//! a bearer with the admin scope or role with it on).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::clients::{MODERN_META, modern_post};
use serde_json::Value;

/// Runs the binary with `args`: exit code, stdout, stderr.
fn toolgate(args: &[&str], dir: &Path) -> (i32, String, String) {
    let out = Command::new(common::TOOLGATE_BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("todo.json"),
        serde_json::to_vec(&todo_api::openapi()).unwrap(),
    )
    .unwrap();
    std::fs::copy(
        common::repo_root().join("examples/configs/specs/petstore.yaml"),
        dir.path().join("petstore.yaml"),
    )
    .unwrap();
    dir
}

const TODO: &str =
    "sources:\n  - name: todo\n    spec: todo.json\n    base_url: http://127.0.0.1:9\n";
const PETS: &str = "  - name: pets\n    spec: petstore.yaml\n    base_url: http://127.0.0.1:9\n    compile:\n      namespace: pets\n";

#[test]
fn reload_check_lists_what_a_reload_would_change() {
    let dir = folder();
    std::fs::write(dir.path().join("running.yaml"), TODO).unwrap();
    std::fs::write(
        dir.path().join("new.yaml"),
        format!(
            "server:\n  name: renamed\nrate_limits:\n  limits:\n    - name: calls\n      per: [global]\n      rate: 5/s\n{TODO}{PETS}"
        ),
    )
    .unwrap();
    let (code, out, err) = toolgate(
        &[
            "reload",
            "--check",
            "--config",
            "new.yaml",
            "--against",
            "running.yaml",
        ],
        dir.path(),
    );
    assert_eq!(code, 0, "{out}\n{err}");
    for line in [
        "new.yaml: a reload would apply it (2 sources,",
        "compared with running.yaml:",
        "sources added: pets",
        "sources removed: none",
        "sources changed: none",
        "sections applied by a reload: rate_limits",
        "sections needing a restart (the running values would stay): server",
    ] {
        assert!(out.contains(line), "`{line}` missing from:\n{out}");
    }
    // Without --against: validated and compiled, nothing to compare.
    let (code, out, _) = toolgate(&["reload", "--check", "-c", "new.yaml"], dir.path());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("--against"), "{out}");
}

#[test]
fn reload_check_refuses_what_a_reload_would_refuse_with_exit_code_2() {
    let dir = folder();
    // A rate that does not parse and an authorization glob that does not compile.
    std::fs::write(
        dir.path().join("bad.yaml"),
        format!(
            "rate_limits:\n  limits:\n    - name: calls\n      per: [global]\n      rate: lots\n{TODO}"
        ),
    )
    .unwrap();
    let (code, out, err) = toolgate(&["reload", "--check", "--config", "bad.yaml"], dir.path());
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("rate_limits.limits[0].rate"), "{err}");
    // Two sources serving the same tool names.
    std::fs::write(
        dir.path().join("twice.yaml"),
        format!("{TODO}  - name: again\n    spec: todo.json\n    base_url: http://127.0.0.1:9\n"),
    )
    .unwrap();
    let (code, _, err) = toolgate(&["reload", "--check", "--config", "twice.yaml"], dir.path());
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("list_users"), "the name taken twice: {err}");
    // A spec that does not load.
    std::fs::write(dir.path().join("broken.json"), "{ not json").unwrap();
    std::fs::write(
        dir.path().join("broken.yaml"),
        "sources:\n  - name: todo\n    spec: broken.json\n    base_url: http://127.0.0.1:9\n",
    )
    .unwrap();
    let (code, _, err) = toolgate(
        &["reload", "--check", "--config", "broken.yaml"],
        dir.path(),
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("broken.json"), "{err}");
    // Without --check: a pointer to the ways to reload a running gateway.
    let (code, _, err) = toolgate(&["reload", "--config", "bad.yaml"], dir.path());
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--check") && err.contains("/admin/reload"),
        "{err}"
    );
}

/// The binary serving `config` (written into `dir`, HTTP on `port`).
fn serve(dir: &Path, port: u16, config: &str) -> (common::Guard, common::Captured) {
    write(dir, port, config);
    let mut command = Command::new(common::TOOLGATE_BIN);
    command.args([
        "serve",
        "--no-watch",
        "--config",
        dir.join("config.yaml").to_str().unwrap(),
    ]);
    let (child, _, captured) =
        common::spawn_capturing(command, "toolgate: serving").unwrap_or_else(|e| panic!("{e}"));
    (child, captured)
}

fn write(dir: &Path, port: u16, config: &str) {
    let tmp = dir.join("config.yaml.tmp");
    std::fs::write(&tmp, format!("http:\n  bind: 127.0.0.1:{port}\n{config}")).unwrap();
    std::fs::rename(tmp, dir.join("config.yaml")).unwrap();
}

async fn admin(port: u16, bearer: Option<&str>, origin: Option<&str>) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/admin/reload"))
        .timeout(Duration::from_secs(60));
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_endpoint_reloads_and_answers_the_outcome() {
    let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_addr = api.local_addr().unwrap();
    tokio::spawn(todo_api::serve(api));
    let dir = folder();
    let port = common::free_port();
    let todo =
        format!("sources:\n  - name: todo\n    spec: todo.json\n    base_url: http://{api_addr}\n");
    let (_child, captured) = serve(dir.path(), port, &todo);

    // A deny rule for `list_users`, applied through the endpoint.
    write(
        dir.path(),
        port,
        &format!(
            "authorization:\n  unauthenticated: rules\n  rules:\n    - name: all\n      principals: {{any: true}}\n      tools: {{}}\n    - name: no-users\n      effect: deny\n      principals: {{any: true}}\n      tools:\n        names: [list_users]\n{todo}"
        ),
    );
    let (status, body) = admin(port, None, None).await;
    assert_eq!(status, 200, "{body}\n{}", captured.all());
    assert_eq!(body["outcome"], "success", "{body}");
    assert_eq!(
        body["changes"]["sections_applied"],
        serde_json::json!(["authorization"]),
        "{body}"
    );
    assert_eq!(body["config"]["reloads"]["success"], 1, "{body}");
    let call = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"list_users","arguments":{{}},{MODERN_META}}}}}"#
    );
    let (_, answer) = modern_post(
        &format!("http://127.0.0.1:{port}/mcp"),
        "tools/call",
        Some("list_users"),
        call,
    )
    .await;
    assert!(
        answer["error"].is_object() || answer["result"]["isError"] == true,
        "the new rule applies: {answer}"
    );

    // A broken file: 422, the reason, the last known good kept.
    std::fs::write(dir.path().join("config.yaml"), "sourcez: []\n").unwrap();
    let (status, body) = admin(port, None, None).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["outcome"], "failure", "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("sourcez"),
        "{body}"
    );
    assert_eq!(body["config"]["reloads"]["failure"], 1, "{body}");

    // A browser page may not trigger it.
    let (status, body) = admin(port, None, Some("http://evil.example")).await;
    assert_eq!(status, 403, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_authentication_on_the_admin_endpoint_needs_the_admin_scope_or_role() {
    let dir = folder();
    let port = common::free_port();
    // Two API keys: `admin-key-…` with the admin scope, `reader-key-…` without.
    let config = format!(
        "auth:\n  api_keys:\n    - id: admin\n      sha256: 1b3af7d2f1f3428ee7d76d5be730b93565efcf2ecbb7819caf9002bca23d4545\n      scopes: [toolgate:admin]\n    - id: reader\n      sha256: 75b38889ff0e52878a7637a97ae16cbe0af0f5542459765a705db1e2e8b7d33d\n      roles: [reader]\n{TODO}"
    );
    let (_child, captured) = serve(dir.path(), port, &config);
    let (status, body) = admin(port, None, None).await;
    assert_eq!(status, 401, "no credential: {body}\n{}", captured.all());
    let (status, body) = admin(port, Some("reader-key-0123456789abcdef"), None).await;
    assert_eq!(status, 403, "no admin scope: {body}");
    assert!(
        body["error"].as_str().unwrap().contains("toolgate:admin"),
        "{body}"
    );
    let (status, body) = admin(port, Some("admin-key-0123456789abcdef"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "success", "{body}");
    assert!(
        body["changes"]["sources_added"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}
