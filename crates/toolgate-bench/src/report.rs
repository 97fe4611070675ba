//! The report of a run: what was measured, in JSON (`--json`) or as text.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

/// The result of one benchmark run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `--label`, if given.
    pub label: Option<String>,
    /// What was loaded.
    pub target: TargetInfo,
    /// MCP method of the calls (`null` for direct HTTP).
    pub method: Option<String>,
    /// Distinct tool names called.
    pub tools: Vec<String>,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// `closed` (send on answer) or `open` (fixed rate).
    pub load: String,
    /// Open-loop rate in calls/s.
    pub rate: Option<f64>,
    /// Unmeasured warm-up, seconds.
    pub warmup_s: f64,
    /// Measured window, seconds (start of measurement to the last answer).
    pub elapsed_s: f64,
    /// Measured calls (successful or not).
    pub calls: u64,
    /// Successful calls.
    pub ok: u64,
    /// Failed calls.
    pub errors: Errors,
    /// `calls / elapsed_s`.
    pub calls_per_s: f64,
    /// Latency of the calls that got an answer (errors included, transport failures and
    /// timeouts excluded), microseconds. In open loop, from the scheduled send time.
    pub latency_us: Option<Latency>,
    /// Mean size of an answer body (HTTP body or stdio line), bytes.
    pub response_bytes_mean: Option<f64>,
    /// The server's CPU and memory (with `--server-pid` or `--stdio`, on Linux).
    pub server: Option<ServerUsage>,
    /// The load generator's own CPU time (it shares the machine with the server).
    pub client: Option<ClientUsage>,
    /// Start-up of a `--stdio` server.
    pub startup: Option<Startup>,
    /// Result of `--idle-sessions`.
    pub idle_sessions: Option<IdleSessions>,
}

/// What was loaded.
#[derive(Debug, Clone, Serialize)]
pub struct TargetInfo {
    /// `http`, `stdio` or `direct_http`.
    pub kind: String,
    /// URL or command line.
    pub address: String,
    /// `stateless` or `session` for `http`.
    pub mode: Option<String>,
}

/// Failed calls, by kind (`http_<status>`, `jsonrpc_<code>`, `tool_error`, `transport`,
/// `timeout`, `bad_response`).
#[derive(Debug, Clone, Serialize, Default)]
pub struct Errors {
    /// All failed calls.
    pub total: u64,
    /// Count per kind.
    pub by_kind: BTreeMap<String, u64>,
    /// The first message seen per kind.
    pub examples: BTreeMap<String, String>,
}

/// Latency percentiles, microseconds.
#[derive(Debug, Clone, Serialize)]
#[allow(missing_docs)]
pub struct Latency {
    pub min: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

/// The server process's resource use over the measured window.
#[derive(Debug, Clone, Serialize)]
pub struct ServerUsage {
    /// Process id.
    pub pid: u32,
    /// CPU seconds (user + system) used during the measured window.
    pub cpu_s: Option<f64>,
    /// `cpu_s` per measured call, microseconds.
    pub cpu_us_per_call: Option<f64>,
    /// Resident memory at the end, kB.
    pub rss_kb: Option<u64>,
    /// Peak resident memory (VmHWM), kB.
    pub peak_rss_kb: Option<u64>,
}

/// The load generator's CPU use over the measured window.
#[derive(Debug, Clone, Serialize)]
pub struct ClientUsage {
    /// CPU seconds (user + system).
    pub cpu_s: f64,
    /// Per measured call, microseconds.
    pub cpu_us_per_call: Option<f64>,
}

/// Start-up of a stdio server, timed from the spawn.
#[derive(Debug, Clone, Serialize)]
pub struct Startup {
    /// Until the `initialize` answer.
    pub initialize_ms: f64,
    /// Until the first `tools/list` answer.
    pub first_tools_list_ms: f64,
    /// The first `tools/list` alone (request to answer).
    pub tools_list_only_ms: f64,
    /// Size of that answer (one JSON line), bytes.
    pub tools_list_bytes: usize,
    /// Tools in it.
    pub tools: Option<usize>,
}

/// Memory cost of idle sessions.
#[derive(Debug, Clone, Serialize)]
pub struct IdleSessions {
    /// Sessions opened (each `initialize` + `notifications/initialized`).
    pub opened: usize,
    /// Sessions that could not be opened.
    pub failed: usize,
    /// Whether the server handed out session ids (a stateless server does not).
    pub session_ids: bool,
    /// Server RSS before opening them, kB.
    pub rss_before_kb: Option<u64>,
    /// Server RSS with all of them open, after `--hold`, kB.
    pub rss_after_kb: Option<u64>,
    /// `(after - before) / opened`, bytes.
    pub bytes_per_session: Option<f64>,
    /// Time to open them all, seconds.
    pub open_s: f64,
}

impl Report {
    /// Whether the run shows a working target: some call succeeded (or, for
    /// `--idle-sessions`, some session opened).
    pub fn succeeded(&self) -> bool {
        match &self.idle_sessions {
            Some(idle) => idle.opened > 0,
            None => self.ok > 0,
        }
    }

    /// The report as text for a terminal.
    pub fn render_human(&self) -> String {
        let mut s = String::new();
        let t = &self.target;
        let _ = write!(s, "target   {} {}", t.kind, t.address);
        if let Some(mode) = &t.mode {
            let _ = write!(s, " ({mode})");
        }
        s.push('\n');
        if let Some(label) = &self.label {
            let _ = writeln!(s, "label    {label}");
        }
        if let Some(startup) = &self.startup {
            let _ = writeln!(
                s,
                "startup  initialize {:.1} ms, first tools/list {:.1} ms after spawn ({:.1} ms itself), {} tools, {} bytes",
                startup.initialize_ms,
                startup.first_tools_list_ms,
                startup.tools_list_only_ms,
                startup
                    .tools
                    .map_or_else(|| "?".to_owned(), |n| n.to_string()),
                startup.tools_list_bytes
            );
        }
        if let Some(idle) = &self.idle_sessions {
            let _ = writeln!(
                s,
                "sessions {} opened ({} failed, session ids: {}) in {:.2} s",
                idle.opened, idle.failed, idle.session_ids, idle.open_s
            );
            let _ = writeln!(
                s,
                "rss      before {} kB, after {} kB, {} per session",
                opt(idle.rss_before_kb),
                opt(idle.rss_after_kb),
                idle.bytes_per_session
                    .map_or_else(|| "?".to_owned(), |b| format!("{:.1} KB", b / 1024.0))
            );
            return s;
        }
        let method = self.method.as_deref().unwrap_or("GET/POST");
        let _ = writeln!(
            s,
            "load     {} {}, concurrency {}{}, warm-up {:.1} s, measured {:.2} s",
            method,
            self.tools.join(","),
            self.concurrency,
            self.rate.map_or_else(
                || " (closed loop)".to_owned(),
                |r| format!(", open loop at {r} calls/s")
            ),
            self.warmup_s,
            self.elapsed_s
        );
        let _ = writeln!(
            s,
            "calls    {} ({} ok, {} errors), {:.1} calls/s",
            self.calls, self.ok, self.errors.total, self.calls_per_s
        );
        if let Some(l) = &self.latency_us {
            let _ = writeln!(
                s,
                "latency  p50 {} µs, p90 {} µs, p99 {} µs, p99.9 {} µs, max {} µs (min {} µs, mean {:.1} µs)",
                l.p50, l.p90, l.p99, l.p999, l.max, l.min, l.mean
            );
        }
        if let Some(b) = self.response_bytes_mean {
            let _ = writeln!(s, "answers  {b:.0} bytes on average");
        }
        for (kind, n) in &self.errors.by_kind {
            let example = self.errors.examples.get(kind).map_or("", String::as_str);
            let _ = writeln!(s, "error    {kind}: {n}  e.g. {example}");
        }
        if let Some(server) = &self.server {
            let _ = writeln!(
                s,
                "server   pid {}: {} CPU µs/call, RSS {} kB, peak {} kB",
                server.pid,
                server
                    .cpu_us_per_call
                    .map_or_else(|| "?".to_owned(), |c| format!("{c:.1}")),
                opt(server.rss_kb),
                opt(server.peak_rss_kb)
            );
        }
        if let Some(client) = &self.client {
            let _ = writeln!(
                s,
                "client   {} CPU µs/call (the load generator itself)",
                client
                    .cpu_us_per_call
                    .map_or_else(|| "?".to_owned(), |c| format!("{c:.1}"))
            );
        }
        s
    }
}

fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "?".to_owned(), |v| v.to_string())
}
