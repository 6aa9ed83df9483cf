// Tests of static/timeline.js (the replay's timeline math and speeds) and
// the pure parts of static/replay.js. node --test static/test/.

import { test } from "node:test";
import assert from "node:assert/strict";

import {
  barHeights, bucketAt, bucketCount, durationText, parseSpeed, spanOf, speedLabel, speedParam, timeAtX, timeMs, xOfTime,
} from "../timeline.js";
import { linkTo, replayRequest } from "../replay.js";

const buckets = (n, fromMs, widthMs, events = () => 1) => Array.from({ length: n }, (_, i) => ({
  from: new Date(fromMs + i * widthMs).toISOString(), to: new Date(fromMs + (i + 1) * widthMs).toISOString(),
  events: events(i), errors: 0, first_seq: i + 1,
}));

test("parseSpeed takes 0.5 to 100 and max, nothing else", () => {
  assert.equal(parseSpeed("max"), 0);
  assert.equal(parseSpeed("0"), 0);
  assert.equal(parseSpeed("0.5"), 0.5);
  assert.equal(parseSpeed("10"), 10);
  assert.equal(parseSpeed("10×"), 10);
  assert.equal(parseSpeed(" 2x "), 2);
  assert.equal(parseSpeed("100"), 100);
  for (const bad of ["0.4", "101", "-1", "fast", "", "1e2", "NaN", "Infinity", null, undefined]) {
    assert.equal(parseSpeed(bad), null, `parseSpeed(${bad})`);
  }
  assert.equal(speedParam(0), "max");
  assert.equal(speedParam(0.5), "0.5");
  assert.equal(speedLabel(0), "as fast as possible");
  assert.equal(speedLabel(25), "25×");
});

test("timeMs reads nanosecond times to the millisecond", () => {
  assert.equal(timeMs("2026-12-02T10:00:00.123456789Z"), Date.UTC(2026, 11, 2, 10, 0, 0, 123));
  assert.equal(timeMs("2026-12-02T10:00:00Z"), Date.UTC(2026, 11, 2, 10));
  assert.ok(Number.isNaN(timeMs("")));
});

test("bucketCount asks one bucket per 4 px, 1 to 2000", () => {
  assert.equal(bucketCount(0), 1);
  assert.equal(bucketCount(3), 1);
  assert.equal(bucketCount(400), 100);
  assert.equal(bucketCount(1e6), 2000);
});

test("the bar maps time to pixels and back, clamped to its ends", () => {
  const bs = buckets(10, 1_000_000, 100); // 1 s over 10 buckets
  const span = spanOf(bs);
  assert.deepEqual(span, { lo: 1_000_000, hi: 1_001_000 });
  assert.equal(timeAtX(0, 500, span), 1_000_000);
  assert.equal(timeAtX(250, 500, span), 1_000_500);
  assert.equal(timeAtX(500, 500, span), 1_001_000);
  assert.equal(timeAtX(-40, 500, span), 1_000_000); // a drag past the start
  assert.equal(timeAtX(9000, 500, span), 1_001_000); // and past the end
  assert.equal(xOfTime(1_000_500, 500, span), 250);
  assert.equal(xOfTime(0, 500, span), 0);
  assert.equal(xOfTime(2e6, 500, span), 500);
  for (const x of [0, 1, 123, 499, 500]) assert.equal(Math.round(xOfTime(timeAtX(x, 500, span), 500, span)), x);
  assert.equal(bucketAt(bs, 1_000_000), 0);
  assert.equal(bucketAt(bs, 1_000_550), 5);
  assert.equal(bucketAt(bs, 1_001_000), 9); // the end is in the last bucket
  assert.equal(bucketAt(bs, 0), 0);
  assert.equal(bucketAt([], 5), -1);
  assert.equal(spanOf([]), null);
  assert.equal(xOfTime(5, 500, null), 0);
});

test("barHeights is in proportion to the busiest bucket, a lone event still visible", () => {
  const bs = buckets(4, 0, 10, (i) => [0, 1, 500, 1000][i]);
  assert.deepEqual(barHeights(bs, 40), [0, 2, 20, 40]);
  assert.deepEqual(barHeights([], 40), []);
});

test("durationText reads like a person", () => {
  assert.equal(durationText(350), "350 ms");
  assert.equal(durationText(3000), "3.0 s");
  assert.equal(durationText(12_400), "12 s");
  assert.equal(durationText(659_000), "10 min 59 s");
  assert.equal(durationText(2 * 3600_000 + 180_000), "2 h 3 min");
});

test("replayRequest reads ?replay, ?at=SEQ and ?speed=", () => {
  assert.equal(replayRequest(""), null);
  assert.equal(replayRequest("?after=3"), null);
  assert.deepEqual(replayRequest("?replay"), { at: 0, speed: 1 });
  assert.deepEqual(replayRequest("?at=1234"), { at: 1234, speed: 1 });
  assert.deepEqual(replayRequest("?at=12&speed=max"), { at: 12, speed: 0 });
  assert.deepEqual(replayRequest("?replay&speed=500"), { at: 0, speed: 1 }); // out of range: the recorded pace
  assert.deepEqual(replayRequest("?at=-5"), { at: 0, speed: 1 });
  assert.deepEqual(replayRequest("?at=abc"), { at: 0, speed: 1 });
  assert.equal(linkTo("/s/abc", 42), "/s/abc?at=42");
  assert.equal(linkTo("/shared/tok", 7), "/shared/tok?at=7");
});
