// lesson.js: the lesson panel of a session that follows a lesson. It shows
// the steps, the current one's "do this", and turns steps green as the
// server sees them done (GET /api/sessions/{id}/lesson):
// the steps are evaluated on the server from the recorded events, and the
// panel asks again whenever the session's live stream brings events. A
// session without a lesson keeps the panel hidden.
//
// A done step links to the moment its check held ("show me":
// /s/{id}?at=SEQ). After a while on one step the panel offers its hint.
// With ?embed=1 the page is the compact view for a tutorial's iframe
// (lesson and events only; the server allows only the origins the operator
// lists to frame it), and it tells the parent page how far the learner is
// with postMessage.

// inline splits a line of Markdown into text, `code` and **strong** pieces,
// rendered with textContent only (no HTML from the scenario reaches the page).
export function inline(s) {
  const out = [];
  const re = /`([^`]+)`|\*\*([^*]+)\*\*/g;
  let last = 0;
  for (let m; (m = re.exec(s)) !== null;) {
    if (m.index > last) out.push({ t: 'text', s: s.slice(last, m.index) });
    out.push(m[1] !== undefined ? { t: 'code', s: m[1] } : { t: 'strong', s: m[2] });
    last = re.lastIndex;
  }
  if (last < s.length) out.push({ t: 'text', s: s.slice(last) });
  return out;
}

// paragraphs splits Markdown text at blank lines, joining wrapped lines.
export function paragraphs(text) {
  return (text || '').split(/\n\s*\n/).map((p) => p.replace(/\s*\n\s*/g, ' ').trim()).filter(Boolean);
}

// blocks splits a step's Markdown into paragraphs ({t:'p', s}), numbered
// and bulleted lists ({t:'ol'|'ul', items}) and fenced code ({t:'pre', s}).
// A list item's wrapped lines join it; a blank line ends a paragraph.
export function blocks(text) {
  const out = [];
  let para = null;
  let list = null;
  let fence = null;
  const end = () => { para = null; list = null; };
  for (const line of (text || '').split('\n')) {
    if (fence) {
      if (/^\s*```/.test(line)) { out.push({ t: 'pre', s: fence.join('\n') }); fence = null; } else fence.push(line);
      continue;
    }
    if (/^\s*```/.test(line)) { end(); fence = []; continue; }
    if (line.trim() === '') { end(); continue; }
    const item = /^\s*(?:(\d+)[.)]|[-*])\s+(.*)$/.exec(line);
    if (item) {
      const t = item[1] !== undefined ? 'ol' : 'ul';
      if (!list || list.t !== t) { para = null; list = { t, items: [] }; out.push(list); }
      list.items.push(item[2].trim());
      continue;
    }
    if (list && /^\s+\S/.test(line)) { list.items[list.items.length - 1] += ' ' + line.trim(); continue; }
    list = null;
    if (para) para.s += ' ' + line.trim();
    else { para = { t: 'p', s: line.trim() }; out.push(para); }
  }
  if (fence) out.push({ t: 'pre', s: fence.join('\n') });
  return out;
}

// commandRE: a "do" that starts with one of these is a command to copy.
const commandRE = /^(nc|ncat|python3?|openssl|curl|printf|echo|socat|telnet|ss|dig|host|ping)\b/;

// doParts splits a step's "do" into text and commands ({t:'cmd'}): a `code`
// span is a command; a do without any that starts with a program's name is
// one command as a whole; anything else is an action in words.
export function doParts(s) {
  s = (s || '').trim();
  if (!s) return [];
  if (s.includes('`')) {
    const parts = inline(s).map((p) => (p.t === 'code' ? { t: 'cmd', s: p.s } : p));
    if (parts.some((p) => p.t === 'cmd')) return parts;
  }
  return [{ t: commandRE.test(s) ? 'cmd' : 'text', s }];
}

// doneCount is how many steps are done.
export function doneCount(steps) {
  return steps.filter((s) => s.done).length;
}

// showMeHref is the link to the moment a step's check held: the session
// page opened at that event (in the embedded view when the panel is in one).
export function showMeHref(session, seq, embed) {
  return '/s/' + encodeURIComponent(session) + '?' + (embed ? 'embed=1&' : '') + 'at=' + seq;
}

// hintDue tells whether the current step's hint is offered now, and if
// not, in how many ms it will be (Infinity: the step has none).
export function hintDue(hint, since, now, afterMs) {
  if (!hint) return { show: false, inMs: Infinity };
  const left = since + afterMs - now;
  return left <= 0 ? { show: true, inMs: 0 } : { show: false, inMs: left };
}

// progressMessage is what the embedded panel posts to its parent page.
export function progressMessage(run) {
  return {
    type: 'sockplay-lesson',
    lesson: run.lesson.id,
    done: doneCount(run.steps),
    steps: run.steps.map((s) => ({ title: s.title, done: s.done, done_at_seq: s.done_at_seq })),
    complete: doneCount(run.steps) >= run.steps.length,
  };
}

function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
}

function inlineInto(e, text) {
  for (const piece of inline(text)) {
    e.append(piece.t === 'text' ? piece.s : el(piece.t === 'code' ? 'code' : 'strong', {}, piece.s));
  }
  return e;
}

function markdown(text) {
  const frag = document.createDocumentFragment();
  for (const b of blocks(text)) {
    if (b.t === 'p') frag.append(inlineInto(el('p'), b.s));
    else if (b.t === 'pre') frag.append(el('pre', {}, el('code', {}, b.s)));
    else {
      const l = el(b.t);
      for (const it of b.items) l.append(inlineInto(el('li'), it));
      frag.append(l);
    }
  }
  return frag;
}

function copyButton(text) {
  const copy = el('button', { type: 'button', class: 'link small lesson-copy', 'data-testid': 'lesson-copy', title: 'copy the command' }, 'copy');
  copy.addEventListener('click', () => navigator.clipboard?.writeText(text).then(() => { copy.textContent = 'copied'; }, () => {}));
  return copy;
}

function doBlock(doText) {
  const box = el('div', { class: 'lesson-do' }, el('div', { class: 'small muted lesson-do-label' }, 'Do this'));
  const line = el('div', { class: 'lesson-do-body' });
  for (const p of doParts(doText)) {
    if (p.t === 'cmd') {
      line.append(el('span', { class: 'lesson-cmd' }, el('code', { 'data-testid': 'lesson-do' }, p.s), copyButton(p.s)));
    } else if (p.t === 'strong') line.append(el('strong', {}, p.s));
    else line.append(p.s);
  }
  box.append(line);
  return box;
}

function render(panel, run, state) {
  const { lesson, steps, current } = run;
  // Keep the panel's own <link> and <script>: draw into a box of its own.
  let box = panel.querySelector('.lesson-box');
  if (!box) box = panel.appendChild(el('div', { class: 'lesson-box' }));
  box.replaceChildren();
  const n = doneCount(steps);
  box.append(el('div', { class: 'lesson-head' },
    el('h2', {}, 'Lesson: ' + lesson.title),
    el('span', { class: 'small muted', 'data-testid': 'lesson-progress' }, `${n} of ${steps.length} done`)));
  if (state.embed) {
    box.append(el('p', { class: 'small lesson-open' },
      el('a', { href: '/s/' + encodeURIComponent(state.session), target: '_blank', rel: 'noopener' }, 'Open the whole workspace ↗')));
  }
  for (const notice of run.notices || []) box.append(el('p', { class: 'lesson-notice small' }, notice));
  if (lesson.intro) {
    // Open until the first step is done, unless the learner folds or opens it.
    const summary = el('summary', {}, 'About this lesson');
    const intro = el('details', { class: 'lesson-intro small', 'data-testid': 'lesson-intro' }, summary, markdown(lesson.intro));
    intro.open = state.introOpen ?? n === 0;
    summary.addEventListener('click', () => { state.introOpen = !intro.open; });
    box.append(intro);
  }
  const list = el('ol', { class: 'lesson-steps', 'data-testid': 'lesson-steps' });
  let hintIn = Infinity;
  steps.forEach((st, i) => {
    const cls = st.done ? 'done' : i === current ? 'current' : 'todo';
    const li = el('li', { class: cls, 'data-testid': 'lesson-step', 'data-done': String(st.done) });
    const head = el('div', { class: 'lesson-step-head' }, el('span', { class: 'lesson-title' }, st.title));
    if (st.done) {
      head.append(el('a', {
        class: 'lesson-showme small', 'data-testid': 'lesson-showme', 'data-seq': String(st.done_at_seq),
        href: showMeHref(state.session, st.done_at_seq, state.embed),
        title: `replay the session at event #${st.done_at_seq}, where this step's check held`,
      }, 'show me'));
    }
    li.append(head);
    if (i === current) {
      const body = el('div', { class: 'lesson-body' }, markdown(st.text));
      if (st.do) body.append(doBlock(st.do));
      const due = hintDue(st.hint, state.since, Date.now(), run.hint_after_ms ?? 45000);
      if (due.show) {
        const d = el('details', { class: 'lesson-hint', 'data-testid': 'lesson-hint' },
          el('summary', { 'data-testid': 'lesson-hint-toggle' }, 'Stuck? Show a hint'), inlineInto(el('p', { class: 'small' }), st.hint));
        d.open = state.hintOpen === i;
        d.addEventListener('toggle', () => { state.hintOpen = d.open ? i : -1; });
        body.append(d);
      }
      hintIn = due.inMs;
      li.append(body);
    }
    list.append(li);
  });
  box.append(list);
  if (current >= steps.length) box.append(el('p', { class: 'lesson-complete', 'data-testid': 'lesson-complete' }, 'Lesson complete: every step was seen on the sockets.'));
  if (panel.hidden) {
    // A lesson's session: the lesson is what the learner follows, so it
    // comes first in the sidebar (on a phone, the first thing under the bar).
    panel.parentElement?.prepend(panel);
    panel.hidden = false;
  }
  // Offer the hint when it is due: draw again then (no request needed).
  clearTimeout(state.hintTimer);
  if (hintIn !== Infinity && hintIn > 0) state.hintTimer = setTimeout(() => render(panel, run, state), hintIn + 50);
}

async function fetchRun(session) {
  const res = await fetch('/api/sessions/' + encodeURIComponent(session) + '/lesson', { headers: { Accept: 'application/json' } });
  if (res.status === 404) return null;
  if (!res.ok) throw new Error('lesson: HTTP ' + res.status);
  return res.json();
}

// parentOrigin is the origin of the page that frames this one (Chrome and
// Safari say it; elsewhere the referrer's), or '' when not framed.
function parentOrigin() {
  if (window.parent === window) return '';
  const a = location.ancestorOrigins;
  if (a && a.length) return a[0];
  try { return document.referrer ? new URL(document.referrer).origin : ''; } catch { return ''; }
}

// main draws the panel, then listens to the session's live events on a
// WebSocket of its own: each batch means the server may have seen a step
// done, so the panel asks again (one request at a time). (Other clients,
// such as an instructor's dashboard, can long-poll GET …/lesson?wait=N.)
async function main() {
  const panel = document.getElementById('lesson-panel');
  const app = document.getElementById('app');
  if (!panel || !app) return;
  const session = app.dataset.session;
  const embed = new URLSearchParams(location.search).get('embed') === '1';
  if (embed) {
    document.body.classList.add('embed');
    app.classList.add('embed');
  }
  const parent = embed ? parentOrigin() : '';
  const state = { session, embed, since: Date.now(), done: -1, seq: 0, busy: false, again: false, finished: false, hintOpen: -1 };
  let ws;
  const refresh = async () => {
    if (state.busy) { state.again = true; return; }
    state.busy = true;
    try {
      do {
        state.again = false;
        const run = await fetchRun(session);
        if (!run) { state.finished = true; ws?.close(); return; } // this session follows no lesson
        const n = doneCount(run.steps);
        if (n !== state.done) {
          state.done = n; state.since = Date.now(); state.hintOpen = -1;
          if (parent) window.parent.postMessage(progressMessage(run), parent);
        }
        state.seq = Math.max(state.seq, run.seq || 0);
        render(panel, run, state);
        if (n >= run.steps.length) { state.finished = true; ws?.close(); return; }
      } while (state.again);
    } catch {
      // The next event, or the reconnect, asks again.
    } finally {
      state.busy = false;
    }
  };
  const connect = () => {
    if (state.finished) return;
    const proto = location.protocol === 'https:' ? 'wss' : 'ws';
    ws = new WebSocket(`${proto}://${location.host}/ws/sessions/${encodeURIComponent(session)}?after=${state.seq}`);
    ws.onmessage = () => refresh();
    ws.onclose = () => { if (!state.finished) setTimeout(() => { refresh(); connect(); }, 3000); };
  };
  await refresh();
  connect();
}
if (typeof document !== 'undefined') main();
