#!/usr/bin/env bash
# The toolgate benchmark harness: throughput and latency of `tools/call get_item` against a
# fixed-answer backend (direct HTTP, toolgate over stateless HTTP, session HTTP and stdio,
# FastMCP 4.1.6 over stateless HTTP and stdio), then start-up and memory on GitHub's REST
# API description, idle-session memory and the demo's stdio start-up. Writes
# bench/results/latest.{json,md}.
#
# Environment:
#   BENCH_DURATION      measured seconds per throughput run (default 6)
#   BENCH_WARMUP        warm-up seconds per throughput run (default 1)
#   BENCH_CONCURRENCY   concurrency levels (default "1 16")
#   BENCH_SESSIONS      idle sessions to open (default 1000)
#   BENCH_SKIP_FASTMCP  1 = leave FastMCP out (no Python venv needed)
#   BENCH_SKIP_GITHUB   1 = leave the GitHub-spec start-up runs out (no npm needed)
#   BENCH_SKIP_UPSTREAM 1 = leave the upstream MCP server runs out (issue 17: `tools/call echo`
#                       on bench-servers' echo MCP server, direct vs through toolgate as an
#                       HTTP and a stdio upstream, and FastMCP's proxy on the same upstream)
#   CARGO_TARGET_DIR    build directory (default target-bench)
#
# Everything runs on loopback on this machine: the load generator, the backend and the
# server under test share its cores.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
DURATION="${BENCH_DURATION:-6}"
WARMUP="${BENCH_WARMUP:-1}"
CONCURRENCY="${BENCH_CONCURRENCY:-1 16}"
SESSIONS="${BENCH_SESSIONS:-1000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target-bench}"
BIN="$CARGO_TARGET_DIR/release"
TMP="$ROOT/bench/results/tmp"
OUT="$ROOT/bench/results"
rm -rf "$TMP"
mkdir -p "$TMP" "$OUT"

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT

# start NAME CMD...: runs CMD in the background, stdout to $TMP/NAME.out; sets $LAST_PID.
start() {
    local name="$1"
    shift
    "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}

# stop PID: ends one process this script started.
stop() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# wait_line FILE SED_EXPR SECONDS: prints the first match of SED_EXPR (a `s/.../p`) in FILE.
wait_line() {
    local file="$1" expr="$2" deadline=$((SECONDS + $3)) found
    while ((SECONDS < deadline)); do
        found="$(sed -n "$expr" "$file" 2>/dev/null | head -n1)"
        if [[ -n "$found" ]]; then
            printf '%s\n' "$found"
            return 0
        fi
        sleep 0.05
    done
    log "timed out waiting for output in $file"
    cat "${file%.out}.err" >&2 || true
    return 1
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# first_tool URL: the name of the first tool of a streamable HTTP MCP server.
first_tool() {
    curl -sf -X POST "$1" \
        -H 'Content-Type: application/json' \
        -H 'Accept: application/json, text/event-stream' \
        -H 'MCP-Protocol-Version: 2026-07-28' -H 'Mcp-Method: tools/list' \
        -d '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}' |
        python3 -c '
import json, sys
text = sys.stdin.read()
if not text.lstrip().startswith("{"):
    text = next(l[5:] for l in text.splitlines() if l.startswith("data:") and "tools" in l)
print(json.loads(text)["result"]["tools"][0]["name"])'
}

###############################################################################
# Downloads that do not need the build (FastMCP's venv, GitHub's description) run while it
# compiles: on a fresh 2-core machine they would otherwise add about a minute.
if [[ "${BENCH_SKIP_FASTMCP:-0}" != 1 ]]; then
    bash "$ROOT/bench/setup_fastmcp.sh" >"$TMP/setup_fastmcp.log" 2>&1 &
    SETUP_FASTMCP_PID=$!
fi
GH_DIR="$TMP/octokit"
if [[ "${BENCH_SKIP_GITHUB:-0}" != 1 ]]; then
    mkdir -p "$GH_DIR"
    (cd "$GH_DIR" && npm pack --silent @octokit/openapi >"$GH_DIR/pack.txt" 2>"$GH_DIR/pack.err") &
    NPM_PACK_PID=$!
fi

log "building release binaries (once)"
# Only the binaries the runs use (the load generator is `toolgate bench`).
cargo build --release -p toolgate -p toolgate-bench \
    --bin toolgate --bin bench-servers >&2
BUILD_SECONDS=$SECONDS
TG="$BIN/toolgate"
LOADGEN=("$TG" bench)
log "load generator: ${LOADGEN[*]}"

# load NAME ARGS...: one load-generator run, its JSON report in $TMP/NAME.json.
load() {
    local name="$1"
    shift
    log "run $name"
    "${LOADGEN[@]}" --json --label "$name" "$@" >"$TMP/$name.json"
}

# Machine description, for the report.
python3 - "$TMP/machine.json" <<'EOF'
import json, os, subprocess, sys
def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except Exception:
        return ""
model = next((l.split(":", 1)[1].strip() for l in sh("lscpu").splitlines() if l.startswith("Model name")), "")
mem_kb = next((int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
json.dump({
    "nproc": int(sh("nproc") or 0),
    "cpu_model": model,
    "memory_gib": round(mem_kb / 1024 / 1024, 1),
    "kernel": sh("uname -r"),
    "rustc": sh("rustc --version"),
    "date_utc": sh("date -u +%Y-%m-%dT%H:%M:%SZ"),
    "git_commit": sh("git rev-parse --short HEAD"),
    # Other work on the machine skews every figure; recorded so a reader can tell.
    "loadavg_at_start": open("/proc/loadavg").read().split()[:3],
}, open(sys.argv[1], "w"), indent=2)
EOF

###############################################################################
log "starting the backend"
start backend "$BIN/bench-servers" backend --listen 127.0.0.1:0
BACKEND_PID=$LAST_PID
BACKEND="$(wait_line "$TMP/backend.out" 's/^listening on //p' 10)"
curl -sf "$BACKEND/openapi.json" >"$TMP/backend-openapi.json"
ITEM_ARGS='{"id": 42}'
RUN=(--duration "$DURATION" --warmup "$WARMUP")

for c in $CONCURRENCY; do
    load "direct_c$c" --direct-http "$BACKEND/items/42" --concurrency "$c" "${RUN[@]}" \
        --server-pid "$BACKEND_PID"
done

# Reference: a bare HTTP forwarder (hyper-util's pooled client, as toolgate's; one worker
# thread, as toolgate's default): what any gateway hop costs here before MCP adds anything.
start forward "$BIN/bench-servers" forward --upstream "$BACKEND" --listen 127.0.0.1:0
pid=$LAST_PID
FORWARD="$(wait_line "$TMP/forward.out" 's/^listening on //p' 10)"
for c in $CONCURRENCY; do
    load "forward_c$c" --direct-http "$FORWARD/items/42" --concurrency "$c" "${RUN[@]}" \
        --server-pid "$pid"
done
stop "$pid"

# toolgate over streamable HTTP. Logging at warn for both toolgate and FastMCP (no per-call
# log line); the `logged` variant below shows what the default per-call line costs.
export TOOLGATE_LOGGING__LEVEL=warn
for mode in stateless session; do
    case $mode in
    stateless) session_mode=stateless ;;
    session) session_mode=stateful ;;
    esac
    TOOLGATE_HTTP__SESSION_MODE=$session_mode start "toolgate_$mode" \
        "$TG" serve --openapi "$TMP/backend-openapi.json" --base-url "$BACKEND" --http 127.0.0.1:0
    pid=$LAST_PID
    url="$(wait_line "$TMP/toolgate_$mode.out" 's/^toolgate: serving .* tools at //p' 30)"
    TOOL="$(first_tool "$url")"
    for c in $CONCURRENCY; do
        load "toolgate_${mode}_c$c" --url "$url" --mode "$mode" --tool "$TOOL" \
            --args "$ITEM_ARGS" --concurrency "$c" "${RUN[@]}" --server-pid "$pid"
    done
    if [[ $mode == session ]]; then
        # The same server, freshly measured: RSS per idle session (connections closed).
        load "toolgate_idle_sessions" --url "$url" --mode session --idle-sessions "$SESSIONS" \
            --concurrency 8 --hold 5 --server-pid "$pid"
    fi
    stop "$pid"
done

# Four variants of the stateless server: rmcp's general path only (fast path off: the
# before/after of the fast path), default logging (one info line per call, to a file), and
# two and four worker threads instead of the default one (when `--worker-threads` pays).
for variant in rmcp_path logged workers2 workers4; do
    case $variant in
    rmcp_path) env_extra=(TOOLGATE_HTTP__FAST_PATH=false) ;;
    logged) env_extra=(TOOLGATE_LOGGING__LEVEL=info) ;;
    workers2) env_extra=(TOOLGATE_WORKER_THREADS=2) ;;
    workers4) env_extra=(TOOLGATE_WORKER_THREADS=4) ;;
    esac
    start "toolgate_stateless_$variant" env "${env_extra[@]}" TOOLGATE_HTTP__SESSION_MODE=stateless \
        "$TG" serve --openapi "$TMP/backend-openapi.json" --base-url "$BACKEND" --http 127.0.0.1:0
    pid=$LAST_PID
    url="$(wait_line "$TMP/toolgate_stateless_$variant.out" 's/^toolgate: serving .* tools at //p' 30)"
    for c in $CONCURRENCY; do
        load "toolgate_stateless_${variant}_c$c" --url "$url" --mode stateless --tool "$TOOL" \
            --args "$ITEM_ARGS" --concurrency "$c" "${RUN[@]}" --server-pid "$pid"
    done
    stop "$pid"
done

# Reference: the least an rmcp StreamableHttpService costs (stateless, JSON answers, an echo
# tool that calls no backend), to separate rmcp's share from toolgate's pipeline.
start rmcp_echo "$BIN/bench-servers" echo-mcp --http 127.0.0.1:0
pid=$LAST_PID
url="$(wait_line "$TMP/rmcp_echo.out" 's/^MCP endpoint: //p' 10)"
for c in $CONCURRENCY; do
    load "rmcp_echo_stateless_c$c" --url "$url" --mode stateless --tool echo \
        --args "$ITEM_ARGS" --concurrency "$c" "${RUN[@]}" --server-pid "$pid"
done
stop "$pid"

for c in $CONCURRENCY; do
    load "toolgate_stdio_c$c" \
        --stdio "$TG serve --openapi $TMP/backend-openapi.json --base-url $BACKEND --stdio" \
        --tool "$TOOL" --args "$ITEM_ARGS" --concurrency "$c" "${RUN[@]}"
done

if [[ "${BENCH_SKIP_FASTMCP:-0}" != 1 ]]; then
    log "setting up FastMCP 4.1.6"
    if ! wait "$SETUP_FASTMCP_PID"; then
        cat "$TMP/setup_fastmcp.log" >&2
        log "installing FastMCP failed (BENCH_SKIP_FASTMCP=1 leaves it out)"
        exit 1
    fi
    PY="$ROOT/bench/.venv/bin/python"
    port="$(free_port)"
    start fastmcp "$PY" "$ROOT/bench/fastmcp_server.py" --spec "$TMP/backend-openapi.json" \
        --base-url "$BACKEND" --http "127.0.0.1:$port"
    pid=$LAST_PID
    url="http://127.0.0.1:$port/mcp"
    for _ in $(seq 1 200); do
        curl -s -o /dev/null "$url" && break
        sleep 0.1
    done
    FM_TOOL="$(first_tool "$url")"
    for c in $CONCURRENCY; do
        load "fastmcp_stateless_c$c" --url "$url" --mode stateless --tool "$FM_TOOL" \
            --args "$ITEM_ARGS" --concurrency "$c" "${RUN[@]}" --server-pid "$pid"
    done
    stop "$pid"
    for c in $CONCURRENCY; do
        load "fastmcp_stdio_c$c" \
            --stdio "$PY $ROOT/bench/fastmcp_server.py --spec $TMP/backend-openapi.json --base-url $BACKEND --stdio" \
            --tool "$FM_TOOL" --args "$ITEM_ARGS" --concurrency "$c" "${RUN[@]}" --timeout 120
    done
fi
stop "$BACKEND_PID"

###############################################################################
# Upstream MCP servers (issue 17): `tools/call echo` on the echo MCP server directly, through
# toolgate with it as an HTTP upstream and as a stdio upstream (namespace "" so the tool
# keeps its name), and through FastMCP's proxy in front of the same HTTP upstream.
if [[ "${BENCH_SKIP_UPSTREAM:-0}" != 1 ]]; then
    start echo_upstream "$BIN/bench-servers" echo-mcp --http 127.0.0.1:0
    echo_pid=$LAST_PID
    ECHO_URL="$(wait_line "$TMP/echo_upstream.out" 's/^MCP endpoint: //p' 10)"
    for c in $CONCURRENCY; do
        load "upstream_direct_c$c" --url "$ECHO_URL" --mode stateless --tool echo \
            --args "$ITEM_ARGS" --concurrency "$c" "${RUN[@]}" --server-pid "$echo_pid"
    done
    cat >"$TMP/upstream-http.yaml" <<YAML
sources:
  - name: echo
    kind: mcp
    namespace: ""
    transport: { type: http, url: "$ECHO_URL" }
YAML
    cat >"$TMP/upstream-stdio.yaml" <<YAML
sources:
  - name: echo
    kind: mcp
    namespace: ""
    transport: { type: stdio, command: "$BIN/bench-servers", args: [echo-mcp, --stdio] }
YAML
    for kind in http stdio; do
        TOOLGATE_HTTP__SESSION_MODE=stateless start "toolgate_upstream_$kind" \
            "$TG" serve --config "$TMP/upstream-$kind.yaml" --http 127.0.0.1:0
        pid=$LAST_PID
        url="$(wait_line "$TMP/toolgate_upstream_$kind.out" 's/^toolgate: serving .* tools at //p' 30)"
        for c in $CONCURRENCY; do
            load "toolgate_upstream_${kind}_c$c" --url "$url" --mode stateless --tool echo \
                --args "$ITEM_ARGS" --concurrency "$c" "${RUN[@]}" --server-pid "$pid"
        done
        stop "$pid"
    done
    if [[ "${BENCH_SKIP_FASTMCP:-0}" != 1 ]]; then
        port="$(free_port)"
        start fastmcp_proxy "$PY" "$ROOT/bench/fastmcp_proxy.py" --upstream "$ECHO_URL" \
            --http "127.0.0.1:$port"
        pid=$LAST_PID
        url="http://127.0.0.1:$port/mcp"
        for _ in $(seq 1 200); do
            curl -s -o /dev/null "$url" && break
            sleep 0.1
        done
        for c in $CONCURRENCY; do
            load "fastmcp_proxy_c$c" --url "$url" --mode stateless --tool echo \
                --args "$ITEM_ARGS" --concurrency "$c" "${RUN[@]}" --server-pid "$pid"
        done
        stop "$pid"
    fi
    stop "$echo_pid"
fi

###############################################################################
# Start-up and memory on GitHub's REST API description.
if [[ "${BENCH_SKIP_GITHUB:-0}" != 1 ]]; then
    log "fetching @octokit/openapi (npm pack)"
    if ! wait "$NPM_PACK_PID"; then
        cat "$GH_DIR/pack.err" >&2
        log "npm pack @octokit/openapi failed (BENCH_SKIP_GITHUB=1 leaves it out)"
        exit 1
    fi
    tar -xzf "$GH_DIR/$(tail -n1 "$GH_DIR/pack.txt")" -C "$GH_DIR" package/generated/api.github.com.json
    GH_SPEC="$GH_DIR/package/generated/api.github.com.json"
    for i in 1 2 3; do
        load "github_toolgate_$i" --stdio "$TG serve --openapi $GH_SPEC --base-url http://127.0.0.1:1 --stdio" \
            --method tools/list --calls 10 --timeout 120
    done
    if [[ "${BENCH_SKIP_FASTMCP:-0}" != 1 ]]; then
        load "github_fastmcp" \
            --stdio "$PY $ROOT/bench/fastmcp_server.py --spec $GH_SPEC --base-url http://127.0.0.1:1 --stdio" \
            --method tools/list --calls 2 --timeout 300
    fi
fi

for i in 1 2 3 4 5; do
    load "demo_stdio_$i" --stdio "$TG demo --stdio" --method ping --calls 1
done

###############################################################################
printf '{"build_s": %d, "total_s": %d}\n' "$BUILD_SECONDS" "$SECONDS" >"$TMP/timing.json"
BENCH_DURATION="$DURATION" python3 "$ROOT/bench/summarize.py" "$TMP" "$OUT"
log "wrote $OUT/latest.json and $OUT/latest.md"
cat "$OUT/latest.md"
