// budget.js: the session page says when the session reached its recording
// cap (docs/disk-budget.md): its newest event is then the cap's loss
// marker, and nothing more of the session is stored. It asks for the newest
// event on load and every few seconds until the cap is reached (one
// indexed read), and shows a note above the events.

import { call, sessionAPI } from "./api.js";
import { capNote } from "./renderers.js";

const app = document.getElementById("app");
const pane = document.querySelector("[data-testid=events-pane] .events-head");
if (app && pane) watch();

function watch() {
  const share = app.dataset.share;
  const api = share ? `/api/shared/${share}` : sessionAPI(app.dataset.session);
  let timer = 0;
  const check = async () => {
    try {
      const data = await call("GET", `${api}/events?before=9007199254740991&limit=1`);
      const last = data.events && data.events[data.events.length - 1];
      const text = last && capNote(last);
      if (text) {
        const p = document.createElement("p");
        p.className = "banner notice cap-note small";
        p.dataset.testid = "cap-note";
        p.setAttribute("role", "status");
        p.textContent = text;
        if (!document.querySelector('link[href="/static/home.css"]')) {
          const css = document.createElement("link");
          css.rel = "stylesheet";
          css.href = "/static/home.css";
          document.head.append(css);
        }
        pane.after(p);
        return;
      }
    } catch {
      // the session went away, or the server is restarting: try again later
    }
    timer = setTimeout(check, 5000);
  };
  check();
  addEventListener("pagehide", () => clearTimeout(timer));
}
