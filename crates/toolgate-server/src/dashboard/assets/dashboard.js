// toolgate's live dashboard: polls /admin/dashboard/data every 2 s and draws it.
// Hand-written, no framework, no build step; served under a CSP that allows only this
// origin's own script, style and data, so nothing here uses inline handlers or styles, and
// every value from the gateway is set as text (never as HTML).
"use strict";

(() => {
  const DATA_URL = "/admin/dashboard/data";
  const POLL_MS = 2000;
  const HISTORY = 90; // points kept per series: 3 minutes at one poll every 2 s
  const MAX_PLOTTED = 12; // tools drawn in the plots (the busiest); the table has them all
  const TOKEN_KEY = "toolgate.dashboard.token";
  const SVG = "http://www.w3.org/2000/svg";
  const COLORS = ["#2f6fde", "#e0702a", "#2a9d5c", "#b6409a", "#8a6d1f", "#0f8fa3",
    "#6b4fd1", "#c23b3b", "#5d7a12", "#a35a00", "#3d5a80", "#9c2f6b"];

  const series = new Map(); // tool -> { rate: [], p50: [], p95: [] }, aligned with `stamps`
  const stamps = [];
  const colors = new Map();
  let updates = 0;

  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function svgEl(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    return node;
  }

  function colorOf(tool) {
    if (!colors.has(tool)) colors.set(tool, COLORS[colors.size % COLORS.length]);
    return colors.get(tool);
  }

  const fmt = (v, digits) => (v === null || v === undefined ? "–" : Number(v).toFixed(digits));
  const pct = (v) => (v === null || v === undefined ? "–" : (v * 100).toFixed(1) + " %");

  function setStatus(kind, text) {
    const s = $("status");
    s.className = "status " + kind;
    s.textContent = text;
  }

  // ---- token (authentication on) ----
  function token() {
    try { return sessionStorage.getItem(TOKEN_KEY) || ""; } catch (_) { return ""; }
  }

  function setupToken() {
    $("token-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const t = $("token").value.trim().replace(/^Bearer\s+/i, "");
      try { sessionStorage.setItem(TOKEN_KEY, t); } catch (_) { /* private mode */ }
      $("token").value = "";
      poll();
    });
    $("token-forget").addEventListener("click", () => {
      try { sessionStorage.removeItem(TOKEN_KEY); } catch (_) { /* private mode */ }
      $("token-form").hidden = false;
    });
  }

  // ---- polling ----
  async function poll() {
    const headers = { Accept: "application/json" };
    const t = token();
    if (t) headers.Authorization = "Bearer " + t;
    let response;
    try {
      response = await fetch(DATA_URL, { headers, cache: "no-store", credentials: "omit" });
    } catch (_) {
      setStatus("error", "gateway unreachable; retrying");
      return;
    }
    if (!response.ok) {
      let message = response.status + " " + response.statusText;
      try {
        const body = await response.json();
        if (body && body.error) message = typeof body.error === "string" ? body.error : JSON.stringify(body.error);
      } catch (_) { /* not JSON */ }
      if (response.status === 401 || response.status === 403) $("token-form").hidden = false;
      setStatus("error", message);
      return;
    }
    let data;
    try { data = await response.json(); } catch (_) {
      setStatus("error", "the gateway answered something that is not JSON");
      return;
    }
    $("token-form").hidden = true;
    record(data);
    render(data);
    updates += 1;
    document.body.dataset.updates = String(updates);
    setStatus("live", "live · " + new Date(data.server.time_ms).toLocaleTimeString());
  }

  function record(data) {
    stamps.push(data.server.time_ms);
    if (stamps.length > HISTORY) stamps.shift();
    const present = new Set();
    for (const tool of data.tools) {
      if (tool.calls_total === 0 && !series.has(tool.name)) continue;
      present.add(tool.name);
      if (!series.has(tool.name)) {
        const pad = () => new Array(stamps.length - 1).fill(null);
        series.set(tool.name, { rate: pad(), p50: pad(), p95: pad() });
      }
      const s = series.get(tool.name);
      s.rate.push(tool.calls_per_s);
      s.p50.push(tool.p50_ms);
      s.p95.push(tool.p95_ms);
    }
    for (const [name, s] of series) {
      if (!present.has(name)) { s.rate.push(null); s.p50.push(null); s.p95.push(null); }
      for (const k of ["rate", "p50", "p95"]) if (s[k].length > HISTORY) s[k].shift();
    }
  }

  // ---- rendering ----
  function render(data) {
    $("server-name").textContent = data.server.name;
    $("server-version").textContent = "v" + data.server.version + " · up " + data.server.uptime_s + " s";
    $("window").textContent = "(last " + Math.round(data.window_s) + " s)";
    $("window-s").textContent = String(Math.round(data.window_s) || 10);
    renderCards(data);
    const busiest = data.tools.filter((t) => t.calls_total > 0)
      .sort((a, b) => b.calls_per_s - a.calls_per_s || b.calls_total - a.calls_total)
      .slice(0, MAX_PLOTTED);
    renderRatePlot(busiest.map((t) => t.name));
    renderLatency(busiest);
    renderTools(data.tools);
    renderSources(data);
    renderLimits(data.rate_limits);
  }

  function renderCards(data) {
    let rate = 0, calls = 0, errors = 0, windowCalls = 0, windowErrors = 0;
    for (const t of data.tools) {
      rate += t.calls_per_s;
      calls += t.calls_total;
      errors += t.errors_total;
      windowCalls += t.window_calls;
      windowErrors += Math.round((t.error_rate || 0) * t.window_calls);
    }
    $("total-rate").textContent = rate.toFixed(2);
    $("total-calls").textContent = String(calls);
    const errorRate = windowCalls > 0 ? windowErrors / windowCalls : 0;
    const e = $("total-errors");
    e.replaceChildren(document.createTextNode(pct(errorRate)), el("span", { class: "sub" }, errors + " errors since start"));
    e.className = errorRate > 0.05 ? "bad" : "";
    const refused = data.rate_limits.refused_total;
    $("refusals").textContent = String(refused);
    $("refusals").className = refused > 0 ? "warn" : "";
    $("sessions").textContent = data.sessions.open === null ? "stateless" : String(data.sessions.open);
    $("in-flight").textContent = String(data.sessions.in_flight);
    const c = data.config;
    if (c && c.hash) {
      $("config-hash").textContent = "hash " + c.hash + (c.path ? " · " + c.path : "");
      const last = c.last_reload;
      const r = $("config-reload");
      if (last) {
        r.textContent = "last reload: " + last.outcome + " at " + new Date(last.at_unix * 1000).toLocaleTimeString() +
          (last.error ? " — " + last.error : "") + " (" + c.reloads.success + " ok, " + c.reloads.failure + " refused)";
        r.className = "small " + (last.outcome === "success" ? "good" : "bad");
      } else {
        r.textContent = "no reload since start (loaded " + new Date(c.loaded_at_unix * 1000).toLocaleTimeString() + ")";
        r.className = "small";
      }
    } else {
      $("config-hash").textContent = "no configuration file (flags only)";
      $("config-reload").textContent = "";
    }
  }

  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }

  function pathOf(values, x, y) {
    let d = "", pen = false;
    values.forEach((v, i) => {
      if (v === null || v === undefined) { pen = false; return; }
      d += (pen ? "L" : "M") + x(i).toFixed(1) + " " + y(v).toFixed(1);
      pen = true;
    });
    return d;
  }

  // One chart: `lines` is [{ values, color, cls }], `budgets` is [{ value, label }]. The
  // scale follows the data; a budget far above it is named at the top instead of squashing
  // the lines flat.
  function chart(container, lines, budgets) {
    const w = Math.max(container.clientWidth, 200), h = Math.max(container.clientHeight, 60);
    const left = 40, right = 8, top = 10, bottom = 16;
    let max = 0;
    for (const l of lines) for (const v of l.values) if (v !== null && v > max) max = v;
    const near = budgets.filter((b) => b.value <= Math.max(max * 3, 1e-9));
    for (const b of near) if (b.value > max) max = b.value;
    max = niceMax(max * 1.15);
    // The x axis spans the history so far (at least a minute), up to HISTORY points.
    const span = Math.min(HISTORY, Math.max(stamps.length, 30));
    const n = stamps.length;
    const x = (i) => left + (i + (span - n)) * (w - left - right) / (span - 1);
    const y = (v) => top + (1 - v / max) * (h - top - bottom);
    const svg = svgEl("svg", { viewBox: "0 0 " + w + " " + h, width: w, height: h });
    const text = (attrs, content) => {
      const t = svgEl("text", Object.assign({ class: "tick" }, attrs));
      t.textContent = content;
      svg.append(t);
    };
    for (const f of [0, 0.5, 1]) {
      const yy = y(max * f);
      svg.append(svgEl("line", { class: "axis", x1: left, x2: w - right, y1: yy, y2: yy }));
      text({ x: left - 4, y: yy + 3, "text-anchor": "end" }, String(+(max * f).toPrecision(3)));
    }
    text({ x: w - right, y: h - 3, "text-anchor": "end" }, "now");
    text({ x: left, y: h - 3 }, "−" + Math.round(span * POLL_MS / 1000) + " s");
    for (const b of near) {
      const yy = y(b.value);
      svg.append(svgEl("line", { class: "budget", x1: left, x2: w - right, y1: yy, y2: yy }));
      text({ x: w - right - 2, y: yy - 3, "text-anchor": "end" }, b.label);
    }
    const far = budgets.filter((b) => !near.includes(b));
    if (far.length) {
      text({ x: w - right - 2, y: top + 1, "text-anchor": "end" },
        far.map((b) => b.label + " " + b.value + " ↑").join(" · "));
    }
    for (const l of lines) {
      svg.append(svgEl("path", { class: "series " + (l.cls || ""), d: pathOf(l.values, x, y), stroke: l.color }));
    }
    container.replaceChildren(svg);
  }

  function renderRatePlot(names) {
    const plot = $("rate-plot"), legend = $("legend");
    if (names.length === 0) {
      plot.replaceChildren(el("p", { class: "tick" }, "no tool called yet"));
      legend.replaceChildren();
      return;
    }
    chart(plot, names.map((n) => ({ values: series.get(n).rate, color: colorOf(n) })), []);
    legend.replaceChildren(...names.map((n) => {
      const s = el("span", { class: "swatch" }, n);
      s.style.color = colorOf(n);
      return s;
    }));
  }

  function renderLatency(tools) {
    const box = $("latency-plots");
    if (tools.length === 0) {
      box.replaceChildren(el("p", { class: "tick" }, "no tool called yet"));
      return;
    }
    box.replaceChildren(...tools.map((t) => {
      const card = el("div", { class: "mini" + (t.over_budget ? " over" : "") });
      const title = el("h3", {}, t.name);
      const b = t.budget || {};
      title.append(el("span", {}, "p95 " + fmt(t.p95_ms, 2) + " ms" + (b.p95_ms != null ? " (budget " + b.p95_ms + ")" : "")));
      if (b.p95_ms != null) card.dataset.budgetP95 = String(b.p95_ms);
      const area = el("div", { class: "area" });
      card.append(title, area);
      const s = series.get(t.name);
      const budgets = [];
      if (b.p95_ms != null) budgets.push({ value: b.p95_ms, label: "p95 budget" });
      if (b.p50_ms != null) budgets.push({ value: b.p50_ms, label: "p50 budget" });
      // Drawn once the card is in the document (the chart sizes itself to it).
      queueMicrotask(() => chart(area, [
        { values: s ? s.p95 : [], color: colorOf(t.name) },
        { values: s ? s.p50 : [], color: colorOf(t.name), cls: "p50" },
      ], budgets));
      return card;
    }));
  }

  function cell(text, cls) {
    return el("td", cls ? { class: cls } : {}, text);
  }

  function renderTools(tools) {
    const rows = [...tools].sort((a, b) => b.calls_total - a.calls_total || a.name.localeCompare(b.name));
    $("tools").tBodies[0].replaceChildren(...rows.map((t) => {
      const b = t.budget || {};
      const over = (v, lim) => (v != null && lim != null && v > lim ? "num over" : "num");
      const tr = el("tr", { "data-tool": t.name });
      tr.append(
        cell(t.name), cell(t.source || "–"),
        cell(fmt(t.calls_per_s, 2), "num"),
        cell(pct(t.error_rate), t.error_rate > 0.05 ? "num over" : "num"),
        cell(fmt(t.p50_ms, 2), over(t.p50_ms, b.p50_ms)),
        cell(fmt(t.p95_ms, 2), over(t.p95_ms, b.p95_ms)),
        cell((b.p50_ms ?? "–") + " / " + (b.p95_ms ?? "–"), "num"),
        cell(t.calls_total, "num"), cell(t.errors_total, "num"));
      return tr;
    }));
  }

  function renderSources(data) {
    const breakers = new Map(data.breakers.map((b) => [b.source, b]));
    const names = new Set([...data.sources.map((s) => s.source), ...breakers.keys()]);
    const health = new Map(data.sources.map((s) => [s.source, s]));
    $("sources").tBodies[0].replaceChildren(...[...names].sort().map((name) => {
      const h = health.get(name), b = breakers.get(name);
      const tr = el("tr");
      const state = h ? (h.healthy ? "healthy" : "unhealthy: " + (typeof h.detail === "string" ? h.detail : JSON.stringify(h.detail))) : "–";
      tr.append(
        cell(name),
        cell(state, h ? (h.healthy ? "good" : "bad") : ""),
        cell(b ? b.state + (b.retry_in_ms != null ? " (retry in " + Math.round(b.retry_in_ms / 1000) + " s)" : "") : "–",
          b && b.state !== "closed" ? "bad" : ""),
        cell(b ? b.window_calls + " / " + b.window_failures : "–", "num"));
      return tr;
    }));
  }

  function renderLimits(limits) {
    const rows = Object.entries(limits.by_limit).map(([name, n]) => [name, n]);
    rows.push(["concurrency caps", limits.concurrency_refusals]);
    rows.push(["HTTP request limits", limits.http_refusals]);
    $("limits").tBodies[0].replaceChildren(...rows.map(([name, n]) => {
      const tr = el("tr");
      tr.append(cell(name), cell(n, n > 0 ? "num warn" : "num"));
      return tr;
    }));
  }

  setupToken();
  poll();
  setInterval(poll, POLL_MS);
})();
