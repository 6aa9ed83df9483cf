// replay.js: the session page's Replay mode. The page opened with ?replay
// (from the start) or ?at=SEQ (at that event: every event's deep link)
// shows the recording up to a point, in the same list, detail pane and
// conversation view as live, with a bar: play and pause, one event back or
// forward, a speed, and the timeline to click or drag to any moment.
//
// Playing streams the stored events from the point on, with their recorded
// timing divided by the speed (GET /ws/…/replay?speed=&from=); at the end
// of the recording a session still recording goes on live. Seeking never
// re-streams: it asks the store for the seq at that time (…/seek?at=) and
// the page of events up to it (table.openAt). The URL follows the point
// (?at=SEQ), so it is always a link to what is on screen.

import { call } from "./api.js";
import { note, showError } from "./ui.js";
import {
  bucketAt, bucketCount, drawTimeline, durationText, parseSpeed, speedParam, timeAtX, timeMs, xOfTime,
} from "./timeline.js";

// replayRequest reads the page's query: null for the live page, else the
// seq to open at (0: the start) and the speed asked (1 when none or bad).
export function replayRequest(search) {
  const q = new URLSearchParams(search);
  if (!q.has("at") && !q.has("replay")) return null;
  const at = Math.max(0, Math.floor(Number(q.get("at")) || 0));
  const speed = parseSpeed(q.get("speed") ?? "1");
  return { at, speed: speed === null ? 1 : speed };
}

// linkTo is the deep link of seq on this page (a session's or a share
// link's).
export const linkTo = (path, seq) => `${path}?at=${seq}`;

// watchDeepLink keeps the detail pane's "link" pointing at the selected
// event, live or replaying.
export function watchDeepLink() {
  const pane = document.getElementById("detail");
  const link = document.getElementById("detail-link");
  if (!pane || !link) return;
  const update = () => {
    const seq = Number(pane.dataset.seq) || 0;
    link.hidden = !seq;
    if (seq) {
      link.href = linkTo(location.pathname, seq);
      link.title = `a link to event #${seq}: it opens this session at this event`;
    }
  };
  new MutationObserver(update).observe(pane, { attributes: true, attributeFilter: ["data-seq"] });
  update();
}

// createReplay starts Replay mode at req.at: api is the session's (or the
// link's) API path, table the event list (table.js), state the page's
// shared state.
export function createReplay({ api, table, state, req }) {
  const root = document.getElementById("replay");
  const bar = document.getElementById("timeline");
  const head = bar.querySelector(".tl-head");
  const playBtn = document.getElementById("replay-play");
  const backBtn = document.getElementById("replay-back");
  const fwdBtn = document.getElementById("replay-fwd");
  const speedSel = document.getElementById("replay-speed");
  const pos = document.getElementById("replay-pos");
  const replayNote = document.getElementById("replay-note");
  const liveState = document.getElementById("live-state");
  const toggle = document.getElementById("replay-toggle");

  document.body.classList.add("replaying");
  root.hidden = false;
  toggle.textContent = "● Live";
  toggle.href = location.pathname;
  toggle.title = "back to the live view: the newest events as they happen";
  liveState.dataset.state = "replay"; // the table's live wording stays out of it

  let cursor = req.at; // the replay's point: the newest seq shown
  let cursorAt = NaN; // its time (ms)
  let total = 0; // the session's events
  let buckets = [];
  let span = null;
  let ws = null;
  let playing = false;
  let caughtUp = false;
  let speed = req.speed;
  speedSel.value = speedParam(speed);

  function setState(text) {
    liveState.textContent = text;
  }

  function show() {
    playBtn.textContent = playing ? "❚❚ Pause" : "▶ Play";
    playBtn.setAttribute("aria-pressed", playing ? "true" : "false");
    backBtn.disabled = cursor <= 1;
    fwdBtn.disabled = total > 0 && cursor >= total && !caughtUp;
    root.dataset.cursor = cursor;
    root.dataset.playing = playing ? "1" : "";
    const off = span && Number.isFinite(cursorAt) ? ` · ${durationText(Math.max(0, cursorAt - span.lo))} in` : "";
    pos.textContent = total ? `#${cursor} of ${total}${off}` : "no events recorded yet";
    const x = span && Number.isFinite(cursorAt) ? xOfTime(cursorAt, 1, span) : 0;
    head.style.left = `${(x * 100).toFixed(3)}%`;
    head.hidden = !span;
    bar.setAttribute("aria-valuenow", String(cursor));
    bar.setAttribute("aria-valuetext", total ? `event ${cursor} of ${total}` : "no events");
    if (!playing) setState(caughtUp ? "replay: at the end" : cursor ? `replay: paused at #${cursor}` : "replay: at the start");
  }

  function remember() {
    const q = cursor ? `?at=${cursor}` : "?replay";
    const sp = speed === 1 ? "" : `&speed=${speedParam(speed)}`;
    history.replaceState(null, "", `${location.pathname}${q}${sp}`);
  }

  async function loadTimeline() {
    try {
      const n = bucketCount(bar.clientWidth);
      const data = await call("GET", `${api}/timeline?buckets=${n}`);
      buckets = data.buckets || [];
      total = Math.max(total, data.events || 0);
      span = drawTimeline(bar, buckets);
      bar.setAttribute("aria-valuemax", String(total));
      if (!span) replayNote.textContent = "No events recorded yet: nothing to replay. Press Play to watch what comes (it goes on live).";
    } catch (e) {
      showError(`Could not load the timeline: ${e.message}`);
    }
    show();
  }

  // ---- the stream ------------------------------------------------------------

  function stop() {
    if (ws) {
      const w = ws;
      ws = null;
      w.close(1000, "paused");
    }
    playing = false;
  }

  function play() {
    stop();
    playing = true;
    caughtUp = false;
    replayNote.textContent = "";
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const path = api.replace(/^\/api\//, "/ws/"); // /ws/sessions/ID or /ws/shared/TOKEN
    const w = new WebSocket(`${proto}://${location.host}${path}/replay?speed=${speedParam(speed)}&from=${cursor + 1}`);
    ws = w;
    setState(`replaying at ${speed === 0 ? "full speed" : `${speed}×`}…`);
    w.onmessage = (msg) => {
      if (ws !== w) return; // a stream paused or replaced
      const m = JSON.parse(msg.data);
      if (m.events && m.events.length) {
        table.accept(m.events);
        const last = m.events[m.events.length - 1];
        cursor = last.seq;
        cursorAt = timeMs(last.at);
        if (cursor > total) total = cursor;
        show();
      }
      if (m.idle) {
        replayNote.textContent = `» ${durationText(m.idle.recorded_ms)} with no events after #${m.idle.after}: shortened to ${durationText(m.idle.replayed_ms)}.`;
      }
      if (m.gap) table.fillGap(m.gap.from, m.gap.to).catch((e) => showError(`Could not fetch missed events: ${e.message}`));
      if (m.caught_up) {
        caughtUp = true;
        setState("replay: reached the end; new events appear as they happen");
        replayNote.textContent = "The end of the recording. New events, if the session still records, appear as they happen.";
        loadTimeline();
      }
    };
    w.onclose = (e) => {
      if (ws !== w) return;
      ws = null;
      playing = false;
      if (e.code !== 1000) replayNote.textContent = `The replay stream ended (${e.reason || "connection closed"}); press Play to go on from #${cursor}.`;
      remember();
      show();
    };
    show();
  }

  function pause() {
    stop();
    remember();
    if (cursor) table.selectSeq(cursor);
    show();
  }

  // ---- seeking: from the store, never by re-streaming -----------------------

  // goTo shows the recording up to seq (clamped to it), seq selected.
  let seeking = Promise.resolve();
  function goTo(seq, { resume = false } = {}) {
    const was = playing || resume;
    stop();
    seeking = seeking.then(async () => {
      const ev = await table.openAt(Math.max(0, seq));
      cursor = ev ? ev.seq : 0;
      cursorAt = ev ? timeMs(ev.at) : NaN;
      caughtUp = false;
      remember();
      show();
      if (was) play();
    }).catch((e) => showError(`Could not seek: ${e.message}`));
    return seeking;
  }

  async function seekTime(t) {
    if (!span) return;
    try {
      const data = await call("GET", `${api}/seek?at=${encodeURIComponent(new Date(t).toISOString())}`);
      total = Math.max(total, data.events || 0);
      await goTo(data.seq);
    } catch (e) {
      showError(`Could not seek: ${e.message}`);
    }
  }

  async function stepForward() {
    const was = playing;
    stop();
    if (was) { show(); }
    const data = await call("GET", `${api}/events?after=${cursor}&limit=1`);
    total = Math.max(total, data.last_seq || 0);
    const ev = data.events[0];
    if (!ev) {
      replayNote.textContent = total ? "That is the last event recorded." : "No events recorded yet.";
      show();
      return;
    }
    if (!table.continuesAt(cursor)) {
      await goTo(ev.seq);
      return;
    }
    table.accept([ev]);
    cursor = ev.seq;
    cursorAt = timeMs(ev.at);
    table.selectSeq(ev.seq, ev);
    remember();
    show();
  }

  playBtn.addEventListener("click", () => (playing ? pause() : play()));
  fwdBtn.addEventListener("click", () => stepForward().catch((e) => showError(e.message)));
  backBtn.addEventListener("click", () => { if (cursor > 1) goTo(cursor - 1); });
  speedSel.addEventListener("change", () => {
    const s = parseSpeed(speedSel.value);
    if (s === null) return;
    speed = s;
    remember();
    if (playing) play(); // again from the point, at the new speed
  });

  // "Latest" in a replay is the replay's point, not the session's end.
  document.getElementById("jump-latest").addEventListener("click", (e) => {
    e.stopImmediatePropagation();
    goTo(cursor, { resume: playing });
  }, true);

  // ---- the timeline: click or drag anywhere; ←/→ a bucket at a time --------

  let dragging = false;
  function preview(x) {
    if (!span) return;
    const r = bar.getBoundingClientRect();
    const t = timeAtX(x - r.left, r.width, span);
    head.style.left = `${(xOfTime(t, 1, span) * 100).toFixed(3)}%`;
    head.hidden = false;
    return t;
  }
  bar.addEventListener("pointerdown", (e) => {
    if (!span || e.button !== 0) return;
    dragging = true;
    bar.setPointerCapture(e.pointerId);
    bar.classList.add("dragging");
    preview(e.clientX);
    e.preventDefault();
  });
  bar.addEventListener("pointermove", (e) => { if (dragging) preview(e.clientX); });
  const release = (e) => {
    if (!dragging) return;
    dragging = false;
    bar.classList.remove("dragging");
    const t = preview(e.clientX);
    if (t !== undefined) seekTime(t);
  };
  bar.addEventListener("pointerup", release);
  bar.addEventListener("pointercancel", () => { dragging = false; bar.classList.remove("dragging"); show(); });
  bar.addEventListener("keydown", (e) => {
    if (!span) return;
    const i = bucketAt(buckets, Number.isFinite(cursorAt) ? cursorAt : span.lo);
    let j = -1;
    if (e.key === "ArrowRight") j = Math.min(buckets.length - 1, i + 1);
    else if (e.key === "ArrowLeft") j = Math.max(0, i - 1);
    else if (e.key === "Home") j = 0;
    else if (e.key === "End") j = buckets.length - 1;
    else return;
    e.preventDefault();
    seekTime(j === buckets.length - 1 && e.key === "End" ? span.hi : timeMs(buckets[j].from));
  });
  new ResizeObserver(() => { if (buckets.length && Math.abs(bucketCount(bar.clientWidth) - buckets.length) > 20) loadTimeline(); }).observe(bar);

  // ---- start -------------------------------------------------------------------

  note("");
  loadTimeline();
  goTo(cursor).then(() => {
    if (req.at && cursor !== req.at && total) {
      replayNote.textContent = `Event #${req.at} is past the end of this session: showing its last event, #${cursor}.`;
    }
  });
  return { play, pause, goTo, get cursor() { return cursor; } };
}
