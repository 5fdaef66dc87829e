// The ops page: reads and changes the serving policy through /admin/..., with the admin token.
"use strict";

const state = { token: "", etag: "", tiers: [], edges: [], timer: null, curve: [], seq: 0 };
const $ = (id) => document.getElementById(id);
const fmt = {
  usd: (v) => (v === null || v === undefined ? "n/a" : "$" + Number(v).toPrecision(4)),
  q: (v) => (v === null || v === undefined ? "n/a" : Number(v).toFixed(3)),
  n: (v) => (v === null || v === undefined ? "n/a" : Math.round(v).toLocaleString("en")),
  pct: (v) => (100 * v).toFixed(1) + "%",
};

async function call(method, path, body, headers = {}) {
  const response = await fetch(path, {
    method,
    headers: { Authorization: "Bearer " + state.token, "Content-Type": "application/json",
      ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const message = (data.error && data.error.message) || response.statusText;
    throw new Error(response.status + ": " + message);
  }
  return { data, etag: response.headers.get("ETag") };
}

function say(message, error = false) {
  $("status").textContent = message;
  $("status").className = error ? "error" : "";
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.appendChild(td);
}

function renderPolicy(policy) {
  $("policy-version").textContent = "version " + policy.version + " · ETag " + policy.etag;
  const body = $("policy-table").querySelector("tbody");
  body.replaceChildren();
  for (const tier of policy.tiers) {
    const row = body.insertRow();
    row.dataset.tier = tier.name;
    const budget = tier.budget;
    const price = tier.price ? tier.price.input_per_mtok + " / " + tier.price.output_per_mtok
      : "litellm's";
    [tier.name, tier.band_text, tier.model,
      (budget.effort || "-") + " / " + (budget.budget_tokens ?? "-") + " / " + budget.max_tokens,
      tier.strategy.samples + " x " + tier.strategy.select, price].forEach((t) => cell(row, t));
  }
}

function renderTraffic(summary) {
  const body = $("traffic").querySelector("tbody");
  body.replaceChildren();
  const total = summary.requests || 0;
  for (const [name, tier] of Object.entries(summary.tiers)) {
    const row = body.insertRow();
    [name, fmt.n(tier.requests), total ? fmt.pct(tier.requests / total) : "-",
      fmt.usd(tier.spend_usd), fmt.n(tier.reasoning_tokens), fmt.n(tier.with_outcome)]
      .forEach((t) => cell(row, t));
  }
  const row = body.insertRow();
  ["all", fmt.n(total), total ? "100%" : "-", fmt.usd(summary.spend_usd || 0),
    fmt.n(summary.reasoning_tokens || 0), ""].forEach((t) => cell(row, t));
}

function renderSliders() {
  const box = $("sliders");
  box.replaceChildren();
  state.edges.forEach((edge, i) => {
    const line = document.createElement("div");
    line.className = "slider";
    const label = document.createElement("label");
    label.htmlFor = "edge-" + i;
    label.textContent = state.tiers[i].name + " | " + state.tiers[i + 1].name;
    const input = document.createElement("input");
    Object.assign(input, { type: "range", id: "edge-" + i, min: "0.001", max: "0.999",
      step: "0.001", value: String(edge) });
    const out = document.createElement("output");
    out.id = "edge-value-" + i;
    out.textContent = edge.toFixed(3);
    input.addEventListener("input", () => moved(i, Number(input.value)));
    line.append(label, input, out);
    box.appendChild(line);
  });
}

function moved(i, value) {
  const low = i > 0 ? state.edges[i - 1] + 0.001 : 0.001;
  const high = i < state.edges.length - 1 ? state.edges[i + 1] - 0.001 : 0.999;
  value = Math.min(Math.max(value, low), high);
  state.edges[i] = Number(value.toFixed(3));
  $("edge-" + i).value = String(state.edges[i]);
  $("edge-value-" + i).textContent = state.edges[i].toFixed(3);
  clearTimeout(state.timer);
  state.timer = setTimeout(simulate, 200);
}

function shares(figures) {
  return Object.entries(figures.shares).map(([k, v]) => k + " " + fmt.pct(v)).join(", ");
}

function renderProjection(result, which) {
  const figures = which === "current" ? result.current : result.candidate;
  $("spend-" + which).textContent = fmt.usd(figures.cost_per_1k.value);
  $("quality-" + which).textContent = fmt.q(figures.quality.value);
  $("reasoning-" + which).textContent = fmt.n(figures.reasoning_tokens_per_1k.value);
  $("shares-" + which).textContent = shares(figures);
}

async function simulate(withCurve = false) {
  const seq = ++state.seq;
  try {
    const { data } = await call("POST", "/admin/policy/simulate",
      { edges: state.edges, resamples: 50, curve: withCurve });
    if (seq !== state.seq) return;  // a newer slider move is on its way
    if (withCurve) {
      state.curve = data.curve;
      renderProjection(data, "current");
    }
    renderProjection(data, "candidate");
    drawCurve(data.current, data.candidate);
    $("verdict").textContent = Object.values(data.verdicts).map((v) => v.says).join(" · ");
  } catch (error) {
    say("simulation: " + error.message, true);
  }
}

function drawCurve(current, candidate) {
  const svg = $("curve");
  const points = state.curve.map((p) => [p.cost_per_1k, p.quality]);
  const marks = [[current, "var(--accent)"], [candidate, "var(--warn)"]]
    .filter(([f]) => f && f.cost_per_1k.value !== null && f.quality.value !== null)
    .map(([f, colour]) => [f.cost_per_1k.value, f.quality.value, colour]);
  const xs = points.map((p) => p[0]).concat(marks.map((m) => m[0]));
  const ys = points.map((p) => p[1]).concat(marks.map((m) => m[1]));
  if (!xs.length) { svg.replaceChildren(); return; }
  const [x0, x1] = [Math.min(...xs), Math.max(...xs) || 1];
  const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const X = (v) => 40 + 360 * (v - x0) / ((x1 - x0) || 1);
  const Y = (v) => 270 - 250 * (v - y0) / ((y1 - y0) || 1);
  const ns = "http://www.w3.org/2000/svg";
  const el = (name, attrs, text) => {
    const node = document.createElementNS(ns, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text) node.textContent = text;
    return node;
  };
  svg.replaceChildren(
    el("line", { x1: 40, y1: 270, x2: 400, y2: 270, stroke: "#999" }),
    el("line", { x1: 40, y1: 20, x2: 40, y2: 270, stroke: "#999" }),
    el("text", { x: 40, y: 290 }, fmt.usd(x0)), el("text", { x: 360, y: 290 }, fmt.usd(x1)),
    el("text", { x: 2, y: 270 }, fmt.q(y0)), el("text", { x: 2, y: 24 }, fmt.q(y1)),
    el("text", { x: 150, y: 298 }, "cost per 1k requests →"),
    el("polyline", { fill: "none", stroke: "#999", points:
      points.map((p) => X(p[0]) + "," + Y(p[1])).join(" ") }),
    ...marks.map(([x, y, colour]) => el("circle", { cx: X(x), cy: Y(y), r: 6, fill: colour })),
  );
}

async function loadHistory() {
  const { data } = await call("GET", "/admin/policy/history?limit=10");
  const list = $("history");
  list.replaceChildren();
  for (const entry of data.entries) {
    const item = document.createElement("li");
    item.textContent = entry.time + " · " + entry.action + " " + entry.version_before + " → "
      + entry.version_after + " by " + entry.actor + " from " + (entry.address || "?")
      + (entry.reason ? " · " + entry.reason : "");
    const diff = document.createElement("pre");
    diff.textContent = entry.diff;
    item.appendChild(diff);
    list.appendChild(item);
  }
}

async function load() {
  const policy = await call("GET", "/admin/policy");
  state.etag = policy.etag;
  state.tiers = policy.data.tiers;
  state.edges = state.tiers.slice(0, -1).map((tier) => tier.band[1]);
  renderPolicy(policy.data);
  renderSliders();
  $("main").hidden = false;
  renderTraffic((await call("GET", "/admin/traffic")).data);
  await loadHistory();
  await simulate(true);
  say("Policy " + policy.data.version + " is serving.");
}

async function change(action) {
  try {
    let result;
    const headers = { "If-Match": state.etag };
    const reason = $("reason").value;
    if (action === "apply") {
      const { data } = await call("POST", "/admin/policy/edges", { edges: state.edges });
      result = await call("PUT", "/admin/policy", { policy: data.yaml, reason }, headers);
    } else {
      result = await call("POST", "/admin/policy/rollback", { reason }, headers);
    }
    await load();
    say((action === "apply" ? "Applied " : "Rolled back to ") + result.data.change.version_after
      + ".");
  } catch (error) {
    say(action + ": " + error.message, true);
  }
}

$("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  state.token = $("token").value.trim();
  sessionStorage.setItem("router-admin-token", state.token);
  try { await load(); } catch (error) { say(error.message, true); }
});
$("apply").addEventListener("click", () => change("apply"));
$("rollback").addEventListener("click", () => change("rollback"));
$("token").value = sessionStorage.getItem("router-admin-token") || "";
