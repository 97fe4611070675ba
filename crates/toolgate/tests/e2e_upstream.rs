//! Upstream MCP servers behind the gateway, end to end, with real third-party servers
//! installed from the registries as a user would (`scripts/setup-test-deps.sh`): the reference
//! `@modelcontextprotocol/server-everything` from npm (Node 22), over stdio and in its
//! streamable HTTP mode, and `mcp-server-time` from PyPI over stdio; driven through the
//! gateway by the official Python SDK client and the MCP Inspector CLI, under both session
//! models; and a fault (an upstream killed mid-call is reported with its name and restarted;
//! another upstream is unaffected); a 2026-07-28 client answering the upstream's sampling and
//! elicitation requests through `input_required` rounds (MRTR); a 2026-07-28 upstream's own
//! rounds passed to a 2026-07-28 client, and answered by a 2025-11-25 client (HTTP session
//! and stdio) through the gateway's bridge. More faults:
//! `e2e_upstream_faults.rs`.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use rmcp::ServiceExt as _;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use serde_json::json;

/// The node binary and server-everything's entry point, when installed.
fn everything() -> Option<(PathBuf, PathBuf)> {
    let node = common::dependency("TOOLGATE_TEST_NODE22")?;
    let modules = common::dependency("TOOLGATE_TEST_NODE_MODULES")?;
    let server = modules.join("@modelcontextprotocol/server-everything/dist/index.js");
    assert!(
        server.exists(),
        "{} is missing: re-run scripts/setup-test-deps.sh",
        server.display()
    );
    Some((node, server))
}

/// A configuration serving server-everything over stdio as source `name`.
fn stdio_source(name: &str, node: &PathBuf, server: &PathBuf) -> serde_json::Value {
    json!({
        "name": name,
        "kind": "mcp",
        "transport": {"type": "stdio", "command": node, "args": [server, "stdio"]},
        "restart": {"initial_backoff_ms": 100, "max_backoff_ms": 1000},
    })
}

/// server-everything in its streamable HTTP mode on a free port: the guard and its MCP URL.
fn everything_over_http(node: &PathBuf, server: &PathBuf) -> (common::Guard, String) {
    let port = common::free_port();
    let child = Command::new(node)
        .arg(server)
        .arg("streamableHttp")
        .env("PORT", port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let guard = common::Guard(child);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "server-everything never listened on {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (guard, format!("http://127.0.0.1:{port}/mcp"))
}

/// `mcp-server-time` (PyPI, in the test venv) as stdio source `time`.
fn time_source(python: &std::path::Path, session: &str) -> serde_json::Value {
    let command = python.with_file_name("mcp-server-time");
    assert!(
        command.exists(),
        "{} is missing: re-run scripts/setup-test-deps.sh",
        command.display()
    );
    json!({
        "name": "time",
        "kind": "mcp",
        "session": session,
        "transport": {"type": "stdio", "command": command, "args": ["--local-timezone", "UTC"]},
    })
}

/// Runs the Python SDK check against `url` (see `tests/e2e/upstream_client_check.py`).
async fn python_check(python: PathBuf, url: String, extra: &[&str]) {
    python_script(python, "upstream_client_check.py", url, extra).await;
}

/// Runs `tests/e2e/<script>` with the Python SDK against `url`; it must print `ok`.
async fn python_script(python: PathBuf, script: &str, url: String, extra: &[&str]) {
    let script = common::repo_root().join("tests/e2e").join(script);
    let extra: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .arg(url)
            .args(extra)
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("ok"),
        "{stdout}\n{stderr}"
    );
}

/// The MCP Inspector CLI against `url` with `args`: its JSON output.
async fn inspector(url: &str, args: &[&str]) -> serde_json::Value {
    let node = common::dependency("TOOLGATE_TEST_NODE22").unwrap();
    let modules = common::dependency("TOOLGATE_TEST_NODE_MODULES").unwrap();
    let launcher = modules.join("@modelcontextprotocol/inspector/clients/launcher/build/index.js");
    let mut all: Vec<String> = vec![url.to_owned(), "--transport".into(), "http".into()];
    all.extend(args.iter().map(|s| (*s).to_owned()));
    let out = tokio::task::spawn_blocking(move || {
        Command::new(node)
            .arg(launcher)
            .arg("--cli")
            .args(&all)
            .args(["--format", "json"])
            .stdin(std::process::Stdio::null())
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "inspector {args:?} failed ({:?}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("inspector output is not JSON ({e}): {stdout}"))
}

fn config(sources: Vec<serde_json::Value>) -> toolgate::config::Config {
    let text = serde_json::to_string(&json!({ "sources": sources })).unwrap();
    toolgate::config::load(&text, "<test>", &Default::default()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_everything_over_stdio_through_the_python_sdk() {
    let Some((node, server)) = everything() else {
        return;
    };
    let Some(python) = common::dependency("TOOLGATE_TEST_PYTHON") else {
        return;
    };
    let (url, watched) =
        common::serve_config_with_gateway(config(vec![stdio_source("everything", &node, &server)]))
            .await;
    python_check(python, url, &[]).await;
    // Upstream tools talk back to the client: never the fast path.
    let text = watched.metrics.encode();
    assert!(
        text.contains(
            r#"toolgate_calls_total{method="tools/call",tool="everything_echo",outcome="ok"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"toolgate_upstream_requests_total{upstream="everything",method="tools/call",outcome="ok"}"#),
        "{text}"
    );
}

/// A 2026-07-28 client (the Python SDK) and server-everything, a 2025-11-25 upstream whose
/// sampling and elicitation tools send requests during the call, over `transport` under
/// `session`: the gateway turns each request into an `input_required` round, verifies the
/// retries and completes the calls (`tests/e2e/upstream_mrtr_check.py`).
async fn modern_client_through_mrtr(transport: &str, session: &str) {
    let Some((node, server)) = everything() else {
        return;
    };
    let Some(python) = common::dependency("TOOLGATE_TEST_PYTHON") else {
        return;
    };
    let mut _guard = None;
    let mut source = stdio_source("everything", &node, &server);
    if transport == "http" {
        let (guard, upstream_url) = everything_over_http(&node, &server);
        _guard = Some(guard);
        source["transport"] = json!({"type": "http", "url": upstream_url});
    }
    source["session"] = json!(session);
    let (url, watched) = common::serve_config_with_gateway(config(vec![source])).await;
    python_script(python, "upstream_mrtr_check.py", url, &[]).await;
    // The SDK's 2026-07-28 calls qualify for the fast path (no progress token, no log
    // level): the rounds are served there, with the retries' state carried to the relay.
    assert!(
        watched.fast_path_calls() > 0,
        "the fast path served none of the calls"
    );
    let text = watched.metrics.encode();
    for tool in [
        "everything_trigger-sampling-request",
        "everything_trigger-elicitation-request",
    ] {
        assert!(
            text.contains(&format!(
                r#"toolgate_calls_total{{method="tools/call",tool="{tool}",outcome="input_required"}}"#
            )),
            "each round is counted as input_required: {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2026_client_through_mrtr_stdio_upstream_shared_session() {
    modern_client_through_mrtr("stdio", "shared").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2026_client_through_mrtr_http_upstream_per_client_sessions() {
    modern_client_through_mrtr("http", "per_client").await;
}

/// A 2026-07-28 upstream that answers `input_required` itself (`upstream_fake_server.py
/// mrtr`, on the Python SDK, over streamable HTTP): the round reaches the 2026-07-28 client
/// with the upstream's state sealed in the gateway's, and the retry reaches the upstream with
/// the client's answer and the upstream's own state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2026_upstreams_own_input_required_is_passed_through() {
    let Some(python) = common::dependency("TOOLGATE_TEST_PYTHON") else {
        return;
    };
    let (_guard, source) = common::fake_2026_upstream(&python);
    let (url, watched) = common::serve_config_with_gateway(config(vec![source])).await;
    python_script(python, "upstream_mrtr_check.py", url, &["--passthrough"]).await;
    // Its rounds were served on the fast path, and (a 2026-07-28 HTTP upstream) sent on the
    // lean path.
    assert!(
        watched.fast_path_calls() > 0,
        "the fast path served none of the calls"
    );
}

/// The same upstream for a 2025-11-25 client (the Python SDK in a legacy HTTP session), which
/// takes server requests but not `input_required`: the gateway asks it the upstream's
/// requests (an elicitation, then a sampling request built from its answer) and retries the
/// upstream with the answers (`tests/e2e/upstream_bridge_check.py`: two rounds, a prompt, a
/// refusal, a missing capability).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2025_client_over_http_answers_a_2026_upstreams_rounds_through_the_bridge() {
    let Some(python) = common::dependency("TOOLGATE_TEST_PYTHON") else {
        return;
    };
    let (_guard, source) = common::fake_2026_upstream(&python);
    let (url, watched) = common::serve_config_with_gateway(config(vec![source])).await;
    python_script(python, "upstream_bridge_check.py", url, &[]).await;
    let text = watched.metrics.encode();
    assert!(
        text.contains(
            r#"toolgate_calls_total{method="tools/call",tool="fake_ask_twice",outcome="ok"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"toolgate_calls_total{method="tools/call",tool="fake_ask_twice",outcome="protocol"} 2"#
        ),
        "the refusal and the missing capability: {text}"
    );
}

/// The same over stdio: the Python SDK client runs `toolgate serve --stdio` as its child.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2025_client_over_stdio_answers_a_2026_upstreams_rounds_through_the_bridge() {
    let Some(python) = common::dependency("TOOLGATE_TEST_PYTHON") else {
        return;
    };
    let (_guard, source) = common::fake_2026_upstream(&python);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("toolgate.yaml");
    std::fs::write(&file, json!({ "sources": [source] }).to_string()).unwrap();
    let file = file.to_str().unwrap();
    python_script(
        python,
        "upstream_bridge_check.py",
        "--stdio".to_owned(),
        &[
            common::TOOLGATE_BIN,
            "serve",
            "--config",
            file,
            "--stdio",
            "--no-watch",
        ],
    )
    .await;
}

/// server-everything over streamable HTTP and mcp-server-time over stdio behind one gateway,
/// under `session` (`shared` or `per_client`): the Python SDK client (calls, progress,
/// sampling, elicitation, resources, prompts) and the Inspector CLI.
async fn http_and_pypi_upstreams(session: &str) {
    let Some((node, server)) = everything() else {
        return;
    };
    let Some(python) = common::dependency("TOOLGATE_TEST_PYTHON") else {
        return;
    };
    let (_everything, upstream_url) = everything_over_http(&node, &server);
    let config = config(vec![
        json!({
            "name": "everything",
            "kind": "mcp",
            "session": session,
            "transport": {"type": "http", "url": upstream_url},
        }),
        time_source(&python, session),
    ]);
    let (url, watched) = common::serve_config_with_gateway(config).await;
    python_check(python, url.clone(), &["--time"]).await;

    let list = inspector(&url, &["--method", "tools/list"]).await;
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{list}"))
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(names.contains(&"everything_get-sum"), "{names:?}");
    assert!(names.contains(&"time_get_current_time"), "{names:?}");
    let call = inspector(
        &url,
        &[
            "--method",
            "tools/call",
            "--tool-name",
            "everything_get-sum",
            "--tool-args-json",
            r#"{"a": 2, "b": 40}"#,
        ],
    )
    .await;
    assert!(call["result"].to_string().contains("42"), "{call}");
    let call = inspector(
        &url,
        &[
            "--method",
            "tools/call",
            "--tool-name",
            "time_get_current_time",
            "--tool-args-json",
            r#"{"timezone": "Europe/Paris"}"#,
        ],
    )
    .await;
    assert!(
        call["result"].to_string().contains("Europe/Paris"),
        "{call}"
    );
    assert_eq!(call["result"]["isError"], false, "{call}");
    let resources = inspector(&url, &["--method", "resources/list"]).await;
    let uri = resources["result"]["resources"][0]["uri"]
        .as_str()
        .unwrap_or_else(|| panic!("{resources}"))
        .to_owned();
    assert!(uri.starts_with("everything+"), "{uri}");
    let read = inspector(&url, &["--method", "resources/read", "--uri", &uri]).await;
    assert_eq!(read["result"]["contents"][0]["uri"], uri.as_str(), "{read}");
    let prompt = inspector(
        &url,
        &[
            "--method",
            "prompts/get",
            "--prompt-name",
            "everything_simple-prompt",
        ],
    )
    .await;
    assert!(prompt["result"]["messages"][0].is_object(), "{prompt}");

    let text = watched.metrics.encode();
    for upstream in ["everything", "time"] {
        assert!(
            text.contains(&format!(
                r#"toolgate_upstream_requests_total{{upstream="{upstream}",method="tools/call",outcome="ok"}}"#
            )),
            "{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_and_pypi_upstreams_shared_session() {
    http_and_pypi_upstreams("shared").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_and_pypi_upstreams_per_client_sessions() {
    http_and_pypi_upstreams("per_client").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_killed_mid_call_fails_with_its_name_restarts_and_spares_the_others() {
    let Some((node, server)) = everything() else {
        return;
    };
    let config = config(vec![
        stdio_source("victim", &node, &server),
        stdio_source("other", &node, &server),
    ]);
    let assembled = toolgate::run::assemble(&config, std::path::Path::new("."))
        .await
        .unwrap();
    let victim = assembled.upstreams[0].clone();
    let pid = victim.pid().expect("a stdio upstream has a process");
    let app = toolgate_server::gateway_app(
        assembled.gateway.clone(),
        &toolgate::run::http_options(&config),
        toolgate_server::EdgeAuth::Off,
        assembled.metrics.clone(),
        Default::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = ()
        .serve(StreamableHttpClientTransport::from_uri(format!(
            "http://{addr}/mcp"
        )))
        .await
        .unwrap();

    let long = client.call_tool(
        CallToolRequestParams::new("victim_trigger-long-running-operation").with_arguments(
            json!({"duration": 10, "steps": 10})
                .as_object()
                .unwrap()
                .clone(),
        ),
    );
    let kill = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        // SAFETY: signalling a child process this test's gateway started.
        unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
    };
    let (result, ()) = tokio::join!(long, kill);
    let text = format!("{result:?}");
    assert!(
        text.contains("victim"),
        "the error names the upstream: {text}"
    );

    // The other upstream is unaffected.
    let echo = client
        .call_tool(
            CallToolRequestParams::new("other_echo").with_arguments(
                json!({"message": "still here"})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        )
        .await
        .unwrap();
    assert_ne!(echo.is_error, Some(true), "{echo:?}");

    // The victim is restarted (after its backoff) and serves again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status = victim.status();
        if status.phase == toolgate_upstream::Phase::Ready && status.restarts >= 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not restarted: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_ne!(victim.pid(), Some(pid), "a new process serves it");
    let echo = client
        .call_tool(
            CallToolRequestParams::new("victim_echo")
                .with_arguments(json!({"message": "back"}).as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    assert_ne!(echo.is_error, Some(true), "{echo:?}");
    let metrics = assembled.metrics.encode();
    assert!(
        metrics.contains(r#"toolgate_upstream_restarts_total{upstream="victim"} 1"#),
        "{metrics}"
    );

    // Stopping leaves no process behind.
    let new_pid = victim.pid().unwrap();
    assembled.stop().await;
    for p in [pid, new_pid] {
        // SAFETY: signal 0 only checks whether the process exists.
        let alive = unsafe { libc::kill(p as i32, 0) } == 0;
        assert!(!alive, "process {p} still exists after stop");
    }
}

/// One curation vocabulary: an OpenAPI source (the Todo API) takes the MCP sources' `tools`
/// options (allow/deny globs, aliases, descriptions, annotations; `arguments` has its own
/// test, e2e_hidden_arguments.rs), and a bad glob is refused with the option's path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_curation_vocabulary_applies_to_openapi_sources() {
    let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_addr = api.local_addr().unwrap();
    tokio::spawn(todo_api::serve(api));
    let mut config = common::todo_config(api_addr, Default::default());
    common::openapi(&mut config.sources[0]).tools = serde_json::from_value(json!({
        "allow": ["*_user*", "*_task"],
        "deny": ["delete_*"],
        "aliases": {"create_user": "add_user"},
        "descriptions": {"list_users": "Everyone who has an account."},
        "annotations": {"get_task": {"read_only": false, "open_world": false}},
    }))
    .unwrap();
    let (url, _watched) = common::serve_config_with_gateway(config).await;
    let client = ().serve(StreamableHttpClientTransport::from_uri(url)).await.unwrap();
    let tools = client.list_all_tools().await.unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "add_user",
            "complete_task",
            "create_task",
            "get_task",
            "get_user",
            "list_users",
            "update_task"
        ],
        "allow and deny on the compiled names; the alias replaces the name"
    );
    let list_users = tools.iter().find(|t| t.name == "list_users").unwrap();
    assert_eq!(
        list_users.description.as_deref(),
        Some("Everyone who has an account.")
    );
    let get_task = tools.iter().find(|t| t.name == "get_task").unwrap();
    let a = get_task.annotations.as_ref().unwrap();
    assert_eq!(
        (a.read_only_hint, a.open_world_hint),
        (Some(false), Some(false))
    );
    let user = client
        .call_tool(
            CallToolRequestParams::new("add_user").with_arguments(
                json!({"name": "Ada", "email": "ada@example.com"})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        )
        .await
        .unwrap();
    assert_ne!(user.is_error, Some(true), "{user:?}");

    let text = r#"{"sources": [{"name": "todo", "spec": "x.json", "tools": {"arguments": {"create_user": {"fixed": {"org": 1}}}, "deny": ["[z-a]"]}}]}"#;
    let error = format!(
        "{:?}",
        toolgate::config::load(text, "<test>", &Default::default()).err()
    );
    assert!(!error.contains("sources[0].tools.arguments"), "{error}");
    assert!(error.contains("sources[0].tools.deny"), "{error}");
}

/// A 2025-11-25 client (rmcp's) that keeps the bridge's elicitation unanswered until it is
/// withdrawn, and reports both.
struct Undecided {
    asked: tokio::sync::mpsc::UnboundedSender<()>,
    withdrawn: tokio::sync::mpsc::UnboundedSender<()>,
}

impl rmcp::ClientHandler for Undecided {
    fn get_info(&self) -> rmcp::model::ClientConfig {
        let mut caps = rmcp::model::ClientCapabilities::default();
        caps.elicitation = Some(Default::default());
        let mut info = rmcp::model::ClientConfig::new(caps, Default::default());
        info.protocol_version = rmcp::model::ProtocolVersion::V_2025_11_25;
        info
    }

    async fn create_elicitation(
        &self,
        _params: rmcp::model::ElicitRequestParams,
        cx: rmcp::service::RequestContext<rmcp::RoleClient>,
    ) -> Result<rmcp::model::ElicitResult, rmcp::ErrorData> {
        let _ = self.asked.send(());
        cx.ct.cancelled().await;
        let _ = self.withdrawn.send(());
        Err(rmcp::ErrorData::internal_error("withdrawn", None))
    }
}

/// A 2025-11-25 client cancels its call while it answers a bridged round: the gateway stops
/// waiting, withdraws its elicitation (`notifications/cancelled`, seen by the client's
/// handler), sends no retry upstream, and serves the session's next call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2025_client_cancelling_during_a_bridged_round_has_the_request_withdrawn() {
    let Some(python) = common::dependency("TOOLGATE_TEST_PYTHON") else {
        return;
    };
    let (_guard, source) = common::fake_2026_upstream(&python);
    let (url, watched) = common::serve_config_with_gateway(config(vec![source])).await;
    let (asked_tx, mut asked) = tokio::sync::mpsc::unbounded_channel();
    let (withdrawn_tx, mut withdrawn) = tokio::sync::mpsc::unbounded_channel();
    let client = Undecided {
        asked: asked_tx,
        withdrawn: withdrawn_tx,
    }
    .serve(StreamableHttpClientTransport::from_uri(url))
    .await
    .unwrap();
    assert_eq!(
        client.peer_info().map(|i| i.protocol_version.clone()),
        Some(rmcp::model::ProtocolVersion::V_2025_11_25)
    );
    let call = client
        .send_cancellable_request(
            rmcp::model::ClientRequest::CallToolRequest(rmcp::model::CallToolRequest::new(
                CallToolRequestParams::new("fake_ask_twice"),
            )),
            rmcp::service::PeerRequestOptions::no_options(),
        )
        .await
        .unwrap();
    // Bounds against a hang only.
    let within = Duration::from_secs(60);
    tokio::time::timeout(within, asked.recv())
        .await
        .expect("the bridge asked the client")
        .unwrap();
    call.cancel(Some("the user gave up".to_owned()))
        .await
        .unwrap();
    tokio::time::timeout(within, withdrawn.recv())
        .await
        .expect("the elicitation was withdrawn")
        .unwrap();
    let echo = client
        .call_tool(
            CallToolRequestParams::new("fake_echo")
                .with_arguments(json!({"message": "next"}).as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    assert!(format!("{echo:?}").contains("mrtr: next"), "{echo:?}");
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let text = watched.metrics.encode();
        if text.contains(r#"tool="fake_ask_twice",outcome="cancelled"} 1"#) {
            // The first send and the echo: nothing was retried after the cancellation.
            let upstream: Vec<&str> = text
                .lines()
                .filter(|l| l.starts_with(r#"toolgate_upstream_requests_total{upstream="fake""#))
                .collect();
            assert_eq!(
                upstream,
                [
                    r#"toolgate_upstream_requests_total{upstream="fake",method="tools/call",outcome="ok"} 2"#
                ],
                "{text}"
            );
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    client.cancel().await.unwrap();
}
