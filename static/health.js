// health.js: the recorder's health and how far the recording is ahead of
// the table, polled every 2 s. The page shows a banner while recording
// fails (events are held in memory and written when the database recovers)
// and how often the disk made sockets wait.

import { call } from "./api.js";
import { MAX_ROWS, PAGE } from "./table.js";

// pollStatus polls once: /api/status for the banner and the disk state,
// then (unless the session is gone) the session's newest stored seq into
// state.storedLast. When the table follows but the live stream is more
// than two tables behind the recording, the stream skips ahead.
export async function pollStatus({ api, state, table, live }) {
  const health = document.getElementById("health");
  const diskState = document.getElementById("disk-state");
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
  if (!state.sessionGone) {
    try {
      const page = await call("GET", `${api}/events?before=1&limit=1`);
      state.storedLast = page.last_seq || 0;
      if (table.following && live.open && state.storedLast - state.received > 2 * MAX_ROWS) live.skipLiveTo(state.storedLast - PAGE);
      table.showLive();
    } catch { /* the next poll retries */ }
  }
}

// startHealthPoll polls now and every 2 s.
export function startHealthPoll(deps) {
  setInterval(() => pollStatus(deps), 2000);
  pollStatus(deps);
}
