#!/usr/bin/env bash
# Installs FastMCP 4.1.6 into a venv (idempotent): bench/.venv, or the folder given as $1
# (the end-to-end tests use target/e2e/fastmcp-venv).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${1:-$here/.venv}"
if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c 'import fastmcp, sys; sys.exit(fastmcp.__version__ != "4.1.6")' 2>/dev/null; then
    exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r "$here/fastmcp-requirements.txt"
"$venv/bin/pip" install -q --disable-pip-version-check --no-deps fastmcp-slim==4.1.6 fastmcp==4.1.6
"$venv/bin/python" -c 'import fastmcp; print("fastmcp", fastmcp.__version__)' >&2
