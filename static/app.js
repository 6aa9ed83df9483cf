// sockplay session page: live events over a WebSocket, the servers and
// clients panel, and the forms. The server renders the page; these modules
// add the live parts. This one wires them:
//
//   api.js       calls to the JSON API, the error text of its answers
//   format.js    hexdumps, previews, times, options, closes (pure)
//   renderers.js what an event of each kind says (pure)
//   ui.js        the error banner, the table's note, busy forms
//   table.js     the event list: virtualised (only the rows on screen are
//                drawn), a bounded contiguous run in memory, paged
//   vlist.js     the list's model and windowing math (pure)
//   detail.js    the detail pane of the selected event
//   conversation.js one connection as a ladder of sends, recvs and closes
//   live.js      the WebSocket stream: gaps, reconnects, skipping ahead
//   panel.js     the servers and clients panel
//   forms.js     the start form, the client form, Delete session
//   health.js    the recorder's health, how far the recording is ahead
//   replay.js    Replay mode (?replay, ?at=SEQ): play, step, seek, the timeline
//   timeline.js  the replay's timeline bar and its math (pure)
//
// The modules import only api, format, renderers and ui (and health the
// table's sizes); what they need of each other comes in here as callbacks.

import { sessionAPI } from "./api.js";
import { initDeleteForm, initForms, startServer } from "./forms.js";
import { startHealthPoll } from "./health.js";
import { createLive } from "./live.js";
import { createPanel, showCopyButtons, updateTargets } from "./panel.js";
import { createReplay, replayRequest, watchDeepLink } from "./replay.js";
import { createTable } from "./table.js";
import { showError } from "./ui.js";
import "./sockets.js"; // the socket table and the error cards wire themselves
import "./share.js"; // the Share control (links of the session)
import "./budget.js"; // the note when the session reached its recording cap

const sessionID = document.getElementById("app").dataset.session;
// A share link's page (data-share) reads through the link and has no forms.
const share = document.getElementById("app").dataset.share;
const api = share ? `/api/shared/${share}` : sessionAPI(sessionID);

// state is what the table, the live stream and the forms share.
const state = {
  received: 0, // newest seq received (live or fill): the resume point
  storedLast: 0, // newest seq the store had when last asked (see health.js)
  sessionGone: false, // the session was deleted (or is being): do not reconnect
};

const table = createTable({ api, state, onLifecycle: () => panel.scheduleRefresh() });
const panel = createPanel({ sessionID, api, startServer: (form) => startServer(form, { api, refresh: panel.refresh }) });
if (!share) {
  initForms({ api, refresh: panel.refresh });
  initDeleteForm({ api, state });
}

const live = createLive({
  sessionID, api, state, table,
  onUnreachable: panel.markUnreachable,
  onReachable: panel.markReachable,
  onGone: () => {
    showError("This session was deleted; its servers and clients are stopped. The list of sessions is on the home page.", true);
    panel.clear();
    for (const f of document.querySelectorAll("form")) {
      for (const el of f.elements) el.disabled = true;
    }
  },
});

startHealthPoll({ api, state, table, live });

showCopyButtons();
updateTargets();
watchDeepLink();
// ?replay or ?at=SEQ (an event's deep link): Replay mode, the live stream
// off; otherwise the newest events, live.
const replay = replayRequest(location.search);
if (replay) {
  createReplay({ api, table, state, req: replay });
} else {
  table.loadTail()
    .then((last) => { state.received = last; live.connect(); })
    .catch((err) => { showError(`Could not load events: ${err.message}`); live.connect(); });
}
