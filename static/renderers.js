// renderers.js: what an event of each kind means, in words. No DOM: the
// node tests import it.

import { b64bytes, b64len, closeText, headersText, optionsText, preview, sizeOf, unnamedEnd } from "./format.js";

// dataText is an event's bytes as a quoted preview, saying when the capture
// cap cut them.
export const dataText = (ev) => {
  const kept = b64len(ev.data);
  const bytes = b64bytes(ev.data, 72); // the preview shows 64 (and says when there are more)
  let s = `"${preview(bytes)}"`;
  if (ev.truncated) s += ` (capture cap reached: ${kept} of ${ev.len} bytes kept)`;
  return s;
};

// withHint joins a line and its hint (the second line), if there is one.
const withHint = (line, hint) => (hint ? `${line}\n${hint}` : line);

// renderers say in one line (and an optional second, the hint) what an
// event of each kind means; a server kind with events of its own adds its
// renderer here. Unknown kinds show their meta as JSON.
export const renderers = {
  recv: dataText,
  send: dataText,
  "datagram-in": (ev, m) => (m.dropped ? `dropped, not answered: ${m.dropped}` : `${dataText(ev)} from ${ev.remote}`) +
    (m.truncated_by_kernel ? " — longer than recv_size: the kernel cut it (UDP keeps no rest)" : ""),
  "datagram-out": (ev) => `${dataText(ev)} to ${ev.remote}`,
  close: (ev, m) => closeText(m),
  error: (ev, m) => {
    let s = ev.err ? `${ev.err.errno}: ${ev.err.message}` : JSON.stringify(m);
    if (m.op === "send" && m.written !== undefined) s = `send failed (${m.written} bytes written) — ${s}`;
    else if (m.op === "connect" && m.skipped) s = `request ${m.request} of ${m.of}: connect to ${m.target} failed — ${s}; ${m.skipped}`;
    else if (m.op === "connect" && m.pool_slot) s = `request ${m.request} of ${m.of}: the pool could not open a connection for slot ${m.pool_slot} — ${s}`;
    else if (m.op) s = `${m.op} failed — ${s}`;
    const hint = [ev.err && ev.err.hint, ev.err && ev.err.python && `In Python: ${ev.err.python}`].filter(Boolean).join(" ");
    return withHint(s, hint);
  },
  "server-start": (ev, m) => [m.restored && "started again after a restart", m.kind, m.name && `"${m.name}"`, m.summary ?? optionsText(m.options)].filter(Boolean).join(" · "),
  "server-stop": (ev, m) => `${m.kind || "server"} stopped${m.reason && m.reason !== "stopped" ? ` (${m.reason}${m.error ? `: ${m.error}` : ""})` : ""}`,
  accept: (ev, m) => {
    if (ev.net === "unix") return unixAccept(ev, m);
    const opts = Object.entries(m).map(([k, v]) => `${k} ${v}`).join(" · ");
    return `accepted ${ev.remote}${opts ? ` · ${opts}` : ""}`;
  },
  latency: (ev, m) => latencyText(ev, m),
  fault: (ev, m) => `fault "${m.fault}" (${m.type}, ${m.direction}): ${m.action}`,
  retry: (ev, m) => (m.outcome ? m.outcome : `attempt ${m.attempt} of ${m.of} failed (${m.errno}): waiting ${m.wait_ms} ms before attempt ${m.next}`),
  loss: (ev, m) => m.cap ? `From here on nothing more of this session is recorded (since ${m.from}): ${m.reason}` : `${m.events} events were not recorded (${m.from} to ${m.to})${m.reason ? `: ${m.reason}` : ""}`,
  connect: (ev, m) => {
    if (m.proxy_for) return `proxy's upstream leg → ${m.target} (for ${m.proxy_for})`;
    // Open lab (workshop): the server is another participant's.
    const to = m.peer_name ? `${m.peer_name} (${m.target || ev.remote})` : m.target || ev.remote;
    // The clients that open several connections say which this one is.
    if (m.client === "round-robin" && m.target_index) {
      return withHint(`request ${m.request} of ${m.of} → target ${m.target_index} of ${m.targets} (${to})`,
        "round-robin: each request goes to the next target in turn, on a connection of its own");
    }
    if (m.client === "pool" && m.pool_slot) {
      return withHint(m.replaces ?
        `request ${m.request} of ${m.of}: a new connection for pool slot ${m.pool_slot} → ${to}, replacing the broken ${m.replaces}` :
        `request ${m.request} of ${m.of}: pool slot ${m.pool_slot} opens its connection → ${to}`,
      m.replaces ? "the server closed or reset the pooled connection; the pool dials a new one and sends the same request on it" :
        "a pool opens each slot's connection once; later requests on the slot reuse it (no new connect: the client's counters say how many)");
    }
    if (m.client === "multi" && m.connection) return `multi client connection ${m.connection} of ${m.of} → ${to}`;
    if (m.client === "retry" && m.attempt) return `retry client, attempt ${m.attempt} → ${to}: connected`;
    return `${m.client || "tcp"} client → ${to}`;
  },
  listen: (ev) => `listening on ${ev.local}${ev.net && ev.net !== "tcp" ? ` (${ev.net})` : ""}`,
  "proxy-dial": (ev, m) => (ev.err ? `could not reach ${m.target}: ${ev.err.errno}: ${ev.err.message}${ev.err.hint ? "\n" + ev.err.hint : ""}` : `dialed ${m.target}: upstream ${m.upstream}`),
  "app-frame": (ev, m) => {
    const h = m.header || {};
    const parts = `2-byte length ${m.header_len} · header ${sizeOf(m.header_len || 0)} · content ${sizeOf(m.content_length || 0)}`;
    const what = h["content-type"] === "text/json" && m.content !== undefined ? JSON.stringify(m.content) : h["content-type"] || "";
    return `${m.direction || "frame"}: ${what} (${parts}; click for its bytes)`;
  },
  "http-request": (ev, m) => withHint([m.method, `${m.path}${m.query ? "?" + m.query : ""}`, m.proto].filter(Boolean).join(" ") +
    (m.body_len ? ` · body ${sizeOf(m.body_len)}` : ""), headersText(m.headers)),
  "http-response": (ev, m) => withHint([m.status, m.reason].filter(Boolean).join(" ") +
    (m.body_len !== undefined ? ` · body ${sizeOf(m.body_len)}` : ""), headersText(m.headers)),
  "tls-handshake": (ev, m) => [m.version, m.cipher_suite, m.sni && `SNI ${m.sni}`, m.alpn && `ALPN ${m.alpn}`,
    m.cipher_bytes_in !== undefined && `${m.cipher_bytes_in} + ${m.cipher_bytes_out} bytes of handshake on the wire`].filter(Boolean).join(" · ") +
    (m.cert_sha256 ? `\ncertificate SHA-256 ${m.cert_sha256}` : ""),
  option: (ev, m) => `socket options as the kernel reports them: ${Object.entries(m.effective || {}).map(([k, v]) => `${k} ${v}`).join(" · ")}${m.note ? "\n" + m.note : ""}`,
};

// unixAccept: a Unix socket's peer has no address (unless it bound one);
// what the kernel says of it instead is its process (SO_PEERCRED).
function unixAccept(ev, m) {
  const who = ev.remote ? `the socket ${ev.remote}` : unnamedEnd;
  const cred = m.peer_pid !== undefined ? ` · process ${m.peer_pid}, user ${m.peer_uid}` : "";
  return withHint(`accepted ${who} on ${ev.local}${cred}`, "A Unix socket has no IP address and no port: its address is a file path, and the kernel tells the server which process connected (SO_PEERCRED).");
}

// latencyText: a latency measurement's figures, and how it ended.
function latencyText(ev, m) {
  const over = m.transport || ev.net;
  if (!m.done) return withHint(`latency over ${over}: no round trip completed`, m.stopped || "");
  const line = `latency over ${over}: median ${m.median_us} µs, p99 ${m.p99_us} µs per round trip of ${sizeOf(m.size)} (${m.done} of ${m.rounds}; min ${m.min_us}, max ${m.max_us})`;
  return withHint(line, m.stopped ? `stopped early: ${m.stopped}` : "Each round trip is one send and the recvs that got its echo back, recorded at both ends; compare with the same measurement over the other transport.");
}

// details is an event's text for the table: its renderer's, else its meta
// as JSON (nothing when it has none). A second line, if any, is the hint.
export function details(ev) {
  const m = ev.meta || {};
  const r = renderers[ev.kind];
  if (r) return r(ev, m);
  return Object.keys(m).length ? JSON.stringify(m) : "";
}

// dataKinds are the events that carry bytes: their rows open a hexdump.
export const dataKinds = new Set(["recv", "send", "datagram-in", "datagram-out", "app-frame"]);

// capNote is what the session page says when ev is the marker of the
// session's recording cap (docs/disk-budget.md), or "".
export function capNote(ev) {
  const m = ev.meta || {};
  if (ev.kind !== "loss" || !m.cap) return "";
  const what = m.cap === "events" ? `${Number(m.limit).toLocaleString("en")} events` : `${Number(m.limit).toLocaleString("en")} bytes on disk`;
  return `This session reached its recording cap of ${what} at event #${ev.seq} (${m.from}): later events are not kept, though its sockets go on. Start a new session to record more.`;
}
