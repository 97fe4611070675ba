//! Compiles one spec file and prints operation/diagnostic counts and timings.
//!
//! `cargo run --release -p toolgate-openapi --example compile_bench -- FILE [--validate] [--diags] [--size] [--clone] [--largest] [--out=IR.json]`
//!
//! `--out=IR.json` writes the compiled IR: compare the files of a run under `taskset -c 0` (one
//! thread) and a normal one (two threads on a big spec).

use std::time::Instant;

use toolgate_openapi::{CompileOptions, NoExternalRefs, Severity, compile, parse_document};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.iter().find(|a| !a.starts_with("--")) else {
        eprintln!("usage: compile_bench FILE [--validate] [--diags]");
        std::process::exit(2);
    };
    let bytes = std::fs::read(path).expect("read spec");
    let t0 = Instant::now();
    let doc = parse_document(&bytes).expect("parse");
    let t1 = Instant::now();
    let spec = compile(&doc, None, &CompileOptions::default(), &NoExternalRefs).expect("compile");
    let t2 = Instant::now();
    let errors = spec
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    println!(
        "spec: {} {} ({})",
        spec.title, spec.version, spec.spec_version
    );
    println!("operations: {}", spec.operations.len());
    println!(
        "diagnostics: {} ({} errors = skipped operations)",
        spec.diagnostics.len(),
        errors
    );
    println!("parse: {:.1} ms", (t1 - t0).as_secs_f64() * 1000.0);
    println!("compile: {:.1} ms", (t2 - t1).as_secs_f64() * 1000.0);
    println!("total: {:.1} ms", (t2 - t0).as_secs_f64() * 1000.0);
    if args.iter().any(|a| a == "--size") {
        let bytes = serde_json::to_vec(&spec).expect("serialize").len();
        let defs: usize = spec
            .operations
            .iter()
            .map(|o| {
                o.input_schema
                    .get("$defs")
                    .and_then(|d| d.as_object())
                    .map_or(0, |d| d.len())
                    + o.output_schema
                        .as_ref()
                        .and_then(|s| s.get("$defs"))
                        .and_then(|d| d.as_object())
                        .map_or(0, |d| d.len())
            })
            .sum();
        println!(
            "compiled IR: {:.1} MB as JSON, {defs} $defs entries in total",
            bytes as f64 / 1e6
        );
    }
    if args.iter().any(|a| a == "--clone") {
        let t = Instant::now();
        let copy = spec.clone();
        println!(
            "clone of the compiled IR: {:.1} ms",
            t.elapsed().as_secs_f64() * 1000.0
        );
        let t = Instant::now();
        let d2 = doc.clone();
        println!(
            "clone of the document: {:.1} ms",
            t.elapsed().as_secs_f64() * 1000.0
        );
        drop((copy, d2));
    }
    if args.iter().any(|a| a == "--largest") {
        let mut sizes: Vec<(usize, &str, &str)> = Vec::new();
        for op in &spec.operations {
            let n = serde_json::to_vec(&op.input_schema).map_or(0, |v| v.len());
            sizes.push((n, op.name.as_str(), "input"));
            if let Some(o) = &op.output_schema {
                let n = serde_json::to_vec(o).map_or(0, |v| v.len());
                sizes.push((n, op.name.as_str(), "output"));
            }
        }
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        println!("largest tool schemas:");
        for (n, name, which) in sizes.iter().take(10) {
            println!("  {:.1} KB  {name} {which}", *n as f64 / 1e3);
        }
    }
    if let Some(out) = args.iter().find_map(|a| a.strip_prefix("--out=")) {
        std::fs::write(out, serde_json::to_vec_pretty(&spec).expect("serialize")).expect("write");
    }
    if args.iter().any(|a| a == "--diags") {
        for d in &spec.diagnostics {
            println!("  {d}");
        }
    }
    if args.iter().any(|a| a == "--validate") {
        let mut bad = 0;
        for op in &spec.operations {
            let schemas = std::iter::once(&op.input_schema).chain(op.output_schema.as_ref());
            for s in schemas {
                if let Err(e) = jsonschema::validator_for(&serde_json::Value::Object(s.clone())) {
                    bad += 1;
                    println!("  invalid schema in {}: {e}", op.name);
                }
            }
        }
        println!("schemas failing to compile: {bad}");
    }
}
