// errorcards.js: the "what this means" card (#error-card). When the
// visitor selects an error event in the events table (a click, or the
// arrow keys), the card explains its errno: what it means, the usual
// cause, what to try, what Python raises; and for the errors sockplay can
// make happen, a Reproduce button (POST /api/sessions/{id}/reproduce) that
// sets the situation up in a fresh session and opens it: its events show
// the error happen, and the card there says what was done. The
// cards come from GET /api/errors, once. Pure parts are exported for the
// node tests; the DOM part runs only in a page.

import { call, sessionAPI } from "./api.js";

// errnoOf is the errno an event is about (an error event's, a failed
// proxy dial's), or "".
export function errnoOf(ev) {
  return (ev && ev.err && ev.err.errno) || "";
}

// cardLines is what the card says for card and the selected event ev:
// its heading and its labelled paragraphs, in order.
export function cardLines(card, ev) {
  const lines = [];
  if (ev && ev.err && ev.err.message) lines.push(["What happened", ev.err.message]);
  lines.push(["What it means", card.meaning], ["Usual cause", card.cause], ["What to try", card.try]);
  if (card.python) lines.push(["In Python", card.python]);
  lines.push(["Where you meet it", card.where]);
  return { heading: `${card.errno}: ${card.title}`, lines };
}

// stepsText is the reproduction's answer in words.
export function reproductionText(r) {
  const head = r.produced ? `Reproduced ${r.errno}:` : `Tried to reproduce ${r.errno}, but got ${r.observed || "no error"}:`;
  return [head, ...r.steps];
}

// showReproduction writes a reproduction's answer: its first line as a
// paragraph before the list out, its steps in out.
function showReproduction(r, out) {
  const [first, ...steps] = reproductionText(r);
  const p = Object.assign(document.createElement("p"), { className: "small", textContent: first });
  p.setAttribute("data-testid", "reproduction-result");
  out.replaceChildren(...steps.map((s) => Object.assign(document.createElement("li"), { textContent: s })));
  out.before(p);
}

let cardsPromise = null;
function loadCards() {
  if (!cardsPromise) {
    cardsPromise = call("GET", "/api/errors").then((d) => new Map(d.errors.map((c) => [c.errno, c])))
      .catch((err) => { cardsPromise = null; throw err; });
  }
  return cardsPromise;
}

// reproKey is where a reproduction's answer waits (sessionStorage) for the
// page of the fresh session it was made in.
export const reproKey = (session) => `sockplay-reproduction-${session}`;

export function initErrorCards() {
  const box = document.getElementById("error-card");
  const rows = document.getElementById("events-body");
  const app = document.getElementById("app");
  if (!box || !rows || !app) return;
  const api = sessionAPI(app.dataset.session);
  let shownSeq = 0;

  function hide() {
    box.hidden = true;
    box.replaceChildren();
    shownSeq = 0;
    delete box.dataset.errno;
  }

  function show(card, ev) {
    const { heading, lines } = cardLines(card, ev);
    const h = document.createElement("h2");
    h.textContent = heading;
    const close = document.createElement("button");
    close.type = "button";
    close.className = "error-card-close";
    close.textContent = "×";
    close.title = "close this card";
    close.setAttribute("aria-label", "close this card");
    close.addEventListener("click", hide);
    const head = document.createElement("div");
    head.className = "row spread";
    head.append(h, close);
    const dl = document.createElement("dl");
    for (const [label, text] of lines) {
      const dt = document.createElement("dt");
      dt.textContent = label;
      const dd = document.createElement("dd");
      dd.textContent = text;
      dl.append(dt, dd);
    }
    box.replaceChildren(head, dl);
    if (card.reproducible) {
      const btn = document.createElement("button");
      btn.type = "button";
      btn.textContent = `Reproduce ${card.errno}`;
      btn.title = "set this situation up in a fresh session and make the error happen there: its servers, clients and events appear (this session stays as it is)";
      btn.setAttribute("data-testid", "reproduce");
      const out = document.createElement("ol");
      out.className = "repro-steps small";
      out.setAttribute("data-testid", "reproduction");
      btn.addEventListener("click", async () => {
        btn.disabled = true;
        out.replaceChildren(Object.assign(document.createElement("li"), { textContent: "setting it up…" }));
        try {
          const r = await call("POST", `${api}/reproduce`, { errno: card.errno });
          if (r.fresh && r.url) {
            // Open the fresh session: its page shows the situation and the
            // error happening, and this answer (kept for it here).
            try {
              sessionStorage.setItem(reproKey(r.session), JSON.stringify({ ...r, from: location.pathname }));
            } catch { /* the page there shows the events anyway */ }
            location.assign(r.url);
            return;
          }
          showReproduction(r, out);
          box.dataset.reproduced = r.produced ? "yes" : "no";
        } catch (err) {
          out.replaceChildren(Object.assign(document.createElement("li"), { textContent: err.message }));
        } finally {
          btn.disabled = false;
        }
      });
      box.append(btn, out);
    }
    box.dataset.errno = card.errno;
    box.hidden = false;
    box.scrollIntoView({ block: "nearest" });
  }

  async function selected(tr) {
    const seq = Number(tr.dataset.seq);
    if (seq === shownSeq) return;
    if (tr.dataset.kind !== "error" && tr.dataset.kind !== "proxy-dial") return;
    shownSeq = seq;
    try {
      const [cards, data] = await Promise.all([loadCards(), call("GET", `${api}/events?after=${seq - 1}&limit=1`)]);
      const ev = data.events && data.events[0];
      const card = cards.get(errnoOf(ev)) || (errnoOf(ev) && cards.get("ERROR"));
      if (shownSeq !== seq) return; // another row was selected meanwhile
      if (!ev || ev.seq !== seq || !card) return;
      show(card, ev);
    } catch {
      shownSeq = 0; // the card is an extra: the table shows the error anyway
    }
  }

  // The page of a session a reproduction was made in says what was done.
  let kept = null;
  try {
    kept = JSON.parse(sessionStorage.getItem(reproKey(app.dataset.session)) || "null");
  } catch { /* none */ }
  if (kept && kept.errno) {
    const h = document.createElement("h2");
    h.textContent = `A fresh session to reproduce ${kept.errno}`;
    const out = document.createElement("ol");
    out.className = "repro-steps small";
    out.setAttribute("data-testid", "reproduction");
    box.replaceChildren(h, out);
    showReproduction(kept, out);
    if (kept.from) {
      const back = Object.assign(document.createElement("a"), { href: kept.from, textContent: "back to the session you came from" });
      back.setAttribute("data-testid", "reproduction-back");
      box.append(Object.assign(document.createElement("p"), { className: "small" }));
      box.lastChild.append(back);
    }
    box.dataset.reproduced = kept.produced ? "yes" : "no";
    box.hidden = false;
  }

  new MutationObserver(() => {
    const tr = rows.querySelector("tr.ev.selected");
    if (tr) selected(tr);
  }).observe(rows, { subtree: true, attributes: true, attributeFilter: ["class"] });
}

if (typeof document !== "undefined") initErrorCards();
