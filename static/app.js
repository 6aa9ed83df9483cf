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
let storedLast = 0; // newest seq the store had when last asked (see pollStatus)
let follow = true; // the table shows the newest events and scrolls with them
// dropped: events after the table's last row were let go while not
// following, so following again needs a fresh tail ("Latest").
let dropped = false;
let frameQueued = false;
let loadingOlder = false;
let ws = null;
let retryDelay = 500;
const conns = new Set();

// showError shows msg in the banner, which stays in view at the top of the
// window (errors come from forms far down the page) until dismissed or 20 s.
function showError(msg, sticky = false) {
  banner.textContent = msg;
  const x = document.createElement("button");
  x.type = "button";
  x.className = "dismiss";
  x.textContent = "×";
  x.title = "dismiss";
  x.addEventListener("click", () => { banner.hidden = true; });
  banner.prepend(x);
  banner.classList.remove("info");
  banner.hidden = false;
  clearTimeout(showError.timer);
  if (!sticky) showError.timer = setTimeout(() => { banner.hidden = true; }, 20000);
}

// note says something about the table that is not an error (skipped ahead,
// nothing matches the filter…) next to the live state.
const tableNote = document.getElementById("table-note");
function note(msg) {
  tableNote.textContent = msg;
  tableNote.hidden = !msg;
  clearTimeout(note.timer);
  if (msg) note.timer = setTimeout(() => { tableNote.hidden = true; }, 15000);
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

// hexdumpParts is hexdump with each byte's hex and character in a span of
// the part it belongs to (an app frame's length, header and content), so
// the page can colour them.
export function hexdumpParts(bytes, parts) {
  const partOf = (i) => parts.findIndex((p) => i >= p.offset && i < p.offset + p.len);
  const frag = document.createDocumentFragment();
  const span = (text, part) => {
    if (part < 0) return document.createTextNode(text);
    const s = document.createElement("span");
    s.className = `part part-${part}`;
    s.dataset.part = parts[part].name;
    s.textContent = text;
    return s;
  };
  for (let off = 0; off < bytes.length; off += 16) {
    frag.append(`${off.toString(16).padStart(8, "0")}  `);
    for (let i = 0; i < 16; i++) {
      const at = off + i;
      frag.append(at < bytes.length ? span(hex2(bytes[at]), partOf(at)) : "  ", i === 7 ? "  " : " ");
    }
    frag.append("|");
    for (let i = off; i < Math.min(off + 16, bytes.length); i++) frag.append(span(printable(bytes[i]), partOf(i)));
    frag.append(off + 16 < bytes.length ? "|\n" : "|");
  }
  return frag;
}

function partsLegend(parts) {
  const p = document.createElement("p");
  p.className = "parts-legend";
  p.setAttribute("data-testid", "frame-parts");
  parts.forEach((part, i) => {
    const s = document.createElement("span");
    s.className = `part part-${i}`;
    s.dataset.part = part.name;
    s.textContent = `${part.name}: bytes ${part.offset}–${part.offset + part.len - 1} (${sizeOf(part.len)})`;
    p.append(s, " ");
  });
  return p;
}

const utf8 = new TextDecoder("utf-8"); // invalid sequences become U+FFFD

// preview shows the first bytes as text: UTF-8 decoded, control characters
// as escapes or dots, so "héllo\n" reads as héllo\n.
function preview(bytes) {
  let s = "";
  for (const ch of utf8.decode(bytes.subarray(0, 64))) {
    const c = ch.codePointAt(0);
    if (c === 0x0a) s += "\\n";
    else if (c === 0x0d) s += "\\r";
    else if (c === 0x09) s += "\\t";
    else if (c < 0x20 || c === 0x7f || (c >= 0x80 && c < 0xa0)) s += ".";
    else s += ch;
  }
  return bytes.length > 64 ? s + "…" : s;
}

function timeOf(at) {
  // "2026-11-25T17:31:57.254782678Z" -> "17:31:57.254782"
  const t = at.indexOf("T");
  return at.slice(t + 1, t + 16);
}

// renderers say in one line (and an optional second, the hint) what an
// event of each kind means; a server kind with events of its own adds its
// renderer here. Unknown kinds show their meta as JSON.
const sizeOf = (n) => `${n} byte${n === 1 ? "" : "s"}`;
const dataText = (ev) => {
  const bytes = b64bytes(ev.data);
  let s = `"${preview(bytes)}"`;
  if (ev.truncated) s += ` (capture cap reached: ${bytes.length} of ${ev.len} bytes kept)`;
  return s;
};
const headersText = (h) => (h ? Object.entries(h).map(([k, v]) => `${k}: ${v}`).join("; ") : "");
export const renderers = {
  recv: dataText,
  send: dataText,
  "datagram-in": (ev, m) => (m.dropped ? `dropped, not answered: ${m.dropped}` : `${dataText(ev)} from ${ev.remote}`) +
    (m.truncated_by_kernel ? " — longer than recv_size: the kernel cut it (UDP keeps no rest)" : ""),
  "datagram-out": (ev) => `${dataText(ev)} to ${ev.remote}`,
  close: (ev, m) => closeText(m),
  error: (ev, m) => {
    let s = ev.err ? `${ev.err.errno}: ${ev.err.message}` : JSON.stringify(m);
    if (m.op === "send" && m.written !== undefined) s = `send failed (${m.written} bytes written) — ${s}`;
    else if (m.op) s = `${m.op} failed — ${s}`;
    return ev.err && ev.err.hint ? `${s}\n${ev.err.hint}` : s;
  },
  "server-start": (ev, m) => [m.restored && "started again after a restart", m.kind, m.name && `"${m.name}"`, m.summary ?? optionsText(m.options)].filter(Boolean).join(" · "),
  "server-stop": (ev, m) => `${m.kind || "server"} stopped${m.reason && m.reason !== "stopped" ? ` (${m.reason})` : ""}`,
  connect: (ev, m) => (m.proxy_for ? `proxy's upstream leg → ${m.target} (for ${m.proxy_for})` : `${m.client || "tcp"} client → ${m.target || ev.remote}`),
  listen: (ev) => `listening on ${ev.local}${ev.net && ev.net !== "tcp" ? ` (${ev.net})` : ""}`,
  "proxy-dial": (ev, m) => (ev.err ? `could not reach ${m.target}: ${ev.err.errno}: ${ev.err.message}\n${ev.err.hint || ""}` : `dialed ${m.target}: upstream ${m.upstream}`),
  "app-frame": (ev, m) => {
    const h = m.header || {};
    const parts = `2-byte length ${m.header_len} · header ${sizeOf(m.header_len || 0)} · content ${sizeOf(m.content_length || 0)}`;
    const what = h["content-type"] === "text/json" && m.content !== undefined ? JSON.stringify(m.content) : h["content-type"] || "";
    return `${m.direction || "frame"}: ${what} (${parts}; click for its bytes)`;
  },
  "http-request": (ev, m) => `${m.method} ${m.path}${m.query ? "?" + m.query : ""} ${m.proto || ""}${m.body_len ? ` · body ${sizeOf(m.body_len)}` : ""}\n${headersText(m.headers)}`,
  "http-response": (ev, m) => `${m.status} ${m.reason || ""}${m.body_len !== undefined ? ` · body ${sizeOf(m.body_len)}` : ""}\n${headersText(m.headers)}`,
  "tls-handshake": (ev, m) => [m.version, m.cipher_suite, m.sni && `SNI ${m.sni}`, m.alpn && `ALPN ${m.alpn}`,
    m.cipher_bytes_in !== undefined && `${m.cipher_bytes_in} + ${m.cipher_bytes_out} bytes of handshake on the wire`].filter(Boolean).join(" · ") +
    (m.cert_sha256 ? `\ncertificate SHA-256 ${m.cert_sha256}` : ""),
  option: (ev, m) => `socket options as the kernel reports them: ${Object.entries(m.effective || {}).map(([k, v]) => `${k} ${v}`).join(" · ")}${m.note ? "\n" + m.note : ""}`,
};

function details(ev) {
  const m = ev.meta || {};
  const r = renderers[ev.kind];
  if (r) return r(ev, m);
  return Object.keys(m).length ? JSON.stringify(m) : "";
}

// dataKinds are the events that carry bytes: their rows open a hexdump.
const dataKinds = new Set(["recv", "send", "datagram-in", "datagram-out", "app-frame"]);

// optionsText writes a server's options as the servers panel does:
// mode prefix · prefix ">> " · recv_size 4096 · oneshot no.
function optionsText(opts) {
  if (!opts || typeof opts !== "object") return "";
  return Object.entries(opts).map(([k, v]) => {
    if (typeof v === "boolean") return `${k} ${v ? "yes" : "no"}`;
    if (typeof v === "string") return `${k} ${/^[A-Za-z0-9._-]+$/.test(v) ? v : JSON.stringify(v)}`;
    return `${k} ${JSON.stringify(v)}`;
  }).join(" · ");
}

// closeText says who closed and how, in the words a tutorial uses: a FIN
// from the peer is all a recv of 0 bytes tells, whether the peer closed or
// only shut down its sending side.
function closeText(m) {
  let s;
  if (m.by === "peer") s = m.half ? "peer sent FIN (it closed, or shut down its sending side)" : "peer closed";
  else s = m.half ? "shutdown(SHUT_WR) here: FIN sent, can still receive" : "closed here";
  if (m.reason && !(m.half && m.by === "peer")) s += ` — ${m.reason}`;
  else if (m.reason) s += ` — recv returned 0 bytes`;
  return s;
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
  cell(tr, "len", dataKinds.has(ev.kind) ? ev.len : "");
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
  if (ev.kind === "send") {
    const prev = lastSend.get(ev.conn || "");
    if (!prev || Number(prev.dataset.seq) < ev.seq) lastSend.set(ev.conn || "", tr);
  }
  if (dataKinds.has(ev.kind) && ev.data) {
    tr.classList.add("data");
    tr.title = "click for the hexdump";
    tr._data = ev.data;
    if (ev.meta && ev.meta.parts) tr._parts = ev.meta.parts;
  }
  notePeer(ev);
  if (ev.conn && !conns.has(ev.conn)) {
    conns.add(ev.conn);
    const o = document.createElement("option");
    o.value = o.textContent = ev.conn;
    filterConn.appendChild(o);
  }
  tr.hidden = !matches(tr);
  if (ev.kind === "error" && ev.meta && ev.meta.op === "send" && ev.meta.written !== undefined) markFailedSend(ev);
  return tr;
}

// markFailedSend flags the send row an error belongs to (the newest send
// row of its connection): the send event is emitted before its write call,
// so without this a learner would read it as sent.
const lastSend = new Map(); // conn -> newest send row built
function markFailedSend(ev) {
  const tr = lastSend.get(ev.conn || "");
  if (!tr || Number(tr.dataset.seq) > ev.seq || tr.classList.contains("failed")) return;
  tr.classList.add("failed");
  const errno = ev.err ? ev.err.errno : "error";
  tr.querySelector("td.details").prepend(`not sent (${errno}, ${ev.meta.written} bytes written): `);
}

// When a page client talks to a lab server, both ends of the connection are
// in the session under two conn ids; their addresses pair them up (one's
// local is the other's remote), and the connection filter shows both.
const connAddrs = new Map(); // conn -> "local|remote"
const connByAddrs = new Map(); // "local|remote" -> conn (the newest)
let peersChanged = false; // a connection's other end became known since the last filter pass
function notePeer(ev) {
  if (!ev.conn || !ev.local || !ev.remote || connAddrs.has(ev.conn)) return;
  const k = `${ev.local}|${ev.remote}`;
  connAddrs.set(ev.conn, k);
  connByAddrs.set(k, ev.conn);
  const [local, remote] = k.split("|");
  if (connByAddrs.has(`${remote}|${local}`)) peersChanged = true;
}
function peerOf(conn) {
  const k = connAddrs.get(conn);
  if (!k) return "";
  const [local, remote] = k.split("|");
  return connByAddrs.get(`${remote}|${local}`) || "";
}

function matches(tr) {
  const fc = filterConn.value;
  return (!fc || tr.dataset.conn === fc || (tr.dataset.conn && tr.dataset.conn === peerOf(fc))) &&
    (!filterKind.value || tr.dataset.kind === filterKind.value);
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
  const bytes = b64bytes(tr._data);
  if (tr._parts) {
    td.appendChild(partsLegend(tr._parts));
    pre.appendChild(hexdumpParts(bytes, tr._parts));
  } else {
    pre.textContent = hexdump(bytes);
  }
  td.appendChild(pre);
  hx.appendChild(td);
  tr.after(hx);
});

// ---- rendering -------------------------------------------------------------

let refreshTimer = 0;
function lifecycle(ev) {
  return ["server-start", "server-stop", "connect", "accept", "close"].includes(ev.kind) ||
    (ev.kind === "error" && ev.meta && ev.meta.op === "connect");
}

function accept(events) {
  for (const ev of events) {
    if (ev.seq > shownLast && !pending.has(ev.seq)) pending.set(ev.seq, ev);
    if (ev.seq > received) received = ev.seq;
    if (lifecycle(ev)) scheduleRefresh();
  }
  // A hidden tab runs no animation frames, so flush does not run: bound
  // what waits here (following, the table skips ahead to the newest).
  if (pending.size > 2 * MAX_ROWS) {
    const keys = [...pending.keys()].sort((a, b) => a - b);
    if (follow) skipTo(keys[keys.length - MAX_ROWS] - 1);
    else trimPending();
  }
  queueFlush();
}

// skipTo starts the table again after seq: what lies between stays in the
// recording and pages in on scroll.
function skipTo(seq) {
  if (seq <= shownLast) return;
  note(`Skipped ahead ${seq - shownLast} events to stay live; scroll up to page through them.`);
  for (const k of pending.keys()) if (k <= seq) pending.delete(k);
  body.replaceChildren();
  shownFirst = 0;
  shownLast = seq;
}

function queueFlush() {
  if (!frameQueued) {
    frameQueued = true;
    requestAnimationFrame(flush);
  }
}

// flush appends, once per frame, every pending event that continues the
// table without a hole, then trims the oldest rows beyond MAX_ROWS. When more
// than a table's worth is waiting (a flood, a long gap), it skips ahead and
// builds rows only for the newest MAX_ROWS: the rest is in the recording and
// pages in on scroll.
function flush() {
  frameQueued = false;
  if (loadingOlder) return; // loadOlder flushes when its page is in
  if (!follow) {
    // Reading older rows: keep what arrives, show it on "Latest".
    if (pending.size) jumpLatest.hidden = false;
    trimPending();
    return;
  }
  let end = shownLast;
  while (pending.has(end + 1)) end++;
  if (end === shownLast) {
    if (pending.size || received > shownLast) watchHole();
    showLive();
    return;
  }
  if (end - shownLast > MAX_ROWS) skipTo(end - MAX_ROWS);
  const frag = document.createDocumentFragment();
  for (let q = shownLast + 1; q <= end; q++) {
    frag.appendChild(rowFor(pending.get(q)));
    pending.delete(q);
  }
  if (!shownFirst) shownFirst = shownLast + 1;
  shownLast = end;
  body.appendChild(frag);
  let rows = body.querySelectorAll("tr.ev").length;
  while (rows > MAX_ROWS) {
    const first = body.firstElementChild;
    if (first.nextElementSibling && first.nextElementSibling.classList.contains("hex")) first.nextElementSibling.remove();
    if (first.classList.contains("ev")) rows--;
    first.remove();
  }
  const firstRow = body.querySelector("tr.ev");
  shownFirst = firstRow ? Number(firstRow.dataset.seq) : 0;
  scroller.scrollTop = scroller.scrollHeight;
  showLive();
  // Rows already shown may belong to a connection whose other end has just
  // become known: filter them again (only then: this runs every frame).
  if (filterConn.value && peersChanged) applyFilter();
  else showFilterState();
}

// watchHole repairs a hole in what is pending (events after the table's
// last row are here, the next one is not) that a gap fill has not filled
// within a second, whatever caused it: the table must never stall.
let holeTimer = 0;
function watchHole() {
  if (holeTimer) return;
  const at = shownLast;
  holeTimer = setTimeout(() => {
    holeTimer = 0;
    if (!follow || shownLast !== at || pending.has(at + 1)) return;
    // Up to the first pending event, or (nothing pending: a fill that
    // failed, a load that raced) up to the newest seq the stream reported.
    let next = received + 1;
    for (const k of pending.keys()) if (k < next) next = k;
    if (next > at + 1) fillGap(at + 1, next - 1).catch((e) => showError(`Could not fetch missed events: ${e.message}`));
  }, 1000);
}

// showLive says whether the table is live or still catching up.
function showLive() {
  if (liveState.dataset.state !== "live" && liveState.dataset.state !== "catching-up") return;
  const behind = Math.max(received, storedLast) - shownLast;
  if (follow && behind > PAGE) {
    liveState.textContent = `catching up (${behind} behind)…`;
    liveState.dataset.state = "catching-up";
  } else {
    liveState.textContent = "live";
    liveState.dataset.state = "live";
  }
}

// While not following, keep only a bounded number of pending events; the
// rest is fetched again from the API on "Latest".
function trimPending() {
  if (pending.size <= MAX_ROWS) return;
  const keys = [...pending.keys()].sort((a, b) => a - b);
  for (const k of keys.slice(0, keys.length - MAX_ROWS)) pending.delete(k);
  dropped = true;
}

// stopFollowing pauses the live tail of the table: new events wait (or are
// dropped and fetched again) until "Latest" or a scroll back to the bottom.
function stopFollowing() {
  if (!follow) return;
  follow = false;
  jumpLatest.hidden = false;
}

// loadTail replaces the table with the newest page and follows again. One
// load at a time: a second (a double click) joins the first, since an older
// snapshot landing last would drop what was shown in between.
let tailLoad = null;
function loadTail() {
  if (!tailLoad) tailLoad = loadTailPage().finally(() => { tailLoad = null; });
  return tailLoad;
}

async function loadTailPage() {
  const data = await call("GET", `${api}/events?before=${Number.MAX_SAFE_INTEGER}&limit=${PAGE}`);
  body.replaceChildren();
  const evs = data.events;
  // Keep what the live stream brought during the fetch past its end.
  const tail = evs.length ? evs[evs.length - 1].seq : 0;
  for (const k of pending.keys()) if (k <= tail) pending.delete(k);
  shownFirst = evs.length ? evs[0].seq : 0;
  shownLast = evs.length ? evs[0].seq - 1 : 0;
  follow = true;
  dropped = false;
  jumpLatest.hidden = true;
  note("");
  accept(evs);
  flush();
  return evs.length ? evs[evs.length - 1].seq : 0;
}

// Older events are paged in when the table is scrolled to its top. Live
// rows wait while the page loads (so the table stays contiguous), and the
// table stays bounded: the newest rows are dropped and the view stops
// following.
// loadOlder starts loading the page before the table's first row, or joins
// the load already under way.
let olderLoad = null;
function loadOlder() {
  if (!olderLoad) olderLoad = loadOlderPage().finally(() => { olderLoad = null; });
  return olderLoad;
}

async function loadOlderPage() {
  if (shownFirst <= 1) return false;
  loadingOlder = true;
  try {
    const want = shownFirst;
    const data = await call("GET", `${api}/events?before=${want}&limit=${PAGE}`);
    const evs = data.events;
    if (!evs.length || shownFirst !== want || evs[evs.length - 1].seq !== want - 1) return false;
    const frag = document.createDocumentFragment();
    for (const ev of evs) frag.appendChild(rowFor(ev));
    const before = scroller.scrollHeight;
    body.prepend(frag);
    shownFirst = evs[0].seq;
    scroller.scrollTop += scroller.scrollHeight - before;
    let rows = body.querySelectorAll("tr.ev").length;
    while (rows > MAX_ROWS) {
      const last = body.lastElementChild;
      if (last.classList.contains("ev")) rows--;
      last.remove();
      stopFollowing();
      dropped = true;
    }
    const lastRow = [...body.querySelectorAll("tr.ev")].pop();
    shownLast = lastRow ? Number(lastRow.dataset.seq) : shownLast;
    if (dropped) {
      for (const k of pending.keys()) if (k <= shownLast) pending.delete(k);
    }
    if (shownFirst <= 1) note("");
    return true;
  } catch (err) {
    showError(`Could not load older events: ${err.message}`);
    return false;
  } finally {
    loadingOlder = false;
    showFilterState();
    queueFlush();
  }
}

// The table follows the newest events while it is scrolled to the bottom;
// scrolling up pauses that (rows would otherwise move under the reader), and
// scrolling back down resumes it if nothing was let go meanwhile.
scroller.addEventListener("scroll", () => {
  const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
  if (atBottom && !follow && !loadingOlder) {
    if (dropped) {
      // Events were let go while paused: the newest page again, as Latest.
      loadTail().catch((e) => showError(e.message));
    } else {
      follow = true;
      jumpLatest.hidden = true;
      queueFlush();
    }
  } else if (!atBottom && follow && scroller.scrollTop < lastScrollTop) {
    stopFollowing();
  }
  lastScrollTop = scroller.scrollTop;
  if (scroller.scrollTop < 60) loadOlder();
});
let lastScrollTop = 0;
jumpLatest.addEventListener("click", () => loadTail().catch((e) => showError(e.message)));

// ---- filters ---------------------------------------------------------------

function applyFilter() {
  peersChanged = false;
  for (const tr of body.children) {
    if (tr.classList.contains("hex")) tr.hidden = !matches(tr.previousElementSibling);
    else tr.hidden = !matches(tr);
  }
  showFilterState();
}
filterConn.addEventListener("change", applyFilter);
filterKind.addEventListener("change", applyFilter);

// The filters apply to the rows loaded in the table; when none of them
// match, say so and offer to search older pages.
const filterEmpty = document.getElementById("filter-empty");
function showFilterState() {
  const active = filterConn.value || filterKind.value;
  const any = active && body.querySelector("tr.ev:not([hidden])");
  filterEmpty.hidden = !active || !!any;
  if (filterEmpty.hidden) return;
  const range = shownFirst ? `#${shownFirst}–#${shownLast}` : "none loaded";
  filterEmpty.querySelector("span").textContent =
    `No matching events among the loaded rows (${range}).` + (shownFirst > 1 ? "" : " That is the whole session.");
  const btn = filterEmpty.querySelector("button");
  btn.hidden = shownFirst <= 1;
  btn.textContent = "Search older events";
}

// Search older pages older events in until a row matches the filters, the
// session's first event is reached, or SEARCH_PAGES pages were read; it
// shows how far back it has looked.
const SEARCH_PAGES = 100;
filterEmpty.querySelector("button").addEventListener("click", async (e) => {
  const btn = e.currentTarget;
  const text = filterEmpty.querySelector("span");
  btn.disabled = true;
  let searched = 0;
  try {
    for (let i = 0; i < SEARCH_PAGES && shownFirst > 1; i++) {
      const before = shownFirst;
      await loadOlder();
      searched += Math.max(0, before - shownFirst);
      if (body.querySelector("tr.ev:not([hidden])")) break;
      text.textContent = `Searching older events… back to #${shownFirst}`;
      if (shownFirst >= before && !(await loadOlder())) break; // no progress twice: give up
    }
  } finally {
    btn.disabled = false;
    showFilterState();
    if (!filterEmpty.hidden && shownFirst > 1) {
      text.textContent = `No match in ${searched} older events (searched back to #${shownFirst}).`;
      btn.textContent = "Search further";
    }
  }
});

// ---- live stream -----------------------------------------------------------

// fillGap fetches events the live stream skipped (the browser was too
// slow). A gap longer than the table is not fetched: following, the table
// skips ahead to the newest page; paused, "Latest" reloads the tail.
async function fillGap(from, to) {
  let after = Math.max(from - 1, shownLast);
  if (to - after > MAX_ROWS) {
    if (!follow) {
      for (const k of pending.keys()) if (k <= to) pending.delete(k);
      dropped = true;
      jumpLatest.hidden = false;
      return;
    }
    skipTo(to - PAGE);
    after = Math.max(after, to - PAGE);
  }
  while (after < to) {
    const limit = Math.min(1000, to - after);
    const data = await call("GET", `${api}/events?after=${after}&limit=${limit}`);
    if (!data.events.length) break;
    accept(data.events);
    after = data.events[data.events.length - 1].seq;
  }
}

// skipLiveTo restarts the live stream at seq when it has fallen far behind
// the recording (a flood faster than the browser takes it in): the table
// starts again at the newest events; the skipped ones stay in the recording
// and page in on scroll.
let skipping = false;
function skipLiveTo(seq) {
  skipTo(seq);
  received = Math.max(received, seq);
  skipping = true;
  ws.close(4000, "skipping ahead");
}

let sessionGone = false;
// unreachable is set while sockplay cannot be reached: the servers panel
// then says it does not know what runs, and its buttons are disabled.
let unreachable = false;
function markUnreachable() {
  if (unreachable) return;
  unreachable = true;
  const panel = document.getElementById("endpoints");
  panel.classList.add("unreachable");
  for (const li of panel.querySelectorAll("li[data-state=running], li[data-state=connected]")) {
    li.dataset.state = "unknown";
    const st = li.querySelector(".state");
    if (st) st.textContent = "unknown: sockplay is not reachable";
  }
  for (const b of panel.querySelectorAll("button, input, select")) b.disabled = true;
}

function connect() {
  if (sessionGone) return;
  const proto = location.protocol === "https:" ? "wss" : "ws";
  ws = new WebSocket(`${proto}://${location.host}/ws/sessions/${sessionID}?after=${received}`);
  ws.onopen = () => {
    liveState.textContent = "live";
    liveState.dataset.state = "live";
    retryDelay = 500;
    if (unreachable) {
      // sockplay is back (perhaps restarted: its servers were started
      // again): show what runs now.
      unreachable = false;
      document.getElementById("endpoints").classList.remove("unreachable");
      refreshEndpoints();
    }
    showLive();
  };
  ws.onmessage = (msg) => {
    const m = JSON.parse(msg.data);
    if (m.events) accept(m.events);
    if (m.gap) {
      if (m.gap.to > received) received = m.gap.to;
      fillGap(m.gap.from, m.gap.to).catch((e) => showError(`Could not fetch missed events: ${e.message}`));
    }
  };
  ws.onclose = async (e) => {
    if (skipping) { // closed by skipLiveTo: resume at once from the new point
      skipping = false;
      connect();
      return;
    }
    liveState.dataset.state = "down";
    // A deleted session will not come back: say so instead of retrying.
    try {
      const res = await fetch(api);
      if (res.status === 404) {
        sessionGone = true;
        liveState.textContent = "this session was deleted";
        showError("This session was deleted; its servers and clients are stopped. The list of sessions is on the home page.", true);
        document.getElementById("endpoints").replaceChildren();
        for (const f of document.querySelectorAll("form")) {
          for (const el of f.elements) el.disabled = true;
        }
        return;
      }
    } catch {
      // sockplay is unreachable (stopped or restarting): what the panel
      // says runs is unknown now, and its buttons cannot work.
      markUnreachable();
    }
    liveState.textContent = e.code === 1001 ? "server went away; reconnecting…" : "disconnected; reconnecting…";
    setTimeout(connect, retryDelay);
    retryDelay = Math.min(retryDelay * 2, 10000);
  };
}

// ---- servers and clients -----------------------------------------------------

function scheduleRefresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refreshEndpoints, 150);
}

// refreshEndpoints re-renders the servers and clients panel from the server
// and carries over what the visitor had going in it: each send box's text,
// format and "+ \n" choice, which snippets were open, and the focus.
async function refreshEndpoints() {
  try {
    const res = await fetch(`/s/${sessionID}/endpoints`);
    if (!res.ok) return;
    const html = await res.text();
    const panel = document.getElementById("endpoints");
    const forms = {};
    for (const f of panel.querySelectorAll("form[data-action=send]")) {
      forms[f.dataset.id] = { data: f.elements.data.value, format: f.elements.format.value, newline: f.elements.newline.checked };
    }
    const open = new Set([...panel.querySelectorAll("details[open]")].map((d) => d.dataset.id));
    const active = document.activeElement;
    let focus = null;
    if (active && panel.contains(active)) {
      const form = active.closest("form[data-id]");
      focus = { id: form && form.dataset.id, name: active.name, start: active.selectionStart, end: active.selectionEnd };
    }
    panel.innerHTML = html;
    for (const f of panel.querySelectorAll("form[data-action=send]")) {
      const was = forms[f.dataset.id];
      if (!was) continue;
      f.elements.data.value = was.data;
      f.elements.format.value = was.format;
      f.elements.newline.checked = was.newline;
    }
    for (const d of panel.querySelectorAll("details[data-id]")) d.open = open.has(d.dataset.id);
    if (focus && focus.id && focus.name) {
      const f = panel.querySelector(`form[data-action=send][data-id="${focus.id}"]`);
      const el = f && f.elements[focus.name];
      if (el) {
        el.focus();
        if (focus.start != null && el.setSelectionRange) el.setSelectionRange(focus.start, focus.end);
      }
    }
    showCopyButtons();
    updateTargets();
  } catch { /* the next event retries */ }
}

// Copy buttons next to the terminal snippets (only where the browser lets a
// page write to the clipboard: http://127.0.0.1 and https).
function showCopyButtons() {
  if (!navigator.clipboard) return;
  for (const b of document.querySelectorAll("button[data-copy]")) b.hidden = false;
}
document.getElementById("endpoints").addEventListener("click", async (e) => {
  const b = e.target.closest("button[data-copy]");
  if (!b) return;
  try {
    await navigator.clipboard.writeText(b.previousElementSibling.textContent);
    b.textContent = "Copied";
    setTimeout(() => { b.textContent = "Copy"; }, 1500);
  } catch (err) {
    showError(`Could not copy: ${err.message}. Select the text and copy it instead.`);
  }
});

// busy disables a form's buttons while its request runs, so a double click
// does not start two servers.
async function busy(el, fn) {
  const buttons = el.tagName === "BUTTON" ? [el] : [...el.querySelectorAll("button")];
  for (const b of buttons) b.disabled = true;
  try {
    return await fn();
  } finally {
    for (const b of buttons) b.disabled = false;
  }
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
  // A stopped server's address would only get ECONNREFUSED: offer a running one.
  const stale = target.value && document.querySelector(`li[data-testid=server][data-state=stopped][data-addr="${CSS.escape(target.value)}"]`);
  if ((!target.value || stale) && first) target.value = first.value;
}

// ---- the start form, drawn by the server from the kinds' option schemas ----

// Every kind has a fieldset of options named kind.option; only the chosen
// kind's shows, and an option with data-when="mode=prefix" only while that
// option has one of those values.
const serverForm = document.getElementById("server-form");
const kindSelect = serverForm.elements.kind;
function showKindFields() {
  const kind = kindSelect.value;
  for (const fs of serverForm.querySelectorAll("fieldset[data-kind]")) {
    const mine = fs.dataset.kind === kind;
    fs.hidden = !mine;
    fs.disabled = !mine;
    if (!mine) continue;
    for (const label of fs.querySelectorAll("[data-when]")) {
      if (!label.dataset.when) continue;
      const [opt, values] = label.dataset.when.split("=");
      const other = fs.querySelector(`[name="${CSS.escape(kind + "." + opt)}"]`);
      label.hidden = other ? !values.split(",").includes(other.value) : false;
    }
  }
  const port = Number(kindSelect.selectedOptions[0]?.dataset.port || 0);
  const hint = document.querySelector("[data-testid=tutorial-port-suggestion]");
  hint.hidden = !port;
  hint.replaceChildren();
  if (port) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "link";
    b.textContent = `Use ${port}`;
    b.addEventListener("click", () => { serverForm.elements.port.value = port; });
    hint.append(`The tutorials run this server on port ${port}. `, b);
  }
}
serverForm.addEventListener("change", showKindFields);
showKindFields();

// optionsOf reads a kind's options from form fields named kind.option, as
// the server's no-JavaScript form handler does: a checkbox (or a hidden
// "on"/"off") is a boolean, an empty number takes its default.
export function optionsOf(kind, fields) {
  const options = {};
  for (const el of fields) {
    if (!el.name || !el.name.startsWith(kind + ".")) continue;
    const name = el.name.slice(kind.length + 1);
    switch (el.dataset.type) {
      case "bool": options[name] = el.type === "checkbox" ? el.checked : el.value === "on"; break;
      case "int": if (el.value.trim() !== "") options[name] = Number(el.value); break;
      default: options[name] = el.value;
    }
  }
  return options;
}

async function startServer(form) {
  const f = form.elements;
  const kind = f.kind.value;
  await busy(form, async () => {
    try {
      await call("POST", `${api}/servers`, { kind, name: f.name.value, port: Number(f.port.value || 0), options: optionsOf(kind, form.querySelectorAll("[name]")) });
      await refreshEndpoints();
    } catch (err) {
      showError(err.message);
    }
  });
}
serverForm.addEventListener("submit", (e) => {
  e.preventDefault();
  startServer(serverForm);
});

document.getElementById("client-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const target = e.target.elements.target.value.trim();
  await busy(e.target, async () => {
    try {
      await call("POST", `${api}/clients`, { kind: "tcp", target });
      await refreshEndpoints();
    } catch (err) {
      showError(err.message);
    }
  });
});

document.getElementById("endpoints").addEventListener("submit", async (e) => {
  const again = e.target.closest("form[data-action=start-again]");
  if (again) {
    e.preventDefault();
    await startServer(again);
    return;
  }
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
  await busy(btn, async () => {
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
});

document.getElementById("delete-session").addEventListener("submit", async (e) => {
  e.preventDefault();
  if (!confirm("Delete this session? Its servers and clients stop and its recording is deleted.")) return;
  try {
    sessionGone = true; // the live stream's end is expected now
    await call("DELETE", api);
    location.href = "/";
  } catch (err) {
    sessionGone = false;
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
    // The count is sockplay-wide (all sessions share one disk), and says so.
    diskState.textContent = rec.waits ? `sockplay-wide, sockets have waited for the disk ${rec.waits}×` : "";
  } catch { /* the next poll retries */ }
  // How far the recording is ahead of the table, for "catching up": the
  // live stream alone cannot tell while it is itself behind.
  if (!sessionGone) {
    try {
      const page = await call("GET", `${api}/events?before=1&limit=1`);
      storedLast = page.last_seq || 0;
      if (follow && ws && ws.readyState === WebSocket.OPEN && storedLast - received > 2 * MAX_ROWS) skipLiveTo(storedLast - PAGE);
      showLive();
    } catch { /* the next poll retries */ }
  }
}
setInterval(pollStatus, 2000);
pollStatus();

// ---- start -----------------------------------------------------------------

showCopyButtons();
updateTargets();
loadTail()
  .then((last) => { received = last; connect(); })
  .catch((err) => { showError(`Could not load events: ${err.message}`); connect(); });
