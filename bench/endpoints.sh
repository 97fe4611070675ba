#!/usr/bin/env bash
# Virtual servers' cost (BENCHMARKS.md, "Virtual servers"): calls/s and p50 of the benchmark
# backend's get_item called through a virtual server (/mcp/ep, a view selecting the tool)
# against the same call through the main endpoint (/mcp), on one toolgate, alternated
# (A/B/A/B…) so machine noise hits both alike.
#
#   cargo build --release -p toolgate -p toolgate-bench --bins
#   bash bench/endpoints.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${CARGO_TARGET_DIR:-target-bench}/release
TG=$BIN/toolgate
LOADGEN=$BIN/toolgate-bench
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

"$BIN/bench-servers" backend --listen 127.0.0.1:0 >"$TMP/backend.out" 2>&1 &
PIDS+=("$!")
for _ in $(seq 1 100); do
    BACKEND=$(sed -n 's/^listening on //p' "$TMP/backend.out")
    [ -n "$BACKEND" ] && break
    sleep 0.1
done
curl -sf "$BACKEND/openapi.json" >"$TMP/backend-openapi.json"
cat >"$TMP/config.yaml" <<YAML
sources:
  - name: api
    spec: $TMP/backend-openapi.json
    base_url: $BACKEND
endpoints:
  - name: ep
    select:
      tools: {names: ["get_*"], read_only: true}
YAML
"$TG" serve --config "$TMP/config.yaml" --http 127.0.0.1:0 >"$TMP/tg.out" 2>"$TMP/tg.err" &
PIDS+=("$!")
for _ in $(seq 1 600); do
    URL=$(sed -n 's/^toolgate: serving .* tools at //p' "$TMP/tg.out")
    [ -n "$URL" ] && break
    sleep 0.1
done
[ -n "$URL" ] || { cat "$TMP/tg.err" >&2; exit 1; }
for c in 1 8; do
    for round in $(seq 1 "$ROUNDS"); do
        for target in main ep; do
            url=$URL
            [ "$target" = ep ] && url=$URL/ep
            "$LOADGEN" --url "$url" --mode stateless --tool get_item --args '{"id": 42}' \
                --concurrency "$c" --duration "$DURATION" --warmup "$WARMUP" --json \
                --label "$target" >"$TMP/$target-$c-$round.json"
        done
    done
done
python3 - "$TMP" "$ROUNDS" <<'PY'
import json, statistics, sys
tmp, rounds = sys.argv[1], int(sys.argv[2])
print("| concurrency | /mcp calls/s (median) | /mcp/ep calls/s (median) | ratio | /mcp p50 µs | /mcp/ep p50 µs | errors |")
print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for c in (1, 8):
    a = [json.load(open(f"{tmp}/main-{c}-{r}.json")) for r in range(1, rounds + 1)]
    b = [json.load(open(f"{tmp}/ep-{c}-{r}.json")) for r in range(1, rounds + 1)]
    ar = statistics.median(x["calls_per_s"] for x in a)
    br = statistics.median(x["calls_per_s"] for x in b)
    ap = statistics.median(x["latency_us"]["p50"] for x in a)
    bp = statistics.median(x["latency_us"]["p50"] for x in b)
    errors = sum(x["errors"]["total"] for x in a + b)
    print(f"| {c} | {ar:.0f} | {br:.0f} | {100 * br / ar:.1f} % | {ap} | {bp} | {errors} |")
PY
