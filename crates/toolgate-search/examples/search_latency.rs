//! How long the index takes to build and a search takes to answer, over the committed
//! extracts of GitHub's, Stripe's and Slack's APIs, with the evaluation set's tasks as
//! queries (the figures in BENCHMARKS.md, "Meta-tool mode"):
//!
//!     cargo run --release -p toolgate-search --example search_latency
//!
//! Prints, per spec: tools, distinct terms, index heap size, build time (median of 20) and
//! the p50/p99 of one `search(query, 10)` over every task, 200 rounds.

use std::time::{Duration, Instant};

use toolgate_search::{ToolDoc, ToolIndex};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let eval = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("eval");
    let tasks: serde_json::Value = serde_norway::from_str(
        &std::fs::read_to_string(eval.join("tasks.yaml")).expect("eval/tasks.yaml"),
    )
    .expect("tasks.yaml parses");
    for spec in ["github", "stripe", "slack"] {
        let docs: Vec<ToolDoc> = std::fs::read_to_string(eval.join(format!("{spec}.jsonl")))
            .expect("extract")
            .lines()
            .map(|l| serde_json::from_str(l).expect("a ToolDoc"))
            .collect();
        let queries: Vec<String> = tasks[spec]
            .as_array()
            .expect("tasks of the spec")
            .iter()
            .map(|t| t["task"].as_str().expect("task text").to_owned())
            .collect();
        let mut builds = Vec::new();
        let mut index = None;
        for _ in 0..20 {
            let started = Instant::now();
            index = Some(ToolIndex::build(docs.iter().cloned()));
            builds.push(started.elapsed());
        }
        builds.sort();
        let index = index.expect("built");
        let mut times = Vec::new();
        let mut found = 0usize;
        for _ in 0..200 {
            for q in &queries {
                let started = Instant::now();
                let hits = index.search(q, 10, |_| true);
                times.push(started.elapsed());
                found += hits.len();
            }
        }
        times.sort();
        println!(
            "{spec:<7} tools {:>5}  terms {:>5}  index {:>5} KiB  build p50 {:>6.2} ms  search p50 {:>5.1} us  p99 {:>5.1} us  ({} searches, {} results)",
            index.len(),
            index.index().term_count(),
            index.index().heap_bytes() / 1024,
            percentile(&builds, 0.5).as_secs_f64() * 1e3,
            percentile(&times, 0.5).as_secs_f64() * 1e6,
            percentile(&times, 0.99).as_secs_f64() * 1e6,
            times.len(),
            found,
        );
    }
}
