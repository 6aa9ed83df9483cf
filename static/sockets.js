// sockets.js: the live socket table (#sockets-panel), like `ss -tanp` for
// the session's own sockets: every listener, accepted connection, client
// and UDP socket, with the kernel's TCP_INFO on Linux. It polls
// GET /api/sessions/{id}/sockets every second, only while the panel is
// open and the page is visible. The pure functions are exported for the
// node tests; the DOM part runs only in a page. It also loads errorcards.js
// (the "what this means" card of a selected error event).

import { call, sessionAPI } from "./api.js";
import "./errorcards.js";

export const pollMs = 1000;

// bytesText writes a byte count short: 512 B, 1.5 KiB, 2.0 MiB.
export function bytesText(n) {
  if (!n) return "0";
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1 << 20)).toFixed(1)} MiB`;
}

// msText writes microseconds as milliseconds.
export const msText = (us) => (us >= 10000 ? `${Math.round(us / 1000)} ms` : `${(us / 1000).toFixed(2)} ms`);

// stateClass groups states for their colour: open, closing, listening.
export function stateClass(state) {
  if (state === "LISTEN" || state === "UNCONN") return "listen";
  if (state === "ESTABLISHED") return "open";
  if (state === "SYN-SENT" || state === "SYN-RECV") return "opening";
  return "closing";
}

// socketCells is what the table shows of one socket: each cell's text and,
// for the kernel's figures, a title that says what they are.
export function socketCells(s) {
  const ti = s.tcp_info;
  const kernel = [];
  if (ti && s.state === "LISTEN") {
    kernel.push(`queue ${ti.unacked}/${ti.backlog}`);
  } else if (ti) {
    kernel.push(`rtt ${msText(ti.rtt_us)} ±${msText(ti.rttvar_us)}`, `cwnd ${ti.snd_cwnd}`);
    if (ti.unacked) kernel.push(`unacked ${ti.unacked}`);
    if (ti.total_retrans) kernel.push(`retrans ${ti.total_retrans}`);
    if (ti.notsent_bytes) kernel.push(`not sent ${bytesText(ti.notsent_bytes)}`);
  } else if (s.counters) {
    kernel.push(`${s.counters.datagrams_in} in, ${s.counters.datagrams_out} out (datagrams)`);
  }
  const proto = s.net === s.proto ? s.proto : `${s.proto}/${s.net}`;
  return {
    proto,
    state: s.state,
    addrs: s.remote ? `${s.local} ⇄ ${s.remote}` : s.local,
    owner: `${s.owner} ${s.role}${s.closed ? " (closed here; the kernel still holds the connection)" : ""}`,
    bytes: s.role === "listener" ? "" : `${bytesText(s.bytes_in)} in / ${bytesText(s.bytes_out)} out`,
    kernel: kernel.join(", "),
    kernelTitle: ti && s.state !== "LISTEN"
      ? `kernel: ${ti.state}; rtt ${ti.rtt_us} µs, rttvar ${ti.rttvar_us} µs; congestion window ${ti.snd_cwnd} segments; ` +
        `${ti.unacked} unacknowledged; ${ti.total_retrans} retransmitted; ${ti.bytes_acked} bytes acked, ${ti.bytes_received} received`
      : ti ? "kernel: accept queue (connections waiting for accept) / its limit (the listen backlog)" : "",
  };
}

// summaryText counts the sockets by state, for the panel's heading.
export function summaryText(list) {
  if (!list.length) return "no open sockets";
  const by = new Map();
  for (const s of list) by.set(s.state, (by.get(s.state) || 0) + 1);
  return [...by].map(([st, n]) => `${n} ${st}`).join(", ");
}

function span(className, text, title) {
  const el = document.createElement("span");
  el.className = className;
  el.textContent = text;
  if (title) el.title = title;
  return el;
}

// render shows one line of state, transport and addresses per socket and,
// under it, its owner, bytes and the kernel's figures: it fits the sidebar.
function render(body, count, list) {
  count.textContent = summaryText(list);
  if (!list.length) {
    body.replaceChildren(Object.assign(document.createElement("p"), {
      className: "muted small", textContent: "This session holds no sockets now: start a server or open a client.",
    }));
    return;
  }
  const ul = document.createElement("ul");
  ul.className = "sockets";
  ul.setAttribute("data-testid", "sockets-table");
  for (const s of list) {
    const c = socketCells(s);
    const li = document.createElement("li");
    li.dataset.id = s.id;
    li.dataset.state = s.state;
    li.dataset.role = s.role;
    if (s.closed) li.dataset.closed = "1";
    li.setAttribute("data-testid", "socket");
    const top = document.createElement("div");
    top.append(span(`sstate ${stateClass(s.state)}`, c.state, s.tcp_info ? `the kernel's state: ${s.tcp_info.state}` : ""),
      span("proto", c.proto), span("addrs", c.addrs));
    const bottom = document.createElement("div");
    bottom.className = "small muted";
    bottom.append(span("owner", c.owner));
    if (c.bytes) bottom.append(" · ", span("bytes", c.bytes, `${s.events} recv and send events`));
    if (c.kernel) bottom.append(" · ", span("kernel", c.kernel, c.kernelTitle));
    li.append(top, bottom);
    ul.append(li);
  }
  body.replaceChildren(ul);
}

// initSockets polls the table while the panel is open.
export function initSockets() {
  const panel = document.getElementById("sockets-panel");
  const app = document.getElementById("app");
  if (!panel || !app) return;
  const api = sessionAPI(app.dataset.session);
  const body = panel.querySelector("#sockets-body");
  const count = panel.querySelector("#sockets-count");
  let timer = 0;
  let inFlight = false;

  async function poll() {
    timer = 0;
    if (!panel.open || document.hidden || inFlight) return;
    inFlight = true;
    try {
      const data = await call("GET", `${api}/sockets`);
      if (panel.open) render(body, count, data.sockets);
      panel.dataset.polled = String(Number(panel.dataset.polled || 0) + 1);
    } catch (err) {
      count.textContent = `could not read the table: ${err.message.split("\n")[0]}`;
      if (/not found/.test(err.message)) { // the session was deleted: nothing more to ask
        inFlight = false;
        return;
      }
    } finally {
      inFlight = false;
    }
    schedule();
  }
  function schedule() {
    clearTimeout(timer);
    timer = panel.open && !document.hidden ? setTimeout(poll, pollMs) : 0;
  }
  panel.addEventListener("toggle", () => {
    clearTimeout(timer);
    timer = 0;
    if (panel.open) poll();
  });
  document.addEventListener("visibilitychange", () => { if (!document.hidden && panel.open && !timer) poll(); });
  if (panel.open) poll();
}

if (typeof document !== "undefined") initSockets();
