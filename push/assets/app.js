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
function kindMark(kind) { return kind === "rollback" ? el("span", { class: "kind rollback" }, "rollback") : kind || "push"; }
function plural(n, word) { return n + " " + word + (n === 1 ? "" : "s"); }

// The read token arrives once in the URL fragment (#token=...), which the
// browser never sends to a server, and is kept for this tab only; the
// fragment is dropped at once so it stays out of history and screenshots.
const token = (() => {
  const m = location.hash.match(/^#token=(.+)$/);
  if (m) {
    sessionStorage.setItem("spate-token", decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem("spate-token");
})();

// Every fetch goes through here, so the page says when it lost the daemon and
// keeps retrying (a restarted daemon is picked up again without a reload).
async function api(path) {
  try {
    const r = await fetch(path, { cache: "no-store", headers: token ? { Authorization: "Bearer " + token } : {} });
    if (r.status === 401 || r.status === 403) {
      contact.className = "contact lost";
      contact.textContent = "HTTP " + r.status + ": open this page as " + location.pathname + "#token=READ_TOKEN";
      throw Object.assign(new Error(path + ": HTTP " + r.status), { denied: true });
    }
    if (!r.ok) throw new Error(path + ": HTTP " + r.status);
    const j = await r.json();
    if (lostSince !== null) { lostSince = null; contact.className = "contact ok"; contact.textContent = "live"; }
    return j;
  } catch (e) {
    if (e.denied) throw e;
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
    el("table", { id: "pushes" }, el("thead", {}, el("tr", {}, ...["push", "kind", "artifact", "state", "started by",
      "started", "duration", "wave", "installed", "failed", "pending", "hosts"].map(h => el("th", {}, h)))), body));
  every(2000, async () => {
    const j = await api("/api/v1/pushes");
    body.replaceChildren(...j.pushes.map(p => el("tr", { "data-push": p.id, "data-kind": p.kind || "push" },
      el("td", {}, el("a", { href: "/pushes/" + p.id }, "#" + p.id)), el("td", {}, kindMark(p.kind)),
      el("td", {}, p.artifact), el("td", {}, badge(p.state)),
      el("td", {}, p.started_by || "-"), el("td", {}, when(p.created_at)),
      el("td", {}, dur((p.finished_at || Date.now()) - p.created_at)),
      el("td", { class: "wave" }, (p.wave + 1) + "/" + (p.waves || 1)),
      el("td", {}, p.installed), el("td", { class: p.failed ? "bad" : "" }, p.failed),
      el("td", { title: p.staged ? p.staged + " of them staged" : "" }, p.pending), el("td", {}, p.hosts))));
    if (!j.pushes.length) body.replaceChildren(el("tr", {}, el("td", { colspan: 12, class: "muted" }, "no pushes yet")));
  });
}

// ---- one push, live ----

// What the push is doing now, in words: the phase line of the summary.
// `skew` is the server clock minus ours, so a countdown is right on a host
// whose clock is off.
function phaseText(p, n, skew) {
  if (p.state === "paused") return "paused: " + (p.reason || "no reason given");
  // The controller's own reason already reads "cancelled by NAME".
  if (p.state === "cancelled") return /^cancelled/.test(p.reason || "") ? p.reason : "cancelled: " + (p.reason || "");
  if (p.state !== "active") return p.state + (p.finished_at ? " at " + when(p.finished_at) : "");
  if (p.next_wave_at)
    return "wave " + (p.wave + 1) + " healthy; next wave in " +
      Math.max(0, Math.ceil((p.next_wave_at - Date.now() - skew) / 1000)) + " s";
  if (n > 1) return "activating wave " + (p.wave + 1) + (p.wave + 1 < n ? "; later waves stage and wait" : ", the last");
  return "distributing and activating";
}

function pushPage(id) {
  document.title = "Spate push " + id;
  const rows = new Map();  // host -> row
  let push = null, since = 0, skew = 0, stragglers = [];
  // The bandwidth bound (seconds): the page cannot know link caps, so it is
  // given: ?bound=SECONDS wins (the reader asked for it), else the answer's
  // "bound_s" when a daemon sends one.
  const urlBound = Number(new URLSearchParams(location.search).get("bound")) || 0;
  const series = { installed: [], rate: [], bound: [] };
  const summary = el("div", { class: "summary", id: "summary" });
  const phase = el("div", { class: "phase", id: "phase-box" });
  const waves = el("tbody");
  const wavesBox = el("div", { hidden: "" }, el("h2", {}, "Waves"), el("table", { id: "waves" }, el("thead", {},
    el("tr", {}, ...["wave", "hosts", "installed", "staged", "in flight", "pending", "failed", "other", "status"]
      .map(h => el("th", {}, h)))), waves));
  const racks = el("div", { class: "racks", id: "racks" });
  const detail = el("div", { id: "detail", class: "muted" }, "hover or click a host for its detail");
  const problems = el("tbody");
  const boundNote = el("p", { class: "muted", id: "bound", hidden: "" });
  const waveKey = el("span", { class: "muted", hidden: "" }, "· the digit in a cell is its wave");
  const c1 = el("canvas"), c2 = el("canvas");
  main.replaceChildren(el("h1", { id: "title" }, "Push " + id), el("p", { class: "muted", id: "meta" }), summary, phase,
    el("div", { class: "charts" }, el("div", {}, c1), el("div", {}, c2)), boundNote, wavesBox,
    el("h2", {}, "Hosts by rack"),
    el("div", { class: "legend" }, ...STATES.map(s => el("span", {}, el("i", { class: "s-" + s }), s)), waveKey),
    racks, detail,
    el("h2", {}, "Stragglers and failures"),
    el("table", { id: "problems" }, el("thead", {}, el("tr", {}, ...["host", "rack", "wave", "state", "cause", "progress",
      "rate", "peers", "reason"].map(h => el("th", {}, h)))), problems));
  const linear = { type: "linear", min: 0, title: { display: true, text: "seconds since start" } };
  // No bound given: no legend entry for an empty line.
  const legend = { labels: { filter: (item, data) => data.datasets[item.datasetIndex].data.length > 0 } };
  const charts = window.Chart ? [
    new Chart(c1, { type: "line", data: { datasets: [
      { label: "hosts installed", data: series.installed, stepped: true, borderColor: "#43a047", pointRadius: 0 },
      { label: "bandwidth bound", data: series.bound, borderColor: "#c62828", borderDash: [6, 4], pointRadius: 0 }] },
      options: { animation: false, maintainAspectRatio: false, parsing: false, plugins: { legend },
        scales: { x: linear, y: { beginAtZero: true } } } }),
    new Chart(c2, { type: "line", data: { datasets: [{ label: "aggregate download, MiB/s", data: series.rate,
      borderColor: "#42a5f5", pointRadius: 0 }] }, options: { animation: false, maintainAspectRatio: false,
      parsing: false, scales: { x: linear, y: { beginAtZero: true } } } })] : [];

  const progress = r => r.state === "installed" || r.state === "staged" ? 1 : (r.bytes_done || 0) / (r.total || push.size || 1);
  function show(r) {
    detail.className = "";
    detail.replaceChildren(el("b", {}, r.host), " ", r.addr || "", " ", r.location, " — ", badge(r.state),
      " wave " + (r.wave + 1) + ", ", bytes(r.bytes_done) + " / " + bytes(r.total || push.size || 0),
      ", " + bytes(r.rate || 0) + "/s, " + plural(r.peers || 0, "peer") + (r.tries > 1 ? ", try " + r.tries : ""),
      r.error ? " — " + r.error : "", " (last report " + when(r.updated_at) + ")");
  }
  function render() {
    const hosts = [...rows.values()];
    const total = push.hosts_total || hosts.length;
    const nWaves = Math.max(1, (push.waves || []).length);
    const count = Object.fromEntries(STATES.map(s => [s, 0]));
    for (const r of hosts) count[r.state] = (count[r.state] || 0) + 1;
    document.getElementById("title").replaceChildren("Push " + id + ": " + push.artifact + " ", badge(push.state),
      ...(push.kind === "rollback" ? [" ", kindMark(push.kind)] : []));
    document.getElementById("meta").textContent = [push.kind === "rollback" ? "rollback" : "push",
      "started by " + (push.started_by || "unknown") + " at " + when(push.created_at),
      nWaves > 1 ? "waves of " + push.waves.join(", ") + " hosts" : "one wave",
      "max failures " + push.max_failures, push.wave_pause_ms ? "wave pause " + dur(push.wave_pause_ms) : ""]
      .filter(Boolean).join(" · ");
    summary.replaceChildren(
      el("div", {}, el("b", { id: "count-installed" }, count.installed + " / " + total), "installed"),
      el("div", {}, el("b", { id: "count-failed" }, count.failed), "failed"),
      el("div", {}, el("b", { id: "count-staged" }, count.staged), "staged"),
      el("div", {}, el("b", {}, count.downloading + count.verifying), "in flight"),
      el("div", {}, el("b", {}, count.pending), "pending"),
      el("div", {}, el("b", {}, bytes(push.size || 0)), "artifact"),
      el("div", {}, el("b", {}, dur((push.finished_at || Date.now() + skew) - push.created_at)), "elapsed"));
    phase.className = "phase p-" + push.state;
    phase.replaceChildren(el("b", { id: "wave" }, "wave " + (push.wave + 1) + "/" + nWaves), " ",
      el("span", { id: "phase" }, phaseText(push, nWaves, skew)));

    // Per wave, where its hosts are: the wave now allowed to activate is marked.
    wavesBox.hidden = waveKey.hidden = nWaves < 2;
    const perWave = Array.from({ length: nWaves }, () => Object.fromEntries(STATES.map(s => [s, 0])));
    for (const r of hosts) if (perWave[r.wave]) perWave[r.wave][r.state]++;
    waves.replaceChildren(...perWave.map((w, i) => el("tr", { "data-wave": i + 1, class: i === push.wave ? "now" : "" },
      el("td", {}, i + 1), el("td", {}, push.waves[i] ?? "-"), el("td", {}, w.installed), el("td", {}, w.staged),
      el("td", {}, w.downloading + w.verifying), el("td", {}, w.pending), el("td", { class: w.failed ? "bad" : "" }, w.failed),
      el("td", {}, w.superseded + w.cancelled),
      el("td", { class: "muted" }, i < push.wave ? "activated" : i === push.wave ? (push.state === "active" ?
        "activating" : push.state) : "staging only"))));

    const byRack = new Map();
    for (const r of hosts) {
      if (!byRack.has(r.location)) byRack.set(r.location, []);
      byRack.get(r.location).push(r);
    }
    // Within a rack, cells run in wave order, so a wave reads as one run of cells.
    const order = (a, b) => a.wave - b.wave || (a.host < b.host ? -1 : 1);
    racks.replaceChildren(...[...byRack.keys()].sort().map(loc => el("div", { class: "rack", "data-rack": loc },
      el("h3", {}, loc), el("div", { class: "cells" }, ...byRack.get(loc).sort(order)
        .map(r => el("span", { class: "cell s-" + r.state,
          title: r.host + ": " + r.state + ", wave " + (r.wave + 1) + (r.error ? " — " + r.error : ""),
          "data-host": r.host, "data-state": r.state, "data-wave": r.wave + 1, onmouseenter: () => show(r),
          onclick: () => show(r) }, nWaves > 1 ? r.wave + 1 : ""))))));

    // Failed hosts with their error, then the server's stragglers: it judges
    // every row (a stuck host stops sending changed rows), the page cannot.
    const failed = hosts.filter(r => r.state === "failed").sort((a, b) => a.wave - b.wave || (a.host < b.host ? -1 : 1));
    const line = (r, s) => el("tr", { "data-host": r.host }, el("td", {}, r.host), el("td", {}, r.location),
      el("td", {}, r.wave === undefined ? "-" : r.wave + 1), el("td", {}, badge(r.state)),
      el("td", { class: "cause" }, s ? s.cause : "failed"),
      // A failed host's report carries no byte count: "0%" would be a guess.
      el("td", {}, (r.total || push.size) && (r.state !== "failed" || r.bytes_done) ? Math.round(100 * progress(r)) + "%" : "-"),
      el("td", {}, bytes((s || r).rate || 0) + "/s"), el("td", {}, (s || r).peers ?? "-"),
      el("td", { class: "reason" }, s ? s.reason : r.error || ""));
    const shownFailed = failed.slice(0, 100);
    problems.replaceChildren(...shownFailed.map(r => line(r, null)),
      ...(failed.length > shownFailed.length ? [el("tr", {}, el("td", { colspan: 9, class: "muted" },
        "and " + (failed.length - shownFailed.length) + " more failed"))] : []),
      ...stragglers.map(s => line(rows.get(s.host) || s, s)));
    if (!failed.length && !stragglers.length)
      problems.replaceChildren(el("tr", {}, el("td", { colspan: 9, class: "muted" }, "none")));

    // Installs over time come from each host's install time, so the chart is right after a reload too.
    const done = hosts.filter(r => r.state === "installed").map(r => (r.updated_at - push.created_at) / 1000).sort((a, b) => a - b);
    series.installed.splice(0, series.installed.length, { x: 0, y: 0 }, ...done.map((t, i) => ({ x: t, y: i + 1 })));
    const bound = urlBound || push.bound_s || 0;
    series.bound.splice(0, series.bound.length, ...(bound > 0 ? [{ x: bound, y: 0 }, { x: bound, y: total }] : []));
    boundNote.hidden = !(bound > 0);
    boundNote.textContent = bound > 0 ? "bandwidth bound: " + bound + " s (" + (urlBound ? "from ?bound=" : "from the daemon") +
      "), the dashed line on the installs chart" : "";
    if (charts.length) charts[0].options.scales.y.max = total;
    if (push.state === "active")
      series.rate.push({ x: (Date.now() + skew - push.created_at) / 1000, y: hosts.reduce((s, r) => s + (r.rate || 0), 0) / 1048576 });
    for (const c of charts) c.update();
  }
  every(1000, async () => {
    // After lost contact, ask for every row: a restarted daemon may hold rows
    // older than the last "now" it sent (writes it had not flushed).
    const full = !since || lostSince !== null;
    const j = await api("/api/v1/pushes/" + id + (full ? "" : "?since=" + since));
    if (full) rows.clear();
    for (const r of j.hosts) rows.set(r.host, r);
    push = j;
    stragglers = j.stragglers || [];
    since = j.now || 0;
    if (j.now) skew = j.now - Date.now();
    render();
  });
}

// ---- the fleet: versions per rack, and skew ----
function fleetPage() {
  document.title = "Spate fleet";
  const body = el("tbody");
  const skewLine = el("p", { id: "skew", class: "summary-line" });
  main.replaceChildren(el("h1", {}, "Fleet"), skewLine, el("table", { id: "fleet" }, el("thead", {}, el("tr", {},
    ...["rack", "hosts", "artifact", "versions (hosts)", "skew"].map(h => el("th", {}, h)))), body));
  const listed = v => Object.entries(v).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  every(3000, async () => {
    const j = await api("/api/v1/fleet");
    const fleet = {};  // name -> version -> hosts, over every rack
    const out = [];
    for (const rack of [...(j.racks || [])].sort((a, b) => a.location < b.location ? -1 : 1)) {
      const names = Object.keys(rack.versions || {}).sort();
      if (!names.length) out.push(el("tr", { "data-rack": rack.location }, el("td", {}, rack.location),
        el("td", {}, rack.hosts), el("td", { class: "muted", colspan: 3 }, "no installs reported")));
      for (const name of names) {
        const v = rack.versions[name];
        fleet[name] = fleet[name] || {};
        for (const [ver, n] of Object.entries(v)) fleet[name][ver] = (fleet[name][ver] || 0) + n;
        const skewed = Object.keys(v).length > 1;
        out.push(el("tr", { "data-rack": rack.location, class: skewed ? "skewed" : "" }, el("td", {}, rack.location),
          el("td", {}, rack.hosts), el("td", {}, name),
          el("td", {}, listed(v).map(([ver, n]) => ver + " (" + n + ")").join(", ")),
          el("td", { class: skewed ? "skew" : "" }, skewed ? Object.keys(v).length + " versions" : "none")));
      }
    }
    body.replaceChildren(...(out.length ? out : [el("tr", {}, el("td", { colspan: 5, class: "muted" }, "no hosts known"))]));
    // One line for the whole fleet: which names run more than one version, and where most hosts are.
    const names = Object.keys(fleet).sort();
    const skewed = names.filter(n => Object.keys(fleet[n]).length > 1);
    skewLine.className = skewed.length ? "skew" : "muted";
    skewLine.textContent = !names.length ? "no installs reported" : (skewed.length ?
      "version skew: " + skewed.map(n => n + " runs " + listed(fleet[n]).map(([ver, c]) => ver + " on " + plural(c, "host"))
        .join(", ")).join("; ") : "no version skew: " + names.map(n => n + " " + Object.keys(fleet[n])[0] + " on " +
        plural(fleet[n][Object.keys(fleet[n])[0]], "host")).join(", "));
  });
}

const m = location.pathname.match(/^\/pushes\/(\d+)$/);
if (m) pushPage(m[1]); else if (location.pathname === "/fleet") fleetPage(); else pushList();
