//! Running a replay: `concurrency` clients (one connection each, opened before the clock
//! starts) share each window's calls through an atomic counter, optionally paced to a rate;
//! each worker tallies what it saw and the tallies are merged when the window ends.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use toolgate_bench::client::{ClientOptions, HttpMode, McpClient, Target};
use toolgate_contract::Contract;

use crate::ReplayError;
use crate::check::{Answer, Checker, Expected, Found, MismatchKind};
use crate::input::{Expect, Input, RecordedCall, Workflow};
use crate::report::{
    InputSummary, Mismatches, REPORT_FORMAT, ReplayReport, Settings, ToolReport, WorkflowReport,
    WorkflowWindow,
};
use crate::stats::Tally;
use crate::template::Scope;

/// How to run a replay.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// The target and how to talk to it.
    pub client: ClientOptions,
    /// Calls in flight at once (one connection each).
    pub concurrency: usize,
    /// Calls per second at most, over all workers (`None`: as fast as answers come).
    pub rate: Option<f64>,
    /// Windows, run one after another.
    pub windows: u32,
    /// Passes over the recording, or workflow iterations, per window.
    pub repeat: u32,
    /// A contract snapshot: successful results are validated against its `outputSchema`s.
    pub contract: Option<Contract>,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// The input's path, for the report.
    pub input_path: String,
}

/// Spaces calls out to a rate: call `n` of a window starts no earlier than `n / rate` s in.
struct Pacer {
    start: Instant,
    interval: Option<Duration>,
    tickets: AtomicU64,
}

impl Pacer {
    async fn wait(&self) {
        let Some(interval) = self.interval else {
            return;
        };
        let n = self.tickets.fetch_add(1, Ordering::Relaxed);
        let due = self.start + interval.mul_f64(n as f64);
        if due > Instant::now() {
            tokio::time::sleep_until(due.into()).await;
        }
    }
}

/// What one worker saw in one window.
#[derive(Default)]
struct Seen {
    tallies: HashMap<String, Tally>,
    mismatches: Mismatches,
    iterations: u64,
    completed: u64,
}

impl Seen {
    fn merge(&mut self, other: Seen) {
        for (tool, t) in other.tallies {
            self.tallies.entry(tool).or_default().merge(t);
        }
        self.mismatches.merge(other.mismatches);
        self.iterations += other.iterations;
        self.completed += other.completed;
    }

    /// Counts one call of `tool`; returns whether it completed as expected.
    fn count(&mut self, tool: &str, answer: Option<(&Answer, Duration)>, found: &[Found]) -> bool {
        let tally = match self.tallies.get_mut(tool) {
            Some(t) => t,
            None => self.tallies.entry(tool.to_owned()).or_default(),
        };
        tally.calls += 1;
        let completed = !found.iter().any(|f| {
            matches!(
                f.kind,
                MismatchKind::NoAnswer | MismatchKind::ErrorStatus | MismatchKind::Template
            )
        });
        match answer {
            Some((answer, latency)) => {
                if !matches!(answer, Answer::Missing { .. }) {
                    tally.latencies_ms.push(latency.as_secs_f64() * 1000.0);
                }
                tally.errors += u64::from(answer.is_error());
                tally.retries += answer.retries();
            }
            None => tally.errors += 1,
        }
        tally.completed += u64::from(completed);
        completed
    }
}

/// Everything a worker needs.
struct Shared {
    input: Arc<Input>,
    checker: Checker,
    repeat: u32,
    progress: Option<indicatif::ProgressBar>,
}

/// Runs `input` against the target; fails only when it cannot start (bad contract,
/// unreachable target). Mismatches are in the report.
pub async fn run(input: Input, options: &ReplayOptions) -> Result<ReplayReport, ReplayError> {
    let concurrency = options.concurrency.max(1);
    let windows = options.windows.max(1);
    let repeat = options.repeat.max(1);
    if let Some(rate) = options.rate
        && !(rate > 0.0 && rate.is_finite())
    {
        return Err(ReplayError::Input(format!(
            "--rate must be a positive number of calls per second, not {rate}"
        )));
    }
    let checker = Checker::new(options.contract.as_ref()).map_err(ReplayError::Input)?;
    let target = Target::new(&options.client).map_err(ReplayError::Input)?;
    let mut clients = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        clients.push(target.connect().await.map_err(|e| {
            ReplayError::Target(format!("cannot reach {}: {e}", options.client.url))
        })?);
    }
    let jobs_per_window = match &input {
        Input::Recording(calls) => calls.len() as u64 * u64::from(repeat),
        Input::Workflow(_) => u64::from(repeat),
    };
    let calls_per_window = input.calls_per_pass() as u64 * u64::from(repeat);
    let progress = options.progress.then(|| {
        let bar = indicatif::ProgressBar::new(calls_per_window * u64::from(windows));
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{spinner} window {msg} [{bar:30}] {pos}/{len} calls, {per_sec}, eta {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    });
    let summary = InputSummary {
        kind: match &input {
            Input::Recording(_) => "recording",
            Input::Workflow(_) => "workflow",
        }
        .to_owned(),
        path: options.input_path.clone(),
        name: match &input {
            Input::Workflow(w) => w.name.clone(),
            Input::Recording(_) => None,
        },
        calls_per_pass: input.calls_per_pass(),
    };
    let is_workflow = matches!(input, Input::Workflow(_));
    let shared = Arc::new(Shared {
        input: Arc::new(input),
        checker,
        repeat,
        progress: progress.clone(),
    });
    let mut per_window: Vec<Seen> = Vec::with_capacity(windows as usize);
    let mut elapsed = Duration::ZERO;
    for window in 0..windows {
        if let Some(bar) = &progress {
            bar.set_message(format!("{}/{windows}", window + 1));
        }
        let next = Arc::new(AtomicU64::new(0));
        let pacer = Arc::new(Pacer {
            start: Instant::now(),
            interval: options.rate.map(|r| Duration::from_secs_f64(1.0 / r)),
            tickets: AtomicU64::new(0),
        });
        let started = Instant::now();
        let mut handles = Vec::with_capacity(concurrency);
        for mut client in clients.drain(..) {
            let shared = shared.clone();
            let next = next.clone();
            let pacer = pacer.clone();
            handles.push(tokio::spawn(async move {
                let mut seen = Seen::default();
                loop {
                    let job = next.fetch_add(1, Ordering::Relaxed);
                    if job >= jobs_per_window {
                        break;
                    }
                    match &*shared.input {
                        Input::Recording(calls) => {
                            let call = &calls[(job % calls.len() as u64) as usize];
                            replay_call(&shared, &mut client, &pacer, call, window, &mut seen)
                                .await;
                        }
                        Input::Workflow(workflow) => {
                            let iteration = u64::from(window) * u64::from(shared.repeat) + job;
                            run_iteration(
                                &shared,
                                &mut client,
                                &pacer,
                                workflow,
                                iteration,
                                window,
                                &mut seen,
                            )
                            .await;
                        }
                    }
                }
                (client, seen)
            }));
        }
        let mut seen = Seen::default();
        for handle in handles {
            let (client, s) = handle
                .await
                .map_err(|e| ReplayError::Target(format!("a replay worker failed: {e}")))?;
            clients.push(client);
            seen.merge(s);
        }
        elapsed += started.elapsed();
        per_window.push(seen);
    }
    if let Some(bar) = &progress {
        bar.finish_and_clear();
    }
    if options.client.mode == HttpMode::Session {
        for client in &mut clients {
            client.close().await;
        }
    }
    Ok(report(
        summary,
        options,
        concurrency,
        windows,
        repeat,
        per_window,
        elapsed,
        is_workflow,
    ))
}

/// Replays one recorded call.
async fn replay_call(
    shared: &Shared,
    client: &mut McpClient,
    pacer: &Pacer,
    call: &RecordedCall,
    window: u32,
    seen: &mut Seen,
) {
    pacer.wait().await;
    let started = Instant::now();
    let response = client.call_tool(&call.tool, &call.arguments).await;
    let latency = started.elapsed();
    let answer = Answer::from_response(response);
    let expected = Expected {
        error: Some(call.is_error),
        shape: call.shape.as_ref(),
    };
    let found = shared.checker.check(&call.tool, expected, &answer);
    seen.count(&call.tool, Some((&answer, latency)), &found);
    seen.mismatches.add(
        &call.tool,
        found,
        &|| match &call.correlation_id {
            Some(id) => format!("line {} (correlation id {id})", call.line),
            None => format!("line {}", call.line),
        },
        window,
    );
    if let Some(bar) = &shared.progress {
        bar.inc(1);
    }
}

/// Runs one iteration of a workflow: its steps in order, each fed by the earlier results.
async fn run_iteration(
    shared: &Shared,
    client: &mut McpClient,
    pacer: &Pacer,
    workflow: &Workflow,
    iteration: u64,
    window: u32,
    seen: &mut Seen,
) {
    seen.iterations += 1;
    let mut results: Vec<Value> = Vec::with_capacity(workflow.steps.len());
    let mut completed = true;
    for (i, step) in workflow.steps.iter().enumerate() {
        let first_call = || format!("step {} (iteration {iteration})", step.id);
        let arguments = match step.arguments.render(&Scope {
            iteration,
            results: &results,
        }) {
            Ok(Value::Object(map)) => map,
            Ok(_) => serde_json::Map::new(),
            Err(problem) => {
                let found = vec![Found {
                    kind: MismatchKind::Template,
                    pointer: String::new(),
                    expected: "arguments from earlier results".to_owned(),
                    actual: "unresolved reference".to_owned(),
                    detail: problem,
                }];
                seen.count(&step.tool, None, &found);
                seen.mismatches.add(&step.tool, found, &first_call, window);
                completed = false;
                if let Some(bar) = &shared.progress {
                    bar.inc((workflow.steps.len() - i) as u64);
                }
                break;
            }
        };
        pacer.wait().await;
        let started = Instant::now();
        let response = client.call_tool(&step.tool, &arguments).await;
        let latency = started.elapsed();
        let answer = Answer::from_response(response);
        let expected = Expected {
            error: match step.expect {
                Expect::Success => Some(false),
                Expect::Error => Some(true),
                Expect::Any => None,
            },
            shape: None,
        };
        let found = shared.checker.check(&step.tool, expected, &answer);
        let ok = seen.count(&step.tool, Some((&answer, latency)), &found);
        completed &= ok && found.is_empty();
        seen.mismatches.add(&step.tool, found, &first_call, window);
        if let Some(bar) = &shared.progress {
            bar.inc(1);
        }
        match answer {
            Answer::Success { output, .. } => results.push(output),
            _ if ok => results.push(Value::Null),
            _ => {
                // A step that failed unexpectedly: the later ones would run on nothing.
                if let Some(bar) = &shared.progress {
                    bar.inc((workflow.steps.len() - i - 1) as u64);
                }
                break;
            }
        }
    }
    seen.completed += u64::from(completed);
}

#[allow(clippy::too_many_arguments)]
fn report(
    input: InputSummary,
    options: &ReplayOptions,
    concurrency: usize,
    windows: u32,
    repeat: u32,
    per_window: Vec<Seen>,
    elapsed: Duration,
    is_workflow: bool,
) -> ReplayReport {
    let mut tools: HashMap<String, (Tally, Vec<crate::stats::WindowStats>)> = HashMap::new();
    let mut mismatches = Mismatches::default();
    let mut workflow_windows = Vec::new();
    let mut calls = 0;
    for (window, seen) in per_window.into_iter().enumerate() {
        let window = window as u32;
        for (tool, tally) in seen.tallies {
            calls += tally.calls;
            let entry = tools.entry(tool).or_default();
            entry.0.merge(tally.clone());
            entry.1.push(tally.stats(Some(window)));
        }
        mismatches.merge(seen.mismatches);
        workflow_windows.push(WorkflowWindow {
            window,
            iterations: seen.iterations,
            completed: seen.completed,
            completion_rate: ratio(seen.completed, seen.iterations),
        });
    }
    let mut tools: Vec<ToolReport> = tools
        .into_iter()
        .map(|(tool, (total, windows))| ToolReport {
            tool,
            total: total.stats(None),
            windows,
        })
        .collect();
    tools.sort_by(|a, b| a.tool.cmp(&b.tool));
    let workflow = is_workflow.then(|| {
        let iterations = workflow_windows.iter().map(|w| w.iterations).sum();
        let completed = workflow_windows.iter().map(|w| w.completed).sum();
        WorkflowReport {
            iterations,
            completed,
            completion_rate: ratio(completed, iterations),
            windows: workflow_windows,
        }
    });
    let mismatched_calls = mismatches.calls;
    let secs = elapsed.as_secs_f64();
    ReplayReport {
        format: REPORT_FORMAT,
        input,
        target: options.client.url.clone(),
        settings: Settings {
            mode: match options.client.mode {
                HttpMode::Stateless => "stateless",
                HttpMode::Session => "session",
            }
            .to_owned(),
            concurrency,
            rate: options.rate,
            windows,
            repeat,
            contract: options.contract.as_ref().map(|c| match &c.label {
                Some(label) => format!("{label} ({})", c.hash),
                None => c.hash.clone(),
            }),
        },
        duration_seconds: (secs * 1000.0).round() / 1000.0,
        calls,
        calls_per_second: if secs > 0.0 {
            (calls as f64 / secs).round()
        } else {
            0.0
        },
        tools,
        workflow,
        mismatches: mismatches.into_list(),
        mismatched_calls,
        passed: mismatched_calls == 0,
    }
}

fn ratio(n: u64, of: u64) -> f64 {
    if of == 0 {
        0.0
    } else {
        ((n as f64 / of as f64) * 10_000.0).round() / 10_000.0
    }
}
