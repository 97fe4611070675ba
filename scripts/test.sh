#!/usr/bin/env bash
# The whole test suite: Rust unit, snapshot, property and end-to-end tests (including the
# official MCP Python SDK client and the MCP Inspector CLI), the FastAPI examples' tests, and
# the protocol scenarios of the official MCP conformance suite (scripts/conformance.sh).
# Installs its Python/Node test dependencies into
# target/e2e on first use (see scripts/setup-test-deps.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
eval "$(bash scripts/setup-test-deps.sh)"
# Every test dependency is installed now: a test that cannot find one fails, never skips.
export TOOLGATE_REQUIRE_TEST_DEPS=1

echo "== build"
cargo build -p toolgate

echo "== MCP conformance suite"
bash scripts/conformance.sh

echo "== FastAPI example tests"
(cd examples/fastapi-todo && "$TOOLGATE_TEST_PYTHON" -m pytest -q -p no:cacheprovider)

# Needs PostgreSQL (TEST_POSTGRES_URL, default the local server); skipped without it, except
# under CI=true, where its absence fails the run.
echo "== FastAPI PostgreSQL example tests"
(cd examples/fastapi-pg && "$TOOLGATE_TEST_PYTHON" -m pytest -q -p no:cacheprovider)

echo "== deployment: Kubernetes manifests, Dockerfile, the pod test (docs/kubernetes.md)"
bash scripts/validate-deploy.sh

echo "== doc tests"
cargo test --workspace --doc

echo "== cargo test (workspace)"
if cargo nextest --version >/dev/null 2>&1; then
  # nextest ends with one summary line over every test binary.
  cargo nextest run --workspace --all-targets --no-fail-fast
else
  cargo test --workspace --all-targets --no-fail-fast
fi
