#!/usr/bin/env bash
# What recording costs, and how fast replay drives calls (issue 19's two targets):
#  1. `tools/call get_item` through toolgate over HTTP (stateless 2026-07-28) at c=16, with
#     recording off and on at 100 % sampling, alternated per round (same minutes, same VM).
#  2. `toolgate replay` of the recording made in (1) against a fresh gateway at c=16.
# Uses the release binaries of bench/run.sh (`toolgate`, whose `bench` is the load generator, and
# `bench-servers`).
#
#   bench/recording.sh            # BENCH_ROUNDS=4 BENCH_DURATION=4 BENCH_WARMUP=1 by default
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${CARGO_TARGET_DIR:-$ROOT/target-bench}/release"
ROUNDS="${BENCH_ROUNDS:-4}"
DURATION="${BENCH_DURATION:-4}"
WARMUP="${BENCH_WARMUP:-1}"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"


"$BIN/bench-servers" backend --listen 127.0.0.1:0 >"$TMP/backend.out" 2>&1 &
PIDS+=($!)
BACKEND="$(wait_line "$TMP/backend.out" 's/^listening on //p')"

start() { # VARIANT: starts a gateway, sets $url and $pid
    local cfg="$TMP/$1.yaml"
    {
        echo "http: { bind: 127.0.0.1:0, session_mode: stateless }"
        echo "logging: { level: warn }"
        [[ $1 == on ]] && echo "recording: { path: '$TMP/calls.jsonl', sample: 1.0 }"
        echo "sources: [{ name: bench, spec: '$BACKEND/openapi.json', base_url: '$BACKEND' }]"
    } >"$cfg"
    "$BIN/toolgate" serve --config "$cfg" >"$TMP/$1.out" 2>&1 &
    pid=$!
    PIDS+=($pid)
    url="$(wait_line "$TMP/$1.out" 's/^toolgate: serving .* tools at //p')"
}

TOOL=get_item
for round in $(seq "$ROUNDS"); do
    for variant in off on; do
        rm -f "$TMP/calls.jsonl"
        start "$variant"
        "$BIN/toolgate" bench --url "$url" --tool "$TOOL" --args '{"id": 42}' --concurrency 16 \
            --duration "$DURATION" --warmup "$WARMUP" --server-pid "$pid" --json >"$TMP/r.json"
        kill "$pid"; wait "$pid" 2>/dev/null || true
        lines=0
        [[ -f "$TMP/calls.jsonl" ]] && lines="$(wc -l <"$TMP/calls.jsonl")"
        python3 - "$round" "$variant" "$TMP/r.json" "$lines" <<'PY'
import json, sys
r = json.load(open(sys.argv[3]))
l = r["latency_us"]
cpu = (r.get("server") or {}).get("cpu_us_per_call")
cpu = "?" if cpu is None else f"{cpu:.1f}"
print(f"round {sys.argv[1]} {sys.argv[2]:>3} c=16 p50 {l['p50']:>6} µs  {r['calls_per_s']:>8.0f} calls/s  "
      f"errors {r['errors']['total']}  server CPU {cpu} µs/call  recorded lines {sys.argv[4]}")
PY
    done
done

# Replay: the last recording (warm-up and measured calls) against a gateway without recording.
start off
"$BIN/toolgate" replay "$TMP/calls.jsonl" --url "$url" --concurrency 16 --no-progress \
    --json "$TMP/replay.json" >/dev/null || true
python3 - "$TMP/replay.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
t = r["tools"][0]["total"]
print(f"replay c=16: {r['calls']} calls in {r['duration_seconds']} s = {r['calls_per_second']:.0f} calls/s, "
      f"p50 {t['p50_ms']} ms p99 {t['p99_ms']} ms, mismatched calls {r['mismatched_calls']}")
PY
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
