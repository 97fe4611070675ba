//! `toolgate replay`: loads the input and the contract, finds or starts the candidate, runs
//! `toolgate_replay::run`, prints the summary (and writes the JSON report), and maps the
//! outcome to the exit code: 0 no mismatch, 1 mismatches, 2 bad input or unreachable target.
//!
//! A `--config` candidate is served by a `toolgate serve --config FILE --http 127.0.0.1:0
//! --no-watch` child process (this very binary), so the gateway runs as it does in
//! production and the replay client's CPU is not counted as the gateway's; the child is
//! stopped when the run ends, whatever happens.
//!
//! Does not own: replaying and checking (toolgate-replay).

use std::io::{BufRead as _, BufReader, IsTerminal as _, Read as _};
use std::path::Path;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use toolgate_replay::input::ArgumentValue;
use toolgate_replay::{ClientOptions, Input, ReplayError, ReplayOptions};

use crate::Failure;
use crate::cli::ReplayArgs;

/// How long a `--config` candidate may take to start serving.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `toolgate replay`.
pub async fn run(args: ReplayArgs) -> Result<ExitCode, Failure> {
    let mut input = Input::load(&args.input).map_err(|e| Failure::Input(e.to_string()))?;
    for text in &args.set {
        let set = ArgumentValue::parse(text).map_err(|e| Failure::Input(format!("--set {e}")))?;
        if input.set_argument(&set) == 0 {
            return Err(Failure::Input(format!(
                "--set {text}: no recorded call of `{}` has that argument",
                set.tool
            )));
        }
    }
    let contract = match &args.contract {
        None => None,
        Some(path) => Some(load_contract(path)?),
    };
    if !(args.timeout > 0.0 && args.timeout.is_finite()) {
        return Err(Failure::Input(format!(
            "--timeout must be a positive number of seconds, not {}",
            args.timeout
        )));
    }
    let authorization = match &args.bearer_env {
        None => None,
        Some(var) => match std::env::var(var) {
            Ok(token) if !token.trim().is_empty() => Some(format!("Bearer {}", token.trim())),
            _ => {
                return Err(Failure::Input(format!(
                    "--bearer-env {var}: the environment variable is not set (or empty)"
                )));
            }
        },
    };
    // Held until the end of the run: dropping it stops the child.
    let (url, _child) = match (&args.url, &args.config) {
        (Some(url), _) => (url.clone(), None),
        (None, Some(config)) => {
            let (child, url) = start_candidate(config)?;
            (url, Some(child))
        }
        (None, None) => {
            return Err(Failure::Input(
                "give the candidate with --url URL or --config FILE".to_owned(),
            ));
        }
    };
    let options = ReplayOptions {
        client: ClientOptions {
            url,
            mode: args.mode,
            protocol_version: args.protocol_version.clone(),
            authorization,
            timeout: Duration::from_secs_f64(args.timeout),
        },
        concurrency: args.concurrency,
        rate: args.rate,
        windows: args.windows,
        repeat: args.repeat,
        contract,
        progress: !args.no_progress && std::io::stderr().is_terminal(),
        input_path: args.input.display().to_string(),
    };
    let report = toolgate_replay::run(input, &options)
        .await
        .map_err(|e| match e {
            ReplayError::Input(m) | ReplayError::Target(m) => Failure::Input(m),
        })?;
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| Failure::Runtime(format!("cannot serialize the report: {e}")))?;
        std::fs::write(path, text + "\n")
            .map_err(|e| Failure::Input(format!("--json: cannot write {}: {e}", path.display())))?;
    }
    crate::redact::println(report.render_text().trim_end());
    Ok(if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Reads a contract snapshot.
fn load_contract(path: &Path) -> Result<toolgate_contract::Contract, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::Input(format!("--contract: cannot read {}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        Failure::Input(format!(
            "--contract: {} is not a contract snapshot (`toolgate contract snapshot` writes one): {e}",
            path.display()
        ))
    })
}

/// A child process stopped when dropped.
pub(crate) struct ChildGuard(pub(crate) Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `toolgate serve --config FILE` on a free loopback port; returns it and its MCP URL.
pub(crate) fn start_candidate(config: &Path) -> Result<(ChildGuard, String), Failure> {
    let exe = std::env::current_exe()
        .map_err(|e| Failure::Runtime(format!("cannot find the toolgate binary: {e}")))?;
    let mut child = Command::new(exe)
        .arg("serve")
        .arg("--config")
        .arg(config)
        .args(["--http", "127.0.0.1:0", "--no-watch"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Failure::Runtime(format!("cannot start the candidate gateway: {e}")))?;
    let stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let guard = ChildGuard(child);
    let (tx, rx) = mpsc::channel();
    if let Some(stdout) = stdout {
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(i) = line.find(" at http://") {
                    let _ = tx.send(line[i + 4..].trim().to_owned());
                }
            }
        });
    }
    // Its log is kept (bounded) for the error message of a candidate that does not start.
    let (log_tx, log_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(stderr) = stderr.as_mut() {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if text.len() < 16 * 1024 {
                    text.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        }
        let _ = log_tx.send(text);
    });
    match rx.recv_timeout(START_TIMEOUT) {
        Ok(url) => Ok((guard, url)),
        Err(_) => {
            drop(guard);
            let log = log_rx
                .recv_timeout(Duration::from_secs(2))
                .unwrap_or_default();
            Err(Failure::Input(format!(
                "the candidate `toolgate serve --config {}` did not start serving:\n{}",
                config.display(),
                log.trim_end()
            )))
        }
    }
}
