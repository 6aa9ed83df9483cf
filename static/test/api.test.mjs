// Tests of static/api.js and of optionsOf (static/forms.js): node --test
// static/test/. fetch is stubbed; form fields are plain objects.

import { test } from "node:test";
import assert from "node:assert/strict";

import { answerData, call, errorText, sessionAPI } from "../api.js";
import { optionsOf } from "../forms.js";

test("answerData: JSON, nothing, or the text as the error", () => {
  assert.deepEqual(answerData('{"id":"k3"}'), { id: "k3" });
  assert.equal(answerData(""), null);
  assert.deepEqual(answerData("<html>Bad Gateway</html>"), { error: "<html>Bad Gateway</html>" });
});

test("errorText: the API's error, its hint on a second line, else the status", () => {
  assert.equal(errorText(400, "Bad Request", { error: "port 80 is not allowed" }), "port 80 is not allowed");
  assert.equal(errorText(409, "Conflict", { error: "EADDRINUSE: address already in use", hint: "another server has that port" }),
    "EADDRINUSE: address already in use\nanother server has that port");
  assert.equal(errorText(502, "Bad Gateway", null), "502 Bad Gateway");
  assert.equal(errorText(500, "Internal Server Error", { error: "" }), "500 Internal Server Error");
  assert.equal(errorText(429, "Too Many Requests", { hint: "wait a minute" }), "429 Too Many Requests\nwait a minute");
});

test("sessionAPI: a session's API path", () => {
  assert.equal(sessionAPI("k3abc"), "/api/sessions/k3abc");
});

// withFetch runs fn with fetch answering status and body, and returns the
// requests it saw.
async function withFetch(status, body, fn) {
  const seen = [];
  const orig = globalThis.fetch;
  globalThis.fetch = async (url, opts) => {
    seen.push({ url, opts });
    return new Response(body, { status, statusText: status === 200 ? "OK" : "Bad Request" });
  };
  try {
    await fn();
  } finally {
    globalThis.fetch = orig;
  }
  return seen;
}

test("call: sends the payload as JSON and returns the answer", async () => {
  let got;
  const seen = await withFetch(200, '{"id":"srv-1"}', async () => {
    got = await call("POST", "/api/sessions/k3/servers", { kind: "tcp-echo", port: 0 });
  });
  assert.deepEqual(got, { id: "srv-1" });
  assert.equal(seen.length, 1);
  assert.equal(seen[0].url, "/api/sessions/k3/servers");
  assert.deepEqual(seen[0].opts, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: '{"kind":"tcp-echo","port":0}',
  });
});

test("call: without a payload, no body", async () => {
  let got = "unset";
  const seen = await withFetch(200, "", async () => { got = await call("DELETE", "/api/sessions/k3"); });
  assert.equal(got, null);
  assert.deepEqual(seen[0].opts, { method: "DELETE", headers: {} });
});

test("call: a failed answer throws its error text", async () => {
  await withFetch(400, '{"error":"bad target","hint":"use host:port"}', async () => {
    await assert.rejects(call("POST", "/x", {}), { message: "bad target\nuse host:port" });
  });
  await withFetch(400, "not json", async () => {
    await assert.rejects(call("GET", "/x"), { message: "not json" });
  });
  await withFetch(400, "", async () => {
    await assert.rejects(call("GET", "/x"), { message: "400 Bad Request" });
  });
});

// ---- optionsOf ---------------------------------------------------------------------

const field = (name, type, value, more = {}) => ({ name, value, type: more.type || "text", checked: !!more.checked, dataset: type ? { type } : {} });

test("optionsOf: a kind's fields as its options, typed", () => {
  const fields = [
    field("kind", "", "tcp-echo"),
    field("name", "", "mine"),
    field("tcp-echo.mode", "enum", "prefix"),
    field("tcp-echo.prefix", "string", ">> "),
    field("tcp-echo.recv_size", "int", "4096"),
    field("tcp-echo.delay_ms", "int", "  "),
    field("tcp-echo.oneshot", "bool", "on", { type: "checkbox", checked: false }),
    field("tcp-echo.nodelay", "bool", "on", { type: "checkbox", checked: true }),
    field("tcp-echo.hidden_on", "bool", "on", { type: "hidden" }),
    field("tcp-echo.hidden_off", "bool", "off", { type: "hidden" }),
    field("udp-echo.recv_size", "int", "512"),
    field("", "int", "1"),
  ];
  assert.deepEqual(optionsOf("tcp-echo", fields), {
    mode: "prefix", prefix: ">> ", recv_size: 4096, oneshot: false, nodelay: true, hidden_on: true, hidden_off: false,
  });
  assert.deepEqual(optionsOf("udp-echo", fields), { recv_size: 512 });
  assert.deepEqual(optionsOf("http", fields), {});
});

test("optionsOf: a kind whose name prefixes another's takes only its own", () => {
  const fields = [field("tcp.a", "", "1"), field("tcp-echo.b", "", "2")];
  assert.deepEqual(optionsOf("tcp", fields), { a: "1" });
});
