#!/usr/bin/env bash
# Where a toolgate `tools/call` spends its CPU: loads toolgate (stateless streamable HTTP, or
# session mode with MODE=session) with the bench load generator and samples the server with
# `perf record -e cpu-clock` (a software clock: this VM exposes no hardware counters, so
# `perf stat -e instructions` is not supported; with no perf at all, falls back to
# callgrind on a short run). Writes bench/results/profile-<mode>.txt.
#
# Environment: MODE (stateless|session, default stateless), PROFILE_SECONDS (default 6),
# PROFILE_CONCURRENCY (default 16), CARGO_TARGET_DIR (default target-bench; release binaries
# must be built, e.g. by bench/run.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MODE="${MODE:-stateless}"
SECS="${PROFILE_SECONDS:-6}"
CONC="${PROFILE_CONCURRENCY:-16}"
BIN="${CARGO_TARGET_DIR:-$ROOT/target-bench}/release"
TMP="$ROOT/bench/results/tmp/profile"
OUT="$ROOT/bench/results/profile-$MODE.txt"
mkdir -p "$TMP"
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT

"$BIN/bench-servers" backend >"$TMP/backend.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do grep -q listening "$TMP/backend.out" && break; sleep 0.05; done
BACKEND="$(sed -n 's/^listening on //p' "$TMP/backend.out")"
curl -sf "$BACKEND/openapi.json" >"$TMP/openapi.json"

case $MODE in
stateless) session_mode=stateless ;;
session) session_mode=stateful ;;
github)
    # Start-up on GitHub's description: spec loading + compile + first tools/list, over stdio
    # with stdin from a file (initialize, initialized, tools/list, then EOF).
    GH_SPEC="${GH_SPEC:-$ROOT/bench/results/tmp/octokit/package/generated/api.github.com.json}"
    [[ -f $GH_SPEC ]] || { echo "run bench/run.sh first (or set GH_SPEC)" >&2; exit 2; }
    printf '%s\n' \
        '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"p","version":"1"}}}' \
        '{"jsonrpc":"2.0","method":"notifications/initialized"}' \
        '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}' \
        '{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}' >"$TMP/stdin.jsonl"
    (sleep 3; cat "$TMP/stdin.jsonl"; sleep 2) |
        TOOLGATE_LOGGING__LEVEL=warn perf record -e cpu-clock -F 999 --call-graph dwarf,8192 -o "$TMP/perf-gh.data" -- \
            "$BIN/toolgate" serve --openapi "$GH_SPEC" --base-url http://127.0.0.1:1 --stdio \
            >"$TMP/gh.out" 2>/dev/null
    {
        echo "# toolgate serve --openapi api.github.com.json --stdio: start-up, two tools/list; perf cpu-clock"
        echo "# answer lines: $(wc -l <"$TMP/gh.out"), bytes: $(wc -c <"$TMP/gh.out")"
        echo
        echo "## self time by function (top 60)"
        perf report -i "$TMP/perf-gh.data" --no-children --sort symbol --stdio -g none 2>/dev/null |
            grep -v '^#' | grep -v '^$' | head -60 || true
        echo
        echo "## inclusive time by function (top 70)"
        perf report -i "$TMP/perf-gh.data" --children --sort symbol --stdio -g none 2>/dev/null |
            grep -v '^#' | grep -v '^$' | head -70 || true
    } >"$OUT"
    echo "wrote $OUT" >&2
    exit 0
    ;;
*) echo "MODE must be stateless, session or github" >&2; exit 2 ;;
esac

if perf record -e cpu-clock -o /dev/null -- true >/dev/null 2>&1; then
    TOOLGATE_LOGGING__LEVEL=warn TOOLGATE_HTTP__SESSION_MODE=$session_mode \
        "$BIN/toolgate" serve --openapi "$TMP/openapi.json" --base-url "$BACKEND" \
        --http 127.0.0.1:0 >"$TMP/toolgate.out" 2>"$TMP/toolgate.err" &
    TG_PID=$!
    PIDS+=($TG_PID)
    for _ in $(seq 200); do grep -q serving "$TMP/toolgate.out" && break; sleep 0.05; done
    URL="$(sed -n 's/^toolgate: serving .* tools at //p' "$TMP/toolgate.out")"
    "$BIN/toolgate-bench" --url "$URL" --mode "$MODE" --tool get_item --args '{"id":42}' \
        --concurrency "$CONC" --duration $((SECS + 2)) --server-pid "$TG_PID" --json >"$TMP/load.json" &
    LOAD_PID=$!
    sleep 1
    perf record -e cpu-clock -F 999 --call-graph dwarf,8192 -p "$TG_PID" -o "$TMP/perf.data" -- sleep "$SECS" \
        >/dev/null 2>&1
    wait "$LOAD_PID"
    {
        echo "# toolgate $MODE, c=$CONC, perf record -e cpu-clock -F 999 --call-graph dwarf, ${SECS}s"
        python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("# load: %d calls, %.0f calls/s, p50 %s us, server CPU %.1f us/call" % (r["calls"], r["calls_per_s"], r["latency_us"]["p50"], (r.get("server") or {}).get("cpu_us_per_call") or 0))' "$TMP/load.json" || true
        echo
        echo "## self time by shared object"
        perf report -i "$TMP/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null |
            grep -v '^#' | grep -v '^$' | head -15 || true
        echo
        echo "## self time by function (top 60)"
        perf report -i "$TMP/perf.data" --no-children --sort symbol --stdio -g none 2>/dev/null |
            grep -v '^#' | grep -v '^$' | head -60 || true
        echo
        echo "## inclusive time by function (top 60, with callees)"
        perf report -i "$TMP/perf.data" --children --sort symbol --stdio -g none 2>/dev/null |
            grep -v '^#' | grep -v '^$' | head -60 || true
    } >"$OUT"
else
    # callgrind: instruction counts per function over a short run (slow: ~50x).
    TOOLGATE_LOGGING__LEVEL=warn TOOLGATE_HTTP__SESSION_MODE=$session_mode \
        valgrind --tool=callgrind --callgrind-out-file="$TMP/callgrind.out" \
        "$BIN/toolgate" serve --openapi "$TMP/openapi.json" --base-url "$BACKEND" \
        --http 127.0.0.1:0 >"$TMP/toolgate.out" 2>"$TMP/toolgate.err" &
    TG_PID=$!
    PIDS+=($TG_PID)
    for _ in $(seq 600); do grep -q serving "$TMP/toolgate.out" && break; sleep 0.1; done
    URL="$(sed -n 's/^toolgate: serving .* tools at //p' "$TMP/toolgate.out")"
    "$BIN/toolgate-bench" --url "$URL" --mode "$MODE" --tool get_item --args '{"id":42}' \
        --concurrency 4 --calls 2000 --json >"$TMP/load.json"
    kill -INT "$TG_PID"
    wait "$TG_PID" || true
    callgrind_annotate --inclusive=no "$TMP/callgrind.out" | head -80 >"$OUT"
fi
echo "wrote $OUT" >&2
