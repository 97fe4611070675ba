#!/usr/bin/env bash
# Issue 17's upstream target, before/after in the same minutes: `tools/call echo` on
# `bench-servers echo-mcp` (streamable HTTP, stateless) called directly, and through `toolgate
# serve` with it as an HTTP upstream and as a stdio upstream (`namespace: ""`, 2026-07-28
# stateless client requests), for each toolgate binary given, alternated ROUNDS times so a
# VM's drift hits every variant alike. With FORWARD=1 (the default) also through the bare
# HTTP forwarder (`bench-servers forward`, no MCP: with toolgate's HTTP client, and with
# hyper-util's pooled client) and the bare TCP relay (`bench-servers relay`, bytes copied,
# nothing parsed): the least an HTTP hop and any hop add here. Target: ≤ +50 µs p50 at c=1 over direct, ≥ 50 % of the direct calls/s at c=16 (HTTP
# upstream).
#
#   bench/upstream-ab.sh NAME=TOOLGATE_BINARY...      # e.g. before=/tmp/tg-main after=target-bench/release/toolgate
#   ROUNDS=3 DURATION=4 WARMUP=1 KINDS="http stdio"   # defaults
#   BUSY_POLL="0 300"                                 # http.busy_poll_us values run for each binary (default 0)
#   CONCURRENCY="1 16"                                # the points (default); added latency is shown for every one
#   LOADGEN=path/to/toolgate                          # the load generator (default: the first binary)
#
# `bench-servers` comes from the first binary's folder. The toolgate binaries run in the order
# given in odd rounds and in the reverse order in even rounds, so that what runs first in a
# round (a VM's drift within one) does not always favour the same one. Prints one line per
# round, variant and point, then the medians per point.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-4}"
WARMUP="${WARMUP:-1}"
KINDS="${KINDS:-http stdio}"
BUSY_POLL="${BUSY_POLL:-0}"
CONCURRENCY="${CONCURRENCY:-1 16}"
FORWARD="${FORWARD:-1}"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

(($# > 0)) || { echo "usage: $0 NAME=TOOLGATE_BINARY..." >&2; exit 2; }
FIRST="${1#*=}"
BIN_DIR="$(dirname "$FIRST")"
LOADGEN="${LOADGEN:-$FIRST}"

"$BIN_DIR/bench-servers" echo-mcp --http 127.0.0.1:0 >"$TMP/echo.out" 2>&1 &
ECHO_PID=$!
PIDS+=($ECHO_PID)
ECHO_URL="$(wait_line "$TMP/echo.out" 's/^MCP endpoint: //p')"
if [[ "$FORWARD" == 1 ]]; then
    ECHO_BASE="$(sed -E 's#^(https?://[^/]+).*#\1#' <<<"$ECHO_URL")"
    "$BIN_DIR/bench-servers" forward --upstream "$ECHO_BASE" --listen 127.0.0.1:0 --threads 1 \
        >"$TMP/forward.out" 2>&1 &
    FORWARD_PID=$!
    PIDS+=($FORWARD_PID)
    FORWARD_URL="$(wait_line "$TMP/forward.out" 's/^listening on //p')${ECHO_URL#"$ECHO_BASE"}"
    "$BIN_DIR/bench-servers" forward --upstream "$ECHO_BASE" --listen 127.0.0.1:0 --threads 1 \
        --client pooled >"$TMP/pooled.out" 2>&1 &
    POOLED_PID=$!
    PIDS+=($POOLED_PID)
    POOLED_URL="$(wait_line "$TMP/pooled.out" 's/^listening on //p')${ECHO_URL#"$ECHO_BASE"}"
    "$BIN_DIR/bench-servers" relay --upstream "${ECHO_BASE#http://}" --listen 127.0.0.1:0 \
        >"$TMP/relay.out" 2>&1 &
    RELAY_PID=$!
    PIDS+=($RELAY_PID)
    RELAY_URL="$(wait_line "$TMP/relay.out" 's/^listening on //p')${ECHO_URL#"$ECHO_BASE"}"
fi

cat >"$TMP/http.yaml" <<YAML
logging: { level: warn }
sources:
  - name: echo
    kind: mcp
    namespace: ""
    transport: { type: http, url: "$ECHO_URL" }
YAML
cat >"$TMP/stdio.yaml" <<YAML
logging: { level: warn }
sources:
  - name: echo
    kind: mcp
    namespace: ""
    transport: { type: stdio, command: "$BIN_DIR/bench-servers", args: [echo-mcp, --stdio] }
YAML

: >"$TMP/results.tsv"
# run ROUND VARIANT URL PID: one point per concurrency, appended to results.tsv.
run() {
    for c in $CONCURRENCY; do
        "$LOADGEN" bench --url "$3" --mode stateless --tool echo --args '{"id": 42}' \
            --concurrency "$c" --duration "$DURATION" --warmup "$WARMUP" --server-pid "$4" \
            --json >"$TMP/r.json"
        python3 - "$1" "$2" "$c" "$TMP/r.json" >>"$TMP/results.tsv" <<'PY'
import json, sys
r = json.load(open(sys.argv[4]))
print("\t".join([sys.argv[1], sys.argv[2], sys.argv[3], str(r["latency_us"]["p50"]),
                 f"{r['calls_per_s']:.0f}", f"{(r.get('server') or {}).get('cpu_us_per_call', 0):.0f}",
                 str(r["errors"]["total"])]))
PY
        tail -n1 "$TMP/results.tsv" >&2
    done
}

for round in $(seq "$ROUNDS"); do
    run "$round" direct "$ECHO_URL" "$ECHO_PID"
    if [[ "$FORWARD" == 1 ]]; then
        run "$round" "TCP relay (no HTTP)" "$RELAY_URL" "$RELAY_PID"
        run "$round" "forwarder (no MCP)" "$FORWARD_URL" "$FORWARD_PID"
        run "$round" "forwarder, hyper-util pool" "$POOLED_URL" "$POOLED_PID"
    fi
    specs=("$@")
    if ((round % 2 == 0)); then
        specs=()
        for ((i = $# - 1; i >= 0; i--)); do specs+=("${@:i+1:1}"); done
    fi
    for spec in "${specs[@]}"; do
        name="${spec%%=*}"
        binary="${spec#*=}"
        for kind in $KINDS; do
            for busy in $BUSY_POLL; do
                variant="$name/$kind"
                env=(TOOLGATE_HTTP__SESSION_MODE=stateless)
                # Only when asked for: a binary older than the key refuses it.
                if ((busy != 0)); then
                    variant="$variant busy_poll_us=$busy"
                    env+=("TOOLGATE_HTTP__BUSY_POLL_US=$busy")
                fi
                env "${env[@]}" "$binary" serve --config "$TMP/$kind.yaml" \
                    --http 127.0.0.1:0 >"$TMP/tg.out" 2>&1 &
                pid=$!
                PIDS+=($pid)
                url="$(wait_line "$TMP/tg.out" 's/^toolgate: serving .* tools at //p')"
                run "$round" "$variant" "$url" "$pid"
                kill "$pid"
                wait "$pid" 2>/dev/null || true
            done
        done
    done
done

python3 - "$TMP/results.tsv" <<'PY'
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().split("\n") if l]
by = {}
for _round, variant, c, p50, cps, cpu, errors in rows:
    by.setdefault((variant, c), []).append((float(p50), float(cps), float(cpu), int(errors)))
med = {k: tuple(statistics.median(x[i] for x in v) for i in range(3)) + (sum(x[3] for x in v),)
       for k, v in by.items()}
print("| path | c | calls/s | p50 µs | added p50 | share of direct | server CPU µs/call | errors |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for (variant, c), (p50, cps, cpu, errors) in sorted(med.items(), key=lambda kv: (kv[0][0] != "direct", kv[0][0], int(kv[0][1]))):
    base = med[("direct", c)]
    added = "–" if variant == "direct" else f"{p50 - base[0]:+.0f} µs"
    print(f"| {variant} | {c} | {cps:,.0f} | {p50:.0f} | {added} | {100 * cps / base[1]:.1f} % | {cpu:.0f} | {errors} |")
print(f"\nmedians of {len(next(iter(by.values())))} rounds")
PY
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
