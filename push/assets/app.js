// Spate dashboard: reads the same control API as `spate push`, polls about
// once a second, and asks a push only for host rows changed since the last
// answer (?since=), so a 5,000-host push costs little per update.
"use strict";

const STATES = ["pending", "downloading", "verifying", "staged", "installed", "failed", "superseded", "cancelled"];
const main = document.getElementById("main");
const contact = document.getElementById("contact");
let lostSince = null;

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k.startsWith("on")) e[k] = v; else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}
function bytes(n) {
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + u[i];
}
function dur(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 60 ? s + "s" : Math.floor(s / 60) + "m" + String(s % 60).padStart(2, "0") + "s";
}
function when(ms) { return ms ? new Date(ms).toLocaleString() : "-"; }
function badge(state) { return el("span", { class: "state s-" + state, "data-state": state }, state); }

// Every fetch goes through here, so the page says when it lost the daemon and
// keeps retrying (a restarted daemon is picked up again without a reload).
async function api(path) {
  try {
    const r = await fetch(path, { cache: "no-store" });
    if (!r.ok) throw new Error(path + ": HTTP " + r.status);
    const j = await r.json();
    if (lostSince !== null) { lostSince = null; contact.className = "contact ok"; contact.textContent = "live"; }
    return j;
  } catch (e) {
    if (lostSince === null) lostSince = Date.now();
    contact.className = "contact lost";
    contact.textContent = "lost contact since " + new Date(lostSince).toLocaleTimeString() + "; retrying";
    throw e;
  }
}
function every(ms, fn) {
  const tick = async () => { try { await fn(); } catch (e) { /* shown in the header */ } setTimeout(tick, ms); };
  tick();
}

// ---- push list ----
function pushList() {
  document.title = "Spate pushes";
  const body = el("tbody");
  main.replaceChildren(el("h1", {}, "Recent pushes"),
    el("table", { id: "pushes" }, el("thead", {}, el("tr", {}, ...["push", "artifact", "state", "started by", "started",
      "duration", "installed", "failed", "hosts"].map(h => el("th", {}, h)))), body));
  every(2000, async () => {
    const j = await api("/api/v1/pushes");
    body.replaceChildren(...j.pushes.map(p => el("tr", { "data-push": p.id },
      el("td", {}, el("a", { href: "/pushes/" + p.id }, "#" + p.id)), el("td", {}, p.artifact), el("td", {}, badge(p.state)),
      el("td", {}, p.created_by || "-"), el("td", {}, when(p.created_at)),
      el("td", {}, dur((p.finished_at || Date.now()) - p.created_at)),
      el("td", {}, p.installed), el("td", {}, p.failed), el("td", {}, p.hosts))));
    if (!j.pushes.length) body.replaceChildren(el("tr", {}, el("td", { colspan: 9, class: "muted" }, "no pushes yet")));
  });
}

// ---- one push, live ----
function pushPage(id) {
  document.title = "Spate push " + id;
  const rows = new Map();  // host -> row
  let push = null, since = 0;
  const series = { installed: [], rate: [] };
  const summary = el("div", { class: "summary", id: "summary" });
  const racks = el("div", { class: "racks", id: "racks" });
  const detail = el("div", { id: "detail", class: "muted" }, "hover or click a host for its detail");
  const problems = el("tbody");
  const c1 = el("canvas"), c2 = el("canvas");
  main.replaceChildren(el("h1", { id: "title" }, "Push " + id), summary,
    el("div", { class: "charts" }, el("div", {}, c1), el("div", {}, c2)),
    el("h2", {}, "Hosts by rack"),
    el("div", { class: "legend" }, ...STATES.map(s => el("span", {}, el("i", { class: "s-" + s }), s))),
    racks, detail,
    el("h2", {}, "Stragglers and failures"),
    el("table", { id: "problems" }, el("thead", {}, el("tr", {}, ...["host", "rack", "state", "progress", "rate", "reason"]
      .map(h => el("th", {}, h)))), problems));
  const charts = window.Chart ? [
    new Chart(c1, { type: "line", data: { datasets: [{ label: "hosts installed", data: series.installed, stepped: true,
      borderColor: "#43a047", pointRadius: 0 }] }, options: { animation: false, maintainAspectRatio: false,
      parsing: false, scales: { x: { type: "linear", min: 0, title: { display: true, text: "seconds since start" } },
        y: { beginAtZero: true } } } }),
    new Chart(c2, { type: "line", data: { datasets: [{ label: "aggregate download, MiB/s", data: series.rate,
      borderColor: "#42a5f5", pointRadius: 0 }] }, options: { animation: false, maintainAspectRatio: false,
      parsing: false, scales: { x: { type: "linear", min: 0, title: { display: true, text: "seconds since start" } },
        y: { beginAtZero: true } } } })] : [];

  function show(r) {
    detail.className = "";
    detail.replaceChildren(el("b", {}, r.host), " ", r.addr || "", " ", r.location, " — ", badge(r.state), " ",
      bytes(r.bytes_done) + " / " + bytes(r.total || push.size || 0), ", " + bytes(r.rate || 0) + "/s",
      r.error ? " — " + r.error : "", " (last report " + when(r.updated_at) + ")");
  }
  function render() {
    const hosts = [...rows.values()];
    const count = Object.fromEntries(STATES.map(s => [s, 0]));
    for (const r of hosts) count[r.state] = (count[r.state] || 0) + 1;
    document.getElementById("title").replaceChildren("Push " + id + ": " + push.artifact + " ", badge(push.state));
    const phase = push.phase ? [el("div", {}, el("b", {}, push.phase + (push.wave ? " · wave " + push.wave : "")), "phase")] : [];
    summary.replaceChildren(
      el("div", {}, el("b", { id: "count-installed" }, count.installed + " / " + hosts.length), "installed"),
      el("div", {}, el("b", { id: "count-failed" }, count.failed), "failed"),
      el("div", {}, el("b", {}, count.downloading + count.verifying), "in flight"),
      el("div", {}, el("b", {}, count.pending), "pending"),
      el("div", {}, el("b", {}, bytes(push.size || 0)), "artifact"),
      el("div", {}, el("b", {}, dur((push.finished_at || Date.now()) - push.created_at)), "elapsed"), ...phase);
    const byRack = new Map();
    for (const r of hosts) {
      if (!byRack.has(r.location)) byRack.set(r.location, []);
      byRack.get(r.location).push(r);
    }
    racks.replaceChildren(...[...byRack.keys()].sort().map(loc => el("div", { class: "rack", "data-rack": loc },
      el("h3", {}, loc), el("div", { class: "cells" }, ...byRack.get(loc).sort((a, b) => a.host < b.host ? -1 : 1)
        .map(r => el("span", { class: "cell s-" + r.state, title: r.host + ": " + r.state + (r.error ? " — " + r.error : ""),
          "data-host": r.host, "data-state": r.state, onmouseenter: () => show(r), onclick: () => show(r) }))))));
    // A straggler lags its rack: still in flight while the rack's median host is done or far ahead.
    const rackMedian = new Map([...byRack].map(([loc, rs]) => {
      const f = rs.map(r => r.state === "installed" ? 1 : (r.bytes_done || 0) / (r.total || push.size || 1)).sort();
      return [loc, f[Math.floor(f.length / 2)]];
    }));
    const bad = hosts.filter(r => r.state === "failed" || (["downloading", "pending", "verifying"].includes(r.state) &&
      rackMedian.get(r.location) - (r.bytes_done || 0) / (r.total || push.size || 1) > 0.25));
    problems.replaceChildren(...bad.map(r => el("tr", { "data-host": r.host }, el("td", {}, r.host), el("td", {}, r.location),
      el("td", {}, badge(r.state)), el("td", {}, Math.round(100 * (r.bytes_done || 0) / (r.total || push.size || 1)) + "%"),
      el("td", {}, bytes(r.rate || 0) + "/s"), el("td", { class: "reason" }, r.error || (r.state === "failed" ? "" : "behind its rack")))));
    if (!bad.length) problems.replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "muted" }, "none")));
    // Installs over time come from each host's install time, so the chart is right after a reload too.
    const done = hosts.filter(r => r.state === "installed").map(r => (r.updated_at - push.created_at) / 1000).sort((a, b) => a - b);
    series.installed.splice(0, series.installed.length, { x: 0, y: 0 }, ...done.map((t, i) => ({ x: t, y: i + 1 })));
    if (charts.length) charts[0].options.scales.y.max = hosts.length;
    if (push.state === "active")
      series.rate.push({ x: (Date.now() - push.created_at) / 1000, y: hosts.reduce((s, r) => s + (r.rate || 0), 0) / 1048576 });
    for (const c of charts) c.update();
  }
  every(1000, async () => {
    const j = await api("/api/v1/pushes/" + id + (since ? "?since=" + since : ""));
    push = j;
    if (!since) rows.clear();
    for (const r of j.hosts) rows.set(r.host, r);
    since = j.now || 0;
    render();
  });
}

// ---- the fleet: versions per rack, and skew ----
function fleetPage() {
  document.title = "Spate fleet";
  const body = el("tbody");
  main.replaceChildren(el("h1", {}, "Fleet"), el("table", { id: "fleet" }, el("thead", {}, el("tr", {},
    ...["rack", "artifact", "versions (hosts)", "skew"].map(h => el("th", {}, h)))), body));
  every(3000, async () => {
    const j = await api("/api/v1/fleet");
    const racks = new Map();  // rack -> artifact -> version -> count
    for (const h of j.hosts) for (const [name, version] of Object.entries(h.versions || {})) {
      const a = racks.get(h.location) || new Map(); racks.set(h.location, a);
      const v = a.get(name) || new Map(); a.set(name, v);
      v.set(version, (v.get(version) || 0) + 1);
    }
    const out = [];
    for (const loc of [...racks.keys()].sort()) for (const [name, v] of racks.get(loc)) out.push(el("tr", { "data-rack": loc },
      el("td", {}, loc), el("td", {}, name), el("td", {}, [...v].map(([ver, n]) => ver + " (" + n + ")").join(", ")),
      el("td", { class: v.size > 1 ? "skew" : "" }, v.size > 1 ? v.size + " versions" : "none")));
    body.replaceChildren(...(out.length ? out : [el("tr", {}, el("td", { colspan: 4, class: "muted" }, "no installs reported"))]));
  });
}

const m = location.pathname.match(/^\/pushes\/(\d+)$/);
if (m) pushPage(m[1]); else if (location.pathname === "/fleet") fleetPage(); else pushList();
