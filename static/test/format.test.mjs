// Tests of static/format.js: node --test static/test/ (no DOM needed).

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";

import {
  b64bytes, closeText, headersText, hexdump, hexdumpParts, hexdumpRuns, optionsText, partLabel, preview, sizeOf, timeOf,
} from "../format.js";

const bytes = (s) => new TextEncoder().encode(s);
const range = (from, to) => Uint8Array.from({ length: to - from }, (_, i) => from + i);

// ---- hexdump -----------------------------------------------------------------

test("hexdump: empty is nothing", () => {
  assert.equal(hexdump(new Uint8Array(0)), "");
});

test("hexdump: a full line is offset, 8+8 hex bytes and the ASCII column", () => {
  assert.equal(hexdump(bytes("0123456789abcdef")),
    "00000000  30 31 32 33 34 35 36 37  38 39 61 62 63 64 65 66  |0123456789abcdef|");
});

test("hexdump: a partial last line pads the hex to the ASCII column", () => {
  const got = hexdump(bytes("hello, world\n\x00\x01\x7fABCDEFGHIJKLMNOPQRSTUVWXYZ"));
  assert.equal(got, [
    "00000000  68 65 6c 6c 6f 2c 20 77  6f 72 6c 64 0a 00 01 7f  |hello, world....|",
    "00000010  41 42 43 44 45 46 47 48  49 4a 4b 4c 4d 4e 4f 50  |ABCDEFGHIJKLMNOP|",
    "00000020  51 52 53 54 55 56 57 58  59 5a                    |QRSTUVWXYZ|",
  ].join("\n"));
  // Every line is as wide up to the ASCII column, whatever its length.
  for (const line of got.split("\n")) assert.equal(line.indexOf("|"), 60, line);
});

test("hexdump: the 8+8 split at 7, 8 and 9 bytes", () => {
  // The ASCII column starts at column 60 however short the line.
  const line = (hex, ascii) => `${"00000000  " + hex}`.padEnd(60) + `|${ascii}|`;
  assert.equal(hexdump(range(0, 7)), line("00 01 02 03 04 05 06", "......."));
  assert.equal(hexdump(range(0, 8)), line("00 01 02 03 04 05 06 07", "........"));
  assert.equal(hexdump(range(0, 9)), line("00 01 02 03 04 05 06 07  08", "........."));
});

test("hexdump: offsets count in hex, 17 bytes make a second line of one", () => {
  const lines = hexdump(range(0x40, 0x51)).split("\n");
  assert.equal(lines.length, 2);
  assert.equal(lines[1], "00000010  50                                                |P|");
  const big = hexdump(new Uint8Array(0x1010).map((_, i) => i & 0xff)).split("\n");
  assert.equal(big.length, 0x101);
  assert.ok(big[0x100].startsWith("00001000  00 01 02 03"), big[0x100]);
  assert.ok(big[0xff].startsWith("00000ff0  f0 f1"), big[0xff]);
});

test("hexdump: only printable ASCII shows in the ASCII column", () => {
  const got = hexdump(Uint8Array.from([0x00, 0x09, 0x1f, 0x20, 0x41, 0x7e, 0x7f, 0x80, 0xa0, 0xc3, 0xa9, 0xff]));
  assert.equal(got, "00000000  00 09 1f 20 41 7e 7f 80  a0 c3 a9 ff              |... A~......|");
});

test("hexdump: repeated lines are all printed (hexdump -C squeezes them to *)", () => {
  assert.equal(hexdump(new Uint8Array(48)).split("\n").length, 3);
});

// The same layout as the real tool, line for line, when it is installed.
// hexdump -C also prints the total length on a last line of its own and
// squeezes repeated lines to "*": the inputs have none, and that last line
// is left out.
const hexdumpC = (b) => {
  const r = spawnSync("hexdump", ["-C"], { input: b });
  if (r.error || r.status !== 0) return null;
  const lines = r.stdout.toString().split("\n").filter(Boolean);
  return lines.slice(0, -1).join("\n");
};
test("hexdump: matches hexdump -C", (t) => {
  if (hexdumpC(bytes("x")) === null) {
    t.skip("no hexdump on the PATH");
    return;
  }
  const inputs = [
    bytes("hello\n"),
    bytes("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"),
    range(0, 256),
    range(0, 16),
    range(0, 8),
    range(3, 40),
    bytes("héllo wörld, ünïcode ✓"),
  ];
  for (const b of inputs) assert.equal(hexdump(b), hexdumpC(b), `input ${Buffer.from(b).toString("hex")}`);
});

// ---- hexdumpRuns and hexdumpParts -----------------------------------------------

// An app frame as docs/events.md describes it: a 2-byte length, the JSON
// header, then the content; meta.parts says where each lies in data.
const header = '{"content-type":"text/json","content-length":13}';
const content = '{"hello":"x"}';
const frame = Uint8Array.from([0, header.length, ...bytes(header), ...bytes(content)]);
const parts = [
  { name: "length", offset: 0, len: 2 },
  { name: "header", offset: 2, len: header.length },
  { name: "content", offset: 2 + header.length, len: content.length },
];

test("hexdumpRuns: each byte's hex and character is a run of its part", () => {
  const runs = hexdumpRuns(frame, parts);
  const partAt = (i) => parts.findIndex((p) => i >= p.offset && i < p.offset + p.len);
  // The runs of bytes, in order: per line, its hex then its characters.
  const hexRuns = runs.filter((r) => /^[0-9a-f]{2}$/.test(r.text) && r.part >= 0);
  const charRuns = runs.filter((r) => r.text.length === 1 && r.part >= 0);
  assert.equal(hexRuns.length, frame.length);
  assert.equal(charRuns.length, frame.length);
  let at = 0;
  for (let off = 0; off < frame.length; off += 16) {
    const line = runs.slice(runs.findIndex((r) => r.text === `${off.toString(16).padStart(8, "0")}  `));
    const hex = line.filter((r) => r.part >= 0).slice(0, Math.min(16, frame.length - off));
    hex.forEach((r, i) => {
      assert.equal(r.text, frame[off + i].toString(16).padStart(2, "0"));
      assert.equal(r.part, partAt(off + i), `hex of byte ${off + i}`);
    });
    at += hex.length;
  }
  assert.equal(at, frame.length);
  // Each part has 2 runs a byte (hex and character); the length's bytes
  // (0x00 and the header length) show as dots.
  for (let p = 0; p < parts.length; p++) assert.equal(runs.filter((r) => r.part === p).length, 2 * parts[p].len);
  assert.deepEqual(runs.filter((r) => r.part === 0).map((r) => r.text), ["00", header.length.toString(16), ".", header.length < 0x20 ? "." : String.fromCharCode(header.length)]);
  // Offsets and separators are in no part.
  for (const r of runs) if (r.part < 0) assert.match(r.text, /^([0-9a-f]{8} {2}| +|\||\|\n)$/);
});

test("hexdumpRuns: bytes outside every part are in none", () => {
  const runs = hexdumpRuns(bytes("abcdef"), [{ name: "mid", offset: 2, len: 2 }]);
  assert.deepEqual(runs.filter((r) => r.part === 0).map((r) => r.text), ["63", "64", "c", "d"]);
  assert.equal(runs.filter((r) => r.part < 0 && /^[0-9a-f]{2}$/.test(r.text)).length, 4);
});

test("hexdumpRuns: no parts is the plain hexdump's bytes in no part", () => {
  const runs = hexdumpRuns(bytes("hi"), []);
  assert.ok(runs.every((r) => r.part === -1));
  assert.equal(runs.map((r) => r.text).join(""), "00000000  68 69                                            |hi|");
});

// The runs' text is hexdump's but for one space: the coloured hexdump has a
// single space between the hex and the ASCII column where hexdump (and
// hexdump -C) has two. This pins what the page shows today (the split
// into modules kept it); fixing it means changing this test.
const runsText = (b, p) => hexdumpRuns(b, p).map((r) => r.text).join("");
test("hexdumpRuns: its text is hexdump's with one space less before the ASCII column", () => {
  for (const b of [frame, bytes("hello\n"), range(0, 16), range(0, 33)]) {
    const want = hexdump(b).split("\n").map((l) => l.slice(0, 59) + l.slice(60)).join("\n");
    assert.equal(runsText(b, parts), want);
  }
});
// A minimal document, enough for hexdumpParts: text nodes and spans.
function fakeDocument() {
  const node = (props) => ({ ...props });
  return {
    createDocumentFragment: () => ({ nodes: [], append(...n) { this.nodes.push(...n); } }),
    createTextNode: (text) => node({ text }),
    createElement: (tag) => node({ tag, className: "", dataset: {}, textContent: "" }),
  };
}

test("hexdumpParts: a text node per run in no part, a span of its part per byte", () => {
  globalThis.document = fakeDocument();
  try {
    const frag = hexdumpParts(frame, parts);
    const runs = hexdumpRuns(frame, parts);
    assert.equal(frag.nodes.length, runs.length);
    frag.nodes.forEach((n, i) => {
      const r = runs[i];
      if (r.part < 0) {
        assert.deepEqual(n, { text: r.text });
      } else {
        assert.equal(n.tag, "span");
        assert.equal(n.className, `part part-${r.part}`);
        assert.equal(n.dataset.part, parts[r.part].name);
        assert.equal(n.textContent, r.text);
      }
    });
  } finally {
    delete globalThis.document;
  }
});

test("partLabel: where a part lies and how long it is", () => {
  assert.equal(partLabel({ name: "length", offset: 0, len: 2 }), "length: bytes 0–1 (2 bytes)");
  assert.equal(partLabel({ name: "x", offset: 5, len: 1 }), "x: bytes 5–5 (1 byte)");
});

// ---- preview ---------------------------------------------------------------------

test("preview: UTF-8 text as it reads", () => {
  assert.equal(preview(bytes("héllo wörld ✓ 日本")), "héllo wörld ✓ 日本");
  assert.equal(preview(new Uint8Array(0)), "");
});

test("preview: \\n \\r \\t as escapes", () => {
  assert.equal(preview(bytes("a\nb\r\nc\td")), "a\\nb\\r\\nc\\td");
});

test("preview: other control characters as dots", () => {
  assert.equal(preview(Uint8Array.from([0x00, 0x01, 0x1b, 0x1f, 0x20, 0x7f, 0x41])), ".... .A");
  // C1 controls (U+0080–U+009F, two bytes in UTF-8) too; U+00A0 is not one.
  assert.equal(preview(bytes("a\u0085b\u009fc\u00a0d")), "a.b.c\u00a0d");
});

test("preview: invalid UTF-8 becomes U+FFFD", () => {
  assert.equal(preview(Uint8Array.from([0x61, 0xff, 0x62])), "a\ufffdb");
});

test("preview: the first 64 bytes, then …", () => {
  assert.equal(preview(bytes("x".repeat(64))), "x".repeat(64));
  assert.equal(preview(bytes("x".repeat(65))), "x".repeat(64) + "…");
  assert.equal(preview(bytes("0123456789".repeat(20))), "0123456789".repeat(6) + "0123…");
  // The cut counts bytes, not what is shown: 64 newlines show as 128 characters.
  assert.equal(preview(bytes("\n".repeat(64))), "\\n".repeat(64));
  assert.equal(preview(bytes("\n".repeat(65))), "\\n".repeat(64) + "…");
  // 32 two-byte characters fit; a 33rd is past the cut.
  assert.equal(preview(bytes("é".repeat(33))), "é".repeat(32) + "…");
});

test("preview: a character the 64-byte cut splits shows as U+FFFD", () => {
  assert.equal(preview(bytes("x" + "é".repeat(40))), "x" + "é".repeat(31) + "\ufffd…");
});

// ---- small formatters -------------------------------------------------------------

test("b64bytes: decodes an event's data", () => {
  assert.deepEqual(b64bytes(""), new Uint8Array(0));
  assert.deepEqual(b64bytes(null), new Uint8Array(0));
  assert.deepEqual(b64bytes("aGVsbG8K"), bytes("hello\n"));
  assert.deepEqual(b64bytes("AP+AfyA="), Uint8Array.from([0x00, 0xff, 0x80, 0x7f, 0x20]));
});

test("timeOf: the time of day to the microsecond", () => {
  assert.equal(timeOf("2026-11-25T17:31:57.254782678Z"), "17:31:57.254782");
  assert.equal(timeOf("2026-12-01T00:00:00.000000000Z"), "00:00:00.000000");
});

test("sizeOf: bytes, singular for one", () => {
  assert.equal(sizeOf(0), "0 bytes");
  assert.equal(sizeOf(1), "1 byte");
  assert.equal(sizeOf(2), "2 bytes");
});

test("headersText: name: value; …", () => {
  assert.equal(headersText({ Host: "example.com", "Content-Length": "5" }), "Host: example.com; Content-Length: 5");
  assert.equal(headersText(null), "");
  assert.equal(headersText(undefined), "");
  assert.equal(headersText({}), "");
});

test("optionsText: as the servers panel writes options", () => {
  assert.equal(optionsText({ mode: "prefix", prefix: ">> ", recv_size: 4096, oneshot: false }),
    'mode prefix · prefix ">> " · recv_size 4096 · oneshot no');
  assert.equal(optionsText({ nodelay: true, host: "example.com", empty: "" }), 'nodelay yes · host example.com · empty ""');
  assert.equal(optionsText({ list: ["a", "b"], n: null }), 'list ["a","b"] · n null');
  assert.equal(optionsText({}), "");
  assert.equal(optionsText(null), "");
  assert.equal(optionsText(undefined), "");
  assert.equal(optionsText("mode prefix"), "");
});

// ---- closeText -----------------------------------------------------------------------

test("closeText: every by/half/rst/reason combination", () => {
  const cases = [
    // by, half, rst, reason -> text
    ["local", false, false, undefined, "closed here"],
    ["local", false, false, "the server stopped", "closed here — the server stopped"],
    ["local", false, true, undefined, "reset here (RST sent)"],
    ["local", false, true, "the target reset its connection", "reset here (RST sent) — the target reset its connection"],
    ["local", true, false, undefined, "shutdown(SHUT_WR) here: FIN sent, can still receive"],
    ["local", true, false, "a one-shot reply sent", "shutdown(SHUT_WR) here: FIN sent, can still receive — a one-shot reply sent"],
    ["local", true, true, undefined, "shutdown(SHUT_WR) here: FIN sent, can still receive"],
    ["local", true, true, "a one-shot reply sent", "shutdown(SHUT_WR) here: FIN sent, can still receive — a one-shot reply sent"],
    ["peer", false, false, undefined, "peer closed"],
    ["peer", false, false, "sockplay shutting down", "peer closed — sockplay shutting down"],
    ["peer", false, true, undefined, "peer reset the connection (RST)"],
    ["peer", false, true, "reset by peer (RST)", "peer reset the connection (RST)"],
    // A FIN from the peer: the reason is replaced by what the recv saw.
    ["peer", true, false, undefined, "peer sent FIN (it closed, or shut down its sending side)"],
    ["peer", true, false, "anything", "peer sent FIN (it closed, or shut down its sending side) — recv returned 0 bytes"],
    ["peer", true, true, undefined, "peer sent FIN (it closed, or shut down its sending side)"],
    ["peer", true, true, "anything", "peer sent FIN (it closed, or shut down its sending side) — recv returned 0 bytes"],
  ];
  for (const [by, half, rst, reason, want] of cases) {
    const m = { by, half, rst };
    if (reason !== undefined) m.reason = reason;
    assert.equal(closeText(m), want, JSON.stringify(m));
  }
});

test("closeText: the closes the engine records", () => {
  // engine/conn.go: the peer's FIN, a reset, shutdown here, close after a FIN.
  assert.equal(closeText({ by: "peer", half: true, rst: false, reason: "the peer sent FIN: recv returned 0 bytes" }),
    "peer sent FIN (it closed, or shut down its sending side) — recv returned 0 bytes");
  assert.equal(closeText({ by: "peer", half: false, rst: true, reason: "reset by peer (RST)" }), "peer reset the connection (RST)");
  assert.equal(closeText({ by: "local", half: true, rst: false, reason: "shutdown(SHUT_WR): no more sends from this side" }),
    "shutdown(SHUT_WR) here: FIN sent, can still receive — shutdown(SHUT_WR): no more sends from this side");
  assert.equal(closeText({ by: "local", half: false, rst: false, reason: "closed after the peer's FIN" }), "closed here — closed after the peer's FIN");
  // No by at all reads as a close here.
  assert.equal(closeText({}), "closed here");
});

test("b64bytes with a bound decodes about that many bytes; b64len counts without decoding", async () => {
  const { b64bytes, b64len } = await import("../format.js");
  const s = Buffer.from("x".repeat(1000)).toString("base64");
  const head = b64bytes(s, 72);
  assert.ok(head.length >= 72 && head.length < 80, `${head.length} bytes`);
  assert.equal(b64bytes(s).length, 1000);
  for (const n of [0, 1, 2, 3, 4, 1000]) assert.equal(b64len(Buffer.from("y".repeat(n)).toString("base64")), n);
  assert.equal(b64len(null), 0);
});

// ---- ends by role ---------------------------------------------------------------

import { bytesFlow, Ends, endsText, serverLabel } from "../format.js";

const view = {
  servers: [
    { id: "srv-1", kind: "tcp-echo", name: "tutorial echo", addr: "127.0.0.1:20000", options: { mode: "echo" }, state: "running" },
    { id: "srv-2", kind: "tcp-echo", addr: "127.0.0.1:20001", options: { mode: "greet" }, state: "running" },
    { id: "srv-3", kind: "tcp-proxy", addr: "127.0.0.1:20002", options: {}, state: "running" },
  ],
  clients: [
    { id: "cli-a", kind: "tcp", local: "127.0.0.1:40000" },
    { id: "cli-b", kind: "tcp", local: "127.0.0.1:40001" },
  ],
};

test("serverLabel: a tcp-echo by its mode, others by kind, then name and port", () => {
  assert.equal(serverLabel(view.servers[0]), 'echo server "tutorial echo" :20000');
  assert.equal(serverLabel(view.servers[1]), "greet server :20001");
  assert.equal(serverLabel(view.servers[2]), "tcp-proxy server :20002");
  assert.equal(serverLabel({ kind: "udp-echo", options: { mode: "prefix" }, port: 20003 }), "udp-echo (prefix) server :20003");
});

test("Ends: owners by name, clients numbered in start order; unknown ids as they are", () => {
  const e = new Ends();
  assert.ok(e.setView(view));
  assert.ok(!e.setView(view), "the same view changes nothing");
  assert.equal(e.owner("srv-1"), 'echo server "tutorial echo" :20000');
  assert.equal(e.owner("cli-b"), "tcp client #2");
  assert.equal(e.owner("srv-zz"), "srv-zz");
  assert.equal(e.owner(""), "");
});

test("Ends.noteEvent: a server-start names its server at once; an unknown owner asks for the view", () => {
  const e = new Ends();
  assert.equal(e.noteEvent({ kind: "server-start", server: "srv-9", local: "127.0.0.1:20009", meta: { kind: "tcp-echo", name: "mine", options: { mode: "daytime" }, port: 20009 } }), false);
  assert.equal(e.owner("srv-9"), 'daytime server "mine" :20009');
  assert.equal(e.noteEvent({ kind: "connect", server: "cli-9", meta: { client: "udp", target: "127.0.0.1:20009" } }), true);
  assert.equal(e.owner("cli-9"), "udp client cli-9");
  assert.equal(e.noteEvent({ kind: "recv", server: "srv-9" }), false);
});

test("endsText: the arrow follows the bytes; the other end is named by what it is", () => {
  const e = new Ends();
  e.setView(view);
  // A server's recv came from a program outside sockplay.
  assert.equal(endsText({ kind: "recv", server: "srv-1", local: "127.0.0.1:20000", remote: "127.0.0.1:55850" }, e), "← your terminal 127.0.0.1:55850");
  assert.equal(endsText({ kind: "send", server: "srv-1", local: "127.0.0.1:20000", remote: "127.0.0.1:55850" }, e), "→ your terminal 127.0.0.1:55850");
  // ... or from one of the page's clients (by its local address).
  assert.equal(endsText({ kind: "recv", server: "srv-1", remote: "127.0.0.1:40001" }, e), "← tcp client #2 127.0.0.1:40001");
  // A client's send goes to the server it dialed.
  assert.equal(endsText({ kind: "send", server: "cli-a", remote: "127.0.0.1:20000" }, e), '→ echo server "tutorial echo" :20000');
  // A client's socket to a server listening on every address is known by the port.
  const any = new Ends();
  any.setView({ servers: [{ id: "srv-x", kind: "tcp-echo", addr: "[::]:20005", options: { mode: "echo" }, state: "running" }] });
  assert.equal(endsText({ kind: "recv", server: "cli-q", remote: "127.0.0.1:20005" }, any), "← echo server :20005");
  // The other end's owner, when the page has seen the other conn, names it.
  assert.equal(endsText({ kind: "recv", server: "srv-1", remote: "127.0.0.1:49999" }, e, "cli-a"), "← tcp client #1 127.0.0.1:49999");
  // No other end: the socket's own address.
  assert.equal(endsText({ kind: "listen", server: "srv-1", local: "127.0.0.1:20000" }, e), "127.0.0.1:20000");
});

test("bytesFlow: recv, accept and a peer's close come in; send, connect and a close here go out", () => {
  assert.equal(bytesFlow({ kind: "recv" }), "in");
  assert.equal(bytesFlow({ kind: "datagram-in" }), "in");
  assert.equal(bytesFlow({ kind: "accept" }), "in");
  assert.equal(bytesFlow({ kind: "send" }), "out");
  assert.equal(bytesFlow({ kind: "connect" }), "out");
  assert.equal(bytesFlow({ kind: "close", meta: { by: "peer" } }), "in");
  assert.equal(bytesFlow({ kind: "close", meta: { by: "local" } }), "out");
  // A server reads a request and writes a response; a client the reverse.
  assert.equal(bytesFlow({ kind: "http-request", server: "srv-1", meta: {} }), "in");
  assert.equal(bytesFlow({ kind: "http-request", server: "cli-1", meta: {} }), "out");
  assert.equal(bytesFlow({ kind: "app-frame", server: "srv-1", meta: { direction: "response" } }), "out");
  assert.equal(bytesFlow({ kind: "app-frame", server: "cli-1", meta: { direction: "response" } }), "in");
});

test("unix: a unix-echo server is named by its socket file, its unnamed peer as such, no port anywhere", () => {
  const path = "/var/lib/sockplay/sockets/s-1/ipc.sock";
  const srv = { id: "srv-u", kind: "unix-echo", name: "ipc", addr: path, state: "running", options: { mode: "echo" } };
  assert.equal(serverLabel(srv), 'unix-echo (echo) server "ipc" ipc.sock');
  const ends = new Ends();
  ends.setView({ servers: [srv], clients: [{ id: "cli-u", kind: "unix", local: "", remote: path }] });
  const atServer = { server: "srv-u", conn: "c-1", kind: "recv", net: "unix", local: path, remote: "" };
  assert.equal(endsText(atServer, ends), "← an unnamed Unix socket (a program on this machine)");
  const atClient = { server: "cli-u", conn: "c-2", kind: "send", net: "unix", local: "", remote: path };
  assert.equal(endsText(atClient, ends), '→ unix-echo (echo) server "ipc" ipc.sock');
  assert.equal(ends.owner("cli-u"), "unix client #1");
  // A server's own event (listen) has no other end.
  assert.equal(endsText({ server: "srv-u", kind: "listen", net: "unix", local: path }, ends), path);
  assert.ok(!/:\d/.test(endsText(atServer, ends) + endsText(atClient, ends)));
});

test("Ends.other: a connection to another workshop participant's server (open lab) names it, not your terminal", () => {
  const e = new Ends();
  e.setView({ servers: [], clients: [{ id: "cli-a", kind: "tcp", local: "127.0.0.1:50000" }] });
  e.noteEvent({ kind: "connect", server: "cli-a", conn: "c-1", remote: "127.0.0.1:20061", meta: { client: "tcp", peer_name: "Bob's tcp-echo server" } });
  assert.equal(e.other({ kind: "send", server: "cli-a", conn: "c-1", remote: "127.0.0.1:20061" }), "Bob's tcp-echo server 127.0.0.1:20061");
  assert.equal(e.other({ kind: "send", server: "cli-a", conn: "c-2", remote: "127.0.0.1:20062" }), "your terminal 127.0.0.1:20062");
});
