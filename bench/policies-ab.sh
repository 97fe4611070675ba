#!/usr/bin/env bash
# What the default traffic policy set costs on the wall clock (issue 18's budget: ≤ 5 µs p50 at
# c=1, ≥ 95 % of the calls/s at c=16): `tools/call get_item` through `toolgate serve` (stateless
# 2026-07-28 requests) with no policies ("off") and with the default set ("on": two in-memory
# rate limits that never refuse, keyed [subject, tool] and [source], `resilience.retry: {}` and
# `resilience.circuit_breaker: {}`, as `bench/callgrind.sh stateless_policies`). The two
# variants are alternated in the same minutes, ROUNDS times, so a VM's drift hits both alike.
#
#   bench/policies-ab.sh          # ROUNDS=4 DURATION=4 WARMUP=0.5
#
# Uses the release binaries of bench/run.sh (CARGO_TARGET_DIR, default target-bench). Prints
# one line per round and point, then the medians.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${CARGO_TARGET_DIR:-$ROOT/target-bench}/release"
ROUNDS="${ROUNDS:-4}"
DURATION="${DURATION:-4}"
WARMUP="${WARMUP:-0.5}"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"


"$BIN/bench-servers" backend --listen 127.0.0.1:0 >"$TMP/backend.out" 2>&1 &
PIDS+=($!)
BACKEND="$(wait_line "$TMP/backend.out" 's/^listening on //p')"
curl -sf "$BACKEND/openapi.json" >"$TMP/openapi.json"

for variant in off on; do
    {
        echo "http: { bind: 127.0.0.1:0, session_mode: stateless }"
        echo "logging: { level: warn }"
        if [[ $variant == on ]]; then
            cat <<YAML
rate_limits:
  limits:
    - { name: per-caller-tool, per: [subject, tool], rate: 1000000000/s }
    - { name: per-source, per: [source], rate: 1000000000/s }
resilience:
  retry: {}
  circuit_breaker: {}
YAML
        fi
        echo "sources: [{ name: bench, spec: '$TMP/openapi.json', base_url: '$BACKEND' }]"
    } >"$TMP/$variant.yaml"
done

: >"$TMP/results.tsv"
for round in $(seq "$ROUNDS"); do
    for variant in off on; do
        "$BIN/toolgate" serve --config "$TMP/$variant.yaml" >"$TMP/$variant.out" 2>&1 &
        pid=$!
        PIDS+=($pid)
        url="$(wait_line "$TMP/$variant.out" 's/^toolgate: serving .* tools at //p')"
        for c in 1 16; do
            "$BIN/toolgate" bench --url "$url" --mode stateless --tool get_item --args '{"id": 42}' \
                --concurrency "$c" --duration "$DURATION" --warmup "$WARMUP" --server-pid "$pid" \
                --json >"$TMP/r.json"
            python3 - "$round" "$variant" "$c" "$TMP/r.json" >>"$TMP/results.tsv" <<'PY'
import json, sys
r = json.load(open(sys.argv[4]))
cpu = (r.get("server") or {}).get("cpu_us_per_call") or 0.0
print("\t".join([sys.argv[1], sys.argv[2], sys.argv[3], str(r["latency_us"]["p50"]),
                 f"{r['calls_per_s']:.0f}", str(r["errors"]["total"]), f"{cpu:.2f}"]))
PY
        done
        kill "$pid"
        wait "$pid" 2>/dev/null || true
    done
done

python3 - "$TMP/results.tsv" <<'PY'
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().split("\n") if l]
by = {}
for round_, variant, c, p50, cps, errors, cpu in rows:
    by.setdefault(round_, {})[(variant, c)] = (float(p50), float(cps), int(errors), float(cpu))
print("| round | c=1 p50 off → on | c=16 calls/s off → on | c=16 share of off "
      "| c=16 server CPU µs/call off → on | errors |")
print("| --- | --- | --- | --- | --- | --- |")
d1, share, dcpu = [], [], []
for round_, r in sorted(by.items(), key=lambda kv: int(kv[0])):
    (p_off, _, e1, _), (p_on, _, e2, _) = r[("off", "1")], r[("on", "1")]
    (_, c_off, e3, u_off), (_, c_on, e4, u_on) = r[("off", "16")], r[("on", "16")]
    d1.append(p_on - p_off)
    share.append(100 * c_on / c_off)
    dcpu.append(u_on - u_off)
    print(f"| {round_} | {p_off:.0f} → {p_on:.0f} µs | {c_off:,.0f} → {c_on:,.0f} | "
          f"{100 * c_on / c_off:.1f} % | {u_off:.1f} → {u_on:.1f} | {e1 + e2 + e3 + e4} |")
print(f"\nmedian: c=1 p50 {statistics.median(d1):+.1f} µs; c=16 {statistics.median(share):.1f} % "
      f"of off; server CPU {statistics.median(dcpu):+.2f} µs/call")
PY
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
