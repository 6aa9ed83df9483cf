// Tests of static/detail.js's pure parts: the fields of the detail pane
// and bytes as text. node --test static/test/.

import { test } from "node:test";
import assert from "node:assert/strict";

import { bytesText, detailFields } from "../detail.js";

test("detailFields lists what an event says, without the empty fields", () => {
  const f = Object.fromEntries(detailFields({
    seq: 7, at: "2026-12-01T21:30:00.123456789Z", kind: "recv", server: "srv-ab", conn: "c-1", net: "tcp",
    local: "127.0.0.1:20000", remote: "127.0.0.1:5555", len: 5, data: Buffer.from("hello").toString("base64"), truncated: false,
  }));
  assert.equal(f.seq, "#7");
  assert.equal(f["time (UTC)"], "2026-12-01 21:30:00.123456789");
  assert.equal(f.owner, "srv-ab (a server)");
  assert.equal(f["this end"], "127.0.0.1:20000");
  assert.equal(f["other end"], "127.0.0.1:5555");
  assert.equal(f.length, "5 bytes");
  assert.equal(f.captured, undefined);
  const g = Object.fromEntries(detailFields({ seq: 1, at: "", kind: "server-start", server: "srv-ab", conn: "", len: 0 }));
  assert.deepEqual(Object.keys(g), ["seq", "kind", "owner"]);
  const t = Object.fromEntries(detailFields({ seq: 2, kind: "send", server: "cli-1", len: 10, data: Buffer.from("abc").toString("base64"), truncated: true }));
  assert.equal(t.owner, "cli-1 (a client)");
  assert.equal(t.captured, "3 of 10 bytes (the capture cap)");
});

test("bytesText keeps lines and shows what is invisible", () => {
  assert.equal(bytesText(Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n")), "GET / HTTP/1.1\\r\nHost: x\\r\n");
  assert.equal(bytesText(Uint8Array.from([0x00, 0x41, 0x7f])), "\\x00A\\x7f");
  assert.equal(bytesText(Buffer.from("héllo \u202e")), "héllo \\u{202e}");
  assert.equal(bytesText(Uint8Array.from([0xff])), "\ufffd");
});

test("detailFields names the ends when the page knows them, the addresses kept", () => {
  const ev = { seq: 3, kind: "recv", server: "srv-ab", conn: "c-1", local: "127.0.0.1:20000", remote: "127.0.0.1:55850", len: 2 };
  const f = Object.fromEntries(detailFields(ev, { owner: "echo server :20000", other: "← your terminal 127.0.0.1:55850" }));
  assert.equal(f["this end"], "echo server :20000 · 127.0.0.1:20000");
  assert.equal(f.owner, "echo server :20000 (srv-ab)");
  assert.equal(f["other end"], "← your terminal 127.0.0.1:55850");
  const g = Object.fromEntries(detailFields(ev, { owner: "echo server :20000", other: "← tcp client #1" }));
  assert.equal(g["other end"], "← tcp client #1 · 127.0.0.1:55850");
  assert.equal(Object.fromEntries(detailFields(ev))["other end"], "127.0.0.1:55850");
});
