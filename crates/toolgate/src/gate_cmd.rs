//! `toolgate gate --plan gate.yaml`: the release gate's process and I/O work (docs/gate.md,
//! "The gate"). It reads the plan and everything it names first (a bad plan, a missing
//! token variable, an unreadable baseline: exit 2 before anything starts), takes the
//! candidate's contract and diffs it against the baseline, starts a `config` candidate
//! (`gate_drill::Served`), replays the plan's traffic, computes the role matrix the
//! candidate's configuration gives (with `access`'s code) and sends the live probes, runs the
//! rollback drill last, then hands the evidence to `toolgate_gate`'s checks and verdict.
//!
//! Output: the text summary on stdout with the verdict line last, `--json` and `--html`
//! reports. Exit codes: 0 rollout, 1 patch or hold, 2 bad plan or input, or a candidate that
//! cannot be started or reached. Tokens are registered with the redactor and only their
//! origin (`env VAR`, `file PATH`) reaches a report.
//!
//! Does not own: the plan model, the checks, the verdict rules and the renderers
//! (`toolgate-gate`), replaying (`toolgate-replay`), diffing (`toolgate-contract`).

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Map, Value};
use toolgate_contract::{Contract, Migrations};
use toolgate_core::{AuthMethod, Principal};
use toolgate_gate::checks::{self, ProbeOutcome, RoleCell};
use toolgate_gate::plan::{Mode, Plan, RoleExpectation, SecretRef};
use toolgate_gate::{GateReport, NextStep, Verdict, html, report};
use toolgate_replay::input::ArgumentValue;
use toolgate_replay::{ClientOptions, HttpMode, Input, ReplayError, ReplayOptions};

use crate::cli::GateArgs;
use crate::gate_drill::{self, Served};
use crate::{Failure, access, contract_cmd, redact, run};

/// Runs `toolgate gate`.
pub async fn run(args: GateArgs) -> Result<ExitCode, Failure> {
    let origin = args.plan.display().to_string();
    let text = std::fs::read_to_string(&args.plan)
        .map_err(|e| Failure::Input(format!("--plan: cannot read {origin}: {e}")))?;
    let mut plan = Plan::parse(&text, &origin).map_err(|e| Failure::Input(e.to_string()))?;
    plan.resolve(&run::parent_dir(&args.plan));
    let today = match &args.as_of {
        Some(date) if toolgate_contract::is_date(date) => date.clone(),
        Some(date) => {
            return Err(Failure::Input(format!(
                "--as-of `{date}` is not a date; write it as YYYY-MM-DD"
            )));
        }
        None => toolgate_contract::today_utc(),
    };

    // Everything the plan names is read before anything starts.
    let bearer = plan
        .candidate
        .bearer
        .as_ref()
        .map(|s| secret(s, "candidate.bearer"))
        .transpose()?;
    let mut probe_tokens = Vec::new();
    for (i, p) in plan.auth.iter().flat_map(|a| &a.probes).enumerate() {
        let path = format!("auth.probes[{i}].token");
        probe_tokens.push(p.token.as_ref().map(|s| secret(s, &path)).transpose()?);
    }
    let admin_token = plan
        .rollback
        .as_ref()
        .and_then(|r| r.admin_token.as_ref())
        .map(|s| secret(s, "rollback.admin_token"))
        .transpose()?;
    let migrations = match &plan.migrations {
        Some(path) => contract_cmd::read_migrations(path)?,
        None => Migrations::default(),
    };
    let input = match &plan.replay {
        None => None,
        Some(r) => {
            let mut input =
                Input::load(&r.input).map_err(|e| Failure::Input(format!("replay.input: {e}")))?;
            for (i, text) in r.set.iter().enumerate() {
                let set = ArgumentValue::parse(text)
                    .map_err(|e| Failure::Input(format!("replay.set[{i}]: {e}")))?;
                if input.set_argument(&set) == 0 {
                    return Err(Failure::Input(format!(
                        "replay.set[{i}]: {text}: no recorded call of `{}` has that argument",
                        set.tool
                    )));
                }
            }
            Some(input)
        }
    };
    let baseline = match &plan.baseline {
        Some(path) => Some(load_contract(path, "baseline").await?),
        None => None,
    };
    let candidate_contract = match (&plan.candidate.config, &plan.candidate.contract) {
        (_, Some(path)) => Some(load_contract(path, "candidate.contract").await?),
        (Some(config), None) => Some(load_contract(config, "candidate.config").await?),
        (None, None) => None,
    };
    let diff = match (&baseline, &candidate_contract) {
        (Some(old), Some(new)) => Some(toolgate_contract::diff_with(old, new, &migrations, &today)),
        _ => None,
    };
    let role_cells = match (&plan.auth, &plan.candidate.config) {
        (Some(a), Some(config)) if !a.roles.is_empty() => role_cells(config, &a.roles).await?,
        _ => Vec::new(),
    };

    // The candidate.
    let mode = match plan.candidate.mode {
        Mode::Stateless => HttpMode::Stateless,
        Mode::Session => HttpMode::Session,
    };
    let mut served = match (&plan.candidate.config, &plan.candidate.url) {
        (Some(config), _) => Served::start(config, plan.rollback.is_some())?,
        (None, Some(url)) => Served::at(url),
        (None, None) => return Err(Failure::Input("candidate: give `config` or `url`".into())),
    };
    let replay = match (&plan.replay, input) {
        (Some(r), Some(input)) => {
            let options = ReplayOptions {
                client: client_options(&served.url, bearer.as_deref(), r.timeout_seconds, mode),
                concurrency: r.concurrency,
                rate: r.rate,
                windows: r.windows,
                repeat: r.repeat,
                contract: candidate_contract.clone(),
                progress: false,
                input_path: r.input.display().to_string(),
            };
            let report = toolgate_replay::run(input, &options)
                .await
                .map_err(|e| match e {
                    ReplayError::Input(m) => Failure::Input(format!("replay: {m}")),
                    ReplayError::Target(m) => {
                        Failure::Input(format!("the candidate cannot be reached: {m}"))
                    }
                })?;
            Some(report)
        }
        _ => None,
    };
    let mut probes = Vec::new();
    for (p, token) in plan.auth.iter().flat_map(|a| &a.probes).zip(&probe_tokens) {
        let answer =
            gate_drill::call(&served.url, token.as_deref(), &p.tool, &p.arguments, mode).await;
        let (answer, refused) = classify(answer);
        probes.push(ProbeOutcome {
            name: p.name.clone(),
            token: p
                .token
                .as_ref()
                .map_or("no token".into(), SecretRef::origin),
            tool: p.tool.clone(),
            expect: p.expect,
            answer,
            refused,
        });
    }
    let drill = match &plan.rollback {
        Some(r) => Some(
            gate_drill::drill(
                &mut served,
                r,
                bearer.as_deref(),
                admin_token.as_deref(),
                mode,
            )
            .await?,
        ),
        None => None,
    };
    drop(served);

    // The verdict.
    let contract_check = checks::schema_contract(diff.as_ref(), replay.as_ref());
    let (latency_check, latency) = checks::latency_budget(plan.budgets.as_ref(), replay.as_ref());
    let checks = vec![
        contract_check,
        checks::auth_scope(plan.auth.is_some(), &role_cells, &probes),
        latency_check,
        checks::retry_ceiling(plan.retry_ceiling.as_ref(), replay.as_ref()),
        checks::rollback_drill(drill.as_ref()),
    ];
    let verdict = Verdict::decide(&plan.tool, &plan.objective, &checks);
    let report = GateReport {
        format: report::FORMAT.to_owned(),
        toolgate_version: env!("CARGO_PKG_VERSION").to_owned(),
        generated_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        plan: origin,
        verdict,
        candidate: match (&plan.candidate.config, &plan.candidate.url) {
            (Some(c), _) => format!("config {}", c.display()),
            (None, Some(u)) => format!("url {u}"),
            (None, None) => String::new(),
        },
        baseline: plan.baseline.as_ref().map(|b| b.display().to_string()),
        checks,
        contract_diff: diff
            .as_ref()
            .and_then(|d| serde_json::from_str(&toolgate_contract::render::json(d)).ok()),
        replay,
        latency,
        role_matrix: role_cells,
        probes,
        rollback: drill,
    };
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| Failure::Input(format!("cannot serialize the report: {e}")))?;
        write(path, &(text + "\n"), "--json")?;
    }
    if let Some(path) = &args.html {
        write(path, &html::render(&report), "--html")?;
    }
    redact::println(report.render_text().trim_end());
    Ok(match report.verdict.next_step {
        NextStep::Rollout => ExitCode::SUCCESS,
        NextStep::Patch | NextStep::Hold => ExitCode::from(1),
    })
}

/// Writes a report file; the redactor scrubs it like stdout.
fn write(path: &Path, text: &str, flag: &str) -> Result<(), Failure> {
    std::fs::write(path, redact::scrub(text).as_bytes())
        .map_err(|e| Failure::Input(format!("{flag}: cannot write {}: {e}", path.display())))
}

/// A snapshot, spec or configuration as a contract.
async fn load_contract(path: &Path, key: &str) -> Result<Contract, Failure> {
    contract_cmd::load(&path.display().to_string(), key, None).await
}

/// Reads a secret the plan points at; registers it with the redactor.
fn secret(s: &SecretRef, path: &str) -> Result<String, Failure> {
    let value = match (&s.env, &s.file) {
        (Some(var), _) => std::env::var(var).map_err(|_| {
            Failure::Input(format!("{path}: the environment variable {var} is not set"))
        })?,
        (None, Some(file)) => std::fs::read_to_string(file)
            .map_err(|e| Failure::Input(format!("{path}: cannot read {}: {e}", file.display())))?,
        (None, None) => return Err(Failure::Input(format!("{path}: give `env` or `file`"))),
    };
    let value = value.trim().to_owned();
    if value.is_empty() {
        return Err(Failure::Input(format!(
            "{path}: the token from {} is empty",
            s.origin()
        )));
    }
    redact::register([value.as_str()]);
    Ok(value)
}

/// How the gate's clients reach the candidate.
pub(crate) fn client_options(
    url: &str,
    bearer: Option<&str>,
    timeout: f64,
    mode: HttpMode,
) -> ClientOptions {
    ClientOptions {
        url: url.to_owned(),
        mode,
        protocol_version: None,
        authorization: bearer.map(|t| format!("Bearer {t}")),
        timeout: Duration::from_secs_f64(timeout),
    }
}

/// A probe's answer in words, and whether it is a refusal: HTTP 400/401/403, a JSON-RPC
/// error or an error result are; a successful result and no answer at all are not.
fn classify(answer: Result<Value, (toolgate_bench::client::ErrorKind, String)>) -> (String, bool) {
    use toolgate_bench::client::ErrorKind;
    let short = |s: &str| s.chars().take(160).collect::<String>();
    match answer {
        Err((ErrorKind::Http(status), _)) => {
            (format!("http_{status}"), matches!(status, 400 | 401 | 403))
        }
        Err((ErrorKind::JsonRpc(code), m)) => (format!("jsonrpc_{code}: {}", short(&m)), true),
        Err((ErrorKind::ToolError, m)) => (format!("tool_error: {}", short(&m)), true),
        Err((kind, m)) => (format!("no answer ({kind}): {}", short(&m)), false),
        Ok(v) => {
            if let Some(e) = v.get("error") {
                let code = e["code"].as_i64().unwrap_or(0);
                (
                    format!(
                        "jsonrpc_{code}: {}",
                        short(e["message"].as_str().unwrap_or(""))
                    ),
                    true,
                )
            } else if v["result"]["isError"] == true {
                let text = v["result"]["content"][0]["text"].as_str().unwrap_or("");
                (format!("tool_error: {}", short(text)), true)
            } else {
                ("ok".to_owned(), false)
            }
        }
    }
}

/// The role matrix the candidate's configuration gives, for the cells the plan expects:
/// `access`'s policy and catalog, the same code `toolgate access` and the gateway use.
async fn role_cells(
    config_path: &Path,
    roles: &[RoleExpectation],
) -> Result<Vec<RoleCell>, Failure> {
    let config = run::load_config_file(config_path)?;
    let authentication = run::authentication_enabled(&config);
    let section = config.authorization.clone().unwrap_or_default();
    let policy = access::compile(&section, authentication)?;
    let catalog = access::load_catalog(&config, config_path).await?;
    let active = config.authorization.is_some() || authentication;
    let mut cells = Vec::new();
    for r in roles {
        let subject = r
            .subject
            .clone()
            .unwrap_or_else(|| format!("gate-{}", r.role.as_deref().unwrap_or("caller")));
        let mut principal = Principal::new(subject, r.scopes.clone(), AuthMethod::Configured);
        principal.roles = r.role.iter().cloned().collect();
        principal.claims = std::sync::Arc::new(Map::new());
        let caller = access::Caller {
            principal: Some(principal),
            origin: "the gate plan",
        };
        let report = access::report(&policy, &catalog, &caller, active);
        let expected = r
            .may
            .iter()
            .map(|t| (t, true))
            .chain(r.may_not.iter().map(|t| (t, false)));
        for (tool, expected_allowed) in expected {
            let line = report
                .lines()
                .iter()
                .find(|l| l.kind == "tool" && &l.name == tool);
            cells.push(RoleCell {
                principal: r.label(),
                tool: tool.clone(),
                expected_allowed,
                allowed: line.map(|l| l.allowed),
                why: line.map_or_else(
                    || "the candidate does not serve this tool".to_owned(),
                    |l| l.why.clone(),
                ),
            });
        }
    }
    Ok(cells)
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use toolgate_bench::client::ErrorKind;

    use super::classify;

    #[test]
    fn refusals_are_auth_statuses_rpc_errors_and_error_results() {
        assert_eq!(
            classify(Err((ErrorKind::Http(401), String::new()))),
            ("http_401".into(), true)
        );
        assert!(classify(Err((ErrorKind::Http(403), String::new()))).1);
        // Not found, or a server error, is not an authorization decision.
        assert!(!classify(Err((ErrorKind::Http(404), String::new()))).1);
        assert!(!classify(Err((ErrorKind::Http(500), String::new()))).1);
        assert!(!classify(Err((ErrorKind::Transport, "refused".into()))).1);
        let (answer, refused) = classify(Ok(
            json!({"error": {"code": -32602, "message": "unknown tool"}}),
        ));
        assert!(refused && answer.starts_with("jsonrpc_-32602"), "{answer}");
        let (answer, refused) = classify(Ok(
            json!({"result": {"isError": true, "content": [{"type": "text", "text": "denied"}]}}),
        ));
        assert!(refused && answer == "tool_error: denied", "{answer}");
        assert_eq!(
            classify(Ok(json!({"result": {"content": []}}))),
            ("ok".into(), false)
        );
    }
}
