//! The retrieval evaluation of `search_tools`: recall@1/@5/@10 over the natural-language tasks
//! of `eval/tasks.yaml`, against the tools toolgate compiles from GitHub's, Stripe's and
//! Slack's real API descriptions (their committed extracts, `eval/*.jsonl`). Prints the
//! figures (run with `--nocapture`, or see BENCHMARKS.md) and fails when recall drops below
//! the floors recorded here, or when a task names an operation the spec does not have.
//!
//! It also prints the same figures without stemming and without the synonym table: the
//! evidence that each is worth having.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Deserialize;
use toolgate_search::{Params, Tokenizer, ToolDoc, ToolIndex};

/// Recall floors (fractions of all tasks) recorded from the measured figures, a little
/// below them so a tuning change that loses tasks fails here.
const FLOOR_AT_1: f64 = 0.63;
const FLOOR_AT_5: f64 = 0.80;
const FLOOR_AT_10: f64 = 0.89;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Task {
    task: String,
    expect: Vec<String>,
}

fn eval_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("eval")
}

fn load_docs(spec: &str) -> Vec<ToolDoc> {
    let path = eval_dir().join(format!("{spec}.jsonl"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{}:{}: not a ToolDoc: {e}", path.display(), i + 1))
        })
        .collect()
}

fn load_tasks() -> BTreeMap<String, Vec<Task>> {
    let path = eval_dir().join("tasks.yaml");
    let text = std::fs::read_to_string(&path).expect("eval/tasks.yaml");
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Found at 1, 5 and 10, per task.
#[derive(Default, Clone, Copy)]
struct Recall {
    tasks: usize,
    at: [usize; 3],
}

impl Recall {
    fn add(&mut self, other: Recall) {
        self.tasks += other.tasks;
        for i in 0..3 {
            self.at[i] += other.at[i];
        }
    }

    fn rate(&self, i: usize) -> f64 {
        self.at[i] as f64 / self.tasks.max(1) as f64
    }

    fn line(&self, label: &str) -> String {
        format!(
            "{label:<28} tasks {:>3}  recall@1 {:.3}  @5 {:.3}  @10 {:.3}",
            self.tasks,
            self.rate(0),
            self.rate(1),
            self.rate(2)
        )
    }
}

fn evaluate(
    docs: &[ToolDoc],
    tasks: &[Task],
    tokenizer: Tokenizer,
    misses: Option<&mut Vec<String>>,
) -> Recall {
    let index = ToolIndex::build_with(docs.iter().cloned(), tokenizer, Params::default());
    let mut recall = Recall {
        tasks: tasks.len(),
        ..Recall::default()
    };
    let mut missed = Vec::new();
    for t in tasks {
        let hits: Vec<&str> = index
            .search(&t.task, 10, |_| true)
            .iter()
            .map(|m| docs[m.position].name.as_str())
            .collect();
        let rank = hits.iter().position(|h| t.expect.iter().any(|e| e == h));
        for (i, k) in [1, 5, 10].into_iter().enumerate() {
            if rank.is_some_and(|r| r < k) {
                recall.at[i] += 1;
            }
        }
        if rank.is_none_or(|r| r >= 1) {
            missed.push(format!(
                "  {:?} expected {:?}, rank {}, got {:?}",
                t.task,
                t.expect,
                rank.map_or("-".to_owned(), |r| (r + 1).to_string()),
                &hits[..hits.len().min(3)]
            ));
        }
    }
    if let Some(m) = misses {
        m.extend(missed);
    }
    recall
}

#[test]
fn search_recall_on_real_api_tasks_stays_above_its_floor() {
    let tasks = load_tasks();
    assert!(
        tasks.values().map(Vec::len).sum::<usize>() >= 100,
        "the evaluation set must hold at least 100 tasks"
    );
    let mut total = Recall::default();
    let mut no_stem = Recall::default();
    let mut no_synonyms = Recall::default();
    let mut plain = Recall::default();
    let mut misses = Vec::new();
    for (spec, tasks) in &tasks {
        let docs = load_docs(spec);
        for t in tasks {
            for e in &t.expect {
                assert!(
                    docs.iter().any(|d| &d.name == e),
                    "task {:?} of `{spec}` expects `{e}`, which eval/{spec}.jsonl does not have",
                    t.task
                );
            }
        }
        let started = Instant::now();
        let _ = ToolIndex::build(docs.iter().cloned());
        let built = started.elapsed();
        let r = evaluate(&docs, tasks, Tokenizer::default(), Some(&mut misses));
        println!(
            "{}  ({} tools, index built in {:.1} ms, debug build)",
            r.line(spec),
            docs.len(),
            built.as_secs_f64() * 1e3
        );
        total.add(r);
        no_stem.add(evaluate(&docs, tasks, Tokenizer::new(false, true), None));
        no_synonyms.add(evaluate(&docs, tasks, Tokenizer::new(true, false), None));
        plain.add(evaluate(&docs, tasks, Tokenizer::new(false, false), None));
    }
    println!("{}", total.line("all"));
    println!("{}", no_stem.line("all, without stemming"));
    println!("{}", no_synonyms.line("all, without synonyms"));
    println!("{}", plain.line("all, neither"));
    println!("not first:\n{}", misses.join("\n"));
    assert!(
        total.rate(0) >= FLOOR_AT_1 && total.rate(1) >= FLOOR_AT_5 && total.rate(2) >= FLOOR_AT_10,
        "recall fell below its floor ({FLOOR_AT_1}, {FLOOR_AT_5}, {FLOOR_AT_10}): {}",
        total.line("all")
    );
}
