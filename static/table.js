// table.js: the event list, a virtualised window onto the session's
// recording. The events live in memory (vlist.js: a contiguous run of at
// most CAP events, a filtered view of them); the table draws only the rows
// on screen, each the same height, between two spacers, once per animation
// frame whatever arrives. Older events are paged in from the API when the
// list is scrolled to its top. The list keeps its run contiguous, repairs
// holes, skips ahead when it falls too far behind, follows the live tail
// unless paused or scrolled up, and feeds the detail pane and the
// conversation view.

import { call } from "./api.js";
import { bytesFlow, Ends, endsText, timeOf } from "./format.js";
import { dataKinds, details } from "./renderers.js";
import { note, showError } from "./ui.js";
import { EventList, indexOfSeq, scrollIntent, takeRun, windowOf } from "./vlist.js";
import { renderDetail } from "./detail.js";
import { buildConversation, renderConversation } from "./conversation.js";

// CAP is how many events the page keeps in memory; MAX_ROWS how far the
// live stream may trail the recording before it skips ahead (health.js);
// PAGE the size of a page fetched from the API.
export const CAP = 50000;
export const MAX_ROWS = 1500;
export const PAGE = 1000;
// Search older pages events in until a row matches the filters, the
// session's first event is reached, or SEARCH_PAGES pages were read.
const SEARCH_PAGES = 50;
// A conversation is drawn from at most this many of its newest events.
const CONV_MAX = 2000;
// New live rows are drawn at most this often (ms), and a frame takes at
// most RUN_MAX events into the list (a backlog after a pause goes in over
// several frames).
const DRAW_EVERY = 100;
const RUN_MAX = 4000;

// lifecycle events change what the servers and clients panel shows.
export function lifecycle(ev) {
  return ["server-start", "server-stop", "connect", "accept", "close"].includes(ev.kind) ||
    (ev.kind === "error" && ev.meta && ev.meta.op === "connect");
}

// addrText shows the socket's two addresses with the arrow in the
// direction the bytes went (the title of a row's other-end cell, which
// names the ends).
export function addrText(ev) {
  if (!ev.remote) return ev.local || "";
  const incoming = bytesFlow(ev) === "in";
  return `${ev.local || "?"} ${incoming ? "←" : "→"} ${ev.remote}`;
}

// createTable wires the list of the page (#events-body in #events-scroll,
// the filters, Pause, "Latest", the live state, the detail pane, the
// conversation view) and returns what the live stream and the page need of
// it. api is the session's API path; state is shared with the live stream:
// state.received, the newest seq received (live or fill), the resume point,
// and state.storedLast, the newest seq the store had when last asked.
// onLifecycle runs for each event that changes the servers and clients panel.
export function createTable({ api, state, onLifecycle }) {
  const body = document.getElementById("events-body");
  const scroller = document.getElementById("events-scroll");
  const thead = scroller.querySelector("thead");
  const liveState = document.getElementById("live-state");
  const jumpLatest = document.getElementById("jump-latest");
  const pauseButton = document.getElementById("pause-live");
  const filterConn = document.getElementById("filter-conn");
  const filterKind = document.getElementById("filter-kind");
  const filterEmpty = document.getElementById("filter-empty");
  const detailPane = document.getElementById("detail");
  const convPane = document.getElementById("conversation");
  const viewList = document.getElementById("view-list");
  const viewConv = document.getElementById("view-conv");
  const olderNote = document.getElementById("older-note");

  const list = new EventList(CAP);
  // `pending` holds the events not yet in the list, keyed by seq: the list
  // is contiguous, and a missing seq waits for its gap fill.
  const pending = new Map();
  let follow = true; // the list shows the newest events and scrolls with them
  // dropped: events after the list's last were let go while not following,
  // so following again needs a fresh tail ("Latest").
  let dropped = false;
  let frameQueued = false;
  let dirty = true; // the rows on screen must be drawn again
  // urgent: what is on screen must change at the next frame (the reader
  // scrolled, selected, filtered); new live rows alone are drawn at most
  // every DRAW_EVERY ms, so a flood costs a bounded layout a second.
  let urgent = true;
  let lastDraw = 0;
  const redraw = () => { dirty = true; urgent = true; };
  let loadingOlder = false;
  let selected = 0; // the selected event's seq (0: none)
  let rowH = 22; // measured from the first row drawn
  let measured = false;
  let measuredAt = 0;
  let expectedTop = -1; // the scrollTop the list set itself
  let drawnTotal = 0; // the list's height as last drawn: what scrollHeight is
  let scrollBy = 0; // how far the next draw moves the scroll position (rows went in above)
  const conns = new Set();
  // ends names the servers and clients (format.js); it asks the session
  // for its servers and clients when an event names one it does not know,
  // at most once a second.
  const ends = new Ends();
  let namesAsked = 0;
  let namesTimer = 0;
  function askNames() {
    if (namesTimer) return;
    const wait = Math.max(0, namesAsked + 1000 - performance.now());
    namesTimer = setTimeout(async () => {
      namesAsked = performance.now();
      try {
        const v = await call("GET", api);
        if (ends.setView(v)) {
          rowCache.clear();
          relabelConns();
          if (convOpen) convDirty = true; // its lanes are named too
          redraw();
          queueFlush();
        }
      } catch { /* the next unknown name asks again */ } finally {
        namesTimer = 0;
      }
    }, wait);
  }
  askNames();
  const rowCache = new Map(); // seq -> tr drawn last frame

  const topSpacer = spacer();
  const bottomSpacer = spacer();
  function spacer() {
    const tr = document.createElement("tr");
    tr.className = "spacer";
    tr.setAttribute("aria-hidden", "true");
    // One cell, as wide as the row (style.css: never hidden with a column).
    tr.appendChild(document.createElement("td"));
    return tr;
  }
  body.replaceChildren(topSpacer, bottomSpacer);

  // A row is one line, the same height as every other: a tr of eight
  // cells, each holding one text node (the details cell also a hint).
  // Rows are recycled: a row whose event left the window is filled with
  // a new event's text in place, which costs the browser a fraction of
  // building a row (no new layout objects, no text nodes made): in a flood
  // every row on screen changes several times a second.
  const CELLS = ["seq", "time", "kind", "conn", "who", "addr", "len", "details"];
  function makeRow() {
    const tr = document.createElement("tr");
    tr.setAttribute("data-testid", "event");
    tr.setAttribute("role", "row"); // the table is laid out as flex rows (style.css): its roles are said
    for (const cls of CELLS) {
      const td = document.createElement("td");
      td.className = cls;
      td.setAttribute("role", "cell");
      td.appendChild(document.createTextNode(""));
      tr.appendChild(td);
    }
    const hint = document.createElement("span");
    hint.className = "hint";
    hint.appendChild(document.createTextNode(""));
    tr.lastChild.appendChild(hint);
    return tr;
  }
  function setCell(td, text, title) {
    const t = td.firstChild;
    if (t.data !== text) t.data = text;
    if (title && td.title !== text) td.title = text;
  }

  // fillRow shows ev in the row tr (new or recycled).
  function fillRow(tr, ev) {
    tr._ev = ev;
    const data = dataKinds.has(ev.kind);
    let cls = `ev k-${ev.kind}`;
    if (ev._failed) cls += " failed";
    if (data && ev.data) cls += " data";
    if (ev.seq === selected) cls += " selected";
    if (tr.className !== cls) tr.className = cls;
    tr.dataset.seq = ev.seq;
    tr.dataset.kind = ev.kind;
    tr.dataset.conn = ev.conn || "";
    tr.dataset.owner = ev.server || "";
    const title = data && ev.data ? "click for its bytes" : "";
    if (tr.title !== title) tr.title = title;
    const c = tr.children;
    setCell(c[0], String(ev.seq));
    setCell(c[1], timeOf(ev.at));
    setCell(c[2], ev.kind);
    setCell(c[3], ev.conn || "", true);
    setCell(c[4], ends.owner(ev.server), true);
    setCell(c[5], endsText(ev, ends, peerOwner(ev.conn)));
    const addrs = addrText(ev);
    if (c[5].title !== addrs) c[5].title = addrs;
    setCell(c[6], data ? String(ev.len) : "");
    const d = details(ev);
    const nl = d.indexOf("\n");
    let line = nl < 0 ? d : d.slice(0, nl);
    if (ev._failed) line = `not sent (${ev._failed.errno}, ${ev._failed.written} bytes written): ${line}`;
    const td = c[7];
    setCell(td, line);
    const hint = td.lastChild.firstChild;
    const h = nl < 0 ? "" : " " + d.slice(nl + 1).replace(/\n/g, " ");
    if (hint.data !== h) hint.data = h;
    if (td.title !== d) td.title = d;
    return tr;
  }

  // ---- what arrives ----------------------------------------------------------

  // note what each event added to the list tells: a new connection for
  // the filter, the other end of a connection, a failed send.
  const connAddrs = new Map(); // conn -> "local|remote"
  const connByAddrs = new Map(); // "local|remote" -> conn (the newest)
  let peersChanged = false;
  const connOwner = new Map(); // conn -> the id of its socket's owner
  function notePeer(ev) {
    if (ev.conn && ev.server && !connOwner.has(ev.conn)) connOwner.set(ev.conn, ev.server);
    if (!ev.conn || !ev.local || !ev.remote || connAddrs.has(ev.conn)) return;
    const k = `${ev.local}|${ev.remote}`;
    connAddrs.set(ev.conn, k);
    connByAddrs.set(k, ev.conn);
    if (connByAddrs.has(`${ev.remote}|${ev.local}`)) peersChanged = labelsDirty = true;
  }
  function peerOf(conn) {
    const k = connAddrs.get(conn);
    if (!k) return "";
    const [local, remote] = k.split("|");
    return connByAddrs.get(`${remote}|${local}`) || "";
  }
  // peerOwner is the owner of the other end of conn, when both ends are
  // sockplay's and the page has seen the other.
  function peerOwner(conn) {
    const p = conn && peerOf(conn);
    return p ? connOwner.get(p) || "" : "";
  }
  // The connection filter lists conversations by their ends' names.
  const connFirst = new Map(); // conn -> its first event with both addresses
  function connLabel(conn) {
    const ev = connFirst.get(conn);
    if (!ev) return conn;
    const other = ends.other(ev, peerOwner(conn));
    return `${ends.owner(ev.server)} ⇄ ${other || "?"} · ${conn}`;
  }
  let labelsVersion = -1;
  let labelsDirty = false;
  function relabelConns() {
    if (labelsVersion === ends.version && !labelsDirty) return;
    labelsVersion = ends.version;
    labelsDirty = false;
    for (const o of filterConn.options) if (o.value) {
      const t = connLabel(o.value);
      if (o.textContent !== t) o.textContent = t;
    }
  }
  function noteEvent(ev) {
    notePeer(ev);
    if (ends.noteEvent(ev)) askNames();
    if (ev.conn && ev.remote && !connFirst.has(ev.conn)) {
      connFirst.set(ev.conn, ev);
      const o = conns.has(ev.conn) ? [...filterConn.options].find((x) => x.value === ev.conn) : null;
      if (o) o.textContent = connLabel(ev.conn);
    }
    if (ev.conn && !conns.has(ev.conn)) {
      conns.add(ev.conn);
      const o = document.createElement("option");
      o.value = ev.conn;
      o.textContent = connLabel(ev.conn);
      filterConn.appendChild(o);
    }
    if (ev.kind === "error" && ev.meta && ev.meta.op === "send" && ev.meta.written !== undefined) markFailedSend(ev);
  }

  // markFailedSend flags the send an error belongs to (the newest send of
  // its connection before it): the send event is emitted before its write
  // call, so without this a learner would read it as sent.
  function markFailedSend(ev) {
    const all = list.all;
    for (let i = all.length - 1, n = 0; i >= 0 && n < 5000; i--, n++) {
      const s = all[i];
      if (s.seq > ev.seq || s.kind !== "send" || s.conn !== ev.conn) continue;
      if (!s._failed) {
        s._failed = { errno: ev.err ? ev.err.errno : "error", written: ev.meta.written };
        rowCache.delete(s.seq);
        redraw();
      }
      return;
    }
  }

  // accept takes events in (live, from a gap fill or a load) to be shown on
  // the next frame.
  function accept(events) {
    if (events.length) document.getElementById("first-steps")?.remove(); // the session has begun
    const last = tail();
    for (const ev of events) {
      if (ev.seq > last && !pending.has(ev.seq)) pending.set(ev.seq, ev);
      if (ev.seq > state.received) state.received = ev.seq;
      if (lifecycle(ev)) onLifecycle();
    }
    // A hidden tab runs no animation frames, so flush does not run: bound
    // what waits here.
    if (pending.size > CAP) {
      if (follow) {
        const keys = [...pending.keys()].sort((a, b) => a - b);
        skipTo(keys[keys.length - CAP] - 1);
      } else trimPending();
    }
    queueFlush();
  }

  // skipTo starts the list again after seq: what lies between stays in the
  // recording and pages in on scroll. The rows shown stay until the first events after seq are in (an empty
  // list while the stream restarts would read as "nothing happens").
  let base = 0; // the list starts after this seq when it is empty
  let skipped = false; // the list is stale: the next run starts after base
  const tail = () => (skipped || !list.size ? base : list.last);
  function skipTo(seq) {
    const last = tail();
    if (seq <= last) return;
    note(`Skipped ahead ${seq - last} events to stay live; scroll up to page through them.`);
    for (const k of pending.keys()) if (k <= seq) pending.delete(k);
    base = seq;
    skipped = true;
  }

  function queueFlush() {
    if (!frameQueued) {
      frameQueued = true;
      requestAnimationFrame(flush);
    }
  }

  // flush runs once per frame: following, it moves every pending event that
  // continues the list without a hole into it (letting the oldest go past
  // CAP), then draws the rows on screen.
  function flush() {
    frameQueued = false;
    if (follow && !loadingOlder) {
      const run = takeRun(pending, tail(), RUN_MAX);
      if (run.length) {
        if (skipped) {
          skipped = false;
          list.clear();
          rowCache.clear();
          setHidden(olderNote, false); // what was skipped is older now
        }
        list.append(run);
        for (const ev of run) noteEvent(ev); // after: a failed send marks a send of the same run
        if (list.over) {
          list.trimFront();
          for (const k of rowCache.keys()) if (k < list.first) rowCache.delete(k);
          setHidden(olderNote, false);
        }
        dirty = true;
        // Rows already in the list may belong to a connection whose other
        // end has just become known: filter them again.
        if (filterConn.value && peersChanged) applyFilter();
        relabelConns();
        showFilterState();
        if (convOpen) convDirty = true;
        if (pending.has(tail() + 1)) queueFlush(); // more next frame
      } else if (pending.size || state.received > (tail())) {
        watchHole();
      }
    } else if (!follow) {
      if (pending.size) setHidden(jumpLatest, false);
      trimPending();
    }
    if (dirty) {
      const now = performance.now();
      // Catching up or in a flood (the server sends the newest events
      // only), new rows are drawn less often still: five times a second
      // is as live as rows that are all new each time can be read, and
      // each draw is one task that a machine busy with the flood's own
      // sockets can stretch past 50 ms.
      const flooding = liveState.dataset.state === "catching-up" || now - floodAt < 1000;
      const every = flooding ? 2 * DRAW_EVERY : DRAW_EVERY;
      if (urgent || now - lastDraw >= every) {
        draw();
        lastDraw = now;
        urgent = false;
      } else {
        queueFlush(); // a later frame draws
        return;
      }
    }
    if (convOpen && convDirty) drawConversation();
    showLive();
  }

  // The sizes draw needs, measured when they change (a ResizeObserver), so
  // that drawing reads no layout: it reads the scroll position first (the
  // layout of the frame before is clean then), then only writes.
  let headH = 0;
  let viewH = 0;
  function measure() {
    headH = thead.offsetHeight;
    viewH = scroller.clientHeight;
  }
  new ResizeObserver(() => { measure(); redraw(); queueFlush(); }).observe(scroller);

  // draw puts the rows of the view that are on screen in the table, reusing
  // the rows of the frame before.
  function draw() {
    dirty = false;
    if (scroller.hidden) return;
    if (!viewH) measure();
    const view = list.view;
    const count = view.length;
    const total = headH + count * rowH;
    const top = follow ? Math.max(0, total - viewH) : Math.min(scroller.scrollTop + scrollBy, Math.max(0, total - viewH));
    const { start, end } = windowOf(top - headH, viewH, rowH, count);
    // The rows drawn last frame that show an event still in the window
    // stay (rowCache: seq -> tr; an entry deleted means "fill again"); the
    // others are free and are filled with the window's new events, in
    // order. A free row stays where it is when the kept rows before it are
    // as many as before its new place (a flood: all rows are free and none
    // moves); otherwise it is taken out and put in its place (a scroll: the
    // rows that scrolled off one end come in at the other).
    const cur = [];
    for (let tr = topSpacer.parentNode === body ? topSpacer.nextSibling : null; tr && tr !== bottomSpacer;) {
      const next = tr.nextSibling;
      if (tr.classList.contains("ev")) cur.push(tr);
      else tr.remove();
      tr = next;
    }
    const want = [];
    for (let i = start; i < end; i++) {
      const ev = view[i];
      const tr = rowCache.get(ev.seq);
      want.push(tr && tr._ev === ev ? tr : null);
    }
    const kept = new Set(want.filter(Boolean));
    const free = [];
    let keptBefore = 0;
    for (const tr of cur) {
      if (kept.has(tr)) keptBefore++;
      else free.push({ tr, keptBefore });
    }
    const rows = new Array(want.length);
    let f = 0;
    keptBefore = 0;
    for (let i = 0; i < want.length; i++) {
      if (want[i]) {
        rows[i] = want[i];
        keptBefore++;
        continue;
      }
      const slot = f < free.length ? free[f++] : null;
      const tr = slot ? slot.tr : makeRow();
      if (slot && slot.keptBefore !== keptBefore) tr.remove(); // put in its place below
      rows[i] = fillRow(tr, view[start + i]);
    }
    for (; f < free.length; f++) free[f].tr.remove(); // fewer rows than before
    rowCache.clear();
    for (const tr of rows) rowCache.set(tr._ev.seq, tr);
    drawnTotal = total;
    setHeight(topSpacer, start * rowH);
    setHeight(bottomSpacer, (count - end) * rowH);
    if (topSpacer.parentNode !== body) body.prepend(topSpacer);
    let cursor = topSpacer.nextSibling;
    for (const tr of rows) {
      if (tr === cursor) { cursor = cursor.nextSibling; continue; }
      body.insertBefore(tr, cursor);
    }
    if (bottomSpacer.parentNode !== body || bottomSpacer.nextSibling) body.appendChild(bottomSpacer);
    if (follow) {
      scroller.scrollTop = top;
      expectedTop = top;
    } else if (scrollBy) {
      // Rows went in above (an older page): the same rows stay in view.
      scrollBy = 0;
      scroller.scrollTop = top;
    }
    // Measured again at most once a second: the first rows can be drawn
    // before the page's style is final (the stylesheets of the replay bar
    // and the lesson panel load after it), and one stale guess misplaces
    // every row. The read forces a layout, so not on every frame.
    if (rows.length && (!measured || performance.now() - measuredAt > 1000)) {
      measuredAt = performance.now();
      // A row drawn while the list is not laid out (a parent hidden, as
      // the replay bar's first draw can be) measures 0: measure again at a
      // later draw rather than keep the guess. A wrong rowH puts the rows
      // below where the spacers say, and the last one under the edge.
      // The pitch from one row to the next after the first, not a row's
      // height: with collapsed borders the first row is half a border
      // shorter (22.5 against 23 here), and that half pixel a row adds up
      // down the list.
      const n = rows.length;
      const h = n > 2 ? (rows[n - 1].getBoundingClientRect().top - rows[1].getBoundingClientRect().top) / (n - 2) :
        rows[n - 1].getBoundingClientRect().height;
      measured = h > 0;
      if (h > 0 && Math.abs(h - rowH) > 0.5) {
        // Draw again now with the pitch measured (it is not measured again
        // for a second): a frame with the spacers of the guess would show
        // rows that are not where the scroll position says, and a scroll
        // made then would skip the rows between.
        rowH = h;
        draw();
        return;
      }
    }
    setData("first", list.first);
    setData("last", list.last);
    setData("count", list.size);
    setData("shown", count);
    setData("rowh", rowH);
  }
  function setHeight(sp, px) {
    if (sp._h !== px) { sp._h = px; sp.firstChild.style.height = `${px}px`; }
  }
  // The list's extent, for tests and the curious: data-first, data-last
  // (the run in memory), data-count (its size), data-shown (the view's).
  function setData(k, v) {
    if (scroller.dataset[k] !== String(v)) scroller.dataset[k] = v;
  }

  // watchHole repairs a hole in what is pending (events after the list's
  // last are here, the next one is not) that a gap fill has not filled
  // within a second, whatever caused it: the list must never stall.
  let holeTimer = 0;
  function watchHole() {
    if (holeTimer) return;
    const at = tail();
    holeTimer = setTimeout(() => {
      holeTimer = 0;
      if (!follow || (tail()) !== at || pending.has(at + 1)) return;
      let next = state.received + 1;
      for (const k of pending.keys()) if (k < next) next = k;
      if (next > at + 1) fillGap(at + 1, next - 1).catch((e) => showError(`Could not fetch missed events: ${e.message}`));
    }, 1000);
  }

  // showLive says whether the list is live, paused or catching up.
  function showLive() {
    if (liveState.dataset.state !== "live" && liveState.dataset.state !== "catching-up") return;
    const behind = Math.max(state.received, state.storedLast) - (tail());
    setHidden(pauseButton, !follow);
    if (!follow) {
      // The sockets go on; only the view is frozen, and it says so.
      setCount(liveState, behind > 0 ? `paused: ${behind} newer events not shown` : "paused");
      liveState.dataset.paused = "1";
      return;
    }
    delete liveState.dataset.paused;
    if (performance.now() - floodAt < 1000) {
      // A flood: the server sends the newest events only.
      setText(liveState, "live (a flood: the newest only)");
      setAttr(liveState, "title", "In a flood the page is sent the newest events ten times a second; the others are in the recording: pause and scroll up to read them.");
      setAttr(liveState, "data-state", "live");
      setAttr(liveState, "data-flood", "1");
      return;
    }
    if (liveState.dataset.flood) {
      delete liveState.dataset.flood;
      liveState.title = "";
    }
    if (behind > 300) {
      setCount(liveState, `catching up (${behind} behind)…`);
      setAttr(liveState, "data-state", "catching-up");
    } else {
      setText(liveState, "live");
      setAttr(liveState, "data-state", "live");
    }
  }
  // setHidden and setAttr write only a change: a write of the same value
  // is still a mutation, and outside the list's containment each one can
  // lay the whole page out again in a flood's every frame.
  function setHidden(el, h) {
    if (el.hidden !== h) el.hidden = h;
  }
  function setAttr(el, name, v) {
    if (el.getAttribute(name) !== v) el.setAttribute(name, v);
  }
  // setText changes a text only when it is new (no relayout otherwise).
  function setText(el, text) {
    if (el.textContent !== text) el.textContent = text;
  }
  // setCount is setText for a text whose number changes with every frame
  // of a flood: a change of the number alone shows at most twice a second
  // (each change lays the page out again, outside the list's own
  // containment); a change of the words shows at once.
  let countShown = 0;
  function setCount(el, text) {
    const now = performance.now();
    const words = (t) => t.replace(/[0-9]+/g, "#");
    if (el.textContent === text) return;
    if (words(el.textContent) === words(text) && now - countShown < 500) {
      queueCountLater();
      return;
    }
    countShown = now;
    el.textContent = text;
  }
  let countTimer = 0;
  function queueCountLater() {
    if (!countTimer) countTimer = setTimeout(() => { countTimer = 0; showLive(); }, 500);
  }

  // While not following, keep only a bounded number of pending events:
  // past CAP they all go (the view shows none of them; "Latest" fetches
  // the newest page again). Letting all go costs nothing, where keeping
  // the newest CAP sorted 50k keys in one task every few thousand events.
  function trimPending() {
    if (pending.size <= CAP) return;
    pending.clear();
    dropped = true;
  }

  // stopFollowing pauses the live tail: new events wait (or are dropped and
  // fetched again) until "Latest" or a scroll back to the bottom.
  function stopFollowing() {
    if (!follow) return;
    follow = false;
    jumpLatest.hidden = false;
    showLive();
  }

  function resumeFollowing() {
    if (dropped) {
      loadTail().catch((e) => showError(e.message));
      return;
    }
    follow = true;
    jumpLatest.hidden = true;
    redraw();
    queueFlush();
  }

  // loadTail replaces the list with the newest page and follows again. One
  // load at a time: a second (a double click) joins the first. It resolves
  // to the newest seq loaded (0: none).
  let tailLoad = null;
  function loadTail() {
    if (!tailLoad) tailLoad = loadTailPage().finally(() => { tailLoad = null; });
    return tailLoad;
  }

  async function loadTailPage(before = Number.MAX_SAFE_INTEGER) {
    const data = await call("GET", `${api}/events?before=${before}&limit=${PAGE}`);
    const evs = data.events;
    const tail = evs.length ? evs[evs.length - 1].seq : 0;
    for (const k of pending.keys()) if (k <= tail) pending.delete(k);
    list.clear();
    rowCache.clear();
    skipped = false;
    base = evs.length ? evs[0].seq - 1 : 0;
    olderNote.hidden = base <= 0;
    follow = true;
    dropped = false;
    jumpLatest.hidden = true;
    note("");
    accept(evs);
    flush();
    return tail;
  }

  // loadOlder pages in the events before the list's first (when scrolled
  // to its top), or joins the load under way. Live events wait meanwhile
  // (the list stays contiguous); past CAP the newest go and the view stops
  // following.
  let olderLoad = null;
  function loadOlder() {
    if (!olderLoad) olderLoad = loadOlderPage().finally(() => { olderLoad = null; });
    return olderLoad;
  }

  async function loadOlderPage() {
    const want = list.first || base + 1;
    if (want <= 1) return false;
    loadingOlder = true;
    olderNote.textContent = "loading older events…";
    try {
      const data = await call("GET", `${api}/events?before=${want}&limit=${PAGE}`);
      const evs = data.events;
      if (!evs.length || (list.first || base + 1) !== want || evs[evs.length - 1].seq !== want - 1) return false;
      for (const ev of evs) noteEvent(ev);
      const added = list.prepend(evs);
      base = Math.min(base, evs[0].seq - 1);
      if (!list.first) base = evs[0].seq - 1;
      if (list.over || list.size > CAP) {
        list.trimBack();
        stopFollowing();
        dropped = true;
        for (const k of pending.keys()) if (k <= list.last) pending.delete(k);
      }
      if (added && !follow) {
        // Draw now, the spacer grown before the scroll moves by as much: a
        // scroll position set first would be cut at the old height.
        scrollBy += added * rowH;
        draw();
      }
      redraw();
      if (list.first <= 1) note("");
      return true;
    } catch (err) {
      showError(`Could not load older events: ${err.message}`);
      return false;
    } finally {
      loadingOlder = false;
      olderNote.textContent = "older events: scroll up to load more";
      olderNote.hidden = (list.first || base + 1) <= 1;
      showFilterState();
      queueFlush();
    }
  }

  // The list follows the newest events while it is scrolled to the bottom;
  // scrolling up pauses that (rows would otherwise move under the reader),
  // and scrolling back down resumes it.
  // A scroll the browser makes itself is not the reader's: when the viewport
  // grows (the detail pane closes) at the bottom, it moves the position up
  // within the rows drawn, before the ResizeObserver says the new height.
  // So what is at the bottom is judged against the height drawn (rows
  // taken in since are not in the page yet), and before stopping, against
  // the viewport's height now (a read of the layout, on this rare path only).
  scroller.addEventListener("scroll", () => {
    const top = scroller.scrollTop;
    const at = { top, lastTop, expectedTop, total: drawnTotal, viewH, rowH, follow };
    let intent = scrollIntent(at);
    if (intent === "stop") {
      measure();
      intent = scrollIntent({ ...at, viewH });
    }
    if (intent === "stop") stopFollowing();
    else if (intent === "resume" && !loadingOlder) resumeFollowing();
    lastTop = top;
    if (!(follow && Math.abs(top - expectedTop) < 1)) { // not the list's own scroll to the bottom
      redraw();
      queueFlush();
    }
    // Older events page in when the reader scrolls up to them (not while
    // following: a flood would fetch pages nobody reads).
    if (!follow && top - headH < rowH * 20) loadOlder();
  });
  let lastTop = 0;
  jumpLatest.addEventListener("click", () => loadTail().catch((e) => showError(e.message)));
  pauseButton.addEventListener("click", () => {
    // Rows taken in but not drawn yet (draws are spaced DRAW_EVERY apart)
    // are drawn first: the pause freezes what the list holds, and no row
    // appears after it. (A scroll up stops following without this: a draw
    // while following would put the view back at the bottom.)
    if (follow && dirty) {
      draw();
      lastDraw = performance.now();
    }
    stopFollowing();
  });
  olderNote.addEventListener("click", () => loadOlder());

  // ---- gaps ------------------------------------------------------------------

  // fillGap fetches events the live stream skipped (the browser was too
  // slow). A gap longer than MAX_ROWS is not fetched: following, the list
  // skips ahead to the newest page; paused, "Latest" reloads the tail.
  async function fillGap(from, to) {
    let after = Math.max(from - 1, tail());
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

  // floodGap takes a gap the server marked "flood": in a flood it sends the
  // newest events every 100 ms and leaves out the ones before them (they
  // are in the recording). Following, the list starts again after to
  // without a note each time (the status says it); paused, what waits is
  // dropped and "Latest" reloads the tail.
  let floodAt = -Infinity;
  let floodTimer = 0;
  function floodGap(from, to) {
    floodAt = performance.now();
    clearTimeout(floodTimer);
    floodTimer = setTimeout(showLive, 1100); // says "live" again once it is over
    for (const k of pending.keys()) if (k <= to) pending.delete(k);
    if (!follow) {
      dropped = true;
      jumpLatest.hidden = false;
      return;
    }
    if (to > tail()) {
      base = to;
      skipped = true;
    }
    queueFlush();
  }

  // ---- selection, keyboard, detail -----------------------------------------

  scroller.tabIndex = 0;
  // select makes seq the selected event, keeps its row in view and shows
  // it in the detail pane (opening it when open is set).
  // The selected event is kept even when it leaves memory (a flood).
  let selectedEv = null;
  function select(seq, { open = false, reveal = true, ev = null } = {}) {
    selected = seq;
    for (const tr of body.querySelectorAll("tr.ev.selected")) tr.classList.remove("selected");
    body.querySelector(`tr.ev[data-seq="${seq}"]`)?.classList.add("selected");
    for (const r of convPane.querySelectorAll(".conv-row.selected")) r.classList.remove("selected");
    convPane.querySelector(`.conv-row[data-seq="${seq}"]`)?.classList.add("selected");
    ev = ev || list.find(seq) || (selectedEv && selectedEv.seq === seq ? selectedEv : null);
    selectedEv = ev;
    if (open) detailPane.hidden = false;
    if (!detailPane.hidden) {
      renderDetail(detailPane, ev || null, ev ? { owner: ends.owner(ev.server), other: endsText(ev, ends, peerOwner(ev.conn)) } : {});
    }
    if (reveal) {
      const i = indexOfSeq(list.view, seq);
      if (i >= 0) {
        const y = headH + i * rowH;
        if (y < scroller.scrollTop + headH) scroller.scrollTop = y - headH;
        else if (y + rowH > scroller.scrollTop + viewH) scroller.scrollTop = y + rowH - viewH;
      }
    }
    redraw();
    queueFlush();
  }

  body.addEventListener("click", (e) => {
    const row = e.target.closest("tr.ev");
    if (row) select(Number(row.dataset.seq), { open: true, reveal: false, ev: row._ev });
  });
  scroller.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      if (selected) select(selected, { open: true });
      e.preventDefault();
      return;
    }
    if (e.key === "Escape") { detailPane.hidden = true; return; }
    if (e.key !== "ArrowDown" && e.key !== "ArrowUp") return;
    e.preventDefault();
    const view = list.view;
    if (!view.length) return;
    const down = e.key === "ArrowDown";
    let i = selected ? indexOfSeq(view, selected) : -1;
    if (i < 0) {
      // Nothing selected (or it left the view): the first (↓) or last (↑)
      // row in view.
      const top = scroller.scrollTop;
      i = down ? Math.ceil(top / rowH) : Math.floor((top + viewH - headH) / rowH) - 1;
      i = Math.max(0, Math.min(view.length - 1, i));
    } else {
      i = Math.max(0, Math.min(view.length - 1, i + (down ? 1 : -1)));
    }
    if (i >= 0) select(view[i].seq);
  });
  document.addEventListener("keydown", (e) => {
    if (e.key !== "/" || e.target.closest("input, textarea, select, [contenteditable]")) return;
    e.preventDefault();
    filterKind.focus();
  });
  detailPane.querySelector("[data-action=close-detail]").addEventListener("click", () => { detailPane.hidden = true; });
  detailPane.querySelector("[data-action=conversation]").addEventListener("click", () => {
    if (selectedEv && selectedEv.conn) showConversation(selectedEv.conn);
  });

  // ---- conversation ----------------------------------------------------------

  let convOpen = false;
  let convDirty = false;
  let convConn = "";
  let convTimer = 0;
  // showConversation switches to the ladder of conn (and its other end).
  function showConversation(conn) {
    convConn = conn || filterConn.value || (list.find(selected) || {}).conn || "";
    convOpen = true;
    viewConv.setAttribute("aria-pressed", "true");
    viewList.setAttribute("aria-pressed", "false");
    scroller.hidden = true;
    convPane.hidden = false;
    drawConversation();
  }
  function showList() {
    convOpen = false;
    viewConv.setAttribute("aria-pressed", "false");
    viewList.setAttribute("aria-pressed", "true");
    convPane.hidden = true;
    scroller.hidden = false;
    redraw();
    queueFlush();
  }
  // drawConversation draws the ladder, at most every 250 ms while events
  // arrive (it is rebuilt from the connection's events in memory).
  let convDrawn = 0;
  function drawConversation() {
    convDirty = false;
    const wait = convDrawn + 250 - performance.now();
    if (wait > 0) {
      if (!convTimer) convTimer = setTimeout(() => { convTimer = 0; drawConversation(); }, wait);
      return;
    }
    convDrawn = performance.now();
    const body = convPane.querySelector(".conv-body");
    const head = convPane.querySelector(".conv-note");
    if (!convConn) {
      head.textContent = "Choose a connection (the Connection filter, or select one of its events) to see its conversation.";
      body.replaceChildren();
      return;
    }
    const peer = peerOf(convConn);
    const evs = [];
    const all = list.all;
    for (let i = all.length - 1; i >= 0 && evs.length < CONV_MAX; i--) {
      const c = all[i].conn;
      if (c && (c === convConn || (peer && c === peer))) evs.push(all[i]);
    }
    evs.reverse();
    const conv = buildConversation(evs, convConn, peer);
    head.textContent = `Connection ${convConn}${peer ? ` and its other end ${peer}` : ""}: ${conv.steps.length} steps` +
      (evs.length >= CONV_MAX ? ` (the newest ${CONV_MAX} events)` : "") +
      (list.first > 1 ? "; events before #" + list.first + " are not loaded" : "") + ". Click a step for its detail.";
    const atEnd = convPane.scrollHeight - convPane.scrollTop - convPane.clientHeight < 40;
    renderConversation(body, conv, (seq) => {
      select(seq, { open: true, reveal: false });
    }, { selected, ownerName: (id) => ends.owner(id) });
    if (atEnd) convPane.scrollTop = convPane.scrollHeight;
  }
  viewConv.addEventListener("click", () => showConversation());
  viewList.addEventListener("click", showList);

  // ---- filters ---------------------------------------------------------------

  function applyFilter() {
    peersChanged = false;
    const fc = filterConn.value;
    const fk = filterKind.value;
    if (fc) {
      const peer = peerOf(fc);
      list.setFilter((ev) => (!fk || ev.kind === fk) && (ev.conn === fc || (!!peer && ev.conn === peer)));
    } else if (fk) {
      list.setFilter((ev) => ev.kind === fk);
    } else {
      list.setFilter(null);
    }
    rowCache.clear();
    if (convOpen && fc) convConn = fc;
    if (convOpen) convDirty = true;
    showFilterState();
    // Drawn now: what is on screen answers the filter at once.
    draw();
    lastDraw = performance.now();
    queueFlush();
  }
  filterConn.addEventListener("change", applyFilter);
  filterKind.addEventListener("change", applyFilter);

  // The filters apply to the events in memory; when none of them match,
  // say so and offer to search older pages.
  function showFilterState() {
    const active = filterConn.value || filterKind.value;
    const any = active && list.view.length > 0;
    setHidden(filterEmpty, !active || !!any);
    if (filterEmpty.hidden) return;
    const first = list.first;
    const range = first ? `#${first}–#${list.last}` : "none loaded";
    filterEmpty.querySelector("span").textContent =
      `No matching events among the loaded ones (${range}).` + (first > 1 ? "" : " That is the whole session.");
    const btn = filterEmpty.querySelector("button");
    btn.hidden = first <= 1 && base <= 0;
    btn.textContent = "Search older events";
  }

  filterEmpty.querySelector("button").addEventListener("click", async (e) => {
    const btn = e.currentTarget;
    const text = filterEmpty.querySelector("span");
    btn.disabled = true;
    let searched = 0;
    try {
      for (let i = 0; i < SEARCH_PAGES && (list.first || base + 1) > 1; i++) {
        const before = list.first || base + 1;
        const ok = await loadOlder();
        searched += Math.max(0, before - (list.first || base + 1));
        if (list.view.length) break;
        text.textContent = `Searching older events… back to #${list.first}`;
        if (!ok && !(await loadOlder())) break; // no progress twice: give up
      }
    } finally {
      btn.disabled = false;
      showFilterState();
      if (list.view.length) {
        // Show the oldest match found: the search went back for it.
        stopFollowing();
        scroller.scrollTop = 0;
        redraw();
        queueFlush();
      }
      if (!filterEmpty.hidden && list.first > 1) {
        text.textContent = `No match in ${searched} older events (searched back to #${list.first}).`;
        btn.textContent = "Search further";
      }
    }
  });

  // ---- replay (replay.js) ----------------------------------------------------

  // openAt shows the recording up to seq, as the list showed it then: the
  // page of events ending at seq (or the session's last, past the end),
  // following, seq selected and its detail open. What waited to go in is
  // dropped (a replay's point moved). It resolves to the event shown last
  // (null: none).
  async function openAt(seq) {
    pending.clear();
    state.received = seq;
    await loadTailPage(seq + 1);
    const last = list.size ? list.last : 0;
    state.received = last;
    if (last) select(last, { open: true });
    return last ? list.find(last) : null;
  }
  // continuesAt: the list ends at seq, following, nothing waiting (an event
  // after seq may go straight in).
  const continuesAt = (seq) => follow && !skipped && !pending.size && tail() === seq;

  return {
    openAt,
    continuesAt,
    // selectSeq selects seq (its event ev, when not in the list yet) with its detail open.
    selectSeq: (seq, ev = null) => select(seq, { open: true, ev }),
    accept,
    fillGap,
    floodGap,
    skipTo,
    loadTail,
    showLive,
    showConversation,
    // following: the list shows the newest events and scrolls with them.
    get following() { return follow; },
  };
}
