// timeline.js: the replay's timeline bar, and the math behind it. The bar
// shows the session's time span cut into buckets (GET …/timeline: events
// and errors per bucket), one column per bucket as tall as its events,
// errors marked; a playhead shows where the replay is. The math is pure
// (static/test/timeline.test.mjs); drawTimeline draws.

// SPEEDS are the speeds offered (0: as fast as possible).
export const SPEEDS = [0.5, 1, 2, 5, 10, 25, 50, 100, 0];
export const MIN_SPEED = 0.5;
export const MAX_SPEED = 100;

// parseSpeed reads a speed as the page and the URL say it: "max" (or 0) is
// as fast as possible (0); a number from 0.5 to 100 (a trailing × or x
// allowed) is itself; anything else is null.
export function parseSpeed(v) {
  if (v === undefined || v === null) return null;
  const s = String(v).trim().toLowerCase().replace(/(\d)\s*[×x]$/, "$1");
  if (s === "max" || s === "0") return 0;
  if (!/^\d+(\.\d+)?$/.test(s)) return null;
  const f = Number(s);
  return f >= MIN_SPEED && f <= MAX_SPEED ? f : null;
}

// speedParam is a speed as the replay stream's ?speed= takes it.
export const speedParam = (speed) => (speed === 0 ? "max" : String(speed));

// speedLabel is a speed as the selector shows it.
export const speedLabel = (speed) => (speed === 0 ? "as fast as possible" : `${speed}×`);

// timeMs reads an event's or a bucket's time (RFC 3339, with up to nine
// digits of a second) as milliseconds since the epoch.
export function timeMs(at) {
  if (!at) return NaN;
  return Date.parse(String(at).replace(/(\.\d{3})\d+/, "$1"));
}

// bucketCount is how many buckets a bar of width px asks for: one per
// 4 px, from 1 to 2000 (the API's bound).
export function bucketCount(width) {
  return Math.max(1, Math.min(2000, Math.floor((width || 0) / 4)));
}

// spanOf is the time span [lo, hi] (ms) the buckets cover, or null when
// there are none (an empty session).
export function spanOf(buckets) {
  if (!buckets || !buckets.length) return null;
  const lo = timeMs(buckets[0].from);
  const hi = timeMs(buckets[buckets.length - 1].to);
  return { lo, hi: Math.max(hi, lo + 1) };
}

// timeAtX is the time under x px of a bar width px wide over span (x is
// clamped to the bar: a drag past its end is its end).
export function timeAtX(x, width, span) {
  const f = width > 0 ? Math.min(1, Math.max(0, x / width)) : 0;
  return span.lo + f * (span.hi - span.lo);
}

// xOfTime is where time t is on the bar (clamped to it).
export function xOfTime(t, width, span) {
  if (!span || !(span.hi > span.lo)) return 0;
  const f = (t - span.lo) / (span.hi - span.lo);
  return Math.min(1, Math.max(0, f)) * width;
}

// bucketAt is the index of the bucket holding time t (clamped to the
// buckets; -1 when there are none).
export function bucketAt(buckets, t) {
  const span = spanOf(buckets);
  if (!span) return -1;
  const i = Math.floor(((t - span.lo) / (span.hi - span.lo)) * buckets.length);
  return Math.min(buckets.length - 1, Math.max(0, i));
}

// barHeights is each bucket's column height in px for a bar h px high: in
// proportion to the busiest bucket, and at least 2 px for a bucket with any
// event (one event among a flood must still show).
export function barHeights(buckets, h) {
  let most = 0;
  for (const b of buckets) most = Math.max(most, b.events);
  return buckets.map((b) => (b.events ? Math.max(2, Math.round((b.events / most) * h)) : 0));
}

// durationText is a duration (ms) for reading: "350 ms", "12.4 s",
// "3 min 5 s", "2 h 3 min".
export function durationText(ms) {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s - m * 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

// drawTimeline draws buckets in the bar element (a column per bucket, the
// error buckets marked) and returns the span drawn (null: none).
export function drawTimeline(bar, buckets) {
  const cols = bar.querySelector(".tl-cols");
  const span = spanOf(buckets);
  bar.dataset.buckets = buckets.length;
  bar.classList.toggle("empty", !span);
  if (!span) {
    cols.replaceChildren();
    return null;
  }
  const h = cols.clientHeight || 40;
  const heights = barHeights(buckets, h);
  const frag = document.createDocumentFragment();
  buckets.forEach((b, i) => {
    const col = document.createElement("span");
    col.className = b.errors ? "tl-col err" : "tl-col";
    col.style.height = `${heights[i]}px`;
    col.title = `${b.events} event${b.events === 1 ? "" : "s"}${b.errors ? `, ${b.errors} error${b.errors === 1 ? "" : "s"}` : ""}`;
    frag.appendChild(col);
  });
  cols.replaceChildren(frag);
  return span;
}
