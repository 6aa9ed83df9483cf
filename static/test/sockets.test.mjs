// Tests of static/sockets.js and static/errorcards.js: node --test static/test/ (no DOM needed).

import { test } from "node:test";
import assert from "node:assert/strict";

import { bytesText, msText, socketCells, stateClass, summaryText } from "../sockets.js";
import { cardLines, errnoOf, reproductionText } from "../errorcards.js";

const client = {
  id: "c-1", owner: "cli-a", role: "client", proto: "tcp", net: "tcp", local: "127.0.0.1:5000", remote: "127.0.0.1:20000",
  state: "ESTABLISHED", bytes_in: 5, bytes_out: 2048, events: 3,
  tcp_info: { state: "ESTABLISHED", rtt_us: 32, rttvar_us: 16, snd_cwnd: 10, unacked: 0, total_retrans: 2, notsent_bytes: 0, bytes_acked: 2049, bytes_received: 5 },
};

test("bytesText: bytes, KiB, MiB", () => {
  assert.equal(bytesText(0), "0");
  assert.equal(bytesText(512), "512 B");
  assert.equal(bytesText(1536), "1.5 KiB");
  assert.equal(bytesText(3 << 20), "3.0 MiB");
});

test("msText: microseconds as milliseconds", () => {
  assert.equal(msText(32), "0.03 ms");
  assert.equal(msText(25000), "25 ms");
});

test("stateClass: listening, open, opening, closing", () => {
  assert.equal(stateClass("LISTEN"), "listen");
  assert.equal(stateClass("UNCONN"), "listen");
  assert.equal(stateClass("ESTABLISHED"), "open");
  assert.equal(stateClass("SYN-SENT"), "opening");
  for (const s of ["CLOSE-WAIT", "FIN-WAIT-2", "TIME-WAIT", "LAST-ACK"]) assert.equal(stateClass(s), "closing");
});

test("socketCells: a connection's addresses, bytes and the kernel's figures", () => {
  const c = socketCells(client);
  assert.equal(c.addrs, "127.0.0.1:5000 ⇄ 127.0.0.1:20000");
  assert.equal(c.owner, "cli-a client");
  assert.equal(c.bytes, "5 B in / 2.0 KiB out");
  assert.equal(c.kernel, "rtt 0.03 ms ±0.02 ms, cwnd 10, retrans 2");
  assert.match(c.kernelTitle, /2049 bytes acked/);
  assert.equal(c.proto, "tcp");
});

test("socketCells: a listener shows its accept queue, a TLS connection both nets", () => {
  const ln = socketCells({ ...client, role: "listener", state: "LISTEN", remote: "", tcp_info: { state: "LISTEN", unacked: 1, backlog: 128 } });
  assert.equal(ln.addrs, "127.0.0.1:5000");
  assert.equal(ln.kernel, "queue 1/128");
  assert.equal(ln.bytes, "");
  assert.equal(socketCells({ ...client, net: "tls" }).proto, "tcp/tls");
});

test("socketCells: a UDP socket has no tcp_info but its datagram counts", () => {
  const c = socketCells({ ...client, proto: "udp", net: "udp", state: "UNCONN", tcp_info: undefined, counters: { datagrams_in: 3, datagrams_out: 2 } });
  assert.equal(c.kernel, "3 in, 2 out (datagrams)");
  assert.equal(c.kernelTitle, "");
});

test("socketCells: a connection closed here that the kernel still holds says so", () => {
  assert.equal(socketCells({ ...client, state: "TIME-WAIT", closed: true, tcp_info: undefined }).owner,
    "cli-a client (closed here; the kernel still holds the connection)");
});

test("summaryText: counts by state", () => {
  assert.equal(summaryText([]), "no open sockets");
  assert.equal(summaryText([{ state: "LISTEN" }, client, client]), "1 LISTEN, 2 ESTABLISHED");
});

test("errnoOf: an event's errno, or nothing", () => {
  assert.equal(errnoOf({ err: { errno: "EPIPE" } }), "EPIPE");
  assert.equal(errnoOf({ err: null }), "");
  assert.equal(errnoOf(undefined), "");
});

test("cardLines: what happened first, Python when there is an exception", () => {
  const card = { errno: "EPIPE", title: "Broken pipe", meaning: "m", cause: "c", try: "t", where: "send()", python: "BrokenPipeError" };
  const { heading, lines } = cardLines(card, { err: { errno: "EPIPE", message: "write: broken pipe" } });
  assert.equal(heading, "EPIPE: Broken pipe");
  assert.deepEqual(lines.map(([k]) => k), ["What happened", "What it means", "Usual cause", "What to try", "In Python", "Where you meet it"]);
  assert.deepEqual(cardLines({ ...card, python: "" }, null).lines.map(([k]) => k), ["What it means", "Usual cause", "What to try", "Where you meet it"]);
});

test("reproductionText: says whether it worked", () => {
  assert.deepEqual(reproductionText({ errno: "EPIPE", produced: true, steps: ["a", "b"] }), ["Reproduced EPIPE:", "a", "b"]);
  assert.equal(reproductionText({ errno: "EPIPE", produced: false, observed: "sent", steps: [] })[0], "Tried to reproduce EPIPE, but got sent:");
});
