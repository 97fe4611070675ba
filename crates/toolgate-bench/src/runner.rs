//! Running a benchmark: targets and workers, the closed and open load loops, and the
//! measurements around them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use tokio::sync::Semaphore;

use crate::BenchError;
use crate::args::{BenchArgs, HttpMode, McpMethod, split_command};
use crate::calls::{self, Call, HANDSHAKE_VERSION, Prepared, STATELESS_VERSION};
use crate::http1::Endpoint;
use crate::mcp_http::{CallResult, DirectWorker, McpHttpWorker};
use crate::procfs;
use crate::report::{
    ClientUsage, Errors, IdleSessions, Latency, Report, ServerUsage, Startup, TargetInfo,
};
use crate::rpc::ErrorKind;
use crate::stdio::StdioServer;

/// Measured duration when neither `--duration` nor `--calls` is given.
const DEFAULT_DURATION_S: f64 = 10.0;

/// Runs the benchmark described by `args` and returns its report (nothing is printed).
pub async fn run(args: &BenchArgs) -> Result<Report, BenchError> {
    run_with_progress(args, false).await
}

enum Target {
    Http {
        endpoint: Arc<Endpoint>,
        mode: HttpMode,
        version: String,
    },
    Stdio(Arc<StdioServer>),
    Direct {
        endpoint: Arc<Endpoint>,
        body: Option<Bytes>,
    },
}

enum Worker {
    Http(McpHttpWorker),
    Stdio(Arc<StdioServer>),
    Direct(DirectWorker),
}

impl Worker {
    async fn call(&mut self, prepared: &Prepared) -> CallResult {
        match self {
            Worker::Http(w) => w.call(prepared).await,
            Worker::Stdio(s) => s.call(prepared).await,
            Worker::Direct(w) => w.call().await,
        }
    }
}

/// Arguments checked and turned into what the loops need.
struct Plan {
    calls: Vec<Call>,
    duration: Option<Duration>,
    limit: Option<u64>,
    warmup: Duration,
    rate: Option<f64>,
    timeout: Duration,
}

fn plan(args: &BenchArgs) -> Result<Plan, BenchError> {
    let usage = |m: &str| Err(BenchError::Usage(m.to_owned()));
    if args.concurrency == 0 {
        return usage("--concurrency must be at least 1");
    }
    let positive = |v: f64| v.is_finite() && v > 0.0;
    if args.duration.is_some_and(|d| !positive(d)) {
        return usage("--duration must be a positive number of seconds");
    }
    if args.calls == Some(0) {
        return usage("--calls must be at least 1");
    }
    if !(args.warmup.is_finite() && args.warmup >= 0.0) {
        return usage("--warmup must be zero or more seconds");
    }
    if args.rate.is_some_and(|r| !positive(r)) {
        return usage("--rate must be a positive number of calls per second");
    }
    if !positive(args.timeout) {
        return usage("--timeout must be a positive number of seconds");
    }
    if args.idle_sessions.is_some() && args.mode != HttpMode::Session {
        return usage("--idle-sessions needs --mode session");
    }
    let calls = if let Some(path) = &args.calls_file {
        calls::load_calls_file(path)?
    } else if let Some(tool) = &args.tool {
        vec![Call {
            name: tool.clone(),
            arguments: calls::parse_arguments(&args.args)?,
        }]
    } else {
        Vec::new()
    };
    let needs_calls = args.direct_http.is_none()
        && args.idle_sessions.is_none()
        && args.method == McpMethod::ToolsCall;
    if needs_calls && calls.is_empty() {
        return usage("tools/call needs --tool NAME [--args JSON] or --calls-file FILE");
    }
    let duration = match (args.duration, args.calls) {
        (Some(d), _) => Some(Duration::from_secs_f64(d)),
        (None, Some(_)) => None,
        (None, None) => Some(Duration::from_secs_f64(DEFAULT_DURATION_S)),
    };
    Ok(Plan {
        calls,
        duration,
        limit: args.calls,
        warmup: Duration::from_secs_f64(args.warmup),
        rate: args.rate,
        timeout: Duration::from_secs_f64(args.timeout),
    })
}

/// [`run`], with a progress bar on stderr when `progress` is set.
pub(crate) async fn run_with_progress(
    args: &BenchArgs,
    progress: bool,
) -> Result<Report, BenchError> {
    let plan = plan(args)?;
    let mut startup: Option<Startup> = None;
    let (target, info) = if let Some(url) = &args.url {
        let mut endpoint = Endpoint::parse(url).map_err(BenchError::Usage)?;
        if let Some(var) = &args.bearer_env {
            let token = std::env::var(var).map_err(|_| {
                BenchError::Usage(format!(
                    "--bearer-env {var}: the environment variable is not set (or not UTF-8)"
                ))
            })?;
            let mut value = http::HeaderValue::from_str(&format!("Bearer {}", token.trim()))
                .map_err(|_| {
                    BenchError::Usage(format!(
                        "--bearer-env {var}: the token is not a valid header value"
                    ))
                })?;
            value.set_sensitive(true);
            endpoint.authorization = Some(value);
        }
        let endpoint = Arc::new(endpoint);
        let version = args.protocol_version.clone().unwrap_or_else(|| {
            match args.mode {
                HttpMode::Stateless => STATELESS_VERSION,
                HttpMode::Session => HANDSHAKE_VERSION,
            }
            .to_owned()
        });
        (
            Target::Http {
                endpoint,
                mode: args.mode,
                version,
            },
            TargetInfo {
                kind: "http".to_owned(),
                address: url.clone(),
                mode: Some(args.mode.as_str().to_owned()),
            },
        )
    } else if let Some(command) = &args.stdio {
        let argv = split_command(command).map_err(BenchError::Usage)?;
        let version = args
            .protocol_version
            .as_deref()
            .unwrap_or(HANDSHAKE_VERSION);
        let (server, s) = StdioServer::start(&argv, version, args.server_stderr, plan.timeout)
            .await
            .map_err(BenchError::Target)?;
        startup = Some(s);
        (
            Target::Stdio(server),
            TargetInfo {
                kind: "stdio".to_owned(),
                address: command.clone(),
                mode: None,
            },
        )
    } else if let Some(url) = &args.direct_http {
        let endpoint = Arc::new(Endpoint::parse(url).map_err(BenchError::Usage)?);
        (
            Target::Direct {
                endpoint,
                body: args.direct_body.clone().map(Bytes::from),
            },
            TargetInfo {
                kind: "direct_http".to_owned(),
                address: url.clone(),
                mode: None,
            },
        )
    } else {
        return Err(BenchError::Usage(
            "give a target: --url URL, --stdio COMMAND or --direct-http URL".to_owned(),
        ));
    };
    let server_pid = args.server_pid.or(match &target {
        Target::Stdio(s) => s.pid(),
        _ => None,
    });

    let mut report = Report {
        label: args.label.clone(),
        target: info,
        method: match target {
            Target::Direct { .. } => None,
            _ => Some(args.method.as_str().to_owned()),
        },
        tools: if args.method == McpMethod::ToolsCall && !matches!(target, Target::Direct { .. }) {
            let mut names: Vec<String> = plan.calls.iter().map(|c| c.name.clone()).collect();
            names.sort();
            names.dedup();
            names
        } else {
            Vec::new()
        },
        concurrency: args.concurrency,
        load: if plan.rate.is_some() {
            "open"
        } else {
            "closed"
        }
        .to_owned(),
        rate: plan.rate,
        warmup_s: plan.warmup.as_secs_f64(),
        elapsed_s: 0.0,
        calls: 0,
        ok: 0,
        errors: Errors::default(),
        calls_per_s: 0.0,
        latency_us: None,
        response_bytes_mean: None,
        server: None,
        client: None,
        startup,
        idle_sessions: None,
    };

    if let (
        Some(n),
        Target::Http {
            endpoint, version, ..
        },
    ) = (args.idle_sessions, &target)
    {
        let idle = idle_sessions(
            endpoint.clone(),
            version,
            n,
            args.concurrency,
            plan.timeout,
            Duration::from_secs_f64(args.hold.max(0.0)),
            server_pid,
        )
        .await;
        report.idle_sessions = Some(idle);
        return Ok(report);
    }

    let meta_version = match &target {
        Target::Http {
            mode: HttpMode::Stateless,
            version,
            ..
        } => Some(version.as_str()),
        _ => None,
    };
    let prepared: Vec<Prepared> = if args.method == McpMethod::ToolsCall && !plan.calls.is_empty() {
        plan.calls
            .iter()
            .map(|c| Prepared::new(args.method, Some(c), meta_version))
            .collect()
    } else {
        vec![Prepared::new(args.method, None, meta_version)]
    };

    // Every worker is connected (and initialized) before the clock starts.
    let mut workers = Vec::with_capacity(args.concurrency);
    for _ in 0..args.concurrency {
        let worker = match &target {
            Target::Http {
                endpoint,
                mode,
                version,
            } => Worker::Http(
                McpHttpWorker::open(endpoint.clone(), *mode, version, plan.timeout)
                    .await
                    .map_err(BenchError::Target)?,
            ),
            Target::Stdio(s) => Worker::Stdio(s.clone()),
            Target::Direct { endpoint, body } => Worker::Direct(DirectWorker::new(
                endpoint.clone(),
                body.clone(),
                plan.timeout,
            )),
        };
        workers.push(worker);
    }

    let outcome = drive(workers, prepared, &plan, server_pid, progress).await;
    report.elapsed_s = outcome.elapsed.as_secs_f64();
    let stats = outcome.stats;
    report.calls = stats.ok + stats.errors.values().sum::<u64>();
    report.ok = stats.ok;
    report.errors = Errors {
        total: report.calls - stats.ok,
        by_kind: stats
            .errors
            .iter()
            .map(|(k, n)| (k.to_string(), *n))
            .collect(),
        examples: stats
            .examples
            .iter()
            .map(|(k, m)| (k.to_string(), m.clone()))
            .collect(),
    };
    if report.elapsed_s > 0.0 {
        report.calls_per_s = report.calls as f64 / report.elapsed_s;
    }
    if stats.answered > 0 {
        let h = &stats.hist;
        report.latency_us = Some(Latency {
            min: h.min(),
            mean: h.mean(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        });
        report.response_bytes_mean = Some(stats.bytes as f64 / stats.answered as f64);
    }
    let per_call = |cpu: f64| (report.calls > 0).then(|| cpu * 1e6 / report.calls as f64);
    if let Some(pid) = server_pid {
        let cpu_s = outcome.server_cpu;
        report.server = Some(ServerUsage {
            pid,
            cpu_s,
            cpu_us_per_call: cpu_s.and_then(per_call),
            rss_kb: procfs::status_kb(pid, "VmRSS"),
            peak_rss_kb: procfs::status_kb(pid, "VmHWM"),
        });
    }
    if let Some(cpu_s) = outcome.client_cpu {
        report.client = Some(ClientUsage {
            cpu_s,
            cpu_us_per_call: per_call(cpu_s),
        });
    }

    if let Target::Stdio(server) = &target {
        server.stop().await;
    }
    Ok(report)
}

/// Per-worker tallies, merged at the end.
struct Stats {
    hist: Histogram<u64>,
    ok: u64,
    errors: BTreeMap<ErrorKind, u64>,
    examples: BTreeMap<ErrorKind, String>,
    bytes: u64,
    answered: u64,
    last_end: Option<Instant>,
}

impl Stats {
    fn new() -> Self {
        Stats {
            // 1 µs to 1 h at 3 significant digits.
            hist: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds"),
            ok: 0,
            errors: BTreeMap::new(),
            examples: BTreeMap::new(),
            bytes: 0,
            answered: 0,
            last_end: None,
        }
    }

    fn record(&mut self, from: Instant, end: Instant, result: CallResult) {
        let answered = match &result.outcome {
            Ok(()) => true,
            Err((kind, _)) => kind.answered(),
        };
        if answered {
            let us = end.saturating_duration_since(from).as_micros();
            self.hist
                .saturating_record(u64::try_from(us).unwrap_or(u64::MAX).max(1));
            self.bytes += result.bytes as u64;
            self.answered += 1;
        }
        match result.outcome {
            Ok(()) => self.ok += 1,
            Err((kind, message)) => {
                *self.errors.entry(kind).or_default() += 1;
                self.examples.entry(kind).or_insert(message);
            }
        }
        self.last_end = Some(self.last_end.map_or(end, |l| l.max(end)));
    }

    fn merge(&mut self, other: Stats) {
        let _ = self.hist.add(&other.hist);
        self.ok += other.ok;
        for (k, n) in other.errors {
            *self.errors.entry(k).or_default() += n;
        }
        for (k, m) in other.examples {
            self.examples.entry(k).or_insert(m);
        }
        self.bytes += other.bytes;
        self.answered += other.answered;
        self.last_end = match (self.last_end, other.last_end) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
}

/// State the workers share.
struct Shared {
    prepared: Vec<Prepared>,
    start: Instant,
    measure_start: Instant,
    deadline: Option<Instant>,
    limit: Option<u64>,
    /// Closed loop: measured calls claimed. Open loop: tickets (scheduled sends) claimed.
    tickets: AtomicU64,
    round_robin: AtomicU64,
    done: AtomicU64,
    pacer: Option<Pacer>,
}

/// The open-loop schedule: a thread releases one permit per scheduled send.
struct Pacer {
    rate: f64,
    permits: Arc<Semaphore>,
    /// Tickets issued in all; `u64::MAX` until the schedule ends.
    total: Arc<AtomicU64>,
    /// Tickets before this one are warm-up.
    first_measured: u64,
}

impl Shared {
    fn next_call(&self) -> &Prepared {
        let n = self.round_robin.fetch_add(1, Ordering::Relaxed);
        &self.prepared[(n % self.prepared.len() as u64) as usize]
    }
}

struct Outcome {
    stats: Stats,
    elapsed: Duration,
    server_cpu: Option<f64>,
    client_cpu: Option<f64>,
}

async fn drive(
    workers: Vec<Worker>,
    prepared: Vec<Prepared>,
    plan: &Plan,
    server_pid: Option<u32>,
    progress: bool,
) -> Outcome {
    let concurrency = workers.len();
    let start = Instant::now();
    let (measure_start, pacer) = match plan.rate {
        None => (start + plan.warmup, None),
        Some(rate) => {
            let first_measured = (plan.warmup.as_secs_f64() * rate).ceil() as u64;
            let measure_start = start + Duration::from_secs_f64(first_measured as f64 / rate);
            let pacer = Pacer {
                rate,
                permits: Arc::new(Semaphore::new(0)),
                total: Arc::new(AtomicU64::new(u64::MAX)),
                first_measured,
            };
            (measure_start, Some(pacer))
        }
    };
    let deadline = plan.duration.map(|d| measure_start + d);
    let stop_pacer = Arc::new(AtomicBool::new(false));
    if let Some(p) = &pacer {
        let permits = p.permits.clone();
        let total = p.total.clone();
        let stop = stop_pacer.clone();
        let (rate, first) = (p.rate, p.first_measured);
        let limit = plan.limit.map(|n| first + n);
        std::thread::spawn(move || {
            pace(
                start,
                rate,
                limit,
                deadline,
                &permits,
                &total,
                &stop,
                concurrency,
            )
        });
    }
    let shared = Arc::new(Shared {
        prepared,
        start,
        measure_start,
        deadline,
        limit: plan.limit,
        tickets: AtomicU64::new(0),
        round_robin: AtomicU64::new(0),
        done: AtomicU64::new(0),
        pacer,
    });

    // CPU counters are read when measurement starts and when it ends.
    let sampler = tokio::spawn(async move {
        tokio::time::sleep_until(measure_start.into()).await;
        (
            server_pid.and_then(procfs::cpu_seconds),
            procfs::cpu_seconds(std::process::id()),
        )
    });
    let bar = progress.then(|| spawn_progress(shared.clone(), plan));

    let mut tasks = tokio::task::JoinSet::new();
    for worker in workers {
        let shared = shared.clone();
        tasks.spawn(async move {
            if shared.pacer.is_some() {
                open_loop(worker, &shared).await
            } else {
                closed_loop(worker, &shared).await
            }
        });
    }
    let mut stats = Stats::new();
    let mut finished = Vec::new();
    while let Some(r) = tasks.join_next().await {
        if let Ok((s, w)) = r {
            stats.merge(s);
            finished.push(w);
        }
    }
    stop_pacer.store(true, Ordering::Relaxed);
    let end = Instant::now();
    let (server_before, client_before) = sampler.await.unwrap_or((None, None));
    let server_cpu = match (server_before, server_pid.and_then(procfs::cpu_seconds)) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let client_cpu = match (client_before, procfs::cpu_seconds(std::process::id())) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    if let Some(bar) = bar {
        bar.abort();
        let _ = bar.await;
    }
    for w in &mut finished {
        if let Worker::Http(h) = w {
            h.close().await;
        }
    }
    let elapsed = stats
        .last_end
        .unwrap_or(end)
        .saturating_duration_since(measure_start);
    Outcome {
        stats,
        elapsed,
        server_cpu,
        client_cpu,
    }
}

#[allow(clippy::too_many_arguments)]
fn pace(
    start: Instant,
    rate: f64,
    limit: Option<u64>,
    deadline: Option<Instant>,
    permits: &Semaphore,
    total: &AtomicU64,
    stop: &AtomicBool,
    concurrency: usize,
) {
    let mut t = 0u64;
    loop {
        if limit.is_some_and(|n| t >= n) || stop.load(Ordering::Relaxed) {
            break;
        }
        let scheduled = start + Duration::from_secs_f64(t as f64 / rate);
        if deadline.is_some_and(|d| scheduled >= d) {
            break;
        }
        // A thread sleep is precise to tens of µs; tokio's timer wheel only to 1 ms.
        let now = Instant::now();
        if scheduled > now {
            std::thread::sleep(scheduled - now);
        }
        permits.add_permits(1);
        t += 1;
    }
    total.store(t, Ordering::Release);
    // One extra permit per worker: each claims a ticket past the end and stops.
    permits.add_permits(concurrency);
}

async fn closed_loop(mut worker: Worker, shared: &Shared) -> (Stats, Worker) {
    let mut stats = Stats::new();
    loop {
        let now = Instant::now();
        let measuring = now >= shared.measure_start;
        if measuring {
            if shared.deadline.is_some_and(|d| now >= d) {
                break;
            }
            if let Some(limit) = shared.limit
                && shared.tickets.fetch_add(1, Ordering::Relaxed) >= limit
            {
                break;
            }
        }
        let prepared = shared.next_call();
        let sent = Instant::now();
        let result = worker.call(prepared).await;
        if measuring {
            stats.record(sent, Instant::now(), result);
            shared.done.fetch_add(1, Ordering::Relaxed);
        }
    }
    (stats, worker)
}

async fn open_loop(mut worker: Worker, shared: &Shared) -> (Stats, Worker) {
    let mut stats = Stats::new();
    let pacer = shared.pacer.as_ref().expect("open loop has a pacer");
    loop {
        let Ok(permit) = pacer.permits.acquire().await else {
            break;
        };
        permit.forget();
        let t = shared.tickets.fetch_add(1, Ordering::Relaxed);
        if t >= pacer.total.load(Ordering::Acquire) {
            break;
        }
        let scheduled = shared.start + Duration::from_secs_f64(t as f64 / pacer.rate);
        let prepared = shared.next_call();
        let result = worker.call(prepared).await;
        if t >= pacer.first_measured {
            // From the scheduled time: a late send is the server's delay, not a free pass.
            stats.record(scheduled, Instant::now(), result);
            shared.done.fetch_add(1, Ordering::Relaxed);
        }
    }
    (stats, worker)
}

fn spawn_progress(shared: Arc<Shared>, plan: &Plan) -> tokio::task::JoinHandle<()> {
    let limit = plan.limit;
    let duration = plan.duration;
    tokio::spawn(async move {
        let style = indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        let bar = match (limit, duration) {
            (Some(n), _) => indicatif::ProgressBar::new(n),
            (None, Some(d)) => indicatif::ProgressBar::new(d.as_millis() as u64),
            (None, None) => indicatif::ProgressBar::new_spinner(),
        };
        bar.set_style(style);
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tick.tick().await;
            let done = shared.done.load(Ordering::Relaxed);
            let now = Instant::now();
            if now < shared.measure_start {
                bar.set_message("warming up");
                continue;
            }
            let secs = now.duration_since(shared.measure_start).as_secs_f64();
            if limit.is_some() {
                bar.set_position(done);
            } else {
                bar.set_position((secs * 1e3) as u64);
            }
            bar.set_message(format!(
                "{done} calls, {:.0} calls/s",
                done as f64 / secs.max(1e-3)
            ));
            if limit.is_some_and(|n| done >= n) || shared.deadline.is_some_and(|d| now >= d) {
                bar.finish_and_clear();
                break;
            }
        }
    })
}

/// Opens `n` sessions over `concurrency` connections, closes the connections (an idle
/// session holds none), waits `hold`, reads the server's RSS, then ends the sessions.
async fn idle_sessions(
    endpoint: Arc<Endpoint>,
    version: &str,
    n: usize,
    concurrency: usize,
    timeout: Duration,
    hold: Duration,
    pid: Option<u32>,
) -> IdleSessions {
    let rss_before = pid.and_then(|p| procfs::status_kb(p, "VmRSS"));
    let started = Instant::now();
    let remaining = Arc::new(AtomicU64::new(n as u64));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.min(n.max(1)) {
        let endpoint = endpoint.clone();
        let version = version.to_owned();
        let remaining = remaining.clone();
        tasks.spawn(async move {
            let mut sessions = Vec::new();
            let mut failed = 0usize;
            while remaining
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| r.checked_sub(1))
                .is_ok()
            {
                match McpHttpWorker::open(endpoint.clone(), HttpMode::Session, &version, timeout)
                    .await
                {
                    Ok(w) => sessions.push(w.session().cloned()),
                    Err(_) => failed += 1,
                }
            }
            (sessions, failed)
        });
    }
    let mut sessions = Vec::new();
    let mut failed = 0;
    while let Some(r) = tasks.join_next().await {
        if let Ok((s, f)) = r {
            sessions.extend(s);
            failed += f;
        }
    }
    let open_s = started.elapsed().as_secs_f64();
    tokio::time::sleep(hold).await;
    let rss_after = pid.and_then(|p| procfs::status_kb(p, "VmRSS"));
    let opened = sessions.len();
    let session_ids = sessions.iter().any(Option::is_some);
    // End the sessions so the server is left as it was found.
    let ids: Vec<_> = sessions.into_iter().flatten().collect();
    let chunk = ids.len().div_ceil(concurrency.max(1)).max(1);
    let mut tasks = tokio::task::JoinSet::new();
    for part in ids.chunks(chunk) {
        let part = part.to_vec();
        let endpoint = endpoint.clone();
        let version = version.to_owned();
        tasks.spawn(async move {
            if let Ok(mut w) =
                McpHttpWorker::open(endpoint, HttpMode::Stateless, &version, timeout).await
            {
                for id in part {
                    w.set_session(id);
                    w.close().await;
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    IdleSessions {
        opened,
        failed,
        session_ids,
        rss_before_kb: rss_before,
        rss_after_kb: rss_after,
        bytes_per_session: match (rss_before, rss_after) {
            (Some(b), Some(a)) if opened > 0 => {
                Some((a as f64 - b as f64) * 1024.0 / opened as f64)
            }
            _ => None,
        },
        open_s,
    }
}
