"""Consistency checks of deploy/ that a schema cannot express: selectors that match, names
and ports that agree, secrets that exist, the security context, the termination budget
against the gateway's shutdown grace, the Dockerfile against the Deployment.

Usage: check_manifests.py ROOT OUT_DIR
Writes OUT_DIR/config.yaml (the ConfigMap's configuration) and OUT_DIR/config.env (the
environment the Deployment gives it, with the example Secret's values), for
`toolgate check-config` and the pod test. Prints one line per check and ends with
`deploy: N passed, M failed`; exits 1 when a check fails.
"""

import hashlib
import ipaddress
import json
import re
import sys
from pathlib import Path
from urllib.parse import urlparse

import jsonschema
import yaml

ROOT = Path(sys.argv[1])
OUT = Path(sys.argv[2])
K8S = ROOT / "deploy" / "kubernetes"

results = []


def check(name, ok, detail=""):
    results.append(bool(ok))
    print(f"{'ok  ' if ok else 'FAIL'} {name}" + ("" if ok else f": {detail}"))


def load_dir(folder):
    """Every object of every YAML file in `folder` except kustomization.yaml: {(kind, name): obj}."""
    objects = {}
    for path in sorted(folder.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                objects[(doc["kind"], doc["metadata"]["name"])] = (path.name, doc)
    return objects


def matches(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


objects = load_dir(K8S)
monitoring = load_dir(K8S / "monitoring")
get = lambda kind, name: objects[(kind, name)][1]

# --- kustomizations list exactly the files meant to be applied ---------------------------
for folder in (K8S, K8S / "monitoring"):
    kust = yaml.safe_load((folder / "kustomization.yaml").read_text())
    listed = set(kust["resources"])
    files = {p.name for p in folder.glob("*.yaml")
             if p.name != "kustomization.yaml" and not p.name.endswith(".example.yaml")}
    check(f"{folder.relative_to(ROOT)}/kustomization.yaml lists every manifest",
          listed == files, f"listed {sorted(listed)}, files {sorted(files)}")
check("no example (*.example.yaml) is applied by kustomize",
      not [r for r in yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"] if r.endswith(".example.yaml")])

# --- namespace-agnostic ----------------------------------------------------------------
with_ns = [f"{f}:{k}/{n}" for (k, n), (f, o) in {**objects, **monitoring}.items()
           if "namespace" in o["metadata"]]
check("no object names a namespace", not with_ns, ", ".join(with_ns))

# --- the gateway Deployment ---------------------------------------------------------------
dep = get("Deployment", "toolgate")
pod = dep["spec"]["template"]
pod_labels = pod["metadata"]["labels"]
spec = pod["spec"]
(container,) = spec["containers"]
check("Deployment: 3 replicas", dep["spec"]["replicas"] == 3)
check("Deployment: no service-link variables (they start with TOOLGATE_ like overrides)",
      spec.get("enableServiceLinks") is False)
check("Deployment: selector matches its pods", matches(dep["spec"]["selector"]["matchLabels"], pod_labels))
ports = {p["name"]: p["containerPort"] for p in container["ports"]}
probes = {k: container.get(k) for k in ("startupProbe", "readinessProbe", "livenessProbe")}
check("Deployment: readiness probe on /readyz",
      (probes["readinessProbe"] or {}).get("httpGet", {}).get("path") == "/readyz")
check("Deployment: liveness and startup probes on /healthz",
      all((probes[k] or {}).get("httpGet", {}).get("path") == "/healthz" for k in ("livenessProbe", "startupProbe")))
check("Deployment: probes use a declared port",
      all(p and p["httpGet"]["port"] in ports for p in probes.values()))
for c, label in ((container, "toolgate"),
                 (get("Deployment", "toolgate-redis")["spec"]["template"]["spec"]["containers"][0], "redis")):
    sc = c.get("securityContext", {})
    check(f"{label}: read-only root, no privilege escalation, ALL capabilities dropped",
          sc.get("readOnlyRootFilesystem") is True and sc.get("allowPrivilegeEscalation") is False
          and sc.get("capabilities", {}).get("drop") == ["ALL"], json.dumps(sc))
    res = c.get("resources", {})
    check(f"{label}: CPU and memory requests, memory limit",
          {"cpu", "memory"} <= set(res.get("requests", {})) and "memory" in res.get("limits", {}))
for d in ("toolgate", "toolgate-redis"):
    psc = get("Deployment", d)["spec"]["template"]["spec"].get("securityContext", {})
    check(f"{d}: runAsNonRoot with a numeric user, seccomp RuntimeDefault",
          psc.get("runAsNonRoot") is True and isinstance(psc.get("runAsUser"), int) and psc["runAsUser"] > 0
          and psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", json.dumps(psc))

# The configuration comes from the ConfigMap, mounted as a folder (subPath mounts never update).
volumes = {v["name"]: v for v in spec["volumes"]}
mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
args = container["args"]
config_path = args[args.index("--config") + 1]
config_dir, config_file = config_path.rsplit("/", 1)
mount = mounts.get(config_dir)
cm_name = mount and volumes[mount["name"]].get("configMap", {}).get("name")
check("Deployment: --config is a file of a ConfigMap folder mount (no subPath)",
      mount is not None and "subPath" not in mount and cm_name == "toolgate"
      and config_file in get("ConfigMap", "toolgate")["data"], f"{config_path} / {mount}")
check("Deployment: only /tmp (an emptyDir) is writable besides read-only mounts",
      all(m.get("readOnly") or volumes[m["name"]].get("emptyDir") is not None for m in mounts.values())
      and "/tmp" in mounts)

config = yaml.safe_load(get("ConfigMap", "toolgate")["data"][config_file])
(OUT / "config.yaml").write_text(get("ConfigMap", "toolgate")["data"][config_file])

# Every ${VAR} of the configuration is given by the container, from the Secret.
secret = get("Secret", "toolgate")["stringData"]
env = {e["name"]: e for e in container.get("env", [])}
used = sorted(set(re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)\}", get("ConfigMap", "toolgate")["data"][config_file])))
check("every ${VAR} of the configuration is in the container's environment",
      used and all(v in env for v in used), f"used {used}, set {sorted(env)}")
refs = [(e["name"], e["valueFrom"]["secretKeyRef"]) for e in env.values() if "secretKeyRef" in e.get("valueFrom", {})]
redis_env = get("Deployment", "toolgate-redis")["spec"]["template"]["spec"]["containers"][0]["env"]
redis_refs = [(e["name"], e["valueFrom"]["secretKeyRef"]) for e in redis_env]
check("every secretKeyRef names a key of the Secret",
      all(r["name"] == "toolgate" and r["key"] in secret for _, r in refs + redis_refs), str(refs + redis_refs))
with open(OUT / "config.env", "w") as f:
    for name, ref in refs:
        f.write(f"{name}={secret[ref['key']]}\n")
check("the example Secret holds placeholders only",
      all(v.startswith("REPLACE-ME") or re.fullmatch(r"[0-9a-f]{64}", v) for v in secret.values()))
check("the example Secret's scraper key digest is the digest of its key",
      hashlib.sha256(secret["metrics-scraper-key"].encode()).hexdigest() == secret["metrics-scraper-key-sha256"])

# The configuration and the pod agree.
http = config["http"]
host, _, port = http["bind"].rpartition(":")
check("http.bind listens on the container port, beyond loopback",
      int(port) in ports.values() and not ipaddress.ip_address(host.strip("[]")).is_loopback, http["bind"])
check("authentication is on, with the public resource URL", "auth" in config and config["auth"].get("resource", "").startswith("https://"))
check("/metrics is protected", config["auth"].get("metrics", "protected") == "protected")
check("http.allowed_hosts includes the Service name", "toolgate" in http.get("allowed_hosts", []))
grace = http.get("shutdown_grace_seconds", 10)
pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
# After the grace toolgate drains for at most 0.5 s, then waits at most 2 s for connections
# (toolgate-server/src/http/serve.rs).
need = pre_stop + grace + 3
check(f"terminationGracePeriodSeconds >= preStop {pre_stop} s + shutdown grace {grace} s + 3 s",
      spec["terminationGracePeriodSeconds"] >= need, f"{spec['terminationGracePeriodSeconds']} < {need}")
rl = config["rate_limits"]["backend"]
redis_url = urlparse(rl["url"].replace("${REDIS_PASSWORD}", "x"))
redis_svc = get("Service", "toolgate-redis")
check("rate limits go through the Redis Service",
      rl["type"] == "redis" and redis_url.hostname == "toolgate-redis"
      and redis_url.port in [p["port"] for p in redis_svc["spec"]["ports"]], rl["url"])
redis_pod = get("Deployment", "toolgate-redis")["spec"]["template"]["metadata"]["labels"]
check("the Redis Service selects the Redis pods", matches(redis_svc["spec"]["selector"], redis_pod))

# --- Service, PDB, HPA, NetworkPolicies ------------------------------------------------------
svc = get("Service", "toolgate")
check("Service selects the gateway pods", matches(svc["spec"]["selector"], pod_labels))
check("Service targets a container port", all(p["targetPort"] in ports for p in svc["spec"]["ports"]))
check("PodDisruptionBudget selects the gateway pods",
      matches(get("PodDisruptionBudget", "toolgate")["spec"]["selector"]["matchLabels"], pod_labels))
hpa = get("HorizontalPodAutoscaler", "toolgate")["spec"]
check("HPA scales the Deployment, from its replica count",
      hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "toolgate"}
      and hpa["minReplicas"] == dep["spec"]["replicas"] and hpa["maxReplicas"] > hpa["minReplicas"])
np_gw = get("NetworkPolicy", "toolgate")["spec"]
np_redis = get("NetworkPolicy", "toolgate-redis")["spec"]
check("NetworkPolicy selects the gateway pods and lets them reach Redis",
      matches(np_gw["podSelector"]["matchLabels"], pod_labels)
      and any(matches(t.get("podSelector", {}).get("matchLabels"), redis_pod) for r in np_gw["egress"] for t in r.get("to", [])))
check("Redis NetworkPolicy admits the gateway pods only",
      matches(np_redis["podSelector"]["matchLabels"], redis_pod)
      and all(matches(f["podSelector"]["matchLabels"], pod_labels) for r in np_redis["ingress"] for f in r["from"]))
ann = pod["metadata"].get("annotations", {})
check("prometheus.io annotations point at /metrics on the container port",
      ann.get("prometheus.io/scrape") == "true" and int(ann.get("prometheus.io/port", 0)) in ports.values()
      and ann.get("prometheus.io/path") == "/metrics")

# --- ServiceMonitor (a CRD: checked against the fields of monitoring.coreos.com/v1 it uses) --
sm = monitoring[("ServiceMonitor", "toolgate")][1]
SM_SCHEMA = {
    "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"}, "kind": {"const": "ServiceMonitor"},
        "spec": {"type": "object", "required": ["selector", "endpoints"], "additionalProperties": False,
                 "properties": {
                     "selector": {"type": "object", "properties": {"matchLabels": {"type": "object"}}},
                     "endpoints": {"type": "array", "minItems": 1, "items": {
                         "type": "object", "additionalProperties": False,
                         "properties": {
                             "port": {"type": "string"}, "path": {"type": "string"},
                             "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                             "scrapeTimeout": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                             "authorization": {"type": "object", "additionalProperties": False,
                                               "properties": {"type": {"type": "string"}, "credentials": {
                                                   "type": "object", "required": ["name", "key"],
                                                   "additionalProperties": False,
                                                   "properties": {"name": {"type": "string"}, "key": {"type": "string"}}}}}}}}}}},
}
errors = [e.message for e in jsonschema.Draft7Validator(SM_SCHEMA).iter_errors(sm)]
check("ServiceMonitor has the shape of monitoring.coreos.com/v1", not errors, "; ".join(errors))
ep = sm["spec"]["endpoints"][0]
check("ServiceMonitor selects the Service and scrapes a named port of it",
      matches(sm["spec"]["selector"]["matchLabels"], svc["metadata"]["labels"])
      and ep["port"] in [p["name"] for p in svc["spec"]["ports"]] and ep["path"] == "/metrics")
cred = ep.get("authorization", {}).get("credentials", {})
check("ServiceMonitor presents the scraper key from the Secret",
      cred.get("name") == "toolgate" and cred.get("key") == "metrics-scraper-key")

# --- PrometheusRule (a CRD: the fields used) ----------------------------------------------------
rule = monitoring[("PrometheusRule", "toolgate")][1]
RULE_SCHEMA = {
    "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"}, "kind": {"const": "PrometheusRule"},
        "spec": {"type": "object", "required": ["groups"], "additionalProperties": False, "properties": {
            "groups": {"type": "array", "minItems": 1, "items": {
                "type": "object", "required": ["name", "rules"], "additionalProperties": False,
                "properties": {"name": {"type": "string"}, "rules": {"type": "array", "minItems": 1, "items": {
                    "type": "object", "required": ["alert", "expr"], "additionalProperties": False,
                    "properties": {
                        "alert": {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_]*$"},
                        "expr": {"type": "string"}, "for": {"type": "string", "pattern": "^[0-9]+(s|m|h)$"},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "annotations": {"type": "object", "additionalProperties": {"type": "string"}}}}}}}}}}},
}
errors = [e.message for e in jsonschema.Draft7Validator(RULE_SCHEMA).iter_errors(rule)]
check("PrometheusRule has the shape of monitoring.coreos.com/v1", not errors, "; ".join(errors))
exprs = [r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]]
balanced = all(e.count("(") == e.count(")") and e.count("{") == e.count("}") for e in exprs)
check("PrometheusRule expressions have balanced brackets", balanced, exprs)
rule_metrics = sorted({m for e in exprs for m in re.findall(r"\b(toolgate_[a-z_]+)", e)})
check("PrometheusRule uses toolgate metrics", rule_metrics, exprs)
# The pod test checks these names against a running gateway's /metrics.
(OUT / "rule_metrics.txt").write_text("\n".join(rule_metrics) + "\n")
check("PrometheusRule's job is the ServiceMonitor's (the Service name)",
      all('job="toolgate"' in e for e in exprs if "job=" in e))

# --- the Ingress example -----------------------------------------------------------------
ing = get("Ingress", "toolgate")["spec"]
paths = [p for r in ing["rules"] for p in r["http"]["paths"]]
resource = urlparse(config["auth"]["resource"])
check("Ingress routes the MCP path and the RFC 9728 metadata to the Service, nothing else",
      sorted(p["path"] for p in paths) == sorted([resource.path, "/.well-known/oauth-protected-resource"])
      and all(p["backend"]["service"]["name"] == "toolgate"
              and p["backend"]["service"]["port"]["name"] in [q["name"] for q in svc["spec"]["ports"]] for p in paths))
check("Ingress host is auth.resource's host, in http.allowed_hosts, with TLS",
      [r["host"] for r in ing["rules"]] == [resource.hostname] and resource.hostname in http["allowed_hosts"]
      and any(resource.hostname in t["hosts"] for t in ing.get("tls", [])))

# --- Dockerfile and Deployment agree ----------------------------------------------------------
docker = (ROOT / "Dockerfile").read_text()
final = docker[docker.rindex("\nFROM "):]
entry = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", final, re.M).group(1))
cmd = json.loads(re.search(r"^CMD (\[.*\])$", final, re.M).group(1))
user = re.search(r"^USER (\d+):(\d+)$", final, re.M)
check("Dockerfile: the image's command is the Deployment's", entry == ["/usr/local/bin/toolgate"] and cmd == args, f"{entry} {cmd}")
check("Dockerfile: numeric non-root USER, the Deployment's runAsUser",
      user and int(user.group(1)) == spec["securityContext"]["runAsUser"] != 0)
check("Dockerfile: multi-stage, no HEALTHCHECK", len(re.findall(r"^FROM ", docker, re.M)) >= 2
      and not re.search(r"^HEALTHCHECK", docker, re.M))

failed = results.count(False)
print(f"deploy: {results.count(True)} passed, {failed} failed")
sys.exit(1 if failed else 0)
