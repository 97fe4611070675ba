//! Writes the evaluation extract of one spec: the [`ToolDoc`] of every tool toolgate compiles
//! from it with the default options, as compact JSON lines (what `eval/*.jsonl` hold).
//!
//!     cargo run -p toolgate-search --example extract -- SPEC.json > crates/toolgate-search/eval/NAME.jsonl
//!
//! The specs themselves are not committed (GitHub's is 12 MB): `scripts/spec-corpus.sh` and
//! `scripts/search-eval-extract.sh` install them from the npm registry.

use toolgate_openapi::{CompileOptions, ComponentKind, NoExternalRefs, compile, parse_for_compile};
use toolgate_search::ToolDoc;

fn main() {
    let path = std::env::args().nth(1).expect("usage: extract SPEC");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let doc = parse_for_compile(&bytes).expect("a JSON or YAML OpenAPI document");
    let spec = compile(&doc, None, &CompileOptions::default(), &NoExternalRefs).expect("compiles");
    let mut out = String::new();
    for op in &spec.operations {
        if !matches!(op.kind, ComponentKind::Tool) {
            continue;
        }
        let mut tool = rmcp::model::Tool::new(
            op.name.clone(),
            op.description.clone(),
            std::sync::Arc::new(op.input_schema.clone()),
        );
        tool.title = op.title.clone();
        let d = ToolDoc::of_tool(&tool, &op.tags, Some(op.method.as_str()), Some(&op.path));
        out.push_str(&serde_json::to_string(&d).expect("serializable"));
        out.push('\n');
    }
    print!("{out}");
}
