//! Command-line interface (clap): `serve`, `demo`, `inspect`, `check-config`, `access`,
//! `contract`, `replay`, `bench`, `schema`.
//!
//! Also turns `serve --openapi`'s backend credential flags into the source's `backend`
//! options. Those flags name environment variables: a credential is never taken from the
//! command line itself, which every user of the machine can read (`ps`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use toolgate_http::{BackendAuth, ClientAuthMethod, HttpSourceOptions, Secret};

/// toolgate: one fast, secure, governed MCP endpoint for your HTTP APIs.
#[derive(Debug, Parser)]
#[command(name = "toolgate", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Threads running async work (0 = one per CPU core). Default: 1 for `serve` and `demo`
    /// (one thread keeps a gateway hop cheapest; see BENCHMARKS.md), one per core otherwise.
    /// Raise it when a busy HTTP gateway needs more than one core.
    #[arg(long, global = true, env = "TOOLGATE_WORKER_THREADS", value_name = "N")]
    pub worker_threads: Option<usize>,
}

impl Cli {
    /// The runtime's worker thread count: `--worker-threads`, else tokio's
    /// `TOKIO_WORKER_THREADS`, else the command's default; `None` means one per core.
    pub fn worker_threads(&self) -> Option<usize> {
        let chosen = match self.worker_threads {
            Some(n) => n,
            None if std::env::var_os("TOKIO_WORKER_THREADS").is_some() => return None,
            None => match self.command {
                // A gateway spends most of a call waiting on sockets; on one thread the
                // call's tasks never wake another thread (each cross-thread wake-up is two
                // futex calls and a context switch), which cost 30-40 % more CPU per call and
                // more latency than it bought in throughput in the benchmarks.
                Command::Serve(_) | Command::Demo(_) => 1,
                _ => 0,
            },
        };
        (chosen > 0).then_some(chosen)
    }
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve one or more OpenAPI services as MCP tools over stdio or streamable HTTP.
    Serve(ServeArgs),
    /// Start the built-in Todo API and serve it as MCP tools (no other service needed).
    Demo(DemoArgs),
    /// Compile specs and print the tools, resources and diagnostics they yield.
    Inspect(InspectArgs),
    /// Validate a configuration file (and load and compile its specs).
    CheckConfig(CheckConfigArgs),
    /// Print which tools, resources and prompts a caller gets under a configuration's
    /// authorization rules, and why (or, with --matrix, the whole role × tool matrix).
    Access(AccessArgs),
    /// Tool contracts: `snapshot` writes what a configuration or spec serves (canonical,
    /// hashed); `diff` classifies every change between two versions as breaking or compatible
    /// for the agents that call them (exit 0 compatible, 1 breaking, 2 bad input).
    Contract(ContractArgs),
    /// Check what a reload of a configuration file would do (`--check`: load and compile it,
    /// list what would change), without touching a running gateway.
    Reload(ReloadArgs),
    /// Replay recorded calls or a workflow against an MCP server (a URL, or a configuration
    /// started for the run) and check every answer's shape against the recording and the
    /// contract. Exit 0: no mismatch; 1: mismatches; 2: bad input or unreachable target.
    Replay(ReplayArgs),
    /// The release gate: run the checks of a plan (contract, auth scope, latency budget,
    /// retry ceiling, rollback drill) against a candidate and give the verdict. Exit 0:
    /// rollout; 1: patch or hold; 2: bad plan or input, or the candidate cannot be reached.
    Gate(GateArgs),
    /// Load-test any MCP server (HTTP or stdio) or an HTTP endpoint: calls/s, latency
    /// percentiles, errors by kind.
    Bench(toolgate_bench::BenchArgs),
    /// Print the JSON Schema of the configuration file.
    Schema,
}

/// Options of `toolgate serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Configuration file (YAML). Also `TOOLGATE_CONFIG`.
    #[arg(long, short, env = "TOOLGATE_CONFIG")]
    pub config: Option<PathBuf>,
    /// OpenAPI document to serve (file path or http(s) URL, e.g. http://127.0.0.1:8000/openapi.json).
    #[arg(long)]
    pub openapi: Option<String>,
    /// Base URL of the API (default: the spec's server, or the spec URL's origin).
    #[arg(long)]
    pub base_url: Option<String>,
    /// Source name for `--openapi` (used in logs, metrics and resource URIs).
    #[arg(long, default_value = "api")]
    pub name: String,
    /// Prefix every tool name of `--openapi` with `<namespace>_`.
    #[arg(long)]
    pub namespace: Option<String>,
    /// Serve MCP over stdin/stdout (for local clients such as Claude Desktop or Cursor).
    #[arg(long, conflicts_with = "http")]
    pub stdio: bool,
    /// Serve MCP over streamable HTTP on this address (default: `http.bind` of the config,
    /// 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,
    /// Do not watch the configuration file and its local spec files for changes (with
    /// `--config`, SIGHUP still reloads; see docs/reload.md).
    #[arg(long)]
    pub no_watch: bool,
    /// With `--stdio`: serve this virtual server (an entry of `endpoints:`) instead of the
    /// whole catalog. Over HTTP every endpoint is served at its own path.
    #[arg(long, value_name = "NAME", requires = "stdio")]
    pub endpoint: Option<String>,
    /// Credentials for the `--openapi` backend.
    #[command(flatten)]
    pub auth: BackendAuthArgs,
}

/// Backend credentials of `serve --openapi`. Each flag names the environment variable that
/// holds the value; each credential goes only to the operations whose security requirements
/// name a scheme it fits (FastAPI declares them from its security classes).
#[derive(Debug, Clone, Default, Args)]
#[command(
    next_help_heading = "Backend credentials for --openapi (values are read from the named environment variables)"
)]
pub struct BackendAuthArgs {
    /// `Authorization: Bearer <token>` with the token in environment variable VAR (FastAPI's
    /// `HTTPBearer`, or a token you got for an `OAuth2PasswordBearer` API).
    #[arg(long, value_name = "VAR")]
    pub bearer_token_env: Option<String>,
    /// HTTP Basic (FastAPI's `HTTPBasic`) with the user name in environment variable USER_VAR
    /// and the password in PASS_VAR.
    #[arg(long, value_name = "USER_VAR:PASS_VAR")]
    pub basic_auth_env: Option<String>,
    /// Log in with the OAuth2 password grant at the spec's `tokenUrl` (FastAPI's
    /// `OAuth2PasswordBearer`), as the user named in environment variable VAR; toolgate keeps
    /// the token fresh. Needs --password-env.
    #[arg(long, value_name = "VAR", requires = "password_env")]
    pub username_env: Option<String>,
    /// The password for --username-env, in environment variable VAR.
    #[arg(long, value_name = "VAR", requires = "username_env")]
    pub password_env: Option<String>,
    /// The login endpoint for --username-env when the spec declares no password flow
    /// (absolute, or relative to the base URL, e.g. `/token`).
    #[arg(long, value_name = "URL", requires = "username_env")]
    pub token_url: Option<String>,
    /// An API key (FastAPI's `APIKeyHeader`, `APIKeyQuery`, `APIKeyCookie`) in environment
    /// variable VAR, sent where the spec's apiKey scheme says. `SCHEME=VAR` names the scheme
    /// when the spec declares several. Repeatable.
    #[arg(long, value_name = "[SCHEME=]VAR")]
    pub api_key_env: Vec<String>,
    /// Forward the MCP client's own `Authorization` header to the backend (token
    /// passthrough: only when the backend is the intended audience of the client's token).
    #[arg(long)]
    pub forward_authorization: bool,
}

impl BackendAuthArgs {
    /// Whether any credential flag was given.
    pub fn any(&self) -> bool {
        self.bearer_token_env.is_some()
            || self.basic_auth_env.is_some()
            || self.username_env.is_some()
            || !self.api_key_env.is_empty()
            || self.forward_authorization
    }

    /// The `backend` options these flags describe, with values read from `env`; a message
    /// naming the flag and variable when one is missing or malformed.
    pub fn backend_options(
        &self,
        env: &BTreeMap<String, String>,
    ) -> Result<HttpSourceOptions, String> {
        let read = |flag: &str, var: &str| -> Result<String, String> {
            if var.is_empty() {
                return Err(format!(
                    "--{flag} needs the name of an environment variable"
                ));
            }
            match env.get(var) {
                Some(v) if !v.is_empty() => {
                    // A credential: never printed from here on (errors, logs, inspect).
                    crate::redact::register([v.as_str()]);
                    Ok(v.clone())
                }
                Some(_) => Err(format!(
                    "--{flag} {var}: environment variable `{var}` is empty"
                )),
                None => Err(format!(
                    "--{flag} {var}: environment variable `{var}` is not set; export it (the \
                     flag takes the variable's name, not the value)"
                )),
            }
        };
        let mut auth = Vec::new();
        if let Some(var) = &self.bearer_token_env {
            auth.push(BackendAuth::Bearer {
                scheme: None,
                token: Secret::new(read("bearer-token-env", var)?),
            });
        }
        if let Some(pair) = &self.basic_auth_env {
            let Some((user_var, pass_var)) = pair.split_once(':') else {
                return Err(format!(
                    "--basic-auth-env `{pair}`: expected USER_VAR:PASS_VAR, two environment \
                     variable names"
                ));
            };
            auth.push(BackendAuth::Basic {
                scheme: None,
                username: read("basic-auth-env", user_var)?,
                password: Secret::new(read("basic-auth-env", pass_var)?),
            });
        }
        if let (Some(user_var), Some(pass_var)) = (&self.username_env, &self.password_env) {
            auth.push(BackendAuth::OAuth2Password {
                scheme: None,
                token_url: self.token_url.clone(),
                username: read("username-env", user_var)?,
                password: Secret::new(read("password-env", pass_var)?),
                scopes: Vec::new(),
                client_id: None,
                client_secret: None,
                client_auth: ClientAuthMethod::Post,
            });
        }
        for spec in &self.api_key_env {
            let (scheme, var) = match spec.split_once('=') {
                Some((scheme, var)) if !scheme.is_empty() => (Some(scheme.to_owned()), var),
                Some(_) => {
                    return Err(format!(
                        "--api-key-env `{spec}`: expected VAR or SCHEME=VAR"
                    ));
                }
                None => (None, spec.as_str()),
            };
            auth.push(BackendAuth::ApiKey {
                scheme,
                location: None,
                name: None,
                value: Secret::new(read("api-key-env", var)?),
            });
        }
        Ok(HttpSourceOptions {
            auth: auth.into(),
            forward_authorization: self.forward_authorization,
            ..HttpSourceOptions::default()
        })
    }
}

/// Options of `toolgate demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Serve MCP over stdin/stdout instead of HTTP.
    #[arg(long, conflicts_with = "http")]
    pub stdio: bool,
    /// Address for the MCP HTTP endpoint.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub http: String,
}

/// Options of `toolgate inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Spec files or http(s) URLs.
    #[arg(required_unless_present = "config", conflicts_with = "config")]
    pub specs: Vec<String>,
    /// Inspect the sources of this configuration file instead, compiled with their own
    /// options (names, route maps, overrides) and base URLs.
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Namespace prefix for tool names (of spec arguments).
    #[arg(long, conflicts_with = "config")]
    pub namespace: Option<String>,
    /// Show what this virtual server (an entry of the configuration's `endpoints:`) serves.
    #[arg(long, value_name = "NAME", requires = "config")]
    pub endpoint: Option<String>,
}

/// Options of `toolgate access`.
#[derive(Debug, Args)]
pub struct AccessArgs {
    /// The configuration file (its sources are loaded, and MCP servers started, to know
    /// what they serve).
    #[arg(long, short, value_name = "FILE")]
    pub config: PathBuf,
    /// The caller's scopes (comma-separated).
    #[arg(long, value_delimiter = ',', conflicts_with = "token")]
    pub scopes: Vec<String>,
    /// The caller's roles (comma-separated).
    #[arg(long, value_delimiter = ',', conflicts_with = "token")]
    pub roles: Vec<String>,
    /// The caller's subject.
    #[arg(long, conflicts_with = "token")]
    pub subject: Option<String>,
    /// A JWT whose claims give the caller (decoded WITHOUT verifying its signature: this
    /// shows what such a token would get, it does not vouch for it). Never printed.
    #[arg(long, value_name = "JWT")]
    pub token: Option<String>,
    /// The claim path holding roles in --token (e.g. `realm_access.roles`).
    #[arg(long, default_value = "roles", value_name = "PATH")]
    pub roles_claim: String,
    /// Treat the caller as having no principal (an anonymous caller).
    #[arg(long, conflicts_with_all = ["token", "scopes", "roles", "subject"])]
    pub anonymous: bool,
    /// Print the matrix of every principal named by the rules × every tool instead.
    #[arg(long, conflicts_with_all = ["token", "scopes", "roles", "subject", "anonymous"])]
    pub matrix: bool,
    /// Only what this virtual server (an entry of `endpoints:`) serves, and whether the
    /// caller may use it at all.
    #[arg(long, value_name = "NAME")]
    pub endpoint: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Options of `toolgate contract`.
#[derive(Debug, Args)]
pub struct ContractArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ContractCommand,
}

/// `toolgate contract` subcommands.
#[derive(Debug, Subcommand)]
pub enum ContractCommand {
    /// Write the contract of what a configuration or spec serves: every tool's schemas and
    /// annotations, resources and prompts, canonicalized and hashed (docs/gate.md).
    Snapshot(SnapshotArgs),
    /// Compare two contracts (snapshots, specs or configurations, detected) from the
    /// consumer's side. Exit 0: compatible; 1: breaking changes not covered by a migration
    /// note; 2: bad input.
    Diff(DiffArgs),
}

/// Options of `toolgate contract snapshot`.
#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// A spec (file or http(s) URL) or a configuration file (detected by its content).
    #[arg(
        value_name = "INPUT",
        required_unless_present_any = ["config", "openapi"],
        conflicts_with_all = ["config", "openapi"]
    )]
    pub input: Option<String>,
    /// The configuration file whose sources are snapshotted, as `serve --config` serves them.
    #[arg(long, short, value_name = "FILE", conflicts_with = "openapi")]
    pub config: Option<PathBuf>,
    /// The OpenAPI document (file or http(s) URL), as `serve --openapi` serves it.
    #[arg(long, value_name = "SPEC")]
    pub openapi: Option<String>,
    /// Prefix every tool name of a spec with `<namespace>_` (as `serve --namespace`).
    #[arg(long, conflicts_with = "config")]
    pub namespace: Option<String>,
    /// The version label written into the snapshot (`v2`, a release, a commit).
    #[arg(long, value_name = "LABEL")]
    pub label: Option<String>,
    /// Write the snapshot to FILE instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Output format of `toolgate contract diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    /// Readable text for a terminal or a CI log.
    Text,
    /// Markdown for a pull-request comment.
    Markdown,
    /// JSON for machines.
    Json,
}

/// Options of `toolgate contract diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The old version: a snapshot, a spec (file or http(s) URL) or a configuration file.
    #[arg(value_name = "OLD")]
    pub old: String,
    /// The new version: a snapshot, a spec (file or http(s) URL) or a configuration file.
    #[arg(value_name = "NEW")]
    pub new: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: DiffFormat,
    /// Migration notes (YAML or JSON): renames, defaults and deprecation windows that cover
    /// breaking changes (docs/gate.md, "Migration notes").
    #[arg(long, value_name = "FILE")]
    pub migrations: Option<PathBuf>,
    /// The date deprecation windows are judged at (YYYY-MM-DD; default: today, UTC).
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,
    /// Prefix every tool name of a spec input with `<namespace>_` (as `serve --namespace`).
    #[arg(long)]
    pub namespace: Option<String>,
}

/// Options of `toolgate replay` (docs/gate.md, "Replay").
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["url", "config"])))]
pub struct ReplayArgs {
    /// A recording (JSON Lines written by `recording`) or a workflow file (YAML).
    #[arg(value_name = "INPUT")]
    pub input: PathBuf,
    /// The candidate: a streamable HTTP MCP endpoint (toolgate or any MCP server).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// The candidate: a configuration file, served by a `toolgate serve` child process on a
    /// free loopback port for the run.
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// `stateless` (2026-07-28 requests) or `session` (a 2025-11-25 session per connection).
    #[arg(long, value_enum, default_value_t = toolgate_bench::HttpMode::Stateless)]
    pub mode: toolgate_bench::HttpMode,
    /// The protocol version to send (default: 2026-07-28 stateless, 2025-11-25 in a session).
    #[arg(long, value_name = "VERSION")]
    pub protocol_version: Option<String>,
    /// A contract snapshot (`toolgate contract snapshot`): successful results are validated
    /// against their tool's outputSchema, and tools missing from it are mismatches.
    #[arg(long, value_name = "FILE")]
    pub contract: Option<PathBuf>,
    /// Calls in flight at once (one connection each).
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub concurrency: usize,
    /// Calls per second at most, over all connections (default: as fast as answers come).
    #[arg(long, value_name = "CALLS_PER_SEC")]
    pub rate: Option<f64>,
    /// Windows run one after another; figures are reported per tool and window.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub windows: u32,
    /// Passes over the recording (or workflow iterations) per window.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub repeat: u32,
    /// Seconds one call may take.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub timeout: f64,
    /// Send `Authorization: Bearer <token>` with the token in environment variable VAR.
    #[arg(long, value_name = "VAR")]
    pub bearer_env: Option<String>,
    /// A value for an argument of recorded calls, typically one the recording redacted:
    /// `TOOL/POINTER=VALUE` (`create_user/email=replay@example.com`; VALUE is JSON when it
    /// parses as JSON). Repeatable.
    #[arg(long = "set", value_name = "TOOL/POINTER=VALUE")]
    pub set: Vec<String>,
    /// Also write the report as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// No progress bar (there is none anyway when stderr is not a terminal).
    #[arg(long)]
    pub no_progress: bool,
}

/// Options of `toolgate gate` (docs/gate.md, "The gate").
#[derive(Debug, Args)]
pub struct GateArgs {
    /// The gate plan (YAML): the candidate, the baseline, the replay, budgets, the retry
    /// ceiling, the expected role matrix and probes, the rollback drill.
    #[arg(long, value_name = "FILE")]
    pub plan: PathBuf,
    /// Also write the report as JSON (format `toolgate-gate/1`) to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Also write the report as one self-contained HTML file to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Judge migration notes' deprecation windows at this date (YYYY-MM-DD; default today, UTC).
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,
}

/// Options of `toolgate reload`.
#[derive(Debug, Args)]
pub struct ReloadArgs {
    /// Only check: load and compile the file as a reload would, and print what it would
    /// change. (To reload a running gateway: SIGHUP, or `POST /admin/reload`.)
    #[arg(long)]
    pub check: bool,
    /// The configuration file a reload would load.
    #[arg(long, short)]
    pub config: PathBuf,
    /// The configuration in force (e.g. a copy of the file the gateway runs with): lists the
    /// sections and sources that would change, and what would need a restart.
    #[arg(long)]
    pub against: Option<PathBuf>,
}

/// Options of `toolgate check-config`.
#[derive(Debug, Args)]
pub struct CheckConfigArgs {
    /// The configuration file.
    pub file: PathBuf,
    /// Do not use the network: specs given as URLs are not fetched (their options are still
    /// checked); local and inline specs are still compiled.
    #[arg(long)]
    pub offline: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve(args: &[&str]) -> ServeArgs {
        let mut argv = vec![
            "toolgate",
            "serve",
            "--openapi",
            "http://127.0.0.1:8000/openapi.json",
        ];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Serve(s) => s,
            other => panic!("{other:?}"),
        }
    }

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn credential_flags_read_the_named_variables() {
        let args = serve(&[
            "--bearer-token-env",
            "TOKEN",
            "--basic-auth-env",
            "U:P",
            "--username-env",
            "SVC_USER",
            "--password-env",
            "SVC_PASS",
            "--api-key-env",
            "KEY",
            "--api-key-env",
            "APIKeyQuery=QKEY",
            "--forward-authorization",
        ]);
        assert!(args.auth.any());
        let o = args
            .auth
            .backend_options(&env(&[
                ("TOKEN", "tok"),
                ("U", "alice"),
                ("P", "pw"),
                ("SVC_USER", "svc@example.com"),
                ("SVC_PASS", "secret"),
                ("KEY", "k1"),
                ("QKEY", "k2"),
            ]))
            .unwrap();
        assert!(o.forward_authorization);
        let kinds: Vec<_> = o
            .auth
            .0
            .iter()
            .map(|a| (a.kind_str(), a.scheme()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("bearer", None),
                ("basic", None),
                ("oauth2_password", None),
                ("api_key", None),
                ("api_key", Some("APIKeyQuery")),
            ]
        );
        match &o.auth.0[2] {
            BackendAuth::OAuth2Password {
                username, password, ..
            } => {
                assert_eq!(username, "svc@example.com");
                assert_eq!(password.expose(), "secret");
            }
            other => panic!("{other:?}"),
        }
        // The values never print.
        let debug = format!("{o:?}");
        for secret in ["tok", "pw", "secret", "k1", "k2"] {
            assert!(
                !debug.contains(&format!("\"{secret}\"")),
                "{secret}: {debug}"
            );
        }
    }

    #[test]
    fn credential_flag_problems_name_the_flag_and_variable() {
        let err = serve(&["--bearer-token-env", "NOPE"])
            .auth
            .backend_options(&env(&[]))
            .unwrap_err();
        assert!(
            err.contains("--bearer-token-env NOPE: environment variable `NOPE` is not set"),
            "{err}"
        );
        let err = serve(&["--basic-auth-env", "ONLY"])
            .auth
            .backend_options(&env(&[("ONLY", "x")]))
            .unwrap_err();
        assert!(err.contains("expected USER_VAR:PASS_VAR"), "{err}");
        let err = serve(&["--api-key-env", "K"])
            .auth
            .backend_options(&env(&[("K", "")]))
            .unwrap_err();
        assert!(err.contains("environment variable `K` is empty"), "{err}");
        // The password grant needs both halves.
        let err = Cli::try_parse_from([
            "toolgate",
            "serve",
            "--openapi",
            "x.json",
            "--username-env",
            "U",
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("--password-env"), "{err}");
        assert!(!serve(&[]).auth.any());
    }
}
