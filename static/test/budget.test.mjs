// Tests of capNote (static/renderers.js): what the session page and the
// event list say for the loss marker of a session's recording cap.
import assert from "node:assert/strict";
import { test } from "node:test";

import { capNote, renderers } from "../renderers.js";

const marker = {
  seq: 1000000, kind: "loss",
  meta: { cap: "events", limit: 1000000, from: "2026-12-02T03:10:00.000000000Z", reason: "the session reached its recording cap of 1000000 events (-session-max-events): later events are not kept" },
};

test("the cap's marker says where the recording stopped and why", () => {
  assert.equal(capNote(marker), "This session reached its recording cap of 1,000,000 events at event #1000000 (2026-12-02T03:10:00.000000000Z): later events are not kept, though its sockets go on. Start a new session to record more.");
  assert.match(capNote({ ...marker, meta: { ...marker.meta, cap: "bytes", limit: 134217728 } }), /cap of 134,217,728 bytes on disk/);
  assert.match(renderers.loss(marker, marker.meta), /^From here on nothing more of this session is recorded \(since 2026-12-02T03:10:00.000000000Z\): the session reached its recording cap/);
});

test("other events, and the loss of a failing database, are no cap", () => {
  assert.equal(capNote({ seq: 3, kind: "recv", meta: null }), "");
  const lost = { seq: 9, kind: "loss", meta: { events: 12, from: "a", to: "b", reason: "the database was failing" } };
  assert.equal(capNote(lost), "");
  assert.equal(renderers.loss(lost, lost.meta), "12 events were not recorded (a to b): the database was failing");
});
