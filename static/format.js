// format.js: how the page writes bytes, times and meta. Everything here is
// pure except hexdumpParts and partsLegend, thin DOM wrappers that touch
// document only when called (so the node tests can import this module).

// b64bytes decodes an event's data (base64) to bytes; with max, only
// about its first max bytes (a preview needs no more).
export function b64bytes(s, max = Infinity) {
  if (!s) return new Uint8Array(0);
  if (s.length > (max / 3 + 1) * 4) s = s.slice(0, Math.ceil(max / 3) * 4);
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// b64len is how many bytes the base64 s holds, without decoding it.
export function b64len(s) {
  if (!s) return 0;
  const pad = s.endsWith("==") ? 2 : s.endsWith("=") ? 1 : 0;
  return (s.length / 4) * 3 - pad;
}

const hex2 = (b) => b.toString(16).padStart(2, "0");
const printable = (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".");

// hexdump formats bytes as `hexdump -C` does: offset, 16 bytes as 8+8 hex,
// then the ASCII column.
export function hexdump(bytes) {
  const lines = [];
  for (let off = 0; off < bytes.length; off += 16) {
    const chunk = bytes.subarray(off, off + 16);
    let hex = "";
    for (let i = 0; i < 16; i++) {
      hex += i < chunk.length ? hex2(chunk[i]) + " " : "   ";
      if (i === 7) hex += " ";
    }
    const ascii = Array.from(chunk, printable).join("");
    lines.push(`${off.toString(16).padStart(8, "0")}  ${hex} |${ascii}|`);
  }
  return lines.join("\n");
}

// hexdumpRuns is hexdump as runs of text, [{text, part}]: each byte's hex
// and character is a run of its own whose part is the index in parts of the
// part it belongs to (an app frame's length, header and content), -1 for
// none and for the offsets and separators. hexdumpParts draws them.
export function hexdumpRuns(bytes, parts) {
  const partOf = (i) => parts.findIndex((p) => i >= p.offset && i < p.offset + p.len);
  const runs = [];
  const run = (text, part = -1) => runs.push({ text, part });
  for (let off = 0; off < bytes.length; off += 16) {
    run(`${off.toString(16).padStart(8, "0")}  `);
    for (let i = 0; i < 16; i++) {
      const at = off + i;
      if (at < bytes.length) run(hex2(bytes[at]), partOf(at));
      else run("  ");
      run(i === 7 ? "  " : " ");
    }
    run("|");
    for (let i = off; i < Math.min(off + 16, bytes.length); i++) run(printable(bytes[i]), partOf(i));
    run(off + 16 < bytes.length ? "|\n" : "|");
  }
  return runs;
}

// hexdumpParts is hexdump with each byte's hex and character in a span of
// the part it belongs to, so the page can colour them: a fragment of text
// nodes and spans, one per run of hexdumpRuns.
export function hexdumpParts(bytes, parts) {
  const frag = document.createDocumentFragment();
  for (const { text, part } of hexdumpRuns(bytes, parts)) {
    if (part < 0) {
      frag.append(document.createTextNode(text));
      continue;
    }
    const s = document.createElement("span");
    s.className = `part part-${part}`;
    s.dataset.part = parts[part].name;
    s.textContent = text;
    frag.append(s);
  }
  return frag;
}

// partLabel says where a part lies: "header: bytes 2–18 (17 bytes)".
export const partLabel = (part) => `${part.name}: bytes ${part.offset}–${part.offset + part.len - 1} (${sizeOf(part.len)})`;

// partsLegend is the key above an app frame's hexdump, in the same colours.
export function partsLegend(parts) {
  const p = document.createElement("p");
  p.className = "parts-legend";
  p.setAttribute("data-testid", "frame-parts");
  parts.forEach((part, i) => {
    const s = document.createElement("span");
    s.className = `part part-${i}`;
    s.dataset.part = part.name;
    s.textContent = partLabel(part);
    p.append(s, " ");
  });
  return p;
}

const utf8 = new TextDecoder("utf-8"); // invalid sequences become U+FFFD

// preview shows the first bytes as text: UTF-8 decoded, control characters
// as escapes or dots, so "héllo\n" reads as héllo\n.
export function preview(bytes) {
  let s = "";
  for (const ch of utf8.decode(bytes.subarray(0, 64))) {
    const c = ch.codePointAt(0);
    if (c === 0x0a) s += "\\n";
    else if (c === 0x0d) s += "\\r";
    else if (c === 0x09) s += "\\t";
    else if (c < 0x20 || c === 0x7f || (c >= 0x80 && c < 0xa0)) s += ".";
    // Invisible format characters (a right-to-left override would reorder
    // the row's text) are shown by their code.
    else if (/\p{Cf}/u.test(ch)) s += `\\u{${c.toString(16)}}`;
    else s += ch;
  }
  return bytes.length > 64 ? s + "…" : s;
}

export function timeOf(at) {
  // "2026-11-25T17:31:57.254782678Z" -> "17:31:57.254782"
  const t = at.indexOf("T");
  return at.slice(t + 1, t + 16);
}

export const sizeOf = (n) => `${n} byte${n === 1 ? "" : "s"}`;

export const headersText = (h) => (h ? Object.entries(h).map(([k, v]) => `${k}: ${v}`).join("; ") : "");

// optionsText writes a server's options as the servers panel does:
// mode prefix · prefix ">> " · recv_size 4096 · oneshot no.
export function optionsText(opts) {
  if (!opts || typeof opts !== "object") return "";
  return Object.entries(opts).map(([k, v]) => {
    if (typeof v === "boolean") return `${k} ${v ? "yes" : "no"}`;
    if (typeof v === "string") return `${k} ${/^[A-Za-z0-9._-]+$/.test(v) ? v : JSON.stringify(v)}`;
    return `${k} ${JSON.stringify(v)}`;
  }).join(" · ");
}

// closeText says who closed and how, in the words a tutorial uses: a FIN
// from the peer is all a recv of 0 bytes tells, whether the peer closed or
// only shut down its sending side.
export function closeText(m) {
  let s;
  const rst = m.rst && !m.half;
  if (m.by === "peer") s = m.half ? "peer sent FIN (it closed, or shut down its sending side)" : rst ? "peer reset the connection (RST)" : "peer closed";
  else s = m.half ? "shutdown(SHUT_WR) here: FIN sent, can still receive" : rst ? "reset here (RST sent)" : "closed here";
  if (!m.reason || (rst && m.reason === "reset by peer (RST)")) return s; // a reset's own reason would only repeat it
  s += m.half && m.by === "peer" ? " — recv returned 0 bytes" : ` — ${m.reason}`;
  return s;
}

// ---- ends by role ------------------------------------------------------------
// A row names the two ends of its socket by what they are, not by ids:
// `echo server "tutorial echo" :20000`, `tcp client #2`, `your terminal
// 127.0.0.1:55850` (a program outside sockplay: nc, a Python script).

const portOf = (addr) => {
  const i = (addr || "").lastIndexOf(":");
  return i < 0 ? "" : addr.slice(i + 1);
};

// serverLabel names a server: tcp-echo by its mode (`echo server`, `greet
// server`), other kinds by kind (`tcp-proxy server`), then its name and
// port.
export function serverLabel(s) {
  const mode = s.options && typeof s.options.mode === "string" ? s.options.mode : "";
  let what = s.kind === "tcp-echo" && mode ? mode : s.kind || "";
  if (s.kind !== "tcp-echo" && mode) what += ` (${mode})`;
  // A Unix socket's address is a path: named by its file, no port.
  if (isPath(s.addr)) return [`${what} server`, s.name && `"${s.name}"`, socketFile(s.addr)].filter(Boolean).join(" ");
  const port = s.port ? String(s.port) : portOf(s.addr);
  return [`${what} server`, s.name && `"${s.name}"`, port && `:${port}`].filter(Boolean).join(" ");
}

// isPath tells a Unix socket's address (a file path) from host:port.
export const isPath = (addr) => typeof addr === "string" && addr.startsWith("/");

// socketFile is the file name of a Unix socket's path.
export const socketFile = (path) => path.slice(path.lastIndexOf("/") + 1);

// unnamedEnd is how the page names the end of a Unix socket that has no
// name (a client that did not bind: nc -U, a Python client).
export const unnamedEnd = "an unnamed Unix socket (a program on this machine)";

// Ends is what the page knows of a session's servers and clients: their
// names, and which address is whose. setView takes the session's JSON
// (GET /api/sessions/{id}: servers and clients in start order); noteEvent
// learns from events (server-start, a client's connect) what the view has
// not said yet.
export class Ends {
  constructor() {
    this.owners = new Map(); // id -> label
    this.byAddr = new Map(); // address -> label (a server's listening address, a client's local one)
    this.serverPorts = new Map(); // port -> label: a server listening on [::] or 0.0.0.0 is reached at 127.0.0.1
    this.clientKinds = new Map(); // client id -> kind, for a client the view has not listed yet
    this.proxyLegs = new Set(); // the conns of proxies' upstream legs (they dial a server)
    this.peers = new Map(); // conn -> another workshop participant's server ("Bob's tcp-echo server", open lab)
    this.version = 0; // grows when a name changes
  }

  setView(v) {
    let changed = false;
    const set = (map, k, label) => {
      if (k && map.get(k) !== label) { map.set(k, label); changed = true; }
    };
    for (const s of v.servers || []) {
      const label = serverLabel(s);
      set(this.owners, s.id, label);
      set(this.byAddr, s.addr, label);
      if (s.state !== "stopped") set(this.serverPorts, portOf(s.addr), label);
    }
    (v.clients || []).forEach((c, i) => {
      const label = `${c.kind} client #${i + 1}`;
      set(this.owners, c.id, label);
      set(this.byAddr, c.local, label);
    });
    if (changed) this.version++;
    return changed;
  }

  // noteEvent learns names from an event; it returns true when the event
  // names an owner that the page has no name for (the caller then asks
  // the session for its view again).
  noteEvent(ev) {
    const id = ev.server;
    if (!id) return false;
    const m = ev.meta || {};
    if (ev.kind === "server-start" && !this.owners.has(id)) {
      const label = serverLabel({ kind: m.kind, name: m.name, options: m.options, port: m.port, addr: ev.local });
      this.owners.set(id, label);
      if (ev.local) {
        this.byAddr.set(ev.local, label);
        this.serverPorts.set(portOf(ev.local), label);
      }
      this.version++;
      return false;
    }
    if (ev.kind === "connect" && m.proxy_for && ev.conn) this.proxyLegs.add(ev.conn);
    if (ev.kind === "connect" && m.peer_name && ev.conn) this.peers.set(ev.conn, m.peer_name);
    if (ev.kind === "connect" && m.client && !this.owners.has(id)) this.clientKinds.set(id, m.client);
    return !this.owners.has(id);
  }

  // owner is the name of the socket's owner (this end), or its id.
  owner(id) {
    if (!id) return "";
    const label = this.owners.get(id);
    if (label) return label;
    const kind = this.clientKinds.get(id);
    if (kind) return `${kind} client ${id}`;
    return id.startsWith("cli-") ? `client ${id}` : id; // one that never connected is not in the session's list
  }

  // other names the socket's other end: sockplay's own server or client
  // at that address (peerOwner: the owner of the connection's other end,
  // when the page has seen it), else a program outside sockplay.
  other(ev, peerOwner = "") {
    const remote = ev.remote || "";
    if (ev.net === "unix") return this.otherUnix(ev, peerOwner);
    if (!remote) return "";
    if (peerOwner) return `${this.owner(peerOwner)} ${remote}`;
    const peer = this.peers.get(ev.conn);
    if (peer) return `${peer} ${remote}`;
    let label = this.byAddr.get(remote);
    // A client, or a proxy's upstream leg, dials a server: known by its port.
    if (!label && ((ev.server || "").startsWith("cli-") || this.proxyLegs.has(ev.conn))) label = this.serverPorts.get(portOf(remote));
    if (label) return label.includes(remote) || label.endsWith(`:${portOf(remote)}`) ? label : `${label} ${remote}`;
    return `your terminal ${remote}`;
  }

  // otherUnix names the other end of a Unix socket: a server by its label
  // (its path is long and the label names its file), an unnamed client
  // end as such; events with no socket (a server's own) have none.
  otherUnix(ev, peerOwner) {
    const remote = ev.remote || "";
    if (peerOwner) return this.owner(peerOwner);
    if (remote) return this.byAddr.get(remote) || `the path ${remote}`;
    return ev.conn && ev.local ? unnamedEnd : "";
  }
}

// bytesFlow says which way an event's bytes (or, for a close, the FIN or
// RST; for an accept or connect, the connection) went between this end and
// the other: "in" (from the other end to this one) or "out".
export function bytesFlow(ev) {
  switch (ev.kind) {
    case "recv": case "datagram-in": case "accept": return "in";
    case "close": return ev.meta && ev.meta.by === "peer" ? "in" : "out";
    case "app-frame": case "http-request": case "http-response": {
      const m = ev.meta || {};
      // A server reads requests and writes responses; a client the reverse.
      const request = m.direction === "request" || ev.kind === "http-request";
      const isClient = (ev.server || "").startsWith("cli-");
      return request !== isClient ? "in" : "out";
    }
    default: return "out";
  }
}

// endsText is a row's two ends, the arrow in the direction of the bytes:
// `← your terminal 127.0.0.1:55850` (they came from it), `→ echo server
// :20000` (they went to it). this end is in the row's own column.
export function endsText(ev, ends, peerOwner = "") {
  const other = ends.other(ev, peerOwner);
  if (!other) return ev.local || "";
  return `${bytesFlow(ev) === "in" ? "←" : "→"} ${other}`;
}
