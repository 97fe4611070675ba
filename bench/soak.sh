#!/usr/bin/env bash
# The fleet soak (issue 21): CALLS `tools/call get_item` through three `toolgate serve` replicas
# behind HAProxy (round robin, no affinity) sharing one Redis for legacy sessions and for a
# rate limit that never refuses, so every call does the shared-state work a fleet does. The
# replicas' RSS is read after a warm-up and again at the end; the run passes when no call
# failed and no replica grew by more than 10 % after the warm-up.
#
#   bench/soak.sh                      # 1,000,000 calls, c=16, --mode session
#
# Environment:
#   SOAK_CALLS        measured calls (default 1000000)
#   SOAK_WARMUP       warm-up calls before the first RSS reading (default 100000)
#   SOAK_CONCURRENCY  calls in flight (default 16)
#   SOAK_MODE         session (2025-11-25 sessions, one per connection, adopted from Redis by
#                     whichever replica a request lands on) or stateless (default session)
#   CARGO_TARGET_DIR  where the release binaries are (default target-bench; bench/run.sh
#                     builds them)
#
# Writes bench/results/soak-MODE.json and prints a summary. Exit 1 when the run fails its bounds.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${CARGO_TARGET_DIR:-$ROOT/target-bench}/release"
CALLS="${SOAK_CALLS:-1000000}"
WARMUP="${SOAK_WARMUP:-100000}"
CONC="${SOAK_CONCURRENCY:-16}"
MODE="${SOAK_MODE:-session}"
HAPROXY="$(command -v haproxy || echo /usr/sbin/haproxy)"
[[ -x "$HAPROXY" ]] || { echo "soak: haproxy is needed (apt-get install haproxy)" >&2; exit 2; }
for b in toolgate bench-servers; do
    [[ -x "$BIN/$b" ]] || { echo "soak: $BIN/$b is missing: build it with bench/run.sh or
  cargo build --release -p toolgate -p toolgate-bench --bin toolgate --bin bench-servers" >&2; exit 2; }
done
(exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null || { echo "soak: Redis is needed on 127.0.0.1:6379" >&2; exit 2; }

OUT="$ROOT/bench/results"
mkdir -p "$OUT"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
log() { printf '[soak %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

"$BIN/bench-servers" backend --listen 127.0.0.1:0 >"$TMP/backend.out" 2>&1 &
PIDS+=($!)
BACKEND="$(wait_line "$TMP/backend.out" 's/^listening on //p')"
curl -sf "$BACKEND/openapi.json" >"$TMP/openapi.json"

PREFIX="toolgate-soak-$$-$(date +%s)"
cat >"$TMP/replica.yaml" <<YAML
http:
  bind: 127.0.0.1:0
  session_mode: $([[ $MODE == session ]] && echo stateful || echo stateless)
  sessions: { store: redis, url: "redis://127.0.0.1:6379", prefix: "$PREFIX-s" }
logging: { level: warn }
rate_limits:
  backend: { type: redis, url: "redis://127.0.0.1:6379", prefix: "$PREFIX-l" }
  limits:
    - { name: per-caller-tool, per: [subject, tool], rate: 1000000000/s }
sources: [{ name: bench, spec: "$TMP/openapi.json", base_url: "$BACKEND" }]
YAML

REPLICAS=()
SERVERS=()
for i in 0 1 2; do
    "$BIN/toolgate" serve --config "$TMP/replica.yaml" >"$TMP/r$i.out" 2>"$TMP/r$i.err" &
    pid=$!
    PIDS+=($pid)
    REPLICAS+=($pid)
    url="$(wait_line "$TMP/r$i.out" 's/^toolgate: serving .* tools at //p')"
    hostport="${url#http://}"
    SERVERS+=("${hostport%/mcp}")
done
PORT="$(free_port)"
{
    printf 'global\n  maxconn 1024\ndefaults\n  mode http\n  timeout connect 1s\n'
    printf '  timeout client 60s\n  timeout server 60s\n  retries 3\n  option redispatch 1\n'
    printf '  retry-on conn-failure empty-response\n  option http-buffer-request\n'
    printf 'frontend mcp\n  bind 127.0.0.1:%s\n  default_backend replicas\n' "$PORT"
    printf 'backend replicas\n  balance roundrobin\n  option httpchk GET /healthz\n'
    for i in 0 1 2; do printf '  server r%s %s check inter 500 fall 2 rise 2\n' "$i" "${SERVERS[$i]}"; done
} >"$TMP/haproxy.cfg"
"$HAPROXY" -f "$TMP/haproxy.cfg" -db >"$TMP/haproxy.out" 2>&1 &
PIDS+=($!)
URL="http://127.0.0.1:$PORT/mcp"
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
TOOL="$(curl -sf -X POST "$URL" -H 'Content-Type: application/json' \
    -H 'Accept: application/json, text/event-stream' -H 'MCP-Protocol-Version: 2026-07-28' \
    -H 'Mcp-Method: tools/list' \
    -d '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["tools"][0]["name"])')"
LOAD=("$BIN/toolgate" bench --url "$URL" --mode "$MODE" --tool "$TOOL" --args '{"id": 42}'
    --concurrency "$CONC" --json)

log "warm-up: $WARMUP calls, c=$CONC, mode $MODE, replicas ${REPLICAS[*]} behind $URL"
"${LOAD[@]}" --calls "$WARMUP" --label soak-warmup >"$TMP/warmup.json"
RSS_WARM=()
for p in "${REPLICAS[@]}"; do RSS_WARM+=("$(rss_kib "$p")"); done
log "RSS after warm-up (KiB): ${RSS_WARM[*]}"
log "soak: $CALLS calls"
"${LOAD[@]}" --calls "$CALLS" --label soak >"$TMP/soak.json"
RSS_END=()
for p in "${REPLICAS[@]}"; do RSS_END+=("$(rss_kib "$p")"); done
log "RSS at the end (KiB): ${RSS_END[*]}"
SERVED=()
for s in "${SERVERS[@]}"; do
    SERVED+=("$(curl -sf "http://$s/metrics" | awk '/^toolgate_calls_total/ {n += $NF} END {printf "%d", n}')")
done

python3 - "$TMP/warmup.json" "$TMP/soak.json" "$OUT/soak-$MODE.json" "$MODE" "$CONC" \
    "${RSS_WARM[*]}" "${RSS_END[*]}" "${SERVED[*]}" <<'PY'
import json, sys
warm, soak = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
rss_warm = [int(x) for x in sys.argv[6].split()]
rss_end = [int(x) for x in sys.argv[7].split()]
served = [int(x) for x in sys.argv[8].split()]
growth = [100.0 * (e - w) / w for w, e in zip(rss_warm, rss_end)]
failed = warm["errors"]["total"] + soak["errors"]["total"]
ok = failed == 0 and max(growth) <= 10.0
report = {
    "mode": sys.argv[4], "concurrency": int(sys.argv[5]),
    "warmup_calls": warm["calls"], "calls": soak["calls"], "failed_calls": failed,
    "calls_per_s": soak["calls_per_s"], "latency_us": soak["latency_us"],
    "rss_kib_after_warmup": rss_warm, "rss_kib_at_end": rss_end,
    "rss_growth_percent": [round(g, 2) for g in growth],
    "calls_served_per_replica": served,
    "loadavg_at_end": open("/proc/loadavg").read().split()[:3],
    "pass": ok,
}
json.dump(report, open(sys.argv[3], "w"), indent=2)
l = soak["latency_us"]
print(f"soak ({report['mode']}, c={report['concurrency']}): {soak['calls']} calls after "
      f"{warm['calls']} warm-up, {soak['calls_per_s']:.0f} calls/s, p50 {l['p50']} µs, "
      f"p99 {l['p99']} µs, failed {failed}")
for i, (w, e, g, s) in enumerate(zip(rss_warm, rss_end, growth, served)):
    print(f"  replica {i}: RSS {w} → {e} KiB ({g:+.1f} %), {s} tool calls served")
print("PASS" if ok else "FAIL: failed calls or RSS growth over 10 %")
sys.exit(0 if ok else 1)
PY
