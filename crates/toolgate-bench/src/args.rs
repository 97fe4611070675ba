//! Command-line arguments of `toolgate bench` (and of the `toolgate-bench` binary).

use std::path::PathBuf;

use clap::{ArgGroup, Args, ValueEnum};

/// Load an MCP server (or a plain HTTP URL) and report throughput, latency and errors.
///
/// Exactly one target: `--url` (streamable HTTP), `--stdio` (spawned server) or
/// `--direct-http` (no MCP at all: the baseline). The calls are `--tool NAME --args JSON` or
/// `--calls-file FILE.jsonl`, replayed round-robin.
#[derive(Args, Debug, Clone)]
#[command(group(ArgGroup::new("target").required(true).args(["url", "stdio", "direct_http"])))]
pub struct BenchArgs {
    /// Streamable HTTP MCP endpoint, e.g. `http://127.0.0.1:8080/mcp` (plain HTTP only).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,

    /// Spawn this MCP server and talk to it over stdin/stdout, e.g. `"toolgate demo --stdio"`.
    /// Split on whitespace; single and double quotes group words.
    #[arg(long, value_name = "COMMAND")]
    pub stdio: Option<String>,

    /// Plain HTTP GET (POST with `--direct-body`) of this URL, no MCP: the baseline.
    #[arg(long, value_name = "URL")]
    pub direct_http: Option<String>,

    /// How `--url` requests are made: `stateless` (2026-07-28: version and capabilities in every
    /// request, no initialize) or `session` (one initialize per connection, then
    /// `Mcp-Session-Id` on each call).
    #[arg(long, value_enum, default_value_t = HttpMode::Stateless)]
    pub mode: HttpMode,

    /// Protocol version to send: the `MCP-Protocol-Version` of stateless requests (default
    /// 2026-07-28) or the version asked for in `initialize` (default 2025-11-25).
    #[arg(long, value_name = "VERSION")]
    pub protocol_version: Option<String>,

    /// MCP method to call.
    #[arg(long, value_enum, default_value_t = McpMethod::ToolsCall)]
    pub method: McpMethod,

    /// Tool to call (with `--method tools/call`).
    #[arg(long, value_name = "NAME")]
    pub tool: Option<String>,

    /// Arguments of `--tool`, a JSON object.
    #[arg(long, value_name = "JSON", default_value = "{}")]
    pub args: String,

    /// Calls to replay round-robin, one JSON object per line: `{"name": ..., "arguments": {...}}`.
    #[arg(long, value_name = "FILE", conflicts_with = "tool")]
    pub calls_file: Option<PathBuf>,

    /// Requests in flight at once (workers; one connection each over HTTP).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub concurrency: usize,

    /// Measure for this long (default 10 s unless `--calls` is given).
    #[arg(long, value_name = "SECS", conflicts_with = "calls")]
    pub duration: Option<f64>,

    /// Measure exactly this many calls.
    #[arg(long, value_name = "N")]
    pub calls: Option<u64>,

    /// Run unmeasured for this long first (connections, caches and the allocator warm up).
    #[arg(long, value_name = "SECS", default_value_t = 0.0)]
    pub warmup: f64,

    /// Open loop: send at this fixed rate (calls/s) whatever the answers' pace; latency counts
    /// from each call's scheduled send time, so a stalled server is not hidden (coordinated
    /// omission). Default: closed loop, each worker sends as soon as it has its answer.
    #[arg(long, value_name = "CALLS_PER_S")]
    pub rate: Option<f64>,

    /// Give up on one call after this long (counted as a `timeout` error).
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub timeout: f64,

    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,

    /// Process id of the server under test (Linux): reports its CPU time per call and its
    /// memory. Automatic with `--stdio`.
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,

    /// Instead of calls: open this many sessions (`--mode session`), keep them idle for
    /// `--hold` seconds, and report the server's memory per session (needs `--server-pid`).
    #[arg(long, value_name = "N", requires = "url")]
    pub idle_sessions: Option<usize>,

    /// How long `--idle-sessions` keeps the sessions open before measuring and closing them.
    #[arg(long, value_name = "SECS", default_value_t = 1.0)]
    pub hold: f64,

    /// With `--direct-http`: POST this body (JSON) instead of a GET.
    #[arg(long, value_name = "JSON", requires = "direct_http")]
    pub direct_body: Option<String>,

    /// Let the `--stdio` server's stderr through (hidden by default).
    #[arg(long)]
    pub server_stderr: bool,

    /// A name for this run, copied into the report.
    #[arg(long, value_name = "TEXT")]
    pub label: Option<String>,

    /// With `--url`: send `Authorization: Bearer <token>` on every request, the token read from
    /// this environment variable (so it appears neither in the command line nor in the report).
    #[arg(long, value_name = "VAR", requires = "url")]
    pub bearer_env: Option<String>,
}

/// How requests to a streamable HTTP endpoint are made.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMode {
    /// 2026-07-28 requests: `_meta` protocol version and client capabilities in every request,
    /// `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` headers; no handshake.
    Stateless,
    /// One `initialize` + `notifications/initialized` per worker connection, then the session
    /// id on every call (clients up to 2025-11-25).
    Session,
}

impl HttpMode {
    /// The name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMode::Stateless => "stateless",
            HttpMode::Session => "session",
        }
    }
}

/// The MCP method each call uses.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum McpMethod {
    /// `tools/call` of `--tool` / `--calls-file`.
    #[value(name = "tools/call")]
    ToolsCall,
    /// `tools/list` (first page).
    #[value(name = "tools/list")]
    ToolsList,
    /// `ping`.
    #[value(name = "ping")]
    Ping,
}

impl McpMethod {
    /// The JSON-RPC method name.
    pub fn as_str(self) -> &'static str {
        match self {
            McpMethod::ToolsCall => "tools/call",
            McpMethod::ToolsList => "tools/list",
            McpMethod::Ping => "ping",
        }
    }
}

/// Splits a command line on whitespace; single and double quotes group words, a backslash
/// escapes the next character outside single quotes.
pub(crate) fn split_command(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some('\''), '\'') | (Some('"'), '"') => quote = None,
            (Some('"'), '\\') | (None, '\\') => {
                if let Some(n) = chars.next() {
                    word.push(n);
                }
                in_word = true;
            }
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if let Some(q) = quote {
        return Err(format!("unterminated {q} quote in --stdio command: {line}"));
    }
    if in_word {
        words.push(word);
    }
    if words.is_empty() {
        return Err("--stdio needs a command".to_owned());
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_command_handles_quotes_and_escapes() {
        assert_eq!(
            split_command(r#"toolgate serve --openapi "my spec.json" --x 'a b' c\ d"#).unwrap(),
            vec![
                "toolgate",
                "serve",
                "--openapi",
                "my spec.json",
                "--x",
                "a b",
                "c d"
            ]
        );
        assert!(split_command("  ").is_err());
        assert!(split_command("a 'b").is_err());
        assert_eq!(split_command("a ''").unwrap(), vec!["a", ""]);
    }
}
