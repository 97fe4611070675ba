//! No secret is ever printed: a canary value, given to the configuration through `${VAR}`
//! interpolation, `TOOLGATE_…` overrides or a credential in a URL, is driven through every
//! configuration error path, the start-up paths and a failing tool call of the real `toolgate`
//! binary (`check-config`, `check-config --offline`, `serve`, `inspect`), and must appear in no
//! byte of their stdout or stderr. Each run also names the output it must produce, so a case that
//! stops exercising its path fails instead of passing vacuously.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::TOOLGATE_BIN;

/// The secret. Letters and digits only, so percent-encoding or JSON escaping cannot disguise
/// it; upper-case letters so it is not a valid source name; no `/` so it is not a media type.
const CANARY: &str = "CanaryZ9f3Kq7SeCrEt";

/// A spec with one operation (`listPets`) whose server is absolute.
const SPEC: &str = "openapi: 3.0.3
info: {title: pets, version: '1'}
servers: [{url: 'http://127.0.0.1:9/v1'}]
paths:
  /pets:
    get:
      operationId: listPets
      responses: {'200': {description: ok}}
";

/// How the binary is run for one case, what it must exit with, and a text its output must
/// contain.
#[derive(Clone, Copy)]
enum Run {
    /// `check-config FILE`.
    Check(i32, &'static str),
    /// `check-config --offline FILE`.
    CheckOffline(i32, &'static str),
    /// `serve --config FILE --stdio` (stdin closed).
    ServeStdio(i32, &'static str),
    /// `serve --config FILE --http ADDR` where ADDR is already taken, logging at INFO.
    ServeBusyPort(i32, &'static str),
}

struct Case {
    name: &'static str,
    /// The configuration; `{dead}` becomes a loopback port nobody listens on.
    config: &'static str,
    /// Extra environment; `{canary}` in a value becomes the canary.
    env: &'static [(&'static str, &'static str)],
    runs: &'static [Run],
    /// A schema or semantic error of the configuration itself: its messages must not quote
    /// the secret at all (no `[redacted]` either), not merely be scrubbed.
    structural: bool,
}

fn cases() -> Vec<Case> {
    use Run::*;
    // Every configuration error: check-config (both modes) and serve must all refuse it.
    let both = |needle: &'static str| -> &'static [Run] {
        Box::leak(Box::new([
            Check(2, needle),
            CheckOffline(2, needle),
            ServeStdio(2, needle),
        ]))
    };
    let src = |backend: &'static str| -> &'static str {
        Box::leak(
            format!("sources:\n  - name: pets\n    spec: ./spec.yaml\n    backend:\n{backend}")
                .into_boxed_str(),
        )
    };
    vec![
        Case {
            name: "misspelt key inside backend.auth",
            config: src("      auth:\n        type: bearer\n        tokn: \"${CANARY}\"\n"),
            env: &[],
            runs: both("sources[0].backend.auth"),
            structural: true,
        },
        Case {
            name: "unsupported auth type with a password",
            config: src("      auth:\n        type: digest\n        password: \"${CANARY}\"\n"),
            env: &[],
            runs: both("sources[0].backend.auth"),
            structural: true,
        },
        Case {
            name: "extra key in a basic auth block",
            config: src(
                "      auth:\n        type: basic\n        username: u\n        password: \"${CANARY}\"\n        passwrd: \"${CANARY}\"\n",
            ),
            env: &[],
            runs: both("passwrd"),
            structural: true,
        },
        Case {
            name: "auth is not a mapping",
            config: src("      auth: \"${CANARY}\"\n"),
            env: &[],
            runs: both("sources[0].backend.auth"),
            structural: true,
        },
        Case {
            name: "misspelt section key with a secret value",
            config: src("      header:\n        X-Key: \"${CANARY}\"\n"),
            env: &[],
            runs: both("header"),
            structural: true,
        },
        Case {
            name: "misspelt top-level key",
            config: "http:\n  bnd: \"${CANARY}\"\n",
            env: &[],
            runs: both("bnd"),
            structural: true,
        },
        Case {
            name: "a string where a number belongs",
            config: src("      timeout_ms: \"${CANARY}\"\n"),
            env: &[],
            runs: both("timeout_ms"),
            structural: true,
        },
        Case {
            name: "a string where a mapping belongs",
            config: src("      headers: \"${CANARY}\"\n"),
            env: &[],
            runs: both("headers"),
            structural: true,
        },
        Case {
            name: "a value outside an enumeration",
            config: "http:\n  session_mode: \"${CANARY}\"\n",
            env: &[],
            runs: both("session_mode"),
            structural: true,
        },
        Case {
            name: "environment override of an unknown key",
            config: "http:\n  bind: 127.0.0.1:0\n",
            env: &[("TOOLGATE_HTTP__BND", "{canary}")],
            runs: both("bnd"),
            structural: true,
        },
        Case {
            name: "environment override with a bad address",
            config: "http:\n  bind: 127.0.0.1:0\n",
            env: &[("TOOLGATE_HTTP__BIND", "{canary}")],
            runs: both("http.bind"),
            structural: true,
        },
        Case {
            name: "environment override with a bad enumeration value",
            config: "",
            env: &[("TOOLGATE_LOGGING__FORMAT", "{canary}")],
            runs: both("logging.format"),
            structural: true,
        },
        Case {
            name: "environment override with a bad path",
            config: "",
            env: &[("TOOLGATE_HTTP__PATH", "{canary}")],
            runs: both("http.path"),
            structural: true,
        },
        Case {
            name: "base URL that is the secret",
            config: "sources:\n  - name: pets\n    spec: ./spec.yaml\n    base_url: \"${CANARY}\"\n",
            env: &[],
            runs: both("base_url"),
            structural: true,
        },
        Case {
            name: "base URL with the secret as its password and a bad scheme",
            config: "sources:\n  - name: pets\n    spec: ./spec.yaml\n    base_url: \"ftp://user:${CANARY}@example.com/\"\n",
            env: &[],
            runs: both("base_url"),
            structural: true,
        },
        Case {
            name: "source name from the environment",
            config: "sources:\n  - name: \"${CANARY}\"\n    spec: ./spec.yaml\n  - name: \"${CANARY}\"\n    spec: ./spec.yaml\n",
            env: &[],
            runs: both("sources[1].name"),
            structural: true,
        },
        Case {
            name: "missing spec file named with the secret",
            config: "sources:\n  - name: pets\n    spec: \"./missing-${CANARY}.yaml\"\n",
            env: &[],
            runs: both("cannot read spec file"),
            structural: false,
        },
        Case {
            name: "backend content type that is the secret",
            config: src("      content_types:\n        listPets: \"${CANARY}\"\n"),
            env: &[],
            runs: both("content_types"),
            structural: false,
        },
        Case {
            name: "forwarded header name with the secret",
            config: src("      forward_headers: [\"${CANARY} x\"]\n"),
            env: &[],
            runs: both("forward_headers"),
            structural: false,
        },
        Case {
            name: "OAuth2 token URL holding the secret with a bad scheme",
            config: src(
                "      auth:\n        type: oauth2_client_credentials\n        token_url: \"ftp://${CANARY}/token\"\n        client_id: c\n        client_secret: \"${CANARY}\"\n",
            ),
            env: &[],
            runs: both("token_url"),
            structural: false,
        },
        Case {
            name: "route map regex containing the secret",
            config: "sources:\n  - name: pets\n    spec: ./spec.yaml\n    compile:\n      route_maps:\n        - path: \"(${CANARY}\"\n          to: exclude\n",
            env: &[],
            runs: both("route_maps"),
            structural: false,
        },
        Case {
            name: "inline spec whose version is the secret",
            config: "sources:\n  - name: pets\n    base_url: http://127.0.0.1:9\n    spec:\n      inline:\n        openapi: \"${CANARY}\"\n        info: {title: t, version: '1'}\n        paths: {}\n",
            env: &[],
            runs: both("not supported"),
            structural: false,
        },
        Case {
            name: "spec URL carrying the secret as a token",
            config: "sources:\n  - name: pets\n    spec: \"http://127.0.0.1:{dead}/openapi.json?token=${CANARY}\"\n",
            env: &[],
            runs: &[
                Check(2, "cannot fetch spec"),
                CheckOffline(0, "not fetched"),
                ServeStdio(2, "cannot fetch spec"),
            ],
            structural: false,
        },
        Case {
            name: "serve fails to listen after loading a source whose URL holds the secret",
            config: "sources:\n  - name: pets\n    spec: ./spec.yaml\n    base_url: \"http://127.0.0.1:9/${CANARY}/\"\n",
            env: &[],
            runs: &[
                ServeBusyPort(1, "cannot listen"),
                Check(0, "configuration is valid"),
                CheckOffline(0, "configuration is valid"),
            ],
            structural: false,
        },
        Case {
            name: "misspelt key beside the HS secret of inbound auth",
            config: "auth:\n  jwt:\n    hs_secret: \"${CANARY}\"\n    hs_secrt: \"${CANARY}\"\nsources:\n  - name: pets\n    spec: ./spec.yaml\n",
            env: &[],
            runs: both("hs_secrt"),
            structural: true,
        },
        Case {
            name: "inbound auth whose HS secret is too short",
            config: "auth:\n  jwt:\n    hs_secret: \"${CANARY}\"\nsources:\n  - name: pets\n    spec: ./spec.yaml\n",
            env: &[],
            runs: &[
                Check(2, "auth.jwt.hs_secret"),
                CheckOffline(0, "configuration is valid"),
                ServeBusyPort(2, "auth.jwt.hs_secret"),
            ],
            structural: false,
        },
        Case {
            name: "inbound auth with an introspection secret, serving at INFO",
            config: "auth:\n  introspection:\n    endpoint: http://127.0.0.1:{dead}/introspect\n    client_id: toolgate\n    client_secret: \"${CANARY}\"\nsources:\n  - name: pets\n    spec: ./spec.yaml\n",
            env: &[],
            runs: &[
                ServeBusyPort(1, "cannot listen"),
                Check(0, "configuration is valid"),
                CheckOffline(0, "configuration is valid"),
            ],
            structural: false,
        },
    ]
}

/// Runs the binary; returns (exit code, stdout + stderr).
fn run(args: &[&str], env: &[(String, String)], dir: &Path) -> (i32, String) {
    let out = Command::new(TOOLGATE_BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn the_canary_secret_appears_in_no_output_of_any_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("spec.yaml"), SPEC).unwrap();
    let dead = common::free_port().to_string();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_addr = busy.local_addr().unwrap().to_string();
    let mut failures = Vec::new();
    for case in cases() {
        let file = dir.path().join("toolgate.yaml");
        std::fs::write(&file, case.config.replace("{dead}", &dead)).unwrap();
        let mut env = vec![("CANARY".to_owned(), CANARY.to_owned())];
        env.extend(
            case.env
                .iter()
                .map(|(k, v)| (k.to_string(), v.replace("{canary}", CANARY))),
        );
        for run_kind in case.runs {
            let file = file.to_str().unwrap();
            let (args, code, needle): (Vec<&str>, _, _) = match *run_kind {
                Run::Check(c, n) => (vec!["check-config", file], c, n),
                Run::CheckOffline(c, n) => (vec!["check-config", "--offline", file], c, n),
                Run::ServeStdio(c, n) => (vec!["serve", "--config", file, "--stdio"], c, n),
                Run::ServeBusyPort(c, n) => (
                    vec!["serve", "--config", file, "--http", busy_addr.as_str()],
                    c,
                    n,
                ),
            };
            let mut env = env.clone();
            if matches!(run_kind, Run::ServeBusyPort(..)) {
                env.push(("RUST_LOG".to_owned(), "info".to_owned()));
            }
            let (got, output) = run(&args, &env, dir.path());
            let what = format!("[{}] `toolgate {}`", case.name, args.join(" "));
            if output.contains(CANARY) {
                failures.push(format!("{what} printed the secret:\n{output}"));
            }
            if got != code {
                failures.push(format!("{what} exited {got}, expected {code}:\n{output}"));
            }
            if !output.contains(needle) {
                failures.push(format!("{what} did not print `{needle}`:\n{output}"));
            }
            // Configuration errors keep secrets out by construction; only errors of the spec
            // and backend layers need the output redactor.
            if case.structural && output.contains("[redacted]") {
                failures.push(format!(
                    "{what} relied on the redactor for a configuration error:\n{output}"
                ));
            }
            if output.contains("panicked") {
                failures.push(format!("{what} panicked:\n{output}"));
            }
        }
    }
    drop(busy);
    assert!(
        failures.is_empty(),
        "{} failure(s):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn inspect_never_prints_a_credential_carried_by_a_spec_url() {
    let dead = common::free_port();
    for url in [
        format!("http://127.0.0.1:{dead}/openapi.json?api_key={CANARY}"),
        format!("http://user:{CANARY}@127.0.0.1:{dead}/openapi.json"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        for json in [false, true] {
            let mut args = vec!["inspect", url.as_str()];
            if json {
                args.push("--json");
            }
            let (code, output) = run(&args, &[], dir.path());
            assert_eq!(code, 2, "{output}");
            assert!(output.contains("cannot fetch spec"), "{output}");
            assert!(
                !output.contains(CANARY),
                "{args:?} printed the secret:\n{output}"
            );
        }
    }
}

#[test]
fn serve_never_prints_a_credential_given_on_its_command_line() {
    let dead = common::free_port();
    let dir = tempfile::tempdir().unwrap();
    for url in [
        format!("http://127.0.0.1:{dead}/openapi.json?token={CANARY}"),
        format!("http://user:{CANARY}@127.0.0.1:{dead}/openapi.json"),
    ] {
        let (code, output) = run(
            &[
                "serve",
                "--openapi",
                &url,
                "--bearer-token-env",
                "CANARY",
                "--stdio",
            ],
            &[("CANARY".to_owned(), CANARY.to_owned())],
            dir.path(),
        );
        assert_eq!(code, 2, "{output}");
        assert!(output.contains("cannot fetch spec"), "{output}");
        assert!(
            !output.contains(CANARY),
            "serve printed the secret:\n{output}"
        );
    }
}

/// A backend whose every answer is `status` with the request's URI (query included) in the
/// body, as many frameworks' error pages do: its base URL.
async fn echoing_backend(status: u16) -> String {
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| async move {
        (
            axum::http::StatusCode::from_u16(status).unwrap(),
            format!("no access for {uri}"),
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// Calls `listPets` through `toolgate serve --stdio` (logging at DEBUG, which logs every
/// response) with an API key sent in the query: the tool result and the whole stderr.
async fn call_with_query_key(base_url: &str) -> (String, String) {
    use rmcp::ServiceExt as _;
    use rmcp::model::CallToolRequestParams;
    use rmcp::transport::TokioChildProcess;
    use tokio::io::AsyncReadExt as _;

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("spec.yaml"), SPEC).unwrap();
    let config = dir.path().join("toolgate.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - name: pets\n    spec: ./spec.yaml\n    base_url: \"{base_url}/v1\"\n    backend:\n      auth:\n        type: api_key\n        location: query\n        name: api_key\n        value: \"${{CANARY}}\"\n"
        ),
    )
    .unwrap();
    let mut command = tokio::process::Command::new(TOOLGATE_BIN);
    command
        .args(["serve", "--config", config.to_str().unwrap(), "--stdio"])
        .env("CANARY", CANARY)
        .env("RUST_LOG", "debug");
    let (transport, stderr) = TokioChildProcess::builder(command)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = ().serve(transport).await.expect("initialize over stdio");
    let result = client
        .call_tool(CallToolRequestParams::new("listPets"))
        .await
        .unwrap();
    client.cancel().await.unwrap();
    let mut log = String::new();
    stderr.unwrap().read_to_string(&mut log).await.unwrap();
    (serde_json::to_string(&result).unwrap(), log)
}

#[tokio::test]
async fn a_failing_call_with_a_query_api_key_shows_it_in_no_log_line() {
    let dead = format!("http://127.0.0.1:{}", common::free_port());
    let (result, log) = call_with_query_key(&dead).await;
    assert!(result.contains("could not connect"), "{result}");
    assert!(
        !result.contains(CANARY),
        "the tool result carries the secret:\n{result}"
    );
    assert!(log.contains("source loaded"), "no logs: {log}");
    assert!(!log.contains(CANARY), "the log printed the secret:\n{log}");
    // A backend that echoes the request URI in its error body: neither the DEBUG log of the
    // response nor the tool result the model reads may repeat the key.
    for status in [401, 500] {
        let base = echoing_backend(status).await;
        let (result, log) = call_with_query_key(&base).await;
        assert!(result.contains(&status.to_string()), "{base}: {result}");
        assert!(
            log.contains("no access for /v1/pets?api_key="),
            "{base}: {log}"
        );
        assert!(
            !log.contains(CANARY),
            "{base}: the log printed the secret:\n{log}"
        );
        assert!(
            !result.contains(CANARY),
            "{base}: the tool result repeats the secret the backend echoed:\n{result}"
        );
        assert!(result.contains("[redacted]"), "{base}: {result}");
    }
}
