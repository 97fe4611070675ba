#!/usr/bin/env bash
# The second run of scripts/conformance.sh: the official MCP conformance suite through
# toolgate in front of the suite's own fixture server (tests/e2e/conformance-fixture, the
# reference "everything" server of @modelcontextprotocol/conformance 0.1.16) as an upstream
# MCP server over streamable HTTP. Every scenario must pass: no expected failures.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${TOOLGATE_BIN:-$ROOT/target/debug/toolgate}"
: "${TOOLGATE_TEST_NODE22:?run: eval \"\$(bash scripts/setup-test-deps.sh)\"}"
: "${TOOLGATE_TEST_NODE_MODULES:?run: eval \"\$(bash scripts/setup-test-deps.sh)\"}"
OUT="$ROOT/target/e2e/conformance"
mkdir -p "$OUT"
FIXTURE_DIR="$ROOT/tests/e2e/conformance-fixture"
# The fixture imports the TypeScript SDK, express, cors and zod from the e2e Node modules.
ln -sfn "$TOOLGATE_TEST_NODE_MODULES" "$FIXTURE_DIR/node_modules"
FPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(cd "$FIXTURE_DIR" && PORT=$FPORT exec "$TOOLGATE_TEST_NODE22" everything-server.ts) >"$OUT/fixture.log" 2>&1 &
FIXTURE=$!
GATEWAY=""
trap 'kill $FIXTURE $GATEWAY 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do grep -q "MCP endpoint" "$OUT/fixture.log" && break; sleep 0.1; done
grep -q "MCP endpoint" "$OUT/fixture.log" || { echo "conformance: the fixture server did not start:" >&2; cat "$OUT/fixture.log" >&2; exit 1; }
cat >"$OUT/upstream.yaml" <<YAML
http:
  session_mode: stateful
sources:
  - name: fixture
    kind: mcp
    # The suite checks the fixture's own tool names and resource URIs.
    namespace: ""
    rewrite_resource_uris: false
    transport:
      type: http
      url: http://127.0.0.1:$FPORT/mcp
      protocol: legacy
YAML
"$BIN" serve --config "$OUT/upstream.yaml" --http 127.0.0.1:0 >"$OUT/gateway.stdout" 2>"$OUT/gateway.stderr" &
GATEWAY=$!
URL=""
for _ in $(seq 1 100); do
  URL="$(sed -n 's/^toolgate: serving .* at //p' "$OUT/gateway.stdout" | head -n1)"
  [ -n "$URL" ] && break
  sleep 0.1
done
[ -n "$URL" ] || { echo "conformance: the gateway did not start; stderr:" >&2; cat "$OUT/gateway.stderr" >&2; exit 1; }
echo "conformance: running it through toolgate ($URL) in front of the suite's fixture server as an upstream"
status=0
"$TOOLGATE_TEST_NODE22" "$TOOLGATE_TEST_NODE_MODULES/@modelcontextprotocol/conformance/dist/index.js" \
  server --url "$URL" >"$OUT/upstream-summary.txt" 2>&1 || status=$?
sed -n '/=== SUMMARY ===/,$p' "$OUT/upstream-summary.txt" | grep -v '^Total:' | sed 's/\x1b\[[0-9;]*m//g'
passed=$(grep -c '^✓' "$OUT/upstream-summary.txt" || true)
failed=$(grep -c '^✗' "$OUT/upstream-summary.txt" || true)
echo "conformance (through the gateway, upstream fixture): $passed scenarios pass, $failed fail"
if [ "$status" -ne 0 ]; then
  echo "conformance: FAILED through the gateway (exit $status); output in $OUT/upstream-summary.txt" >&2
fi
exit "$status"
