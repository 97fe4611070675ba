//! The gate's candidate process and its rollback drill.
//!
//! A `config` candidate is served by a `toolgate serve --no-watch` child on a free loopback
//! port (`replay_cmd::start_candidate`). When the plan has a drill, the child serves a copy of
//! the configuration written next to the original (`.NAME.gate-PID.yaml`, so relative spec
//! paths resolve alike, removed at the end): the drill overwrites the copy, never the
//! original.
//!
//! The drill: a probe call must succeed; then, from the moment the candidate is broken, the
//! clock runs — a broken configuration is written and a reload triggered (`POST
//! /admin/reload`, whose answer says whether it was refused and the last known good kept, or
//! `SIGHUP`, judged by `toolgate_config_reloads_total` on `/metrics`), or the process is
//! killed and the same artifact started again — and the probe is called until it succeeds:
//! that time is the recovery time. Afterwards the good configuration is written back and
//! reloaded.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use toolgate_bench::client::{ErrorKind, HttpMode, Target};
use toolgate_gate::checks::DrillResult;
use toolgate_gate::plan::{Break, RollbackPlan, Trigger};

use crate::Failure;
use crate::gate_cmd::client_options;
use crate::replay_cmd::{ChildGuard, start_candidate};

/// What a drill writes for `break: invalid_config`: YAML that no configuration accepts.
const INVALID_CONFIG: &str = "# written by `toolgate gate`'s rollback drill: not a valid configuration\nsources: {this_is: not a list of sources}\n";

/// How long one probe call may take.
const CALL_TIMEOUT: f64 = 10.0;

/// The candidate the gate talks to.
pub struct Served {
    /// Its MCP URL.
    pub url: String,
    child: Option<ChildGuard>,
    /// The file the child serves (the copy, with a drill).
    served: Option<PathBuf>,
    copy: Option<CopyGuard>,
}

/// A file removed when dropped.
struct CopyGuard(PathBuf);

impl Drop for CopyGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl Served {
    /// Starts `toolgate serve` for `config`, on a copy of it when `copy` (for a drill).
    pub fn start(config: &Path, copy: bool) -> Result<Served, Failure> {
        let (served, guard) = if copy {
            let name = config
                .file_name()
                .map_or_else(|| "config".into(), |n| n.to_string_lossy().into_owned());
            let path = config.with_file_name(format!(".{name}.gate-{}.yaml", std::process::id()));
            std::fs::copy(config, &path).map_err(|e| {
                Failure::Input(format!(
                    "rollback: cannot copy {} to {} for the drill: {e}",
                    config.display(),
                    path.display()
                ))
            })?;
            (path.clone(), Some(CopyGuard(path)))
        } else {
            (config.to_path_buf(), None)
        };
        let (child, url) = start_candidate(&served)?;
        Ok(Served {
            url,
            child: Some(child),
            served: Some(served),
            copy: guard,
        })
    }

    /// A running server at `url`.
    pub fn at(url: &str) -> Served {
        Served {
            url: url.to_owned(),
            child: None,
            served: None,
            copy: None,
        }
    }

    /// `http://host:port/PATH` on the candidate's address.
    fn endpoint(&self, path: &str) -> String {
        match url::Url::parse(&self.url) {
            Ok(mut u) => {
                u.set_path(path);
                u.set_query(None);
                u.to_string()
            }
            Err(_) => format!("{}{path}", self.url.trim_end_matches("/mcp")),
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        // The child first: it must not reload a removed file.
        self.child.take();
        self.copy.take();
    }
}

/// One tool call through the candidate on a fresh connection.
pub async fn call(
    url: &str,
    bearer: Option<&str>,
    tool: &str,
    arguments: &Map<String, Value>,
    mode: HttpMode,
) -> Result<Value, (ErrorKind, String)> {
    let target = Target::new(&client_options(url, bearer, CALL_TIMEOUT, mode))
        .map_err(|e| (ErrorKind::BadResponse, e))?;
    let mut client = target
        .connect()
        .await
        .map_err(|e| (ErrorKind::Transport, e))?;
    let answer = client.call_tool(tool, arguments).await;
    client.close().await;
    answer
}

/// Whether a call answered with a successful result; else why not.
fn succeeded(answer: &Result<Value, (ErrorKind, String)>) -> Result<(), String> {
    match answer {
        Err((kind, m)) => Err(format!(
            "{kind}: {}",
            m.chars().take(160).collect::<String>()
        )),
        Ok(v) if v.get("error").is_some() => Err(format!("JSON-RPC error {}", v["error"])),
        Ok(v) if v["result"]["isError"] == true => {
            Err(format!("error result {}", v["result"]["content"]))
        }
        Ok(_) => Ok(()),
    }
}

/// Runs the drill on `served` (a `config` candidate: the plan validation ensures it).
pub async fn drill(
    served: &mut Served,
    plan: &RollbackPlan,
    bearer: Option<&str>,
    admin: Option<&str>,
    mode: HttpMode,
) -> Result<DrillResult, Failure> {
    let Some(path) = served.served.clone() else {
        return Err(Failure::Input(
            "rollback: the drill needs `candidate.config`".into(),
        ));
    };
    let probe = &plan.probe;
    let mut result = DrillResult {
        break_kind: match &plan.break_ {
            Break::InvalidConfig => "invalid_config".into(),
            Break::Config(p) => format!("config {}", p.display()),
            Break::Restart => "restart".into(),
        },
        trigger: match (&plan.break_, plan.trigger) {
            (Break::Restart, _) => "restart".into(),
            (_, Trigger::Admin) => "admin".into(),
            (_, Trigger::Sighup) => "sighup".into(),
        },
        healthy_before: false,
        reload_outcome: String::new(),
        rolled_back: false,
        failed_calls: 0,
        recovery_seconds: None,
        target_seconds: plan.target_seconds,
        restored: false,
        detail: String::new(),
    };
    if let Err(why) =
        succeeded(&call(&served.url, bearer, &probe.tool, &probe.arguments, mode).await)
    {
        result.reload_outcome = "not run".into();
        result.detail = format!("the probe `{}` failed before the break: {why}", probe.tool);
        return Ok(result);
    }
    result.healthy_before = true;
    let good = std::fs::read(&path)
        .map_err(|e| Failure::Input(format!("rollback: cannot read {}: {e}", path.display())))?;
    let broken = match &plan.break_ {
        Break::InvalidConfig => Some(INVALID_CONFIG.as_bytes().to_vec()),
        Break::Config(p) => Some(std::fs::read(p).map_err(|e| {
            Failure::Input(format!(
                "rollback.break.config: cannot read {}: {e}",
                p.display()
            ))
        })?),
        Break::Restart => None,
    };
    let start = Instant::now();
    match &broken {
        Some(bytes) => {
            replace(&path, bytes)?;
            let (accepted, outcome) = reload(served, plan.trigger, admin).await?;
            result.rolled_back = !accepted;
            result.reload_outcome = outcome;
        }
        None => {
            let old = served.child.take();
            let pid = old.as_ref().map(|c| c.0.id());
            drop(old);
            let (child, url) = start_candidate(&path)?;
            result.reload_outcome = format!(
                "the candidate was killed (pid {}) and the same artifact started again (pid {})",
                pid.map_or("?".into(), |p| p.to_string()),
                child.0.id()
            );
            served.child = Some(child);
            served.url = url;
        }
    }
    let deadline = start + Duration::from_secs_f64(plan.target_seconds * 3.0 + 10.0);
    let mut last_error = String::new();
    loop {
        match succeeded(&call(&served.url, bearer, &probe.tool, &probe.arguments, mode).await) {
            Ok(()) => {
                result.recovery_seconds = Some(start.elapsed().as_secs_f64());
                break;
            }
            Err(why) => {
                result.failed_calls += 1;
                last_error = why;
            }
        }
        if Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if matches!(plan.break_, Break::Restart) {
        result.rolled_back = result.recovery_seconds.is_some();
        result.restored = true;
    } else {
        replace(&path, &good)?;
        let (accepted, outcome) = reload(served, plan.trigger, admin).await?;
        let answering =
            succeeded(&call(&served.url, bearer, &probe.tool, &probe.arguments, mode).await);
        result.restored = accepted && answering.is_ok();
        if !result.restored {
            result.detail = format!("restoring the candidate's configuration: {outcome}");
        }
    }
    if result.recovery_seconds.is_none() {
        result.detail = format!(
            "{}the probe `{}` still failed at the deadline: {last_error}",
            if result.detail.is_empty() {
                String::new()
            } else {
                format!("{}; ", result.detail)
            },
            probe.tool
        );
    }
    Ok(result)
}

/// Replaces `path`'s content atomically (a reload never reads half a file).
fn replace(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let tmp = path.with_extension("yaml.tmp");
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| Failure::Input(format!("rollback: cannot write {}: {e}", path.display())))
}

/// Triggers a reload; whether it was applied, and what it said.
async fn reload(
    served: &Served,
    trigger: Trigger,
    admin: Option<&str>,
) -> Result<(bool, String), Failure> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| Failure::Input(format!("rollback: HTTP client: {e}")))?;
    match trigger {
        Trigger::Admin => {
            let mut req = http.post(served.endpoint("/admin/reload"));
            if let Some(token) = admin {
                req = req.bearer_auth(token);
            }
            let resp = req
                .send()
                .await
                .map_err(|e| Failure::Input(format!("rollback: POST /admin/reload: {e}")))?;
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            let outcome = body["outcome"].as_str().unwrap_or("").to_owned();
            // The reason on one line, short: the report is read by people.
            let error: String = body["error"]
                .as_str()
                .unwrap_or("")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .chars()
                .take(240)
                .collect();
            match (status, outcome.as_str()) {
                (200, "success") => Ok((true, "reload applied (HTTP 200)".into())),
                (_, "failure") => Ok((
                    false,
                    format!("reload refused (HTTP {status}), last known good kept: {error}"),
                )),
                _ => Err(Failure::Input(format!(
                    "rollback: POST /admin/reload answered HTTP {status} {}{}",
                    body,
                    if status == 401 || status == 403 {
                        " (set `rollback.admin_token` to a token with the admin scope or role)"
                    } else {
                        ""
                    }
                ))),
            }
        }
        Trigger::Sighup => sighup(served, &http).await,
    }
}

/// `SIGHUP`, then `/metrics` until a reload outcome is counted.
async fn sighup(served: &Served, http: &reqwest::Client) -> Result<(bool, String), Failure> {
    let counts = || async {
        let text = http
            .get(served.endpoint("/metrics"))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        let count = |outcome: &str| {
            let key = format!("toolgate_config_reloads_total{{outcome=\"{outcome}\"}}");
            text.lines()
                .find(|l| l.starts_with(&key))
                .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        Some((count("success"), count("failure")))
    };
    let before = counts()
        .await
        .ok_or_else(|| Failure::Input("rollback: cannot read the candidate's /metrics".into()))?;
    let Some(pid) = served.child.as_ref().map(|c| c.0.id()) else {
        return Err(Failure::Input(
            "rollback: `trigger: sighup` needs a candidate the gate started".into(),
        ));
    };
    send_sighup(pid)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if let Some(now) = counts().await {
            if now.0 > before.0 {
                return Ok((true, "reload applied (SIGHUP)".into()));
            }
            if now.1 > before.1 {
                return Ok((
                    false,
                    "reload refused (SIGHUP), last known good kept".into(),
                ));
            }
        }
    }
    Ok((
        true,
        "no reload outcome counted within 60 s of SIGHUP".into(),
    ))
}

#[cfg(target_os = "linux")]
fn send_sighup(pid: u32) -> Result<(), Failure> {
    let pid =
        libc::pid_t::try_from(pid).map_err(|_| Failure::Input(format!("rollback: pid {pid}")))?;
    // SAFETY: kill(2) with a pid of a child this process started and still holds.
    let rc = unsafe { libc::kill(pid, libc::SIGHUP) };
    if rc == 0 {
        Ok(())
    } else {
        Err(Failure::Input(format!(
            "rollback: SIGHUP to pid {pid}: {}",
            std::io::Error::last_os_error()
        )))
    }
}

#[cfg(not(target_os = "linux"))]
fn send_sighup(_pid: u32) -> Result<(), Failure> {
    Err(Failure::Input(
        "rollback: `trigger: sighup` is supported on Linux; use `trigger: admin`".into(),
    ))
}
