// vlist.js: the event list's model and its windowing math, without the DOM
// (the node tests import it). The page holds a contiguous run of the
// session's events in memory (at most a cap: older ones are paged in from
// the API again), a filtered view of them, and draws only the rows of the
// view that are on screen, each ROW_H pixels high, between two spacers.

// windowOf returns the rows [start, end) of a list of count rows, each rowH
// high, to draw when the list's viewport (viewport px high) is scrolled to
// scrollTop (measured from the first row), with overscan rows more on each
// side so a small scroll does not show blank space.
export function windowOf(scrollTop, viewport, rowH, count, overscan = 6) {
  if (count <= 0 || rowH <= 0) return { start: 0, end: 0 };
  const top = Math.max(0, scrollTop);
  let start = Math.floor(top / rowH) - overscan;
  let end = Math.ceil((top + Math.max(0, viewport)) / rowH) + overscan;
  start = Math.max(0, Math.min(start, count));
  end = Math.max(start, Math.min(end, count));
  return { start, end };
}

// indexOfSeq returns the index of the event with seq in list (sorted by
// seq), or, when it is not there, -(insertion point) - 1.
export function indexOfSeq(list, seq) {
  let lo = 0;
  let hi = list.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const s = list[mid].seq;
    if (s === seq) return mid;
    if (s < seq) lo = mid + 1;
    else hi = mid - 1;
  }
  return -lo - 1;
}

// firstAtOrAfter is the index of the first event of list with a seq of at
// least seq (list.length if none).
export function firstAtOrAfter(list, seq) {
  const i = indexOfSeq(list, seq);
  return i >= 0 ? i : -i - 1;
}

// EventList is the events in memory: `all`, a contiguous run of seqs, and
// `view`, those of them the filter lets through, both sorted by seq. It
// holds at most about cap events: appending beyond that lets the oldest go
// (trimFront), prepending an older page lets the newest go (trimBack).
export class EventList {
  constructor(cap = 50000) {
    this.cap = cap;
    this.all = [];
    this.view = [];
    this.filter = null; // ev => bool, null: everything
  }

  get first() { return this.all.length ? this.all[0].seq : 0; }
  get last() { return this.all.length ? this.all[this.all.length - 1].seq : 0; }
  get size() { return this.all.length; }

  clear() {
    this.all = [];
    this.view = [];
  }

  // append adds events that continue the run (the caller keeps it
  // contiguous); it returns how many entered the view.
  append(evs) {
    let n = 0;
    for (const ev of evs) {
      this.all.push(ev);
      if (!this.filter || this.filter(ev)) { this.view.push(ev); n++; }
    }
    return n;
  }

  // prepend adds an older page that ends just before the run; it returns
  // how many entered the view (the rows a scroll position moves by).
  prepend(evs) {
    if (!evs.length) return 0;
    const shown = this.filter ? evs.filter(this.filter) : evs;
    this.all = evs.concat(this.all);
    this.view = shown.concat(this.view);
    return shown.length;
  }

  // over says whether the run holds more than its cap (with some slack, so
  // trimming, which copies, happens in batches).
  get over() { return this.all.length > this.cap + Math.max(1, this.cap >> 4); }

  // trimFront lets the oldest events go down to cap; it returns how many
  // rows left the view.
  trimFront() {
    const drop = this.all.length - this.cap;
    if (drop <= 0) return 0;
    const firstKept = this.all[drop].seq;
    this.all = this.all.slice(drop);
    const v = firstAtOrAfter(this.view, firstKept);
    this.view = this.view.slice(v);
    return v;
  }

  // trimBack lets the newest events go down to cap; it returns how many
  // rows left the view.
  trimBack() {
    if (this.all.length <= this.cap) return 0;
    this.all = this.all.slice(0, this.cap);
    const v = firstAtOrAfter(this.view, this.last + 1);
    const dropped = this.view.length - v;
    this.view = this.view.slice(0, v);
    return dropped;
  }

  // setFilter filters the run again.
  setFilter(fn) {
    this.filter = fn;
    this.view = fn ? this.all.filter(fn) : this.all.slice();
  }

  // find returns the event with seq, if it is in memory.
  find(seq) {
    const i = indexOfSeq(this.all, seq);
    return i >= 0 ? this.all[i] : undefined;
  }
}

// takeRun takes out of pending (events by seq that arrived out of order:
// live, gap fills) the events last+1, last+2, … that are all there, at most
// max of them (a frame's work stays bounded).
export function takeRun(pending, last, max = Infinity) {
  const out = [];
  for (let q = last + 1; out.length < max && pending.has(q); q++) {
    out.push(pending.get(q));
    pending.delete(q);
  }
  return out;
}

// scrollIntent reads a scroll of the list (top: the scroll position now,
// lastTop: before it, expectedTop: the position the list set itself when
// it last drew following, total: the list's height as drawn, viewH: the
// viewport's height, rowH: a row's). It returns "stop" when, following,
// the reader scrolled up away from the bottom, "resume" when, not
// following, they scrolled back down to the bottom, "" otherwise. A
// position the browser moved up to keep the viewport within the rows (the
// viewport grew, or the rows shrank) is still at the bottom: not a stop.
export function scrollIntent({ top, lastTop, expectedTop, total, viewH, rowH, follow }) {
  const atBottom = total - top - viewH < Math.max(40, rowH * 2);
  if (follow) return expectedTop >= 0 && top < expectedTop - 4 && !atBottom ? "stop" : "";
  return atBottom && top > lastTop ? "resume" : "";
}
