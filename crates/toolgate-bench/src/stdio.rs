//! A spawned MCP server over stdin/stdout, with any number of requests in flight at once:
//! one writer task, one reader task that routes answers to their callers by id.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader, BufWriter};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};

use crate::calls::Prepared;
use crate::mcp_http::CallResult;
use crate::report::Startup;
use crate::rpc::{ErrorKind, Probe};

/// An answer as read, with its outcome (classified once, by the reader: a `tools/list` answer
/// can be megabytes, and scanning it twice would count the load generator's work as latency).
type Answer = (Vec<u8>, Result<(), (ErrorKind, String)>);

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Answer>>>>;

/// A running stdio server.
pub(crate) struct StdioServer {
    tx: Mutex<Option<mpsc::UnboundedSender<Vec<u8>>>>,
    pending: Pending,
    next_id: AtomicU64,
    child: tokio::sync::Mutex<Child>,
    pid: Option<u32>,
    timeout: Duration,
}

impl StdioServer {
    /// Spawns `argv`, runs `initialize` + `notifications/initialized` and one `tools/list`,
    /// timing both from the spawn.
    pub async fn start(
        argv: &[String],
        version: &str,
        show_stderr: bool,
        timeout: Duration,
    ) -> Result<(Arc<Self>, Startup), String> {
        let started = Instant::now();
        let mut child = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(if show_stderr {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {:?}: {e}", argv[0]))?;
        let pid = child.id();
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::unbounded_channel::<Vec<u8>>();
        tokio::spawn(write_lines(stdin, rx));
        let pending: Pending = Arc::default();
        tokio::spawn(read_lines(stdout, pending.clone(), tx.downgrade()));
        let server = Arc::new(StdioServer {
            tx: Mutex::new(Some(tx)),
            pending,
            next_id: AtomicU64::new(2),
            child: tokio::sync::Mutex::new(child),
            pid,
            timeout,
        });

        let hint = if show_stderr {
            ""
        } else {
            " (rerun with --server-stderr to see its output)"
        };
        let init = json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {
                "protocolVersion": version,
                "capabilities": {},
                "clientInfo": { "name": "toolgate-bench", "version": env!("CARGO_PKG_VERSION") },
            },
        });
        let answer = server
            .raw_request(0, init)
            .await
            .map_err(|(_, e)| format!("initialize over stdio: {e}{hint}"))?;
        let initialize_ms = started.elapsed().as_secs_f64() * 1e3;
        let answer: Value = serde_json::from_slice(&answer)
            .map_err(|e| format!("initialize over stdio: bad answer: {e}"))?;
        if let Some(e) = answer.get("error") {
            return Err(format!("initialize refused: {e}"));
        }
        server.send_line(
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"})
                .to_string()
                .into_bytes(),
        );
        let list_started = Instant::now();
        let list = server
            .raw_request(
                1,
                json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}),
            )
            .await
            .map_err(|(_, e)| format!("first tools/list over stdio: {e}{hint}"))?;
        let first_tools_list_ms = started.elapsed().as_secs_f64() * 1e3;
        let tools_list_only_ms = list_started.elapsed().as_secs_f64() * 1e3;
        let tools = serde_json::from_slice::<Value>(&list).ok().and_then(|v| {
            v.pointer("/result/tools")
                .and_then(Value::as_array)
                .map(Vec::len)
        });
        let startup = Startup {
            initialize_ms,
            first_tools_list_ms,
            tools_list_only_ms,
            tools_list_bytes: list.len(),
            tools,
        };
        Ok((server, startup))
    }

    /// The child's process id.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    fn send_line(&self, mut line: Vec<u8>) -> bool {
        if line.last() != Some(&b'\n') {
            line.push(b'\n');
        }
        match self.tx.lock().expect("not poisoned").as_ref() {
            Some(tx) => tx.send(line).is_ok(),
            None => false,
        }
    }

    async fn wait(&self, id: u64, line: Vec<u8>) -> Result<Answer, (ErrorKind, String)> {
        let (tx, rx) = oneshot::channel();
        self.pending.lock().expect("not poisoned").insert(id, tx);
        if !self.send_line(line) {
            self.pending.lock().expect("not poisoned").remove(&id);
            return Err((
                ErrorKind::Transport,
                "the server's stdin is closed".to_owned(),
            ));
        }
        match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_)) => Err((
                ErrorKind::Transport,
                "the server closed stdout (exited?)".to_owned(),
            )),
            Err(_) => {
                self.pending.lock().expect("not poisoned").remove(&id);
                Err((
                    ErrorKind::Timeout,
                    format!("no answer within {:.1} s", self.timeout.as_secs_f64()),
                ))
            }
        }
    }

    async fn raw_request(&self, id: u64, message: Value) -> Result<Vec<u8>, (ErrorKind, String)> {
        self.wait(id, message.to_string().into_bytes())
            .await
            .map(|(answer, _)| answer)
    }

    /// Sends one request and classifies the answer.
    pub async fn call(&self, prepared: &Prepared) -> CallResult {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        match self.wait(id, prepared.line(id)).await {
            Ok((answer, outcome)) => CallResult {
                outcome,
                bytes: answer.len(),
            },
            Err(e) => CallResult {
                outcome: Err(e),
                bytes: 0,
            },
        }
    }

    /// Closes stdin, waits up to 3 s for the server to exit, then kills it.
    pub async fn stop(&self) {
        self.tx.lock().expect("not poisoned").take();
        let mut child = self.child.lock().await;
        if tokio::time::timeout(Duration::from_secs(3), child.wait())
            .await
            .is_err()
        {
            let _ = child.kill().await;
        }
    }
}

async fn write_lines(stdin: tokio::process::ChildStdin, mut rx: mpsc::UnboundedReceiver<Vec<u8>>) {
    let mut out = BufWriter::new(stdin);
    while let Some(line) = rx.recv().await {
        if out.write_all(&line).await.is_err() {
            return;
        }
        // Batch whatever else is queued into the same write.
        while let Ok(line) = rx.try_recv() {
            if out.write_all(&line).await.is_err() {
                return;
            }
        }
        if out.flush().await.is_err() {
            return;
        }
    }
    let _ = out.shutdown().await;
}

async fn read_lines(
    stdout: tokio::process::ChildStdout,
    pending: Pending,
    tx: mpsc::WeakUnboundedSender<Vec<u8>>,
) {
    let mut reader = BufReader::with_capacity(64 * 1024, stdout);
    loop {
        let mut line = Vec::new();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let Ok(probe) = serde_json::from_slice::<Probe>(&line) else {
            continue;
        };
        if let Some(id) = probe.response_id() {
            if let Some(waiter) = pending.lock().expect("not poisoned").remove(&id) {
                let _ = waiter.send((line, probe.outcome()));
            }
        } else if probe.method.is_some()
            && let Some(id) = probe.id
        {
            // A request from the server (ping, roots/list, ...): answer so it is not left
            // waiting; only ping has a meaningful empty result.
            let is_ping = serde_json::from_slice::<Value>(&line)
                .ok()
                .and_then(|v| v.get("method").and_then(Value::as_str).map(|m| m == "ping"))
                .unwrap_or(false);
            let reply = if is_ping {
                json!({"jsonrpc": "2.0", "id": id, "result": {}})
            } else {
                json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "the load generator does not handle server requests"}})
            };
            let mut bytes = reply.to_string().into_bytes();
            bytes.push(b'\n');
            if let Some(tx) = tx.upgrade() {
                let _ = tx.send(bytes);
            }
        }
    }
    // Dropping the waiters tells every caller the server went away.
    pending.lock().expect("not poisoned").clear();
}
