// Tests of the faults parts of static/panel.js and static/forms.js: what
// the page sends to the API from a fault's edit form and from the start
// form's presets. node --test static/test/.

import { test } from "node:test";
import assert from "node:assert/strict";

import { faultOf, faultPatchOf } from "../panel.js";
import { startFaultsOf } from "../forms.js";

const field = (name, value) => ({ name, value });

test("faultPatchOf sends toxicity and attributes as numbers, skips empty fields", () => {
  const patch = faultPatchOf([field("toxicity", "0.5"), field("attr.latency_ms", "250"), field("attr.jitter_ms", ""), field("", "x")]);
  assert.deepEqual(patch, { toxicity: 0.5, attributes: { latency_ms: 250 } });
});

test("faultPatchOf passes what is not a number on, for the server to explain", () => {
  assert.deepEqual(faultPatchOf([field("attr.latency_ms", "fast")]), { attributes: { latency_ms: "fast" } });
  assert.deepEqual(faultPatchOf([field("toxicity", " ")]), {});
});

test("faultOf reads the add form", () => {
  const f = { type: { value: "latency" }, direction: { value: "upstream" }, toxicity: { value: "1" }, attributes: { value: "latency_ms=200, jitter_ms=5" } };
  assert.deepEqual(faultOf(f), { type: "latency", direction: "upstream", toxicity: 1, attributes: { latency_ms: 200, jitter_ms: 5 } });
});

test("startFaultsOf sends the checked presets that are not disabled", () => {
  const p = (checked, disabled, fault) => ({ checked, disabled, dataset: { fault: JSON.stringify(fault) } });
  const got = startFaultsOf([p(true, false, { type: "latency" }), p(false, false, { type: "slicer" }), p(true, true, { type: "refuse" })]);
  assert.deepEqual(got, [{ type: "latency" }]);
});
