// Tests of static/renderers.js: what the table says for each kind of event,
// given the meta docs/events.md documents. node --test static/test/.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import { dataKinds, dataText, details, renderers } from "../renderers.js";
import { lifecycle } from "../table.js";

const b64 = (s) => Buffer.from(s).toString("base64");

// ev is an event as the API sends it (every key present), with over's keys.
function ev(kind, meta, over = {}) {
  return {
    seq: 12, session: "k3", server: "srv-ab12cd34ef", conn: "c-1", at: "2026-12-01T21:30:00.123456789Z",
    kind, net: "tcp", local: "127.0.0.1:20000", remote: "127.0.0.1:55850",
    len: 0, data: null, truncated: false, err: null, meta, ...over,
  };
}

// The kinds docs/events.md lists, read from its table.
const documented = (() => {
  const md = readFileSync(new URL("../../docs/events.md", import.meta.url), "utf8");
  const table = md.slice(md.indexOf("## Kinds and their meta"), md.indexOf("## Error names"));
  const kinds = [];
  for (const line of table.split("\n")) {
    const cell = line.split("|")[1];
    if (!cell) continue;
    for (const m of cell.matchAll(/`([a-z-]+)`/g)) kinds.push(m[1]);
  }
  return kinds;
})();

test("docs/events.md lists the kinds the page knows", () => {
  assert.ok(documented.includes("recv") && documented.includes("loss"), `kinds read from docs/events.md: ${documented.join(" ")}`);
  for (const k of Object.keys(renderers)) assert.ok(documented.includes(k), `renderer of ${k} is not in docs/events.md`);
  for (const k of dataKinds) assert.ok(documented.includes(k), `data kind ${k} is not in docs/events.md`);
});

test("every documented kind renders, with any meta or none", () => {
  for (const k of documented) {
    for (const meta of [null, {}]) {
      const d = details(ev(k, meta));
      assert.equal(typeof d, "string", `${k} with meta ${JSON.stringify(meta)}`);
    }
  }
});

test("dataKinds: the kinds that carry bytes", () => {
  assert.deepEqual([...dataKinds].sort(), ["app-frame", "datagram-in", "datagram-out", "recv", "send"]);
});

// ---- one read, one write -------------------------------------------------------

test("recv, send: the bytes, quoted", () => {
  assert.equal(details(ev("recv", null, { len: 6, data: b64("hello\n") })), '"hello\\n"');
  assert.equal(details(ev("send", null, { len: 6, data: b64("héllo\r\n") })), '"héllo\\r\\n"');
  assert.equal(details(ev("recv", null, { len: 0, data: null })), '""');
});

test("recv: says when the capture cap cut the bytes", () => {
  assert.equal(details(ev("recv", null, { len: 70000, data: b64("abcd"), truncated: true })),
    '"abcd" (capture cap reached: 4 of 70000 bytes kept)');
  assert.equal(dataText(ev("send", null, { len: 100, data: b64("x".repeat(65)), truncated: true })),
    `"${"x".repeat(64)}…" (capture cap reached: 65 of 100 bytes kept)`);
});

// ---- UDP -------------------------------------------------------------------------

test("datagram-in: the bytes and where from", () => {
  assert.equal(details(ev("datagram-in", null, { net: "udp", len: 4, data: b64("ping") })), '"ping" from 127.0.0.1:55850');
  assert.equal(details(ev("datagram-in", {}, { net: "udp", len: 4, data: b64("ping") })), '"ping" from 127.0.0.1:55850');
});

test("datagram-in: dropped says why it was not answered", () => {
  assert.equal(details(ev("datagram-in", { dropped: "rate limit" }, { net: "udp", len: 4, data: b64("ping") })),
    "dropped, not answered: rate limit");
});

test("datagram-in: truncated_by_kernel says UDP keeps no rest", () => {
  assert.equal(details(ev("datagram-in", { truncated_by_kernel: true }, { net: "udp", len: 8, data: b64("12345678") })),
    '"12345678" from 127.0.0.1:55850 — longer than recv_size: the kernel cut it (UDP keeps no rest)');
  assert.equal(details(ev("datagram-in", { dropped: "full", truncated_by_kernel: true }, { net: "udp" })),
    "dropped, not answered: full — longer than recv_size: the kernel cut it (UDP keeps no rest)");
});

test("datagram-out: the bytes and where to", () => {
  assert.equal(details(ev("datagram-out", null, { net: "udp", len: 5, data: b64("pong\n") })), '"pong\\n" to 127.0.0.1:55850');
});

// ---- servers ------------------------------------------------------------------------

test("server-start: kind, name and the options in words", () => {
  assert.equal(details(ev("server-start", {
    kind: "tcp-echo", name: "my echo", options: { mode: "prefix", prefix: ">> " }, summary: 'mode prefix · prefix ">> "', port: 20000,
  })), 'tcp-echo · "my echo" · mode prefix · prefix ">> "');
});

test("server-start: without a summary the options are written out", () => {
  assert.equal(details(ev("server-start", { kind: "tcp-echo", options: { recv_size: 4096, oneshot: false }, port: 20000 })),
    "tcp-echo · recv_size 4096 · oneshot no");
  // An empty summary is the server's word: no options to speak of.
  assert.equal(details(ev("server-start", { kind: "tcp-echo", options: { recv_size: 4096 }, summary: "" })), "tcp-echo");
});

test("server-start: restored says it was started again", () => {
  assert.equal(details(ev("server-start", { kind: "udp-echo", summary: "", port: 20001, restored: true })),
    "started again after a restart · udp-echo");
});

test("listen: where, and the transport when it is not TCP", () => {
  assert.equal(details(ev("listen", null, { remote: "" })), "listening on 127.0.0.1:20000");
  assert.equal(details(ev("listen", null, { remote: "", net: "udp" })), "listening on 127.0.0.1:20000 (udp)");
  assert.equal(details(ev("listen", null, { remote: "", net: "tls" })), "listening on 127.0.0.1:20000 (tls)");
  assert.equal(details(ev("listen", null, { remote: "", net: "" })), "listening on 127.0.0.1:20000");
});

test("option: the socket options the kernel applied, and the note as the hint", () => {
  assert.equal(details(ev("option", {
    requested: { nodelay: true, rcvbuf: 4096 }, effective: { nodelay: true, rcvbuf: 8192 }, note: "Linux doubles SO_RCVBUF",
  })), "socket options as the kernel reports them: nodelay true · rcvbuf 8192\nLinux doubles SO_RCVBUF");
  assert.equal(details(ev("option", { effective: { nodelay: false } })), "socket options as the kernel reports them: nodelay false");
});

test("server-stop: the kind, and the reason unless it was just stopped", () => {
  assert.equal(details(ev("server-stop", { kind: "tcp-echo", reason: "stopped" })), "tcp-echo stopped");
  assert.equal(details(ev("server-stop", { kind: "tcp-echo", reason: "shutdown" })), "tcp-echo stopped (shutdown)");
  assert.equal(details(ev("server-stop", { kind: "http", reason: "session deleted" })), "http stopped (session deleted)");
  assert.equal(details(ev("server-stop", { kind: "tcp-echo", reason: "could not start again", error: "ERESTORE" })),
    "tcp-echo stopped (could not start again: ERESTORE)");
  assert.equal(details(ev("server-stop", {})), "server stopped");
});

test("accept: the peer, and the options applied to the connection", () => {
  assert.equal(details(ev("accept", { TCP_NODELAY: true, SO_KEEPALIVE: false })), "accepted 127.0.0.1:55850 · TCP_NODELAY true · SO_KEEPALIVE false");
  assert.equal(details(ev("accept", null)), "accepted 127.0.0.1:55850");
});

// ---- clients and proxies ---------------------------------------------------------------

test("connect: a client and its target", () => {
  assert.equal(details(ev("connect", { client: "tcp", target: "127.0.0.1:20000", options: {} }, { server: "cli-1" })),
    "tcp client → 127.0.0.1:20000");
  assert.equal(details(ev("connect", { client: "tls", target: "example.com:443" })), "tls client → example.com:443");
  assert.equal(details(ev("connect", null)), "tcp client → 127.0.0.1:55850");
});

test("connect: a proxy's upstream leg says whose it is", () => {
  assert.equal(details(ev("connect", { proxy_for: "c-client", target: "127.0.0.1:9000" })),
    "proxy's upstream leg → 127.0.0.1:9000 (for c-client)");
});

test("proxy-dial: the target and the upstream leg", () => {
  assert.equal(details(ev("proxy-dial", { target: "127.0.0.1:9000", upstream: "c-up", client_conn: "c-1" })),
    "dialed 127.0.0.1:9000: upstream c-up");
});

test("proxy-dial: a failed dial says why, with the hint", () => {
  const err = { errno: "ECONNREFUSED", message: "connection refused", hint: "nothing listens on that port" };
  assert.equal(details(ev("proxy-dial", { target: "127.0.0.1:9000", client_conn: "c-1" }, { err })),
    "could not reach 127.0.0.1:9000: ECONNREFUSED: connection refused\nnothing listens on that port");
  assert.equal(details(ev("proxy-dial", { target: "127.0.0.1:9000" }, { err: { errno: "EREFUSED", message: "refused by policy" } })),
    "could not reach 127.0.0.1:9000: EREFUSED: refused by policy");
});

// ---- closes ------------------------------------------------------------------------------

test("close: who closed and how (closeText)", () => {
  assert.equal(details(ev("close", { by: "peer", half: true, rst: false, reason: "the peer sent FIN: recv returned 0 bytes" })),
    "peer sent FIN (it closed, or shut down its sending side) — recv returned 0 bytes");
  assert.equal(details(ev("close", { by: "peer", half: false, rst: true, reason: "reset by peer (RST)" })), "peer reset the connection (RST)");
  assert.equal(details(ev("close", { by: "local", half: false, rst: false })), "closed here");
  assert.equal(details(ev("close", null)), "closed here");
});

// ---- application protocols ----------------------------------------------------------------

test("app-frame: direction, content and the parts' sizes", () => {
  const header = { "content-type": "text/json", "content-length": 13 };
  assert.equal(details(ev("app-frame", {
    direction: "request", header_len: 48, header, content_length: 13,
    parts: [{ name: "length", offset: 0, len: 2 }, { name: "header", offset: 2, len: 48 }, { name: "content", offset: 50, len: 13 }],
    content: { hello: "x" },
  }, { len: 63, data: b64("x".repeat(63)) })),
  'request: {"hello":"x"} (2-byte length 48 · header 48 bytes · content 13 bytes; click for its bytes)');
});

test("app-frame: other content types are named, not decoded", () => {
  assert.equal(details(ev("app-frame", {
    direction: "response", header_len: 1, header: { "content-type": "binary" }, content_length: 1, content: "ignored",
  })), "response: binary (2-byte length 1 · header 1 byte · content 1 byte; click for its bytes)");
  assert.equal(details(ev("app-frame", { direction: "request", header_len: 20, header: { "content-type": "text/json" }, content_length: 0 })),
    "request: text/json (2-byte length 20 · header 20 bytes · content 0 bytes; click for its bytes)");
  assert.equal(details(ev("app-frame", {})), "frame:  (2-byte length undefined · header 0 bytes · content 0 bytes; click for its bytes)");
});

test("http-request: the request line and the body, the headers as the hint", () => {
  assert.equal(details(ev("http-request", {
    method: "POST", path: "/echo", query: "a=1&b=2", proto: "HTTP/1.1", headers: { Host: "localhost", "Content-Length": "5" }, body_len: 5,
  })), "POST /echo?a=1&b=2 HTTP/1.1 · body 5 bytes\nHost: localhost; Content-Length: 5");
  assert.equal(details(ev("http-request", { method: "GET", path: "/", query: "", proto: "HTTP/1.0", headers: {}, body_len: 0 })),
    "GET / HTTP/1.0");
});

test("http-response: the status and the body, the headers as the hint", () => {
  assert.equal(details(ev("http-response", { status: 200, reason: "OK", headers: { "Content-Type": "text/plain" }, body_len: 1 })),
    "200 OK · body 1 byte\nContent-Type: text/plain");
  assert.equal(details(ev("http-response", { status: 204, reason: "No Content", headers: null, body_len: 0 })),
    "204 No Content · body 0 bytes");
  assert.equal(details(ev("http-response", { status: 500 })), "500");
});

test("tls-handshake: version, suite, SNI, ALPN and the bytes, the certificate as the hint", () => {
  assert.equal(details(ev("tls-handshake", {
    version: "TLS 1.3", cipher_suite: "TLS_AES_128_GCM_SHA256", sni: "localhost", alpn: "h2",
    cert_sha256: "ab12", cipher_bytes_in: 517, cipher_bytes_out: 1320,
  }, { net: "tls" })),
  "TLS 1.3 · TLS_AES_128_GCM_SHA256 · SNI localhost · ALPN h2 · 517 + 1320 bytes of handshake on the wire\ncertificate SHA-256 ab12");
  assert.equal(details(ev("tls-handshake", { version: "TLS 1.2", cipher_suite: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", sni: "", alpn: "" })),
    "TLS 1.2 · TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
});

// ---- errors and losses -----------------------------------------------------------------------

test("error: the failed operation, errno and message, the hint on its own line", () => {
  const err = { errno: "ECONNREFUSED", message: "connection refused", hint: "nothing listens there" };
  assert.equal(details(ev("error", { op: "connect" }, { err })), "connect failed — ECONNREFUSED: connection refused\nnothing listens there");
  assert.equal(details(ev("error", { op: "recv" }, { err: { errno: "ECONNRESET", message: "connection reset by peer" } })),
    "recv failed — ECONNRESET: connection reset by peer");
});

test("error: a failed send says how much was written", () => {
  const err = { errno: "EPIPE", message: "broken pipe", hint: "the peer closed" };
  assert.equal(details(ev("error", { op: "send", written: 0 }, { err })), "send failed (0 bytes written) — EPIPE: broken pipe\nthe peer closed");
  assert.equal(details(ev("error", { op: "send" }, { err })), "send failed — EPIPE: broken pipe\nthe peer closed");
});

test("error: without err the meta is shown", () => {
  assert.equal(details(ev("error", { op: "app-frame", bytes: 3 })), 'app-frame failed — {"op":"app-frame","bytes":3}');
  assert.equal(details(ev("error", null)), "{}");
});

test("loss: the recorder's marker says how many and when", () => {
  assert.equal(details(ev("loss", { events: 12, from: "2026-12-01T10:00:00Z", to: "2026-12-01T10:00:05Z", reason: "database unavailable" })),
    "12 events were not recorded (2026-12-01T10:00:00Z to 2026-12-01T10:00:05Z): database unavailable");
});

test("unknown kinds show their meta as JSON, or nothing", () => {
  assert.equal(details(ev("made-up", { a: 1 })), '{"a":1}');
  assert.equal(details(ev("made-up", null)), "");
  assert.equal(details(ev("made-up", {})), "");
});

// ---- lifecycle (table.js) --------------------------------------------------------------------

test("lifecycle: the events that change the servers and clients panel", () => {
  for (const k of ["server-start", "server-stop", "connect", "accept", "close"]) assert.ok(lifecycle(ev(k, null)), k);
  assert.ok(lifecycle(ev("error", { op: "connect" })));
  for (const k of ["recv", "send", "listen", "option", "app-frame", "loss"]) assert.ok(!lifecycle(ev(k, null)), k);
  assert.ok(!lifecycle(ev("error", { op: "recv" })));
  assert.ok(!lifecycle(ev("error", null)));
});

test("error: the exception a Python program would see, after the hint", () => {
  const err = { errno: "ECONNREFUSED", message: "connection refused", hint: "Nothing is listening.", python: "ConnectionRefusedError: [Errno 111] Connection refused" };
  assert.equal(details(ev("error", { op: "connect" }, { err })),
    "connect failed — ECONNREFUSED: connection refused\nNothing is listening. In Python: ConnectionRefusedError: [Errno 111] Connection refused");
});

// ---- round-robin and pool clients ------------------------------------------------------

test("connect: a round-robin request says which target it went to, of how many", () => {
  const d = details(ev("connect", { client: "round-robin", target: "127.0.0.1:20001", request: 2, of: 6, target_index: 2, targets: 3 }, { server: "cli-1" }));
  assert.equal(d.split("\n")[0], "request 2 of 6 → target 2 of 3 (127.0.0.1:20001)");
  assert.match(d.split("\n")[1], /next target in turn/);
});

test("error: a round-robin target that is down is skipped, and the row says where the request goes", () => {
  const err = { errno: "ECONNREFUSED", message: "connection refused", hint: "nothing listens there" };
  const d = details(ev("error", { op: "connect", target: "127.0.0.1:20002", request: 3, of: 6, target_index: 2, targets: 3,
    skipped: "target 2 (127.0.0.1:20002) is skipped: request 3 goes to target 3 (127.0.0.1:20003)" }, { err }));
  assert.equal(d, "request 3 of 6: connect to 127.0.0.1:20002 failed — ECONNREFUSED: connection refused; target 2 (127.0.0.1:20002) is skipped: request 3 goes to target 3 (127.0.0.1:20003)\nnothing listens there");
});

test("connect: a pool slot's connection, and a new one replacing a broken one", () => {
  const first = details(ev("connect", { client: "pool", target: "127.0.0.1:20000", request: 1, of: 10, pool_slot: 1 }));
  assert.equal(first.split("\n")[0], "request 1 of 10: pool slot 1 opens its connection → 127.0.0.1:20000");
  assert.match(first.split("\n")[1], /reuse it/);
  const again = details(ev("connect", { client: "pool", target: "127.0.0.1:20000", request: 5, of: 10, pool_slot: 2, replaces: "c-old" }));
  assert.equal(again.split("\n")[0], "request 5 of 10: a new connection for pool slot 2 → 127.0.0.1:20000, replacing the broken c-old");
  assert.match(again.split("\n")[1], /closed or reset/);
});

test("error: a pool that cannot open a slot's connection says which request and slot", () => {
  const err = { errno: "ECONNREFUSED", message: "connection refused" };
  assert.equal(details(ev("error", { op: "connect", target: "127.0.0.1:20000", request: 4, of: 10, pool_slot: 2 }, { err })),
    "request 4 of 10: the pool could not open a connection for slot 2 — ECONNREFUSED: connection refused");
});

test("close: a pool's broken connection and a round-robin answer say why they closed", () => {
  assert.equal(details(ev("close", { by: "local", reason: "broken (ECONNRESET) when request 3 took it: the pool replaces it with a new connection" })),
    "closed here — broken (ECONNRESET) when request 3 took it: the pool replaces it with a new connection");
  assert.equal(details(ev("close", { by: "local", reason: "request 2 answered by target 1 (127.0.0.1:20000): 6 bytes" })),
    "closed here — request 2 answered by target 1 (127.0.0.1:20000): 6 bytes");
});

test("connect: multi and retry clients say which connection or attempt", () => {
  assert.equal(details(ev("connect", { client: "multi", target: "127.0.0.1:20000", connection: 3, of: 50 })), "multi client connection 3 of 50 → 127.0.0.1:20000");
  assert.equal(details(ev("connect", { client: "retry", target: "127.0.0.1:20000", attempt: 3 })), "retry client, attempt 3 → 127.0.0.1:20000: connected");
});

test("unix accept and latency events read as sentences", () => {
  const acc = details({ kind: "accept", net: "unix", local: "/s/ipc.sock", remote: "", meta: { peer_pid: 42, peer_uid: 1000, peer_gid: 1000 } });
  assert.match(acc, /^accepted an unnamed Unix socket \(a program on this machine\) on \/s\/ipc\.sock · process 42, user 1000\n/);
  const lat = details({ kind: "latency", net: "unix", meta: { transport: "unix", rounds: 1000, done: 1000, size: 64, median_us: 21.5, p99_us: 80.2, min_us: 15, max_us: 400 } });
  assert.match(lat, /^latency over unix: median 21\.5 µs, p99 80\.2 µs per round trip of 64 bytes \(1000 of 1000; min 15, max 400\)\n/);
  const none = details({ kind: "latency", net: "tcp", meta: { transport: "tcp", rounds: 3, done: 0, size: 64, stopped: "the connection ended: the server closed it before echoing" } });
  assert.equal(none, "latency over tcp: no round trip completed\nthe connection ended: the server closed it before echoing");
});
