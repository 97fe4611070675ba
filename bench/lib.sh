# Shared by the small benchmark scripts (limits.sh, recording.sh, policies-ab.sh, soak.sh):
# a scratch directory, the processes to stop on exit, and waiting for a line a server prints.
# Source it after `set -euo pipefail`; it sets TMP and PIDS and traps EXIT.

TMP="$(mktemp -d)"
PIDS=()
bench_cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap bench_cleanup EXIT

# wait_line FILE SED-EXPR: prints the first line of FILE the sed expression prints, waiting up
# to 30 s; on time-out, prints FILE to stderr and exits 1.
wait_line() {
    local v
    for _ in $(seq 300); do
        v="$(sed -n "$2" "$1" | head -1)"
        [[ -n "$v" ]] && { echo "$v"; return; }
        sleep 0.1
    done
    echo "timed out waiting in $1:" >&2
    cat "$1" >&2
    exit 1
}
