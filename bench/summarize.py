#!/usr/bin/env python3
"""Turns the load generator's JSON reports from one bench/run.sh run into
bench/results/latest.json (everything, plus derived ratios and target verdicts) and
bench/results/latest.md (tables). Figures come only from the reports; nothing is typed in.

    summarize.py TMP_DIR OUT_DIR
"""

import glob
import json
import os
import statistics
import sys

tmp, out = sys.argv[1], sys.argv[2]


def load(name):
    path = os.path.join(tmp, name + ".json")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


reports = {
    os.path.basename(p)[: -len(".json")]: json.load(open(p, encoding="utf-8"))
    for p in sorted(glob.glob(os.path.join(tmp, "*.json")))
    if not p.endswith(("machine.json", "timing.json"))
}
machine = load("machine") or {}
timing = load("timing") or {}

SERVERS = [
    ("direct", "direct HTTP GET to the backend (the limit)"),
    ("forward", "reference: bare HTTP forwarder (hyper, no MCP), one worker thread"),
    ("toolgate_stateless", "toolgate, streamable HTTP, stateless (2026-07-28)"),
    ("toolgate_stateless_rmcp_path", "toolgate, stateless, fast path off (rmcp's general path)"),
    ("toolgate_stateless_logged", "toolgate, stateless, default logging (a line per call, to a file)"),
    ("toolgate_stateless_workers2", "toolgate, stateless, two worker threads (`--worker-threads 2`)"),
    ("toolgate_stateless_workers4", "toolgate, stateless, four worker threads (`--worker-threads 4`)"),
    ("toolgate_session", "toolgate, streamable HTTP, session mode"),
    ("toolgate_stdio", "toolgate, stdio"),
    ("fastmcp_stateless", "FastMCP 4.1.6 from_openapi, stateless, JSON"),
    ("fastmcp_stdio", "FastMCP 4.1.6 from_openapi, stdio"),
    ("rmcp_echo_stateless", "reference: bare rmcp 3.9 server, stateless, echo tool (no backend call)"),
]
levels = sorted(
    {int(k.rsplit("_c", 1)[1]) for k in reports if k.startswith("direct_c")}
)


def lat(r, p):
    l = r.get("latency_us") or {}
    return l.get(p)


rows = []
for key, title in SERVERS:
    for c in levels:
        r = reports.get(f"{key}_c{c}")
        if r is None:
            continue
        d = reports.get(f"direct_c{c}")
        row = {
            "server": key,
            "title": title,
            "concurrency": c,
            "calls": r["calls"],
            "errors": r["errors"]["total"],
            "calls_per_s": r["calls_per_s"],
            "p50_us": lat(r, "p50"),
            "p99_us": lat(r, "p99"),
            "server_cpu_us_per_call": (r.get("server") or {}).get("cpu_us_per_call"),
            "client_cpu_us_per_call": (r.get("client") or {}).get("cpu_us_per_call"),
        }
        if d is not None and key != "direct":
            row["added_p50_us"] = lat(r, "p50") - lat(d, "p50")
            row["added_p99_us"] = lat(r, "p99") - lat(d, "p99")
            row["share_of_direct"] = r["calls_per_s"] / d["calls_per_s"]
        rows.append(row)


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


gh_runs = [reports[k] for k in sorted(reports) if k.startswith("github_toolgate_")]
gh_fm = reports.get("github_fastmcp")
demo_runs = [reports[k] for k in sorted(reports) if k.startswith("demo_stdio_")]
idle = (reports.get("toolgate_idle_sessions") or {}).get("idle_sessions")

startup = {}
if gh_runs:
    startup["github_toolgate"] = {
        "runs": len(gh_runs),
        "tools": gh_runs[0]["startup"]["tools"],
        "first_tools_list_ms_median": median(
            [r["startup"]["first_tools_list_ms"] for r in gh_runs]
        ),
        "first_tools_list_ms_all": [r["startup"]["first_tools_list_ms"] for r in gh_runs],
        "later_tools_list_p50_ms": median([lat(r, "p50") for r in gh_runs]) / 1e3,
        "later_tools_list_max_ms": max(lat(r, "max") for r in gh_runs) / 1e3,
        "peak_rss_mb": max((r["server"] or {}).get("peak_rss_kb") or 0 for r in gh_runs)
        / 1024,
        "tools_list_bytes": gh_runs[0]["startup"]["tools_list_bytes"],
    }
if gh_fm:
    startup["github_fastmcp"] = {
        "runs": 1,
        "tools": gh_fm["startup"]["tools"],
        "first_tools_list_ms_median": gh_fm["startup"]["first_tools_list_ms"],
        "later_tools_list_p50_ms": lat(gh_fm, "p50") / 1e3 if lat(gh_fm, "p50") else None,
        "later_tools_list_max_ms": lat(gh_fm, "max") / 1e3 if lat(gh_fm, "max") else None,
        "peak_rss_mb": ((gh_fm["server"] or {}).get("peak_rss_kb") or 0) / 1024,
        "tools_list_bytes": gh_fm["startup"]["tools_list_bytes"],
    }
if demo_runs:
    startup["demo_stdio"] = {
        "runs": len(demo_runs),
        "first_tools_list_ms_median": median(
            [r["startup"]["first_tools_list_ms"] for r in demo_runs]
        ),
        "first_tools_list_ms_all": [r["startup"]["first_tools_list_ms"] for r in demo_runs],
        "tools": demo_runs[0]["startup"]["tools"],
    }


def find(server, c):
    return next(
        (r for r in rows if r["server"] == server and r["concurrency"] == c), None
    )


targets = []


def target(name, goal, value, unit, met, note=""):
    targets.append(
        {
            "target": name,
            "goal": goal,
            "measured": value,
            "unit": unit,
            "met": met,
            "note": note,
        }
    )


lo, hi = (levels[0], levels[-1]) if levels else (None, None)
for key in ("toolgate_stateless", "toolgate_session", "toolgate_stdio"):
    r = find(key, 1) if 1 in levels else None
    if r and "added_p50_us" in r:
        target(f"p50 added latency at c=1 ({key})", "<= 50 µs", r["added_p50_us"], "µs",
               r["added_p50_us"] <= 50)
for key in ("toolgate_stateless", "toolgate_session", "toolgate_stdio"):
    r = find(key, 16) if 16 in levels else None
    if r and "share_of_direct" in r:
        target(f"throughput at c=16 vs direct ({key})", ">= 25 %",
               round(r["share_of_direct"] * 100, 1), "%", r["share_of_direct"] >= 0.25)
g = startup.get("github_toolgate")
f = startup.get("github_fastmcp")
if g:
    target("GitHub spec: compile + first tools/list (stdio, from spawn)", "<= 200 ms",
           round(g["first_tools_list_ms_median"], 1), "ms",
           g["first_tools_list_ms_median"] <= 200, f"median of {g['runs']} runs")
    target("GitHub spec: later tools/list", "<= 20 ms", round(g["later_tools_list_p50_ms"], 2),
           "ms (p50)", g["later_tools_list_p50_ms"] <= 20)
    target("GitHub spec: peak RSS", "<= 100 MB", round(g["peak_rss_mb"], 1), "MB",
           g["peak_rss_mb"] <= 100)
    if f:
        ratio = g["tools_list_bytes"] / f["tools_list_bytes"]
        target("GitHub spec: tools/list payload vs FastMCP", "<= 50 %", round(ratio * 100, 1),
               "%", ratio <= 0.5,
               f"{g['tools_list_bytes']} vs {f['tools_list_bytes']} bytes")
if idle:
    per = idle.get("bytes_per_session")
    if per is not None:
        target(f"memory per idle session ({idle['opened']} sessions)", "<= 50 KB",
               round(per / 1024, 1), "KB", per <= 50 * 1024)
d = startup.get("demo_stdio")
if d:
    target("demo: first tools/list over stdio (from spawn)", "<= 50 ms",
           round(d["first_tools_list_ms_median"], 1), "ms",
           d["first_tools_list_ms_median"] <= 50, f"median of {d['runs']} runs")

summary = {
    "machine": machine,
    "timing": timing,
    "throughput": rows,
    "startup": startup,
    "idle_sessions": idle,
    "targets": targets,
    "reports": reports,
}
with open(os.path.join(out, "latest.json"), "w", encoding="utf-8") as fh:
    json.dump(summary, fh, indent=2)


def fmt(v, digits=0, suffix=""):
    if v is None:
        return "–"
    if isinstance(v, float) or digits:
        return f"{v:,.{digits}f}{suffix}"
    return f"{v:,}{suffix}"


md = []
md.append(
    f"Run of {machine.get('date_utc', '?')} at commit {machine.get('git_commit', '?')}: "
    f"{machine.get('nproc', '?')} cores ({machine.get('cpu_model', '?')}), "
    f"{machine.get('memory_gib', '?')} GiB, load average at start "
    f"{' '.join(machine.get('loadavg_at_start', ['?']))}; load generator, backend and server "
    "share the cores."
    + (
        f" The whole run took {timing['total_s'] / 60:.1f} min, of which "
        f"{timing['build_s'] / 60:.1f} min building."
        if timing
        else ""
    )
)
first = next((r for k, r in reports.items() if k.startswith("direct_c")), {})
md.append(
    f"Each throughput run: {first.get('warmup_s', '?')} s warm-up, then "
    f"{os.environ.get('BENCH_DURATION', '?')} s measured; closed loop; over HTTP one "
    "keep-alive connection per worker (c = workers = connections); over stdio c requests "
    "in flight on the one process."
)
md.append("")
md.append("### tools/call get_item, proxied to the backend (`bench-servers backend`)")
md.append("")
md.append(
    "| server | c | calls/s | p50 µs | p99 µs | added p50 µs | added p99 µs | share of direct | "
    "server CPU µs/call | loadgen CPU µs/call | errors |"
)
md.append("|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    md.append(
        "| {title} | {c} | {cps} | {p50} | {p99} | {a50} | {a99} | {share} | {scpu} | {ccpu} | {err} |".format(
            title=r["title"],
            c=r["concurrency"],
            cps=fmt(r["calls_per_s"], 0),
            p50=fmt(r["p50_us"]),
            p99=fmt(r["p99_us"]),
            a50=fmt(r.get("added_p50_us")),
            a99=fmt(r.get("added_p99_us")),
            share="100 %" if r["server"] == "direct" else fmt(
                (r.get("share_of_direct") or 0) * 100, 1, " %"),
            scpu=fmt(r["server_cpu_us_per_call"], 1),
            ccpu=fmt(r["client_cpu_us_per_call"], 1),
            err=r["errors"],
        )
    )
hop = []
for c in levels:
    fw = find("forward", c)
    tg = find("toolgate_stateless", c)
    if fw and tg and fw.get("added_p50_us") is not None:
        hop.append(
            f"at c={c} the bare forwarder adds {fmt(fw['added_p50_us'])} µs p50 to the direct "
            f"call ({fmt((fw.get('share_of_direct') or 0) * 100, 1, ' %')} of its throughput) "
            f"and toolgate stateless {fmt(tg['p50_us'] - fw['p50_us'])} µs more "
            f"({fmt(tg['calls_per_s'] / fw['calls_per_s'] * 100, 1, ' %')} of the forwarder's "
            "throughput)"
        )
if hop:
    md.append("")
    md.append("A gateway hop before MCP: " + "; ".join(hop) + ".")
versus = []
for tg_key, fm_key, transport in (
    ("toolgate_stateless", "fastmcp_stateless", "stateless HTTP"),
    ("toolgate_stdio", "fastmcp_stdio", "stdio"),
):
    for c in levels:
        tg, fm = find(tg_key, c), find(fm_key, c)
        if tg and fm and fm["calls_per_s"]:
            versus.append(
                f"{transport} at c={c}: {fmt(tg['calls_per_s'] / fm['calls_per_s'], 0)}x the "
                f"calls/s, {fmt(fm['server_cpu_us_per_call'] / tg['server_cpu_us_per_call'], 0)}x "
                "less server CPU per call"
                if tg["server_cpu_us_per_call"] and fm["server_cpu_us_per_call"]
                else f"{transport} at c={c}: {fmt(tg['calls_per_s'] / fm['calls_per_s'], 0)}x the calls/s"
            )
if versus:
    md.append("")
    md.append("toolgate against FastMCP 4.1.6 on the same backend: " + "; ".join(versus) + ".")
if startup:
    md.append("")
    md.append("### Start-up and memory (stdio, timed from the spawn)")
    md.append("")
    md.append(
        "| case | tools | first tools/list ms | later tools/list p50 ms | peak RSS MB | tools/list bytes |"
    )
    md.append("|---|---|---|---|---|---|")
    names = {
        "github_toolgate": "toolgate, GitHub REST API (api.github.com.json)",
        "github_fastmcp": "FastMCP 4.1.6, GitHub REST API",
        "demo_stdio": "toolgate demo --stdio",
    }
    for k, v in startup.items():
        md.append(
            "| {n} | {t} | {f} | {l} | {r} | {b} |".format(
                n=names.get(k, k) + (f" (median of {v['runs']})" if v.get("runs", 1) > 1 else ""),
                t=fmt(v.get("tools")),
                f=fmt(v.get("first_tools_list_ms_median"), 1),
                l=fmt(v.get("later_tools_list_p50_ms"), 2),
                r=fmt(v.get("peak_rss_mb"), 1) if v.get("peak_rss_mb") else "–",
                b=fmt(v.get("tools_list_bytes")),
            )
        )
if idle:
    md.append("")
    md.append(
        "Idle sessions (toolgate, session mode): {o} opened in {s:.2f} s, RSS {b} → {a} kB, "
        "{p} per session.".format(
            o=idle["opened"],
            s=idle["open_s"],
            b=idle.get("rss_before_kb"),
            a=idle.get("rss_after_kb"),
            p=fmt((idle.get("bytes_per_session") or 0) / 1024, 1, " KB"),
        )
    )
md.append("")
md.append("### Targets")
md.append("")
md.append("| target | goal | measured | met |")
md.append("|---|---|---|---|")
for t in targets:
    note = f" ({t['note']})" if t["note"] else ""
    md.append(
        f"| {t['target']} | {t['goal']} | {t['measured']} {t['unit']}{note} | "
        f"{'yes' if t['met'] else '**no**'} |"
    )
with open(os.path.join(out, "latest.md"), "w", encoding="utf-8") as fh:
    fh.write("\n".join(md) + "\n")

# BENCHMARKS.md carries a copy of the table between markers; refresh it from this run.
doc = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "BENCHMARKS.md")
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
if os.path.exists(doc):
    text = open(doc, encoding="utf-8").read()
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        body = "\n".join(md)
        text = f"{head}{BEGIN}\n<!-- generated by bench/summarize.py from bench/results/latest.json -->\n{body}\n{END}{tail}"
        open(doc, "w", encoding="utf-8").write(text)
