// Tests of static/vlist.js's scrollIntent: which scrolls of the event list
// stop it following the live tail and which resume it. node --test static/test/.

import { test } from "node:test";
import assert from "node:assert/strict";

import { scrollIntent } from "../vlist.js";

// The figures a page had when the bug struck (a flood, the list following,
// the detail pane below it just closed): the viewport grew from 334 to 578
// px and the browser moved the scroll position up to stay within the rows.
const closed = { top: 300075, lastTop: 300318, expectedTop: 300318, total: 300653, rowH: 22, follow: true };

test("a viewport grown at the bottom (the detail pane closed) keeps the list following", () => {
  assert.equal(scrollIntent({ ...closed, viewH: 578 }), "");
});

test("judged with the viewport's height from before it grew, the same scroll reads as the reader's", () => {
  // Why the page measures again before it stops following.
  assert.equal(scrollIntent({ ...closed, viewH: 334 }), "stop");
});

test("the reader scrolling up away from the bottom stops following", () => {
  assert.equal(scrollIntent({ ...closed, top: 290000, viewH: 578 }), "stop");
  // A few pixels up, still at the bottom: not a stop.
  assert.equal(scrollIntent({ ...closed, top: 300050, viewH: 578 }), "");
});

test("the list's own scrolls and its first draw never stop it", () => {
  assert.equal(scrollIntent({ ...closed, top: 300318, viewH: 334 }), "");
  assert.equal(scrollIntent({ ...closed, expectedTop: -1, top: 0, viewH: 334 }), "");
});

test("not following, a scroll down to the bottom resumes; up, or short of it, does not", () => {
  const paused = { lastTop: 1000, expectedTop: 300318, total: 300653, viewH: 578, rowH: 22, follow: false };
  assert.equal(scrollIntent({ ...paused, top: 300075 }), "resume");
  assert.equal(scrollIntent({ ...paused, top: 200000 }), "");
  assert.equal(scrollIntent({ ...paused, lastTop: 300200, top: 300075 }), "");
});
