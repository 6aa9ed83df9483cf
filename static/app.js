// sockplay session page: live events over a WebSocket, the servers and
// clients panel, and the forms. The server renders the page; this module adds
// the live parts. Rendering is batched per animation frame and the table keeps
// at most MAX_ROWS rows: older events are paged in from the API on scroll.

const MAX_ROWS = 1500;
const PAGE = 300;

const app = document.getElementById("app");
const sessionID = app.dataset.session;
const api = `/api/sessions/${sessionID}`;
const body = document.getElementById("events-body");
const scroller = document.getElementById("events-scroll");
const liveState = document.getElementById("live-state");
const jumpLatest = document.getElementById("jump-latest");
const filterConn = document.getElementById("filter-conn");
const filterKind = document.getElementById("filter-kind");
const banner = document.getElementById("banner");

// Events arrive live, from gap fills and from paging; `pending` holds those
// not yet shown, keyed by seq, and `shownLast` is the newest seq in the table.
// Live rendering is contiguous: a missing seq waits for its gap fill.
const pending = new Map();
let shownFirst = 0; // oldest seq in the table (0: none)
let shownLast = 0; // newest seq in the table
let received = 0; // newest seq received (live or fill): the resume point
let follow = true; // the table shows the newest events and scrolls with them
let frameQueued = false;
let loadingOlder = false;
let ws = null;
let retryDelay = 500;
const conns = new Set();

function showError(msg) {
  banner.textContent = msg;
  banner.classList.remove("info");
  banner.hidden = false;
  clearTimeout(showError.timer);
  showError.timer = setTimeout(() => { banner.hidden = true; }, 12000);
}

async function call(method, url, payload) {
  const opts = { method, headers: {} };
  if (payload !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(payload);
  }
  const res = await fetch(url, opts);
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { error: text }; }
  if (!res.ok) {
    const err = new Error((data && data.error) || `${res.status} ${res.statusText}`);
    if (data && data.hint) err.message += `\n${data.hint}`;
    throw err;
  }
  return data;
}

// ---- formatting ----------------------------------------------------------

function b64bytes(s) {
  if (!s) return new Uint8Array(0);
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

const hex2 = (b) => b.toString(16).padStart(2, "0");
const printable = (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".");

// hexdump formats bytes as `hexdump -C` does: offset, 16 bytes as 8+8 hex,
// then the ASCII column.
export function hexdump(bytes) {
  const lines = [];
  for (let off = 0; off < bytes.length; off += 16) {
    const chunk = bytes.subarray(off, off + 16);
    let hex = "";
    for (let i = 0; i < 16; i++) {
      hex += i < chunk.length ? hex2(chunk[i]) + " " : "   ";
      if (i === 7) hex += " ";
    }
    const ascii = Array.from(chunk, printable).join("");
    lines.push(`${off.toString(16).padStart(8, "0")}  ${hex} |${ascii}|`);
  }
  return lines.join("\n");
}

function preview(bytes) {
  let s = "";
  for (const b of bytes.subarray(0, 64)) {
    if (b === 0x0a) s += "\\n";
    else if (b === 0x0d) s += "\\r";
    else if (b === 0x09) s += "\\t";
    else s += printable(b);
  }
  return bytes.length > 64 ? s + "…" : s;
}

function timeOf(at) {
  // "2026-11-25T17:31:57.254782678Z" -> "17:31:57.254782"
  const t = at.indexOf("T");
  return at.slice(t + 1, t + 16);
}

function details(ev) {
  const m = ev.meta || {};
  switch (ev.kind) {
    case "recv":
    case "send": {
      const bytes = b64bytes(ev.data);
      let s = `"${preview(bytes)}"`;
      if (ev.truncated) s += ` (capture cap reached: ${bytes.length} of ${ev.len} bytes kept)`;
      return s;
    }
    case "close": {
      const who = m.by === "peer" ? "peer closed" : "closed here";
      return `${who}${m.half ? " (half: " + (m.by === "peer" ? "FIN received" : "shutdown write") + ")" : ""}${m.reason ? " — " + m.reason : ""}`;
    }
    case "error":
      return ev.err ? `${ev.err.errno}: ${ev.err.message}\n${ev.err.hint || ""}` : JSON.stringify(m);
    case "server-start":
      return `${m.kind || ""} ${m.name || ""} ${m.options ? JSON.stringify(m.options) : ""}`;
    case "connect":
      return `${m.client || "tcp"} client → ${m.target || ev.remote}`;
    default:
      return Object.keys(m).length ? JSON.stringify(m) : "";
  }
}

function cell(tr, cls, text) {
  const td = document.createElement("td");
  if (cls) td.className = cls;
  td.textContent = text;
  tr.appendChild(td);
}

function rowFor(ev) {
  const tr = document.createElement("tr");
  tr.className = `ev k-${ev.kind}`;
  tr.dataset.seq = ev.seq;
  tr.dataset.kind = ev.kind;
  tr.dataset.conn = ev.conn || "";
  tr.dataset.testid = "event";
  tr.setAttribute("data-testid", "event");
  cell(tr, "seq", ev.seq);
  cell(tr, "time", timeOf(ev.at));
  cell(tr, "kind", ev.kind);
  cell(tr, "conn", ev.conn || "");
  cell(tr, "who", ev.server || "");
  cell(tr, "addr", ev.remote ? `${ev.local || "?"} → ${ev.remote}` : ev.local || "");
  cell(tr, "len", ev.kind === "recv" || ev.kind === "send" ? ev.len : "");
  const d = details(ev);
  const td = document.createElement("td");
  td.className = "details";
  td.textContent = d.split("\n")[0];
  if (d.includes("\n")) {
    const hint = document.createElement("div");
    hint.className = "hint";
    hint.textContent = d.split("\n").slice(1).join(" ");
    td.appendChild(hint);
  }
  tr.appendChild(td);
  if ((ev.kind === "recv" || ev.kind === "send") && ev.data) {
    tr.classList.add("data");
    tr.title = "click for the hexdump";
    tr._data = ev.data;
  }
  if (ev.conn && !conns.has(ev.conn)) {
    conns.add(ev.conn);
    const o = document.createElement("option");
    o.value = o.textContent = ev.conn;
    filterConn.appendChild(o);
  }
  tr.hidden = !matches(tr);
  return tr;
}

function matches(tr) {
  return (!filterConn.value || tr.dataset.conn === filterConn.value) &&
    (!filterKind.value || tr.dataset.kind === filterKind.value);
}

function applyFilter() {
  for (const tr of body.children) {
    if (tr.classList.contains("hex")) tr.hidden = !matches(tr.previousElementSibling);
    else tr.hidden = !matches(tr);
  }
}

body.addEventListener("click", (e) => {
  const tr = e.target.closest("tr.ev.data");
  if (!tr) return;
  const next = tr.nextElementSibling;
  if (next && next.classList.contains("hex")) { next.remove(); return; }
  const hx = document.createElement("tr");
  hx.className = "hex";
  const td = document.createElement("td");
  td.colSpan = 8;
  const pre = document.createElement("pre");
  pre.setAttribute("data-testid", "hexdump");
  pre.textContent = hexdump(b64bytes(tr._data));
  td.appendChild(pre);
  hx.appendChild(td);
  tr.after(hx);
});

// ---- rendering -------------------------------------------------------------

let refreshTimer = 0;
function lifecycle(ev) {
  return ["server-start", "server-stop", "connect", "close"].includes(ev.kind) ||
    (ev.kind === "error" && ev.meta && ev.meta.op === "connect");
}

function accept(events) {
  for (const ev of events) {
    if (ev.seq > shownLast && !pending.has(ev.seq)) pending.set(ev.seq, ev);
    if (ev.seq > received) received = ev.seq;
    if (lifecycle(ev)) scheduleRefresh();
  }
  if (!frameQueued) {
    frameQueued = true;
    requestAnimationFrame(flush);
  }
}

// flush appends, once per frame, every pending event that continues the
// table without a hole, then trims the oldest rows beyond MAX_ROWS.
function flush() {
  frameQueued = false;
  if (!follow) {
    // Paged back into history: keep what arrives, show it on "Latest".
    jumpLatest.hidden = false;
    trimPending();
    return;
  }
  const frag = document.createDocumentFragment();
  let n = 0;
  while (pending.has(shownLast + 1)) {
    const ev = pending.get(shownLast + 1);
    pending.delete(shownLast + 1);
    frag.appendChild(rowFor(ev));
    shownLast = ev.seq;
    if (!shownFirst) shownFirst = ev.seq;
    n++;
  }
  if (n === 0) return;
  const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
  body.appendChild(frag);
  let rows = body.querySelectorAll("tr.ev").length;
  while (rows > MAX_ROWS) {
    const first = body.firstElementChild;
    if (first.nextElementSibling && first.nextElementSibling.classList.contains("hex")) first.nextElementSibling.remove();
    first.remove();
    rows--;
  }
  const firstRow = body.querySelector("tr.ev");
  shownFirst = firstRow ? Number(firstRow.dataset.seq) : 0;
  if (atBottom) scroller.scrollTop = scroller.scrollHeight;
}

// While not following, keep only a bounded number of pending events; the
// rest is fetched again from the API on "Latest".
function trimPending() {
  if (pending.size <= MAX_ROWS) return;
  const keys = [...pending.keys()].sort((a, b) => a - b);
  for (const k of keys.slice(0, keys.length - MAX_ROWS)) pending.delete(k);
}

async function loadTail() {
  const data = await call("GET", `${api}/events?before=${Number.MAX_SAFE_INTEGER}&limit=${PAGE}`);
  body.replaceChildren();
  pending.clear();
  const evs = data.events;
  shownFirst = evs.length ? evs[0].seq : 0;
  shownLast = evs.length ? evs[0].seq - 1 : 0;
  follow = true;
  jumpLatest.hidden = true;
  accept(evs);
  flush();
  scroller.scrollTop = scroller.scrollHeight;
  return evs.length ? evs[evs.length - 1].seq : 0;
}

// Older events are paged in when the table is scrolled to its top. The table
// stays bounded: the newest rows are dropped and the view stops following.
async function loadOlder() {
  if (loadingOlder || shownFirst <= 1) return;
  loadingOlder = true;
  try {
    const data = await call("GET", `${api}/events?before=${shownFirst}&limit=${PAGE}`);
    if (!data.events.length) return;
    const frag = document.createDocumentFragment();
    for (const ev of data.events) frag.appendChild(rowFor(ev));
    const before = scroller.scrollHeight;
    body.prepend(frag);
    shownFirst = data.events[0].seq;
    scroller.scrollTop += scroller.scrollHeight - before;
    let rows = body.querySelectorAll("tr.ev").length;
    while (rows > MAX_ROWS) {
      const last = body.lastElementChild;
      if (last.classList.contains("ev")) rows--;
      last.remove();
      follow = false;
    }
    const lastRow = [...body.querySelectorAll("tr.ev")].pop();
    shownLast = lastRow ? Number(lastRow.dataset.seq) : shownLast;
    if (!follow) jumpLatest.hidden = false;
  } catch (err) {
    showError(`Could not load older events: ${err.message}`);
  } finally {
    loadingOlder = false;
  }
}

scroller.addEventListener("scroll", () => {
  if (scroller.scrollTop < 60) loadOlder();
});
jumpLatest.addEventListener("click", () => loadTail().catch((e) => showError(e.message)));
filterConn.addEventListener("change", applyFilter);
filterKind.addEventListener("change", applyFilter);

// ---- live stream -----------------------------------------------------------

async function fillGap(from, to) {
  let after = from - 1;
  while (after < to) {
    const limit = Math.min(1000, to - after);
    const data = await call("GET", `${api}/events?after=${after}&limit=${limit}`);
    if (!data.events.length) break;
    accept(data.events);
    after = data.events[data.events.length - 1].seq;
  }
}

function connect() {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  ws = new WebSocket(`${proto}://${location.host}/ws/sessions/${sessionID}?after=${received}`);
  ws.onopen = () => {
    liveState.textContent = "live";
    liveState.dataset.state = "live";
    retryDelay = 500;
  };
  ws.onmessage = (msg) => {
    const m = JSON.parse(msg.data);
    if (m.events) accept(m.events);
    if (m.gap) {
      if (m.gap.to > received) received = m.gap.to;
      fillGap(m.gap.from, m.gap.to).catch((e) => showError(`Could not fetch missed events: ${e.message}`));
    }
  };
  ws.onclose = (e) => {
    liveState.textContent = e.code === 1001 ? "server went away; reconnecting…" : "disconnected; reconnecting…";
    liveState.dataset.state = "down";
    setTimeout(connect, retryDelay);
    retryDelay = Math.min(retryDelay * 2, 10000);
  };
}

// ---- servers and clients -----------------------------------------------------

function scheduleRefresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refreshEndpoints, 150);
}

async function refreshEndpoints() {
  try {
    const res = await fetch(`/s/${sessionID}/endpoints`);
    if (!res.ok) return;
    const html = await res.text();
    const panel = document.getElementById("endpoints");
    // Keep what the visitor is typing in send boxes across the refresh.
    const typed = {};
    for (const f of panel.querySelectorAll("form[data-action=send]")) typed[f.dataset.id] = f.elements.data.value;
    panel.innerHTML = html;
    for (const f of panel.querySelectorAll("form[data-action=send]")) {
      if (typed[f.dataset.id]) f.elements.data.value = typed[f.dataset.id];
    }
    updateTargets();
  } catch { /* the next event retries */ }
}

function updateTargets() {
  const list = document.getElementById("targets");
  list.replaceChildren();
  for (const li of document.querySelectorAll("li[data-testid=server][data-state=running]")) {
    const o = document.createElement("option");
    o.value = li.dataset.addr;
    list.appendChild(o);
  }
  const target = document.querySelector("[data-testid=client-target]");
  const first = list.querySelector("option");
  if (!target.value && first) target.value = first.value;
}

const serverForm = document.getElementById("server-form");
function showModeFields() {
  const mode = serverForm.elements.mode.value;
  for (const el of serverForm.querySelectorAll("[data-show-mode]")) el.hidden = el.dataset.showMode !== mode;
}
serverForm.elements.mode.addEventListener("change", showModeFields);
showModeFields();

serverForm.addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = serverForm.elements;
  const options = { mode: f.mode.value, recv_size: Number(f.recv_size.value), oneshot: f.oneshot.checked };
  if (f.mode.value === "prefix") options.prefix = f.prefix.value;
  try {
    await call("POST", `${api}/servers`, { kind: f.kind.value, name: f.name.value, port: Number(f.port.value || 0), options });
    await refreshEndpoints();
  } catch (err) {
    showError(err.message);
  }
});

document.getElementById("client-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const target = e.target.elements.target.value.trim();
  try {
    await call("POST", `${api}/clients`, { kind: "tcp", target });
    await refreshEndpoints();
  } catch (err) {
    showError(err.message);
  }
});

document.getElementById("endpoints").addEventListener("submit", async (e) => {
  const form = e.target.closest("form[data-action=send]");
  if (!form) return;
  e.preventDefault();
  const f = form.elements;
  let data = f.data.value;
  const payload = {};
  if (f.format.value === "hex") {
    payload.hex = data + (f.newline.checked ? " 0a" : "");
  } else {
    payload.text = data + (f.newline.checked ? "\n" : "");
  }
  try {
    await call("POST", `${api}/clients/${form.dataset.id}/send`, payload);
  } catch (err) {
    showError(err.message);
  }
});

document.getElementById("endpoints").addEventListener("click", async (e) => {
  const btn = e.target.closest("button[data-action]");
  if (!btn) return;
  e.preventDefault(); // the button's form is the no-JavaScript fallback
  const id = btn.dataset.id;
  try {
    switch (btn.dataset.action) {
      case "stop-server": await call("DELETE", `${api}/servers/${id}`); break;
      case "half-close": await call("POST", `${api}/clients/${id}/close`, { half: true }); break;
      case "close-client": await call("POST", `${api}/clients/${id}/close`, { half: false }); break;
      default: return;
    }
    await refreshEndpoints();
  } catch (err) {
    showError(err.message);
  }
});

// ---- recorder health ------------------------------------------------------

// The page shows a banner while recording fails (events are held in memory
// and written when the database recovers) and how often the disk made
// sockets wait.
const health = document.getElementById("health");
const diskState = document.getElementById("disk-state");
async function pollStatus() {
  try {
    const st = await call("GET", "/api/status");
    const rec = st.recording;
    if (!st.healthy) {
      health.textContent = `Recording is failing: ${rec.last_error || "the database refuses writes"}. ` +
        `${rec.held} events are held in memory and will be written when it recovers` +
        (rec.lost ? `; ${rec.lost} could not be held and are recorded as a loss marker.` : ".");
      health.hidden = false;
    } else {
      health.hidden = true;
    }
    diskState.hidden = !rec.waits;
    diskState.textContent = rec.waits ? `disk backpressure: sockets waited ${rec.waits}×` : "";
  } catch { /* the next poll retries */ }
}
setInterval(pollStatus, 2000);
pollStatus();

// ---- start -----------------------------------------------------------------

updateTargets();
loadTail()
  .then((last) => { received = last; connect(); })
  .catch((err) => { showError(`Could not load events: ${err.message}`); connect(); });
