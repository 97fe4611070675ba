#!/usr/bin/env bash
# What rate limits cost per call, end to end: `tools/call get_item` through toolgate over HTTP
# (stateless 2026-07-28 requests) with no limits, with two in-memory limits, and with the same
# two limits in Redis (127.0.0.1:6379), at c = 1 and c = 16. The limits never refuse (1e9/s),
# so every call does the full work of deciding. Uses the release binaries of bench/run.sh.
#
#   bench/limits.sh                      # BENCH_DURATION=5 BENCH_WARMUP=1 by default
#
# Prints one line per run: p50 / p99 latency (µs), calls/s, errors, server CPU per call.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${CARGO_TARGET_DIR:-$ROOT/target-bench}/release"
DURATION="${BENCH_DURATION:-5}"
WARMUP="${BENCH_WARMUP:-1}"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"


"$BIN/bench-servers" backend --listen 127.0.0.1:0 >"$TMP/backend.out" 2>&1 &
PIDS+=($!)
BACKEND="$(wait_line "$TMP/backend.out" 's/^listening on //p')"

limits() { # BACKEND-YAML
    cat <<YAML
rate_limits:
  backend: $1
  limits:
    - { name: per-caller-tool, per: [subject, tool], rate: 1000000000/s }
    - { name: per-source, per: [source], rate: 1000000000/s }
YAML
}

for variant in ${BENCH_VARIANTS:-off memory redis}; do
    cfg="$TMP/$variant.yaml"
    {
        echo "http: { bind: 127.0.0.1:0, session_mode: stateless }"
        echo "logging: { level: warn }"
        case $variant in
        memory) limits "{ type: memory }" ;;
        redis) limits "{ type: redis, url: 'redis://127.0.0.1:6379', prefix: toolgate-bench-$$ }" ;;
        esac
        echo "sources: [{ name: bench, spec: '$BACKEND/openapi.json', base_url: '$BACKEND' }]"
    } >"$cfg"
    "$BIN/toolgate" serve --config "$cfg" >"$TMP/$variant.out" 2>&1 &
    pid=$!
    PIDS+=($pid)
    url="$(wait_line "$TMP/$variant.out" 's/^toolgate: serving .* tools at //p')"
    tool="$(curl -s "$url" -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \
        -H 'mcp-protocol-version: 2026-07-28' -H 'mcp-method: tools/list' \
        -d '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"b","version":"1"}}}}' |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["tools"][0]["name"])')"
    for c in 1 16; do
        "$BIN/toolgate" bench --url "$url" --tool "$tool" --args '{"id": 42}' --concurrency "$c" \
            --duration "$DURATION" --warmup "$WARMUP" --server-pid "$pid" --json >"$TMP/r.json"
        python3 - "$variant" "$c" "$TMP/r.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[3]))
l = r["latency_us"]
cpu = (r.get("server") or {}).get("cpu_us_per_call")
cpu = "?" if cpu is None else f"{cpu:.1f}"
print(f"{sys.argv[1]:>7} c={sys.argv[2]:<3} p50 {l['p50']:>6} µs  p99 {l['p99']:>6} µs  "
      f"{r['calls_per_s']:>8.0f} calls/s  errors {r['errors']['total']}  "
      f"server CPU {cpu} µs/call")
PY
    done
    if [[ $variant == redis ]]; then
        curl -s "${url%/mcp}/metrics" | grep -E '^toolgate_rate_limit_(redis|decisions)' | sed 's/^/        /' || true
    fi
    kill "$pid"
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
