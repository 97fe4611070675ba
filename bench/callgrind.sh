#!/usr/bin/env bash
# Instructions per proxied `tools/call` under callgrind: the one cost figure these shared,
# noisy VMs measure reproducibly (the same binary and inputs give the same count, whatever
# else the machine is doing). For each target, a warm-up of WARMUP calls, then the counters
# are zeroed, CALLS calls are made at concurrency 1, and the counters dumped: the figure is
# the server's instructions in that window divided by CALLS.
#
# Targets: `forward` (the bare HTTP forwarder: what a hop costs without MCP), `stateless`
# (2026-07-28 over streamable HTTP), `session` (a 2025-11-25 session), `stateless_auth`
# (`stateless` with authentication on: an HS256 JWT verified once and then found in the
# verified-token cache, as a client reusing its token is, plus one authorization rule),
# `stateless_policies` (`stateless` with the default traffic policy set: two in-memory rate
# limits that never refuse, keyed [subject, tool] and [source], retries and a breaker),
# `stateless_traces` (`stateless` with OpenTelemetry traces on, every call sampled, exported
# over OTLP/HTTP to `bench/otlp_sink.py`), `stateless_recording` (`stateless` recording every
# call: `recording: {path, sample: 1.0}`, the writer thread included), `upstream_http` and
# `upstream_stdio` (`tools/call echo` through toolgate to `bench-servers echo-mcp` as an HTTP
# and a stdio upstream, 2026-07-28 stateless requests: issue 17's path; the upstream is not
# counted).
#
# Usage: bench/callgrind.sh [TARGET...]   (default: forward stateless session)
# Environment: CARGO_TARGET_DIR (default target-bench; release binaries must be built, e.g.
# `cargo build --release -p toolgate -p toolgate-bench --bin toolgate --bin bench-servers`),
# CALLS (default 4000), WARMUP (default 500), OUT (default bench/results/callgrind.txt),
# TOOLGATE (the toolgate binary measured; default the one in CARGO_TARGET_DIR, e.g. another
# build's to compare before and after).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${CARGO_TARGET_DIR:-$ROOT/target-bench}/release"
TG="${TOOLGATE:-$BIN/toolgate}"
CALLS="${CALLS:-4000}"
WARMUP="${WARMUP:-500}"
OUT="${OUT:-$ROOT/bench/results/callgrind.txt}"
TMP="$ROOT/bench/results/tmp/callgrind"
TARGETS=("$@")
[[ ${#TARGETS[@]} -gt 0 ]] || TARGETS=(forward stateless session)
mkdir -p "$TMP"
rm -f "$TMP"/*.out.* "$TMP"/*.out  # a stale `listening` line would name a dead server
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT

"$BIN/bench-servers" backend >"$TMP/backend.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do grep -q listening "$TMP/backend.out" && break; sleep 0.05; done
BACKEND="$(sed -n 's/^listening on //p' "$TMP/backend.out")"
curl -sf "$BACKEND/openapi.json" >"$TMP/openapi.json"

# The total instructions of callgrind dump FILE.
instructions() {
    callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}'
}

# serve_under_callgrind TOOLGATE CONFIG: `TOOLGATE serve --config CONFIG` (stateless HTTP)
# under callgrind for $target; sets pid and url.
serve_under_callgrind() {
    TOOLGATE_LOGGING__LEVEL=warn TOOLGATE_HTTP__SESSION_MODE=stateless \
        valgrind --tool=callgrind --callgrind-out-file="$TMP/callgrind.$target.out" \
        "$1" serve --config "$2" \
        --http 127.0.0.1:0 >"$TMP/$target.stdout" 2>"$TMP/$target.err" &
    pid=$!
    PIDS+=($pid)
    for _ in $(seq 600); do grep -q serving "$TMP/$target.stdout" && break; sleep 0.1; done
    url="$(sed -n 's/^toolgate: serving .* tools at //p' "$TMP/$target.stdout")"
}

# measure NAME PID LOAD...: warm-up and measured loads (LOAD gets --calls N appended).
measure() {
    local name="$1" pid="$2"
    shift 2
    "$@" --calls "$WARMUP" --json >"$TMP/$name.warmup.json"
    callgrind_control -z "$pid" >/dev/null
    "$@" --calls "$CALLS" --json >"$TMP/$name.json"
    callgrind_control -d "$name" "$pid" >/dev/null
    sleep 0.5
    local dump
    dump="$(ls -t "$TMP/callgrind.$name.out"* | head -1)"
    local total
    total="$(instructions "$dump")"
    local errors
    errors="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["errors"]["total"])' "$TMP/$name.json" 2>/dev/null || echo '?')"
    printf '%-10s %10d instructions per call (%d calls, %s errors)\n' \
        "$name" $((total / CALLS)) "$CALLS" "$errors" | tee -a "$OUT.tmp"
}

: >"$OUT.tmp"
for target in "${TARGETS[@]}"; do
    case $target in
    forward)
        valgrind --tool=callgrind --callgrind-out-file="$TMP/callgrind.forward.out" \
            "$BIN/bench-servers" forward --upstream "$BACKEND" >"$TMP/forward.stdout" 2>"$TMP/forward.err" &
        pid=$!
        PIDS+=($pid)
        for _ in $(seq 600); do grep -q listening "$TMP/forward.stdout" && break; sleep 0.1; done
        url="$(sed -n 's/^listening on //p' "$TMP/forward.stdout")"
        measure forward "$pid" "$BIN/toolgate" bench --direct-http "$url/items/42" --concurrency 1
        kill "$pid" 2>/dev/null || true
        ;;
    stateless | session | stateless_traces | stateless_recording)
        mode=stateless
        [[ $target == session ]] && mode=stateful
        envs=()
        if [[ $target == stateless_recording ]]; then
            # Every call recorded (the writer thread's work is in the same process: counted).
            envs=(env "TOOLGATE_RECORDING__PATH=$TMP/recording.jsonl" "TOOLGATE_RECORDING__SAMPLE=1.0")
        fi
        if [[ $target == stateless_traces ]]; then
            # Traces on, every call sampled, exported over OTLP/HTTP to a sink that answers
            # 200 (the export work runs on the SDK's thread of the same process: counted).
            python3 "$ROOT/bench/otlp_sink.py" >"$TMP/otlp.out" 2>&1 &
            PIDS+=($!)
            for _ in $(seq 100); do grep -q listening "$TMP/otlp.out" && break; sleep 0.05; done
            envs=(env "TOOLGATE_TELEMETRY__TRACES__ENDPOINT=$(sed -n 's/^listening on //p' "$TMP/otlp.out")")
        fi
        TOOLGATE_LOGGING__LEVEL=warn TOOLGATE_HTTP__SESSION_MODE=$mode \
            "${envs[@]}" valgrind --tool=callgrind --callgrind-out-file="$TMP/callgrind.$target.out" \
            "$TG" serve --openapi "$TMP/openapi.json" --base-url "$BACKEND" \
            --http 127.0.0.1:0 >"$TMP/$target.stdout" 2>"$TMP/$target.err" &
        pid=$!
        PIDS+=($pid)
        for _ in $(seq 600); do grep -q serving "$TMP/$target.stdout" && break; sleep 0.1; done
        url="$(sed -n 's/^toolgate: serving .* tools at //p' "$TMP/$target.stdout")"
        measure "$target" "$pid" "$BIN/toolgate" bench --url "$url" --mode "${target%%_*}" \
            --tool get_item --args '{"id":42}' --concurrency 1
        kill -INT "$pid" 2>/dev/null || true
        ;;
    stateless_auth)
        secret="callgrind-shared-secret-0123456789abcdef"
        cat >"$TMP/auth.yaml" <<YAML
auth:
  resource: http://127.0.0.1/mcp
  jwt:
    hs_secret: $secret
authorization:
  rules:
    - name: callers
      principals: {scopes: [tools:call]}
      tools: {}
sources:
  - name: bench
    spec: $TMP/openapi.json
    base_url: $BACKEND
YAML
        TOKEN="$(python3 - "$secret" <<'PY'
import base64, hashlib, hmac, json, sys, time
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
body = b64(json.dumps({"sub": "bench", "aud": "http://127.0.0.1/mcp", "scope": "tools:call",
                       "iat": int(time.time()), "exp": int(time.time()) + 3600}).encode())
sig = hmac.new(sys.argv[1].encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
print(f"{head}.{body}.{b64(sig)}")
PY
)"
        export TOKEN
        serve_under_callgrind "$TG" "$TMP/auth.yaml"
        measure "$target" "$pid" "$BIN/toolgate" bench --url "$url" --mode stateless \
            --bearer-env TOKEN --tool get_item --args '{"id":42}' --concurrency 1
        kill -INT "$pid" 2>/dev/null || true
        ;;
    stateless_policies)
        cat >"$TMP/policies.yaml" <<YAML
rate_limits:
  limits:
    - { name: per-caller-tool, per: [subject, tool], rate: 1000000000/s }
    - { name: per-source, per: [source], rate: 1000000000/s }
resilience:
  retry: {}
  circuit_breaker: {}
sources:
  - name: bench
    spec: $TMP/openapi.json
    base_url: $BACKEND
YAML
        serve_under_callgrind "$TG" "$TMP/policies.yaml"
        measure "$target" "$pid" "$BIN/toolgate" bench --url "$url" --mode stateless \
            --tool get_item --args '{"id":42}' --concurrency 1
        kill -INT "$pid" 2>/dev/null || true
        ;;
    upstream_http | upstream_stdio)
        if [[ -z "${ECHO_URL:-}" ]]; then
            "$BIN/bench-servers" echo-mcp --http 127.0.0.1:0 >"$TMP/echo.out" 2>&1 &
            PIDS+=($!)
            for _ in $(seq 100); do grep -q "MCP endpoint" "$TMP/echo.out" && break; sleep 0.05; done
            ECHO_URL="$(sed -n 's/^MCP endpoint: //p' "$TMP/echo.out")"
        fi
        if [[ $target == upstream_http ]]; then
            transport="{ type: http, url: \"$ECHO_URL\" }"
        else
            transport="{ type: stdio, command: \"$BIN/bench-servers\", args: [echo-mcp, --stdio] }"
        fi
        cat >"$TMP/$target.yaml" <<YAML
sources:
  - name: echo
    kind: mcp
    namespace: ""
    transport: $transport
YAML
        serve_under_callgrind "$TG" "$TMP/$target.yaml"
        measure "$target" "$pid" "$BIN/toolgate" bench --url "$url" --mode stateless \
            --tool echo --args '{"id":42}' --concurrency 1
        kill -INT "$pid" 2>/dev/null || true
        ;;
    *) echo "unknown target $target" >&2; exit 2 ;;
    esac
done
mv "$OUT.tmp" "$OUT"
echo "wrote $OUT" >&2
