// live.js: the session's live stream over a WebSocket. It resumes after the
// newest seq received, hands events and gaps to the table, reconnects with
// a growing delay, tells a deleted session (which will not come back) from
// an unreachable sockplay (which may), and restarts further ahead when it
// has fallen far behind the recording.

import { showError } from "./ui.js";

// createLive returns the live stream of the session sessionID (api is its
// API path). It shares state with the table: state.received is where the
// stream resumes, state.sessionGone (set here when the session is gone, or
// by the page while deleting it) stops reconnecting. The callbacks:
// onUnreachable when sockplay cannot be reached (once, until it is back),
// onReachable when it is back, onGone when the session was deleted.
export function createLive({ sessionID, api, state, table, onUnreachable, onReachable, onGone }) {
  const liveState = document.getElementById("live-state");
  let ws = null;
  let retryDelay = 500;
  let skipping = false;
  // unreachable is set while sockplay cannot be reached: the servers panel
  // then says it does not know what runs, and its buttons are disabled.
  let unreachable = false;

  function markUnreachable() {
    if (unreachable) return;
    unreachable = true;
    onUnreachable();
  }

  // skipLiveTo restarts the live stream at seq when it has fallen far behind
  // the recording (a flood faster than the browser takes it in): the table
  // starts again at the newest events; the skipped ones stay in the recording
  // and page in on scroll.
  function skipLiveTo(seq) {
    table.skipTo(seq);
    state.received = Math.max(state.received, seq);
    skipping = true;
    ws.close(4000, "skipping ahead");
  }

  function connect() {
    if (state.sessionGone) return;
    const proto = location.protocol === "https:" ? "wss" : "ws";
    ws = new WebSocket(`${proto}://${location.host}${api.replace(/^\/api\//, "/ws/")}?after=${state.received}`); // /ws/sessions/ID or /ws/shared/TOKEN
    ws.onopen = () => {
      liveState.textContent = "live";
      liveState.dataset.state = "live";
      retryDelay = 500;
      if (unreachable) {
        // sockplay is back (perhaps restarted: its servers were started
        // again): show what runs now.
        unreachable = false;
        onReachable();
      }
      table.showLive();
    };
    ws.onmessage = (msg) => {
      const m = JSON.parse(msg.data);
      if (m.events) table.accept(m.events);
      if (m.gap && m.gap.flood) {
        if (m.gap.to > state.received) state.received = m.gap.to;
        table.floodGap(m.gap.from, m.gap.to);
      } else if (m.gap) {
        if (m.gap.to > state.received) state.received = m.gap.to;
        table.fillGap(m.gap.from, m.gap.to).catch((e) => showError(`Could not fetch missed events: ${e.message}`));
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
          state.sessionGone = true;
          liveState.textContent = "this session was deleted";
          onGone();
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

  return {
    connect,
    skipLiveTo,
    // open: the stream is connected now.
    get open() { return !!ws && ws.readyState === WebSocket.OPEN; },
  };
}
