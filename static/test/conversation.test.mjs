// Tests of static/conversation.js: one connection as a ladder, built from
// its events. node --test static/test/.

import { test } from "node:test";
import assert from "node:assert/strict";

import { buildConversation, gapText, joinText, laneName, micros, roleOf } from "../conversation.js";

const b64 = (s) => Buffer.from(s).toString("base64");
let seq = 0;
// ev is an event of conn c-cli (a page client) or c-srv (a lab server).
function ev(side, kind, over = {}) {
  seq++;
  const cli = side === "client";
  return {
    seq, server: cli ? "cli-1" : "srv-1", conn: cli ? "c-cli" : "c-srv",
    at: `2026-12-01T21:30:00.${String(seq * 1000).padStart(6, "0")}123Z`, kind, net: "tcp",
    local: cli ? "127.0.0.1:55850" : "127.0.0.1:20000", remote: cli ? "127.0.0.1:20000" : "127.0.0.1:55850",
    len: 0, data: null, truncated: false, err: null, meta: {}, ...over,
  };
}
const data = (n) => ({ len: n, data: b64("x".repeat(n)) });

test("roleOf: accept is a server's end, connect a client's, else the owner's id", () => {
  assert.equal(roleOf([{ kind: "accept", server: "cli-x" }]), "server");
  assert.equal(roleOf([{ kind: "connect", server: "srv-x" }]), "client"); // a proxy's upstream leg
  assert.equal(roleOf([{ kind: "recv", server: "srv-x" }]), "server");
  assert.equal(roleOf([{ kind: "recv", server: "cli-x" }]), "client");
  assert.equal(roleOf([]), "");
});

test("a 3000-byte write read with recv_size 1024 is one send and three recvs that say which bytes", () => {
  seq = 0;
  const evs = [
    ev("server", "accept"),
    ev("client", "connect", { meta: { client: "tcp", target: "127.0.0.1:20000" } }),
    ev("client", "send", data(3000)),
    ev("server", "recv", data(1024)),
    ev("server", "recv", data(1024)),
    ev("server", "recv", data(952)),
  ];
  // Given in any order, from either end's conn.
  for (const [conn, peer] of [["c-cli", "c-srv"], ["c-srv", "c-cli"]]) {
    const conv = buildConversation([...evs].reverse(), conn, peer);
    assert.equal(conv.lanes.client.conn, "c-cli");
    assert.equal(conv.lanes.server.conn, "c-srv");
    assert.equal(conv.lanes.server.owner, "srv-1");
    const sends = conv.steps.filter((s) => s.kind === "send");
    const recvs = conv.steps.filter((s) => s.kind === "recv");
    assert.equal(sends.length, 1);
    assert.equal(recvs.length, 3);
    assert.equal(sends[0].side, "client");
    assert.equal(sends[0].dir, "→");
    assert.ok(recvs.every((r) => r.side === "server" && r.dir === "→"));
    assert.equal(joinText(sends[0]), "read as 3 recvs (#4, #5, #6)");
    assert.deepEqual(recvs.map(joinText), ["bytes 0–1023 of send #3", "bytes 1024–2047 of send #3", "bytes 2048–2999 of send #3"]);
    assert.deepEqual(conv.steps.map((s) => s.seq), [1, 2, 3, 4, 5, 6]);
  }
});

test("two writes read as one recv: the recv names both", () => {
  seq = 0;
  const evs = [ev("client", "send", data(5)), ev("client", "send", data(6)), ev("server", "recv", data(11))];
  const conv = buildConversation(evs, "c-srv", "c-cli");
  const recv = conv.steps.find((s) => s.kind === "recv");
  assert.equal(joinText(recv), "bytes 0–4 of send #1 + bytes 0–5 of send #2");
});

test("the echo goes back: the server's sends point to the client", () => {
  seq = 0;
  const evs = [ev("server", "send", data(4)), ev("client", "recv", data(4))];
  const conv = buildConversation(evs, "c-cli", "c-srv");
  assert.deepEqual(conv.steps.map((s) => [s.kind, s.side, s.dir]), [["send", "server", "←"], ["recv", "client", "←"]]);
});

test("closes read cause before effect: the FIN received follows the close that sent it", () => {
  seq = 0;
  const fin = ev("server", "close", { meta: { by: "peer", half: true } }); // recorded first…
  const close = ev("client", "close", { meta: { by: "local", half: false } }); // …though it caused it
  const srvClose = ev("server", "close", { meta: { by: "local", half: false, reason: "closed after the peer's FIN" } });
  const cliFin = ev("client", "close", { meta: { by: "peer", half: true } });
  const conv = buildConversation([fin, close, srvClose, cliFin], "c-cli", "c-srv");
  assert.deepEqual(conv.steps.map((s) => [s.side, s.by]), [
    ["client", "local"], ["server", "peer"], ["server", "local"], ["client", "peer"],
  ]);
  assert.deepEqual(conv.steps.map((s) => s.dir), ["→", "→", "←", "←"]);
  assert.match(conv.steps[0].label, /FIN sent/);
  assert.match(conv.steps[1].label, /FIN received/);
  assert.equal(conv.steps[2].reason, "closed after the peer's FIN");
});

test("an end outside sockplay (your nc) is a lane named by its address, with no joins", () => {
  seq = 0;
  const evs = [ev("server", "accept"), ev("server", "recv", data(3)), ev("server", "send", data(3))];
  const conv = buildConversation(evs, "c-srv", "");
  assert.equal(conv.lanes.client.outside, true);
  assert.equal(conv.lanes.client.addr, "127.0.0.1:55850");
  assert.match(laneName("client", conv.lanes.client), /outside sockplay.*127\.0\.0\.1:55850/);
  assert.match(laneName("server", conv.lanes.server), /^server: srv-1 127\.0\.0\.1:20000$/);
  assert.match(laneName("client", conv.lanes.client), /^client: your terminal/);
  assert.equal(laneName("server", conv.lanes.server, (id) => (id === "srv-1" ? "echo server :20000" : id)), "server: echo server :20000 127.0.0.1:20000");
  assert.deepEqual(conv.steps.map((s) => s.dir), ["", "→", "←"]);
  assert.ok(conv.steps.every((s) => s.joins.length === 0));
});

test("times: microseconds kept, gaps in words", () => {
  assert.equal(micros("2026-12-01T21:30:00.000001999Z") - micros("2026-12-01T21:30:00.000000000Z"), 1);
  assert.ok(Number.isNaN(micros("nonsense")));
  assert.equal(gapText(250), "+250 µs");
  assert.equal(gapText(1500), "+1.50 ms");
  assert.equal(gapText(25000), "+25.0 ms");
  assert.equal(gapText(2500000), "+2.500 s");
  seq = 0;
  const conv = buildConversation([ev("client", "send", data(1)), ev("server", "recv", data(1))], "c-cli", "c-srv");
  assert.equal(conv.steps[0].gap, 0);
  assert.equal(conv.steps[1].gap, 1000);
});
