// table.js: the events table, a window onto the session's recording.
// Rendering is batched per animation frame and the table keeps at most
// MAX_ROWS rows: older events are paged in from the API on scroll. Events
// arrive live, from gap fills and from paging; the table keeps them
// contiguous, repairs holes, skips ahead when it falls too far behind, and
// filters its rows by connection and kind.

import { call } from "./api.js";
import { b64bytes, hexdump, hexdumpParts, partsLegend, timeOf } from "./format.js";
import { dataKinds, details } from "./renderers.js";
import { note, showError } from "./ui.js";

export const MAX_ROWS = 1500;
export const PAGE = 300;
// Search older pages events in until a row matches the filters, the
// session's first event is reached, or SEARCH_PAGES pages were read.
const SEARCH_PAGES = 100;

// lifecycle events change what the servers and clients panel shows.
export function lifecycle(ev) {
  return ["server-start", "server-stop", "connect", "accept", "close"].includes(ev.kind) ||
    (ev.kind === "error" && ev.meta && ev.meta.op === "connect");
}

// createTable wires the table of the page (#events-body in #events-scroll,
// the filters, "Latest", the live state) and returns what the live stream
// and the page need of it. api is the session's API path; state is shared
// with the live stream: state.received, the newest seq received (live or
// fill), the resume point, and state.storedLast, the newest seq the store
// had when last asked. onLifecycle runs for each event that changes the
// servers and clients panel.
export function createTable({ api, state, onLifecycle }) {
  const body = document.getElementById("events-body");
  const scroller = document.getElementById("events-scroll");
  const liveState = document.getElementById("live-state");
  const jumpLatest = document.getElementById("jump-latest");
  const pauseButton = document.getElementById("pause-live");
  const filterConn = document.getElementById("filter-conn");
  const filterKind = document.getElementById("filter-kind");
  const filterEmpty = document.getElementById("filter-empty");

  // `pending` holds the events not yet shown, keyed by seq, and `shownLast`
  // is the newest seq in the table. Live rendering is contiguous: a missing
  // seq waits for its gap fill.
  const pending = new Map();
  let shownFirst = 0; // oldest seq in the table (0: none)
  let shownLast = 0; // newest seq in the table
  let follow = true; // the table shows the newest events and scrolls with them
  // dropped: events after the table's last row were let go while not
  // following, so following again needs a fresh tail ("Latest").
  let dropped = false;
  let frameQueued = false;
  let loadingOlder = false;
  const conns = new Set();

  // addrText shows the socket's two ends with the arrow in the direction
  // the bytes went: a recv came from the remote end, a send went to it.
  function addrText(ev) {
    if (!ev.remote) return ev.local || "";
    const incoming = ev.kind === "recv" || ev.kind === "datagram-in";
    return `${ev.local || "?"} ${incoming ? "←" : "→"} ${ev.remote}`;
  }

  function cell(tr, cls, text) {
    const td = document.createElement("td");
    if (cls) td.className = cls;
    td.textContent = text;
    if (cls === "conn" || cls === "who" || cls === "addr") td.title = text; // cut with an ellipsis when long
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
    cell(tr, "addr", addrText(ev));
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

  // Keyboard: the table takes the focus (Tab, or a click); ↑/↓ move the
  // selected row among those shown, Enter opens or closes its bytes, "/"
  // anywhere outside a field goes to the kind filter.
  scroller.tabIndex = 0;
  function select(tr) {
    body.querySelector("tr.ev.selected")?.classList.remove("selected");
    if (!tr) return;
    tr.classList.add("selected");
    tr.scrollIntoView({ block: "nearest" });
  }
  body.addEventListener("click", (e) => {
    const row = e.target.closest("tr.ev");
    if (row) select(row);
  });
  scroller.addEventListener("keydown", (e) => {
    if (e.key !== "ArrowDown" && e.key !== "ArrowUp" && e.key !== "Enter") return;
    const cur = body.querySelector("tr.ev.selected");
    if (e.key === "Enter") {
      if (cur && cur.classList.contains("data")) cur.click();
      e.preventDefault();
      return;
    }
    e.preventDefault();
    const down = e.key === "ArrowDown";
    let tr = cur ? (down ? cur.nextElementSibling : cur.previousElementSibling) : (down ? body.querySelector("tr.ev") : body.lastElementChild);
    while (tr && (!tr.classList.contains("ev") || tr.hidden)) tr = down ? tr.nextElementSibling : tr.previousElementSibling;
    if (tr) select(tr);
  });
  document.addEventListener("keydown", (e) => {
    if (e.key !== "/" || e.target.closest("input, textarea, select, [contenteditable]")) return;
    e.preventDefault();
    filterKind.focus();
  });

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

  // ---- rendering -----------------------------------------------------------

  // accept takes events in (live, from a gap fill or a load) to be shown on
  // the next frame.
  function accept(events) {
    if (events.length) document.getElementById("first-steps")?.remove(); // the session has begun
    for (const ev of events) {
      if (ev.seq > shownLast && !pending.has(ev.seq)) pending.set(ev.seq, ev);
      if (ev.seq > state.received) state.received = ev.seq;
      if (lifecycle(ev)) onLifecycle();
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
      if (pending.size || state.received > shownLast) watchHole();
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
      let next = state.received + 1;
      for (const k of pending.keys()) if (k < next) next = k;
      if (next > at + 1) fillGap(at + 1, next - 1).catch((e) => showError(`Could not fetch missed events: ${e.message}`));
    }, 1000);
  }

  // showLive says whether the table is live or still catching up.
  function showLive() {
    if (liveState.dataset.state !== "live" && liveState.dataset.state !== "catching-up") return;
    const behind = Math.max(state.received, state.storedLast) - shownLast;
    pauseButton.hidden = !follow;
    if (!follow) {
      // The sockets go on; only the view is frozen, and it says so.
      liveState.textContent = behind > 0 ? `paused: ${behind} newer events not shown` : "paused";
      liveState.dataset.paused = "1";
      return;
    }
    delete liveState.dataset.paused;
    if (behind > PAGE) {
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
    showLive();
  }

  // loadTail replaces the table with the newest page and follows again. One
  // load at a time: a second (a double click) joins the first, since an older
  // snapshot landing last would drop what was shown in between. It resolves
  // to the newest seq loaded (0: none).
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
    showLive();
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
  pauseButton.addEventListener("click", stopFollowing);

  // ---- gaps ----------------------------------------------------------------

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

  // ---- filters -------------------------------------------------------------

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

  return {
    accept,
    fillGap,
    skipTo,
    loadTail,
    showLive,
    // following: the table shows the newest events and scrolls with them.
    get following() { return follow; },
  };
}
