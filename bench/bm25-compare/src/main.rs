//! The `bm25` crate (2.3.2, default tokenizer: stop words + Snowball stemming) against
//! toolgate-search on the same documents and tasks: build time, search latency, recall.
use bm25::{Document, Language, SearchEngineBuilder};
use std::time::{Duration, Instant};
use toolgate_search::{ToolDoc, ToolIndex};

fn pct(v: &mut Vec<Duration>, p: f64) -> f64 {
    v.sort();
    v[((v.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e6
}

fn main() {
    let eval =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crates/toolgate-search/eval");
    let tasks: serde_json::Value =
        serde_norway::from_str(&std::fs::read_to_string(eval.join("tasks.yaml")).unwrap()).unwrap();
    let (mut n, mut a_at, mut b_at) = (0usize, [0usize; 3], [0usize; 3]);
    for spec in ["github", "stripe", "slack"] {
        let docs: Vec<ToolDoc> = std::fs::read_to_string(eval.join(format!("{spec}.jsonl")))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        // One text per tool: the same fields, the name split at `_` (the crate's tokenizer does not split case).
        let texts: Vec<String> = docs
            .iter()
            .map(|d| {
                format!(
                    "{} {} {} {} {} {}",
                    d.name.replace('_', " "),
                    d.title.clone().unwrap_or_default(),
                    d.description,
                    d.params.join(" "),
                    d.tags.join(" "),
                    d.path_text()
                )
            })
            .collect();
        let mut tb = Vec::new();
        let mut engine = None;
        for _ in 0..10 {
            let t = Instant::now();
            engine = Some(
                SearchEngineBuilder::<u32>::with_documents(
                    Language::English,
                    texts
                        .iter()
                        .enumerate()
                        .map(|(i, t)| Document::new(i as u32, t.clone())),
                )
                .build(),
            );
            tb.push(t.elapsed());
        }
        let engine = engine.unwrap();
        let mut ta = Vec::new();
        let mut index = None;
        for _ in 0..10 {
            let t = Instant::now();
            index = Some(ToolIndex::build(docs.iter().cloned()));
            ta.push(t.elapsed());
        }
        let index = index.unwrap();
        let mut qa = Vec::new();
        let mut qb = Vec::new();
        for t in tasks[spec].as_array().unwrap() {
            let q = t["task"].as_str().unwrap();
            let expect: Vec<&str> = t["expect"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e.as_str().unwrap())
                .collect();
            n += 1;
            let mut ra = None;
            let mut rb = None;
            for _ in 0..50 {
                let s = Instant::now();
                let h = index.search(q, 10, |_| true);
                qa.push(s.elapsed());
                ra = h
                    .iter()
                    .position(|m| expect.contains(&docs[m.position].name.as_str()));
                let s = Instant::now();
                let h = engine.search(q, 10);
                qb.push(s.elapsed());
                rb = h
                    .iter()
                    .position(|r| expect.contains(&docs[r.document.id as usize].name.as_str()));
            }
            for (i, k) in [1, 5, 10].into_iter().enumerate() {
                if ra.is_some_and(|r| r < k) {
                    a_at[i] += 1
                }
                if rb.is_some_and(|r| r < k) {
                    b_at[i] += 1
                }
            }
        }
        println!(
            "{spec:<7} toolgate-search: build p50 {:.2} ms, search p50 {:.1} us p99 {:.1} us | bm25 crate: build p50 {:.2} ms, search p50 {:.1} us p99 {:.1} us",
            pct(&mut ta, 0.5) / 1e3,
            pct(&mut qa, 0.5),
            pct(&mut qa, 0.99),
            pct(&mut tb, 0.5) / 1e3,
            pct(&mut qb, 0.5),
            pct(&mut qb, 0.99)
        );
    }
    let r = |a: [usize; 3]| {
        format!(
            "@1 {:.3} @5 {:.3} @10 {:.3}",
            a[0] as f64 / n as f64,
            a[1] as f64 / n as f64,
            a[2] as f64 / n as f64
        )
    };
    println!(
        "recall over {n} tasks: toolgate-search {} | bm25 crate {}",
        r(a_at),
        r(b_at)
    );
}
