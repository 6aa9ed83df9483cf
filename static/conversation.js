// conversation.js: one connection as a ladder, like Wireshark's Flow Graph:
// a client lane and a server lane, one arrow per send, recv and close in
// time order, the time between them. When both ends are sockplay's (a page
// client and a lab server), the recvs of one end are joined to the sends
// of the other by byte offsets, so one write read as three recvs shows as
// one send and three recvs that each say which of its bytes they got.
// buildConversation is pure (the node tests import it); renderConversation
// draws its result.

import { b64bytes, preview, sizeOf } from "./format.js";

// roleOf says which end of a connection the events of one conn id are: an
// accept is a server's, a connect a client's (a proxy's upstream leg is a
// client too); else the owner's id says (srv- a server, cli- a client).
export function roleOf(evs) {
  for (const ev of evs) {
    if (ev.kind === "accept") return "server";
    if (ev.kind === "connect") return "client";
  }
  const owner = evs.find((ev) => ev.server)?.server || "";
  if (owner.startsWith("cli-")) return "client";
  if (owner.startsWith("srv-")) return "server";
  return "";
}

// micros reads an event's time ("…T17:31:57.254782678Z") as microseconds
// since the epoch, keeping what Date.parse would cut.
export function micros(at) {
  const ms = Date.parse(at);
  if (Number.isNaN(ms)) return NaN;
  const frac = /\.(\d+)/.exec(at);
  const us = frac ? Number((frac[1] + "000000").slice(3, 6)) : 0;
  return ms * 1000 + us;
}

// gapText writes the time between two steps: "+0.4 ms", "+1.250 s".
export function gapText(us) {
  if (!(us >= 0)) return "";
  if (us < 1000) return `+${us} µs`;
  if (us < 1e6) return `+${(us / 1000).toFixed(us < 1e4 ? 2 : 1)} ms`;
  return `+${(us / 1e6).toFixed(3)} s`;
}

const closeLabel = (m) => {
  if (m.by === "peer") return m.rst ? "RST received (the peer reset)" : m.half ? "FIN received: recv returned 0 bytes" : "peer closed";
  if (m.rst) return "RST sent";
  return m.half ? "shutdown(SHUT_WR): FIN sent" : "close(): FIN sent";
};

// buildConversation turns the events of one connection (evs: those of conn
// and, if it is in the session, of its other end peer; any order) into
// {lanes, steps}. lanes.client and lanes.server are {conn, owner, addr,
// outside}: outside is an end sockplay does not own (your terminal, your
// program), known only by its address. Each step is {seq, at, gap (µs
// since the step before), side (the lane it happened on), kind, dir ("→"
// from client to server, "←" back, "" none), label, len, text, joins}: a
// recv's joins are the sends of the other end it read bytes of, [{seq,
// from, to}] (offsets into that send); a send's joins are the recvs it was
// read by. Closes are ordered cause before effect: the other end's FIN or
// RST received comes after the close that sent it.
export function buildConversation(evs, conn, peer = "") {
  const mine = evs.filter((e) => e.conn === conn);
  const theirs = peer ? evs.filter((e) => e.conn === peer) : [];
  let role = roleOf(mine);
  const peerRole = roleOf(theirs);
  if (!role) role = peerRole === "server" ? "client" : peerRole === "client" ? "server" : "server";
  const other = role === "server" ? "client" : "server";
  const addrOf = (list, key) => list.find((e) => e[key])?.[key] || "";
  const lanes = {};
  lanes[role] = { conn, owner: mine.find((e) => e.server)?.server || "", addr: addrOf(mine, "local"), outside: false };
  lanes[other] = peer && theirs.length ?
    { conn: peer, owner: theirs.find((e) => e.server)?.server || "", addr: addrOf(theirs, "local"), outside: false } :
    { conn: "", owner: "", addr: addrOf(mine, "remote"), outside: true };
  const sideOf = (ev) => (ev.conn === conn ? role : other);
  const toward = (side) => (side === "client" ? "→" : "←");
  const away = (side) => (side === "client" ? "←" : "→");

  const all = mine.concat(theirs).sort((a, b) => a.seq - b.seq);
  const steps = [];
  const sent = { client: [], server: [] }; // each side's sends: {seq, from, to} in its byte stream
  const offset = { sendclient: 0, sendserver: 0, recvclient: 0, recvserver: 0 };
  for (const ev of all) {
    const side = sideOf(ev);
    const m = ev.meta || {};
    const step = { seq: ev.seq, at: ev.at, side, kind: ev.kind, dir: "", label: "", len: 0, text: "", joins: [] };
    switch (ev.kind) {
      case "send": {
        const from = offset["send" + side];
        offset["send" + side] += ev.len;
        sent[side].push({ seq: ev.seq, from, to: from + ev.len, step });
        Object.assign(step, { dir: toward(side), label: `send ${sizeOf(ev.len)}`, len: ev.len, text: preview(b64bytes(ev.data)) });
        break;
      }
      case "recv": {
        const from = offset["recv" + side];
        offset["recv" + side] += ev.len;
        Object.assign(step, { dir: away(side), label: `recv ${sizeOf(ev.len)}`, len: ev.len, text: preview(b64bytes(ev.data)), range: [from, from + ev.len] });
        break;
      }
      case "close":
        Object.assign(step, { dir: m.by === "peer" ? away(side) : toward(side), label: closeLabel(m), by: m.by, reason: m.reason || "" });
        break;
      case "accept":
        step.label = `accept() from ${ev.remote || (ev.net === "unix" ? "an unnamed Unix socket" : "?")}`;
        break;
      case "connect":
        step.label = `connect() to ${m.target || ev.remote || "?"}`;
        break;
      case "error":
        step.label = ev.err ? `${m.op ? m.op + " failed: " : ""}${ev.err.errno}` : "error";
        step.text = ev.err ? ev.err.message : "";
        break;
      default:
        step.label = ev.kind;
    }
    steps.push(step);
  }

  // Join each recv to the other end's sends whose bytes it read.
  if (!lanes[other].outside) {
    for (const step of steps) {
      if (step.kind !== "recv") continue;
      const src = step.side === "client" ? sent.server : sent.client;
      const [a, b] = step.range;
      for (const s of src) {
        if (s.to <= a || s.from >= b || s.to === s.from) continue;
        step.joins.push({ seq: s.seq, from: Math.max(a, s.from) - s.from, to: Math.min(b, s.to) - s.from });
        s.step.joins.push({ seq: step.seq, from: Math.max(a, s.from) - s.from, to: Math.min(b, s.to) - s.from });
      }
    }
  }

  // Cause before effect: a FIN or RST received on one side follows the
  // close on the other side that sent it, whatever the recording's order.
  for (let i = 0; i < steps.length; i++) {
    const eff = steps[i];
    if (eff.kind !== "close" || eff.by !== "peer" || eff.moved) continue;
    const j = steps.findIndex((c, k) => k > i && c.kind === "close" && c.by !== "peer" && c.side !== eff.side);
    if (j < 0) continue;
    // Only when no earlier cause on the other side exists.
    const earlier = steps.slice(0, i).some((c) => c.kind === "close" && c.by !== "peer" && c.side !== eff.side && !c.used);
    if (earlier) continue;
    const [cause] = steps.splice(j, 1);
    cause.used = true;
    steps.splice(i, 0, cause);
    eff.moved = true;
  }
  for (const s of steps) { delete s.moved; delete s.used; }

  let prev = NaN;
  for (const s of steps) {
    const t = micros(s.at);
    s.gap = Number.isNaN(prev) ? 0 : Math.max(0, t - prev);
    if (!Number.isNaN(t) && !(t < prev)) prev = t;
  }
  return { lanes, steps };
}

// laneName names a lane for its header: "server: echo server :20000
// 127.0.0.1:20000" (ownerName names an owner id; without it, the id),
// "client: your terminal (outside sockplay: nc, your program)
// 127.0.0.1:55850".
export function laneName(role, lane, ownerName = (id) => id) {
  if (lane.outside) return `${role}: your terminal (outside sockplay: nc, your program) ${lane.addr}`;
  return `${role}: ${(lane.owner && ownerName(lane.owner)) || lane.conn} ${lane.addr}`.trim();
}

// joinText says what a step's joins are: a recv "bytes 0–1023 of send #12",
// a send "read as 3 recvs (#14, #16, #18)".
export function joinText(step) {
  if (!step.joins.length) return "";
  if (step.kind === "recv") return step.joins.map((j) => `bytes ${j.from}–${j.to - 1} of send #${j.seq}`).join(" + ");
  if (step.kind === "send") {
    const n = step.joins.length;
    return `read as ${n} recv${n === 1 ? "" : "s"} (${step.joins.map((j) => `#${j.seq}`).join(", ")})`;
  }
  return "";
}

// renderConversation draws a conversation in el: a header with the two
// lanes, then one row per step with the event on its lane and an arrow
// between the lanes pointing the way the bytes (or the FIN) went. opts:
// selected, the seq of the selected event (its step is highlighted);
// ownerName, what names a lane's owner (laneName).
export function renderConversation(el, conv, onPick, { selected = 0, ownerName } = {}) {
  const frag = document.createDocumentFragment();
  const head = document.createElement("div");
  head.className = "conv-row conv-head";
  for (const role of ["client", "server"]) {
    const d = document.createElement("div");
    d.className = `conv-lane conv-${role}`;
    d.dataset.testid = `lane-${role}`;
    d.setAttribute("data-testid", `lane-${role}`);
    d.textContent = laneName(role, conv.lanes[role], ownerName);
    d.title = d.textContent;
    if (role === "client") head.append(d, document.createElement("div"));
    else head.append(d);
  }
  frag.append(head);
  for (const s of conv.steps) {
    const row = document.createElement("div");
    row.className = `conv-row k-${s.kind}${s.seq === selected ? " selected" : ""}`;
    row.dataset.seq = s.seq;
    row.dataset.kind = s.kind;
    row.dataset.side = s.side;
    row.setAttribute("data-testid", "conv-step");
    const cellFor = (role) => {
      const c = document.createElement("div");
      c.className = `conv-cell conv-${role}`;
      if (s.side === role) {
        const b = document.createElement("strong");
        b.textContent = s.label;
        c.append(b);
        const jt = joinText(s);
        if (jt) {
          const j = document.createElement("div");
          j.className = "conv-join";
          j.textContent = jt;
          c.append(j);
        }
        if (s.reason) {
          const r = document.createElement("div");
          r.className = "hint";
          r.textContent = s.reason;
          c.append(r);
        }
      }
      return c;
    };
    const mid = document.createElement("div");
    mid.className = "conv-arrow";
    if (s.dir) {
      const line = document.createElement("div");
      line.className = `arrow ${s.dir === "→" ? "right" : "left"}`;
      mid.append(line);
    }
    const t = document.createElement("div");
    t.className = "conv-text";
    t.textContent = `#${s.seq} ${gapText(s.gap)}${s.text ? ` "${s.text}"` : ""}`;
    mid.append(t);
    row.append(cellFor("client"), mid, cellFor("server"));
    row.addEventListener("click", () => onPick && onPick(s.seq));
    frag.append(row);
  }
  el.replaceChildren(frag);
}
