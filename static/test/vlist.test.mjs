// Tests of static/vlist.js: the event list's windowing math and its
// bounded, filtered run of events. node --test static/test/.

import { test } from "node:test";
import assert from "node:assert/strict";

import { EventList, firstAtOrAfter, indexOfSeq, takeRun, windowOf } from "../vlist.js";

const evs = (from, to, kind = "recv") => Array.from({ length: to - from + 1 }, (_, i) => ({ seq: from + i, kind: (from + i) % 3 === 0 ? "send" : kind }));

test("windowOf draws the rows on screen and a few more, never past the ends", () => {
  assert.deepEqual(windowOf(0, 220, 22, 1000, 0), { start: 0, end: 10 });
  assert.deepEqual(windowOf(0, 220, 22, 1000), { start: 0, end: 16 });
  // Half a row scrolled: the row cut at the top and the one cut at the bottom.
  assert.deepEqual(windowOf(11, 220, 22, 1000, 0), { start: 0, end: 11 });
  assert.deepEqual(windowOf(22 * 500, 220, 22, 1000, 2), { start: 498, end: 512 });
  // At the bottom: the last rows, not beyond.
  assert.deepEqual(windowOf(22 * 990, 220, 22, 1000, 6), { start: 984, end: 1000 });
  // Past the end (the list shrank under the scroll position): empty but valid.
  const w = windowOf(22 * 5000, 220, 22, 1000, 6);
  assert.ok(w.start <= w.end && w.end <= 1000);
  assert.deepEqual(windowOf(0, 220, 22, 0), { start: 0, end: 0 });
  assert.deepEqual(windowOf(-50, 220, 22, 3), { start: 0, end: 3 });
});

test("windowOf draws a bounded number of rows whatever the list holds", () => {
  for (const count of [10, 1e3, 5e4, 1e6]) {
    for (const top of [0, 12345, 22 * count]) {
      const { start, end } = windowOf(top, 700, 22, count);
      assert.ok(end - start <= Math.ceil(700 / 22) + 13, `count ${count} top ${top}: ${end - start} rows`);
    }
  }
});

test("indexOfSeq and firstAtOrAfter find seqs in a sorted list", () => {
  const l = [{ seq: 2 }, { seq: 4 }, { seq: 9 }];
  assert.equal(indexOfSeq(l, 4), 1);
  assert.equal(indexOfSeq(l, 5), -3);
  assert.equal(firstAtOrAfter(l, 1), 0);
  assert.equal(firstAtOrAfter(l, 5), 2);
  assert.equal(firstAtOrAfter(l, 10), 3);
  assert.equal(indexOfSeq([], 1), -1);
});

test("EventList keeps its cap: appending lets the oldest go, the view follows", () => {
  const l = new EventList(100);
  l.setFilter((e) => e.kind === "send");
  l.append(evs(1, 100));
  assert.equal(l.size, 100);
  assert.equal(l.over, false);
  l.append(evs(101, 120));
  assert.equal(l.over, true);
  const gone = l.trimFront();
  assert.equal(l.size, 100);
  assert.equal(l.first, 21);
  assert.equal(l.last, 120);
  assert.equal(gone, 6); // the sends 3, 6, …, 18 left the view
  assert.ok(l.view.every((e) => e.kind === "send" && e.seq >= 21));
  assert.equal(l.view.length, l.all.filter((e) => e.kind === "send").length);
});

test("EventList: an older page goes in front, and past the cap the newest go", () => {
  const l = new EventList(100);
  l.append(evs(51, 100));
  const added = l.prepend(evs(1, 50));
  assert.equal(added, 50);
  assert.equal(l.first, 1);
  l.append(evs(101, 130));
  l.prepend([]);
  assert.equal(l.trimBack(), 30);
  assert.equal(l.last, 100);
  for (let i = 1; i < l.all.length; i++) assert.equal(l.all[i].seq, l.all[i - 1].seq + 1);
  assert.deepEqual(l.view.map((e) => e.seq), l.all.map((e) => e.seq));
  assert.equal(l.find(42).seq, 42);
  assert.equal(l.find(101), undefined);
});

test("EventList: a filter change filters the whole run again", () => {
  const l = new EventList(1000);
  l.append(evs(1, 30));
  l.setFilter((e) => e.kind === "send");
  assert.deepEqual(l.view.map((e) => e.seq), [3, 6, 9, 12, 15, 18, 21, 24, 27, 30]);
  assert.equal(l.prepend(evs(-2, 0)), 1); // of -2, -1, 0 only 0 is a send
  l.setFilter(null);
  assert.equal(l.view.length, l.size);
});

test("takeRun takes what continues the run, and stops at a hole", () => {
  const p = new Map([[5, { seq: 5 }], [6, { seq: 6 }], [8, { seq: 8 }]]);
  assert.deepEqual(takeRun(p, 4).map((e) => e.seq), [5, 6]);
  assert.deepEqual([...p.keys()], [8]);
  assert.deepEqual(takeRun(p, 6), []);
  const q = new Map([[1, { seq: 1 }], [2, { seq: 2 }], [3, { seq: 3 }]]);
  assert.deepEqual(takeRun(q, 0, 2).map((e) => e.seq), [1, 2]);
  assert.deepEqual(takeRun(q, 2, 2).map((e) => e.seq), [3]);
});
