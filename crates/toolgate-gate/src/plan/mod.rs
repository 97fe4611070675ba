//! The gate plan (`gate.yaml`): what to judge and against what. One serde tree with
//! `deny_unknown_fields`; a parse error names the path of the bad key
//! (`budgets.tools.list_tasks: unknown field `p95`…`), and [`Plan::validate`] then reports
//! every remaining problem at once, each with its path.
//!
//! Paths in the plan are relative to the plan's folder ([`Plan::resolve`]). Tokens are never
//! written in the plan: a [`SecretRef`] names an environment variable or a file. The checks
//! serde cannot make are in `validate.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

mod validate;

/// A plan that cannot be used (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{}", problems.join("\n"))]
pub struct PlanError {
    /// Every problem, each starting with its path in the plan.
    pub problems: Vec<String>,
}

/// The gate plan.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// What is promoted (the verdict line's `tool=`).
    pub tool: String,
    /// Why (the verdict line's `objective=`).
    pub objective: String,
    /// The candidate: a configuration started for the run, or a running server.
    pub candidate: Candidate,
    /// The last promoted contract snapshot (`toolgate contract snapshot`).
    #[serde(default)]
    pub baseline: Option<PathBuf>,
    /// Migration notes covering breaking changes (`toolgate contract diff --migrations`).
    #[serde(default)]
    pub migrations: Option<PathBuf>,
    /// The traffic replayed against the candidate.
    #[serde(default)]
    pub replay: Option<ReplayPlan>,
    /// Latency budgets per tool.
    #[serde(default)]
    pub budgets: Option<Budgets>,
    /// The retry ceiling.
    #[serde(default)]
    pub retry_ceiling: Option<RetryCeiling>,
    /// The expected role matrix and live probes.
    #[serde(default)]
    pub auth: Option<AuthPlan>,
    /// The rollback drill.
    #[serde(default)]
    pub rollback: Option<RollbackPlan>,
}

/// The candidate: exactly one of `config` and `url`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Candidate {
    /// A toolgate configuration, served by a `toolgate serve` child on a loopback port.
    #[serde(default)]
    pub config: Option<PathBuf>,
    /// A running MCP server (streamable HTTP).
    #[serde(default)]
    pub url: Option<String>,
    /// What a `url` candidate serves (a snapshot, spec or configuration), for the contract
    /// diff; a `config` candidate's contract is taken from the configuration.
    #[serde(default)]
    pub contract: Option<PathBuf>,
    /// A bearer token sent with the replay's calls.
    #[serde(default)]
    pub bearer: Option<SecretRef>,
    /// How the gate's clients talk to it: `stateless` (2026-07-28 requests, the default) or
    /// `session` (a 2025-11-25 session per connection, for servers without the new era).
    #[serde(default)]
    pub mode: Mode,
}

/// The MCP protocol era the gate's clients speak.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// 2026-07-28 stateless requests.
    #[default]
    Stateless,
    /// A 2025-11-25 session per connection.
    Session,
}

/// Where a secret comes from: exactly one of `env` and `file`. Never written in a report.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    /// An environment variable holding it.
    #[serde(default)]
    pub env: Option<String>,
    /// A file holding it (surrounding whitespace ignored).
    #[serde(default)]
    pub file: Option<PathBuf>,
}

impl SecretRef {
    /// Where it comes from, for reports (`env GATE_TOKEN`, `file tokens/reader`).
    pub fn origin(&self) -> String {
        match (&self.env, &self.file) {
            (Some(v), _) => format!("env {v}"),
            (None, Some(f)) => format!("file {}", f.display()),
            (None, None) => "nothing".to_owned(),
        }
    }
}

/// The replay of the plan (`toolgate replay`'s options).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayPlan {
    /// A recording (JSON Lines) or a workflow (YAML).
    pub input: PathBuf,
    /// Windows run one after another (at least 2 with budgets: a tool fails only when over
    /// budget in two consecutive windows).
    #[serde(default = "two")]
    pub windows: u32,
    /// Calls in flight at once.
    #[serde(default = "four")]
    pub concurrency: usize,
    /// Passes over the input per window.
    #[serde(default = "one")]
    pub repeat: u32,
    /// Calls per second at most.
    #[serde(default)]
    pub rate: Option<f64>,
    /// Argument values for recorded calls: `TOOL/POINTER=VALUE` (as `replay --set`).
    #[serde(default)]
    pub set: Vec<String>,
    /// Seconds one call may take.
    #[serde(default = "thirty")]
    pub timeout_seconds: f64,
}

fn one() -> u32 {
    1
}
fn two() -> u32 {
    2
}
fn four() -> usize {
    4
}
fn thirty() -> f64 {
    30.0
}

/// Latency budgets: `{default: {p50_ms, p95_ms}, tools: {NAME: {p50_ms, p95_ms}}}`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Budgets {
    /// The budget of every tool without its own.
    #[serde(default)]
    pub default: Option<Budget>,
    /// Budgets per tool name.
    #[serde(default)]
    pub tools: BTreeMap<String, Budget>,
}

impl Budgets {
    /// The budget that applies to `tool`.
    pub fn of(&self, tool: &str) -> Option<&Budget> {
        self.tools.get(tool).or(self.default.as_ref())
    }
}

/// One budget (at least one of the two).
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// Median latency at most, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50_ms: Option<f64>,
    /// 95th percentile latency at most, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p95_ms: Option<f64>,
}

/// The retry ceiling.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RetryCeiling {
    /// Retries per call at most, per tool and over all tools.
    pub retries_per_call: f64,
    /// How much retries per completed call may grow from the first window to the last when
    /// they grow in every window ("retries growing faster than completions").
    #[serde(default = "growth_tolerance")]
    pub growth_tolerance: f64,
}

fn growth_tolerance() -> f64 {
    0.01
}

/// The auth-scope check.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthPlan {
    /// The expected role matrix: per principal, tools it may and may not call.
    #[serde(default)]
    pub roles: Vec<RoleExpectation>,
    /// Live calls through the candidate with the given tokens.
    #[serde(default)]
    pub probes: Vec<Probe>,
}

/// What one principal may and may not call.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RoleExpectation {
    /// The principal's role (omit for a principal with none).
    #[serde(default)]
    pub role: Option<String>,
    /// Its scopes.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Its subject (default: `gate-<role>`).
    #[serde(default)]
    pub subject: Option<String>,
    /// Tools it must be able to call.
    #[serde(default)]
    pub may: Vec<String>,
    /// Tools it must not be able to call.
    #[serde(default)]
    pub may_not: Vec<String>,
}

impl RoleExpectation {
    /// How the report names it (`role=reader,scopes=tools:read`).
    pub fn label(&self) -> String {
        let mut parts = Vec::new();
        if let Some(r) = &self.role {
            parts.push(format!("role={r}"));
        }
        if !self.scopes.is_empty() {
            parts.push(format!("scopes={}", self.scopes.join("+")));
        }
        if let Some(s) = &self.subject {
            parts.push(format!("sub={s}"));
        }
        if parts.is_empty() {
            "no role".to_owned()
        } else {
            parts.join(",")
        }
    }
}

/// A live call with a token, and what must happen.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    /// What it shows (`a token without tools:call`, `an expired token`).
    pub name: String,
    /// The token (absent: no credential at all).
    #[serde(default)]
    pub token: Option<SecretRef>,
    /// The tool called.
    pub tool: String,
    /// Its arguments.
    #[serde(default)]
    pub arguments: Map<String, Value>,
    /// `refused` (HTTP 401/403, a JSON-RPC error or an error result) or `allowed`.
    pub expect: ProbeExpect,
}

/// What a probe must get.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ProbeExpect {
    /// Refused.
    Refused,
    /// A successful result.
    Allowed,
}

/// The rollback drill.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackPlan {
    /// Seconds within which calls must succeed again.
    pub target_seconds: f64,
    /// How the candidate is broken.
    #[serde(default, rename = "break")]
    pub break_: Break,
    /// How the reload is triggered (for the config breaks).
    #[serde(default)]
    pub trigger: Trigger,
    /// The call that must succeed before the break and again after it.
    pub probe: ProbeCall,
    /// A token with the admin scope or role, when the candidate authenticates.
    #[serde(default)]
    pub admin_token: Option<SecretRef>,
}

/// How the drill breaks the candidate: `invalid_config` (default), `restart`, or
/// `{config: FILE}`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(try_from = "BreakRepr", into = "BreakRepr")]
pub enum Break {
    /// A configuration that does not parse replaces the candidate's, then a reload.
    #[default]
    InvalidConfig,
    /// This configuration file replaces the candidate's, then a reload.
    Config(PathBuf),
    /// The candidate process is killed and the same artifact started again.
    Restart,
}

/// How [`Break`] is written: a word or `{config: FILE}`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
enum BreakRepr {
    Word(String),
    Map(BTreeMap<String, PathBuf>),
}

impl TryFrom<BreakRepr> for Break {
    type Error = String;

    fn try_from(r: BreakRepr) -> Result<Break, String> {
        match r {
            BreakRepr::Word(w) if w == "invalid_config" => Ok(Break::InvalidConfig),
            BreakRepr::Word(w) if w == "restart" => Ok(Break::Restart),
            BreakRepr::Word(w) => Err(format!(
                "break: unknown `{w}`, expected `invalid_config`, `restart` or `{{config: FILE}}`"
            )),
            BreakRepr::Map(mut m) => match (m.remove("config"), m.keys().next()) {
                (Some(config), None) => Ok(Break::Config(config)),
                (_, Some(k)) => Err(format!("break: unknown field `{k}`, expected `config`")),
                (None, None) => Err("break: expected `{config: FILE}`".to_owned()),
            },
        }
    }
}

impl From<Break> for BreakRepr {
    fn from(b: Break) -> BreakRepr {
        match b {
            Break::InvalidConfig => BreakRepr::Word("invalid_config".into()),
            Break::Restart => BreakRepr::Word("restart".into()),
            Break::Config(config) => {
                BreakRepr::Map(BTreeMap::from([("config".to_owned(), config)]))
            }
        }
    }
}

/// How a reload is triggered.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// `POST /admin/reload` (its answer says whether it rolled back).
    #[default]
    Admin,
    /// `SIGHUP` to the candidate process.
    Sighup,
}

/// A tool call.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeCall {
    /// The tool.
    pub tool: String,
    /// Its arguments.
    #[serde(default)]
    pub arguments: Map<String, Value>,
}

impl Plan {
    /// Parses and validates a plan; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Plan, PlanError> {
        // serde_norway's messages start with the path of the bad key
        // (`budgets.tools.list_tasks: unknown field …`) and end with its line and column.
        let plan: Plan = serde_norway::from_str(text).map_err(|e| PlanError {
            problems: vec![format!("{origin}: {e}")],
        })?;
        plan.validate().map_err(|mut e| {
            for p in &mut e.problems {
                *p = format!("{origin}: {p}");
            }
            e
        })?;
        Ok(plan)
    }

    /// Makes every path relative to `dir` (the plan's folder) absolute-ish.
    pub fn resolve(&mut self, dir: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = normalize(&dir.join(&*p));
            }
        };
        let c = &mut self.candidate;
        c.config.as_mut().map(fix);
        c.contract.as_mut().map(fix);
        if let Some(f) = c.bearer.as_mut().and_then(|b| b.file.as_mut()) {
            fix(f);
        }
        self.baseline.as_mut().map(fix);
        self.migrations.as_mut().map(fix);
        if let Some(r) = &mut self.replay {
            fix(&mut r.input);
        }
        if let Some(a) = &mut self.auth {
            for p in &mut a.probes {
                if let Some(f) = p.token.as_mut().and_then(|t| t.file.as_mut()) {
                    fix(f);
                }
            }
        }
        if let Some(r) = &mut self.rollback {
            if let Break::Config(p) = &mut r.break_ {
                fix(p);
            }
            if let Some(f) = r.admin_token.as_mut().and_then(|t| t.file.as_mut()) {
                fix(f);
            }
        }
    }
}

/// `a/b/../c` → `a/c`, lexically (for reports; `..` at the start is kept).
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
