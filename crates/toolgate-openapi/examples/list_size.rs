//! Prints how big a spec's `tools/list` would be (name, description, input and output
//! schemas as compact JSON) for several caps on output-schema `$defs`.
//!
//! `cargo run --release -p toolgate-openapi --example list_size -- SPEC [CAP...]`

use std::time::Instant;

use toolgate_openapi::{CompileOptions, NoExternalRefs, compile, parse_document};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: list_size SPEC [CAP...]");
    let caps: Vec<usize> = args
        .map(|a| a.parse().expect("caps are byte counts"))
        .collect();
    let caps = if caps.is_empty() {
        vec![0, 2048, 4096, 8192]
    } else {
        caps
    };
    let bytes = std::fs::read(&path).expect("readable spec");
    let doc = parse_document(&bytes).expect("parsable spec");
    for cap in caps {
        let options = CompileOptions {
            max_output_schema_defs_bytes: cap,
            ..Default::default()
        };
        let start = Instant::now();
        let spec = compile(&doc, None, &options, &NoExternalRefs).expect("compilable spec");
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        let (mut input, mut output, mut total) = (0, 0, 0);
        for op in &spec.operations {
            let i = serde_json::to_string(&op.input_schema).unwrap().len();
            let o = op
                .output_schema
                .as_ref()
                .map_or(0, |s| serde_json::to_string(s).unwrap().len());
            input += i;
            output += o;
            total += i + o + op.name.len() * 2 + op.description.len() + 120;
        }
        println!(
            "cap {cap:>6}: {} tools, compile {ms:.0} ms, input schemas {:.2} MB, output schemas {:.2} MB, list ~{:.2} MB",
            spec.operations.len(),
            input as f64 / 1e6,
            output as f64 / 1e6,
            total as f64 / 1e6
        );
    }
}
