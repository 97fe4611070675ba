"""Runs the gateway as its Kubernetes pod would, as far as this machine allows without a
container runtime: the real binary in a root filesystem laid out like the image (the binary
and the C libraries distroless provides, nothing else), mounted read-only, as uid 65532,
with /tmp an empty tmpfs and the ConfigMap's configuration in a folder laid out as the kubelet
writes one (`..data` symlink swapped on update), in its own network namespace where the
ConfigMap's host names resolve to the stand-ins started here: a Redis with a password (the
Secret's), the Todo API, and an OpenID provider (discovery + JWKS, signing the test's JWTs).

Checks what the manifests rely on: the probes answer on a pod IP's Host, /metrics refuses
without the scraper key and answers with it, an authenticated tool call works, rate limits are
kept in Redis, a ConfigMap update (symlink swap) is hot-reloaded, SIGTERM ends the process
within the shutdown grace, and nothing was written outside /tmp.

Usage (as root): unshare --net --mount --pid --fork --kill-child --mount-proc python
pod_test.py TOOLGATE TODO_API WORKDIR CONFIG ENV_FILE (the test is PID 1 of its own PID
namespace, so nothing it started outlives it). Ends with `pod: N passed, M failed`.
"""

import atexit
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

TOOLGATE, TODO_API, WORK, CONFIG, ENV_FILE = sys.argv[1:6]
WORK = Path(WORK)
UID = 65532
ISSUER = "http://127.0.0.1:9000/realms/main"
RESOURCE = "https://mcp.example.com/mcp"
results = []


def check(name, ok, detail=""):
    results.append(bool(ok))
    print(f"{'ok  ' if ok else 'FAIL'} {name}" + ("" if ok else f": {detail}"), flush=True)


def sh(*cmd):
    subprocess.run(cmd, check=True)


def http(method, path, host="toolgate:8080", body=None, headers=None, timeout=10, port=8080):
    """One request to the gateway at 127.0.0.1:`port` with the given Host: (status, headers, body)."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("Host", host)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


# --- the network namespace: loopback up; the ConfigMap's host names point at it ------------
sh("ip", "link", "set", "lo", "up")

# --- the stand-in OpenID provider ----------------------------------------------------------
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
jwk.update(kid="k1", alg="RS256", use="sig")


class Idp(BaseHTTPRequestHandler):
    def do_GET(self):
        docs = {
            "/realms/main/.well-known/openid-configuration": {
                "issuer": ISSUER, "jwks_uri": f"{ISSUER}/certs",
                "authorization_endpoint": f"{ISSUER}/auth", "token_endpoint": f"{ISSUER}/token",
                "id_token_signing_alg_values_supported": ["RS256"],
            },
            "/realms/main/certs": {"keys": [jwk]},
        }
        doc = docs.get(self.path)
        self.send_response(200 if doc else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps(doc or {}).encode())

    def log_message(self, *_):
        pass


threading.Thread(target=ThreadingHTTPServer(("127.0.0.1", 9000), Idp).serve_forever, daemon=True).start()


def token(sub, scope):
    now = int(time.time())
    return jwt.encode({"iss": ISSUER, "aud": RESOURCE, "sub": sub, "scope": scope,
                       "iat": now, "exp": now + 600}, key, algorithm="RS256", headers={"kid": "k1"})


# --- the Secret's values and the other stand-ins ------------------------------------------
env = dict(line.split("=", 1) for line in Path(ENV_FILE).read_text().splitlines() if line)
children = []


@atexit.register
def stop_children():
    for p in children:
        if p.poll() is None:
            p.kill()
            p.wait()



scraper_key = "REPLACE-ME-metrics-scraper-key"  # the example Secret's key (its digest is in env)
redis = subprocess.Popen(["redis-server", "--port", "6379", "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "no", "--requirepass", env["REDIS_PASSWORD"]],
                         stdout=subprocess.DEVNULL)
todo = subprocess.Popen([TODO_API, "--addr", "127.0.0.1:8000"], stdout=subprocess.DEVNULL)
children += [redis, todo]

# --- the image's root filesystem ------------------------------------------------------------
root = WORK / "rootfs"
shutil.rmtree(WORK, ignore_errors=True)
for d in ("usr/local/bin", "etc/toolgate", "etc/ssl/certs", "tmp", "proc", "dev"):
    (root / d).mkdir(parents=True)
shutil.copy(TOOLGATE, root / "usr/local/bin/toolgate")
libs = subprocess.run(["ldd", TOOLGATE], capture_output=True, text=True, check=True).stdout
for line in libs.splitlines():
    path = next((w for w in line.split() if w.startswith("/")), None)
    if path:
        dest = root / path.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, dest)
shutil.copy("/etc/ssl/certs/ca-certificates.crt", root / "etc/ssl/certs/ca-certificates.crt")
(root / "etc/passwd").write_text("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")
(root / "etc/group").write_text("root:x:0:\nnonroot:x:65532:\n")
(root / "etc/nsswitch.conf").write_text("hosts: files dns\n")
# Cluster DNS stand-in: the Services the ConfigMap names.
(root / "etc/hosts").write_text("127.0.0.1 localhost toolgate-redis todo-api\n")

# --- the ConfigMap volume, as the kubelet writes it -------------------------------------
volume = WORK / "configmap"


def write_configmap(text, stamp):
    """The kubelet's atomic update: a new timestamped folder, then `..data` swapped to it."""
    data = volume / f"..{stamp}"
    data.mkdir(parents=True)
    (data / "config.yaml").write_text(text)
    tmp = volume / "..data_tmp"
    tmp.symlink_to(data.name)
    os.replace(tmp, volume / "..data")
    if not (volume / "config.yaml").is_symlink():
        (volume / "config.yaml").symlink_to("..data/config.yaml")


config_text = Path(CONFIG).read_text()
write_configmap(config_text, "2026_01_01_00_00_00.000000001")

# --- mounts: the root read-only; /tmp, /proc, /dev and the volume on top ---------------------
sh("mount", "--bind", str(root), str(root))
sh("mount", "-o", "remount,bind,ro", str(root))
sh("mount", "-t", "tmpfs", "-o", f"size=16m,mode=1777", "tmpfs", str(root / "tmp"))
sh("mount", "--rbind", "/proc", str(root / "proc"))
sh("mount", "--rbind", "/dev", str(root / "dev"))
sh("mount", "--bind", "-o", "ro", str(volume), str(root / "etc/toolgate"))
sh("mount", "-o", "remount,bind,ro", str(root / "etc/toolgate"))
probe = subprocess.run(["touch", str(root / "usr/probe")], capture_output=True, text=True)
check("the root filesystem is read-only", probe.returncode != 0 and "Read-only" in probe.stderr, probe.stderr)

# --- the container ---------------------------------------------------------------------------
# The only departures from the ConfigMap: the stand-in provider's URL, and a Redis budget for
# a debug build on a loaded 2-core CI machine (past the ConfigMap's, a replica decides on its
# own, `fail_open`, and the cross-replica check below would measure the machine's load).
OVERRIDES = {"TOOLGATE_AUTH__ISSUER": ISSUER, "TOOLGATE_RATE_LIMITS__BACKEND__TIMEOUT_MS": "500"}

def start_pod(log_name, extra_env=None):
    """One replica: the image's command, as uid 65532, in the read-only root."""
    log = open(WORK / log_name, "w")
    pod_env = {**env, **OVERRIDES, **(extra_env or {})}
    p = subprocess.Popen([shutil.which("chroot"), f"--userspec={UID}:{UID}", f"--groups={UID}", str(root),
                          "/usr/local/bin/toolgate", "serve", "--config", "/etc/toolgate/config.yaml"],
                         env=pod_env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    children.insert(0, p)
    return p


started = time.monotonic()
gw = start_pod("toolgate.log")
# A second replica beside it (a pod IP of its own would let it use 8080 too; here the one
# network namespace makes it 8081).
gw2 = start_pod("toolgate-2.log", {"TOOLGATE_HTTP__BIND": "0.0.0.0:8081"})


class Session:
    """A legacy (2025-11-25) MCP session on one replica, with a JWT from the provider."""

    def __init__(self, subject, port=8080):
        self.port = port
        self.headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json",
                        "Authorization": f"Bearer {token(subject, 'tools:call')}"}
        self.code, hdrs, self.body = http("POST", "/mcp", port=port, headers=self.headers, body={
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                       "clientInfo": {"name": "pod-test", "version": "1"}}})
        self.id = {k.lower(): v for k, v in hdrs.items()}.get("mcp-session-id")
        self.headers.update({"Mcp-Session-Id": self.id or "", "MCP-Protocol-Version": "2025-11-25"})
        http("POST", "/mcp", port=port, headers=self.headers,
             body={"jsonrpc": "2.0", "method": "notifications/initialized"})

    def request(self, i, method, params):
        code, _, body = http("POST", "/mcp", port=self.port, headers=self.headers,
                             body={"jsonrpc": "2.0", "id": 100 + i, "method": method, "params": params})
        return code, json.loads(body) if body.startswith("{") else body

    def call(self, i, name="list_users"):
        return self.request(i, "tools/call", {"name": name, "arguments": {}})


def refused_of(answer):
    r = answer.get("result", {}) if isinstance(answer, dict) else {}
    return bool(r.get("isError")) and "retryAfter" in json.dumps(r)


def wait_for(pred, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if pred():
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


try:
    check("startup: /healthz answers 200 (startupProbe)",
          wait_for(lambda: http("GET", "/healthz", host="10.244.1.7:8080")[0] == 200, 60),
          (WORK / "toolgate.log").read_text()[-2000:])
    print(f"     started in {time.monotonic() - started:.1f} s", flush=True)
    status = Path(f"/proc/{gw.pid}/status").read_text()
    uid_line = next(l for l in status.splitlines() if l.startswith("Uid:"))
    check("runs as uid 65532", uid_line.split()[1:] == [str(UID)] * 4, uid_line)
    cap_line = next(l for l in status.splitlines() if l.startswith("CapEff:"))
    check("no effective capabilities", int(cap_line.split()[1], 16) == 0, cap_line)

    code, _, body = http("GET", "/readyz", host="10.244.1.7:8080")
    ready = json.loads(body)
    check("/readyz on a pod IP's Host: ready, source reachable (readinessProbe)",
          code == 200 and ready["status"] == "ready" and ready["sources"] == {"todo": "ok"}, body)
    first_hash = ready.get("config", {}).get("hash")

    code, hdrs, _ = http("GET", "/metrics", host="10.244.1.7:8080")
    check("/metrics without a credential: 401 with a Bearer challenge",
          code == 401 and "Bearer" in hdrs.get("WWW-Authenticate", hdrs.get("www-authenticate", "")), code)
    code, _, body = http("GET", "/metrics", host="10.244.1.7:8080",
                         headers={"Authorization": f"Bearer {scraper_key}"})
    check("/metrics with the scraper's key (ServiceMonitor): 200, toolgate metrics",
          code == 200 and "toolgate_config_info" in body, f"{code} {body[:300]}")
    wanted = (Path(CONFIG).parent / "rule_metrics.txt").read_text().split()
    missing = [m for m in wanted if not re.search(rf"^{m}(\{{| )", body, re.M)]
    check(f"the PrometheusRule's metrics are exported ({', '.join(wanted)})", wanted and not missing, missing)

    code, _, _ = http("POST", "/mcp", host="evil.example:8080", body={})
    check("MCP endpoint refuses a Host outside http.allowed_hosts", code == 403, code)

    alice = Session("alice")
    check("initialize with a JWT from the issuer", alice.code == 200 and alice.id, f"{alice.code} {alice.body[:300]}")
    code, answer = alice.call(0)
    check("an authenticated tool call reaches the backend",
          code == 200 and isinstance(answer, dict) and answer.get("result", {}).get("isError") is False,
          f"{code} {answer}")
    # per-caller-per-tool: 60/min, burst 10.
    refused = [i for i in range(1, 13) if refused_of(alice.call(i)[1])]
    check("the rate limit (burst 10) refuses the rest of a burst with retryAfter",
          refused and 9 <= refused[0] <= 11 and refused == list(range(refused[0], 13)), refused)
    print(f"     calls 0-12 in a burst: refused from call {refused[0] if refused else '-'} on", flush=True)
    keys = subprocess.run(["redis-cli", "-a", env["REDIS_PASSWORD"], "--no-auth-warning", "--scan",
                           "--pattern", "toolgate:rl:*"], capture_output=True, text=True).stdout.split()
    check("the limits are kept in Redis", any("per-caller-per-tool" in k for k in keys), keys)

    # Two replicas, one caller alternating between them: the limit holds across the fleet.
    check("a second replica starts beside the first",
          wait_for(lambda: http("GET", "/readyz", port=8081, host="10.244.2.9:8081")[0] == 200, 60),
          (WORK / "toolgate-2.log").read_text()[-2000:])
    bob = [Session("bob", 8080), Session("bob", 8081)]
    refused = [i for i in range(13) if refused_of(bob[i % 2].call(i)[1])]
    fallbacks = sum(float(v) for p in (8080, 8081) for v in re.findall(
        r"^toolgate_rate_limit_redis_fallbacks_total\{[^}]*\} (\S+)$",
        http("GET", "/metrics", port=p, host="10.244.1.7:8080",
             headers={"Authorization": f"Bearer {scraper_key}"})[2], re.M))
    check("the limit holds across replicas (calls alternating between two)",
          refused and 9 <= refused[0] <= 11 and refused == list(range(refused[0], 13)),
          f"refused {refused}; decisions made without Redis (over the budget): {fallbacks:.0f}")
    print(f"     calls 0-12 alternating between replicas: refused from call {refused[0] if refused else '-'} on", flush=True)

    # A ConfigMap update: the kubelet swaps `..data`; the watcher reloads the sources.
    anchor = "    base_url: http://todo-api:8000\n"
    updated = config_text.replace(anchor, anchor + "    compile:\n      namespace: todo\n")
    assert updated != config_text, "the ConfigMap's source no longer has the line this test edits"
    write_configmap(updated, "2026_01_01_00_01_00.000000002")
    def config_of(port):
        return json.loads(http("GET", "/readyz", port=port, host="10.244.1.7:8080")[2]).get("config", {})

    def reloaded():
        return all(config_of(p).get("reloads", {}).get("success") == 1
                   and config_of(p).get("hash") != first_hash for p in (8080, 8081))
    check("a ConfigMap update (symlink swap) is hot-reloaded by both replicas", wait_for(reloaded, 15),
          [config_of(p) for p in (8080, 8081)])
    check("both replicas report the same configuration version",
          config_of(8080).get("hash") == config_of(8081).get("hash") != first_hash)
    code, answer = alice.request(7, "tools/list", {})
    names = [t["name"] for t in answer.get("result", {}).get("tools", [])] if code == 200 else []
    check("the session now lists the reloaded tools", "todo_list_users" in names, f"{code} {names}")

    # The backend goes away: the replica leaves the Service (readiness), and is not restarted
    # (liveness does not depend on backends).
    todo.kill()
    todo.wait()
    code, _, body = http("GET", "/readyz", host="10.244.1.7:8080")
    check("backend down: /readyz 503 naming the source, /healthz still 200",
          code == 503 and "todo" in json.loads(body)["sources"] and json.loads(body)["sources"]["todo"] != "ok"
          and http("GET", "/healthz", host="10.244.1.7:8080")[0] == 200, f"{code} {body}")

    # Termination: SIGTERM (after the preStop sleep) ends the process cleanly within the grace.
    t0 = time.monotonic()
    gw.send_signal(signal.SIGTERM)
    try:
        rc = gw.wait(timeout=30)
    except subprocess.TimeoutExpired:
        rc = None
    took = time.monotonic() - t0
    check("SIGTERM: exits 0 well within terminationGracePeriodSeconds", rc == 0 and took < 20, f"rc={rc} after {took:.1f} s")
    print(f"     stopped {took:.2f} s after SIGTERM", flush=True)
    gw2.send_signal(signal.SIGTERM)
    check("SIGTERM: the second replica exits 0 too", gw2.wait(timeout=30) == 0)
    written = [str(p.relative_to(root)) for p in (root / "tmp").rglob("*")]
    print(f"     files written to /tmp: {written or 'none'}", flush=True)
    text = (WORK / "toolgate.log").read_text() + (WORK / "toolgate-2.log").read_text()
    check("no write refused by the read-only root (log)", "Read-only file system" not in text and "os error 30" not in text)
    check("log lines are JSON (logging.format: json)",
          all(l.startswith("{") for l in text.splitlines() if l and not l.startswith("toolgate: serving")),
          text[:500])
finally:
    stop_children()
    for m in ("etc/toolgate", "dev", "proc", "tmp", ""):
        subprocess.run(["umount", "-R", "-l", str(root / m)], capture_output=True)

failed = results.count(False)
print(f"pod: {results.count(True)} passed, {failed} failed")
if failed:
    print("--- toolgate log (last 3000 chars) ---\n" + (WORK / "toolgate.log").read_text()[-3000:])
sys.exit(1 if failed else 0)
