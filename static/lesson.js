// lesson.js: the lesson panel of a session that follows a lesson. It shows
// the steps, the current one's "do this", and turns steps green as the
// server sees them done (GET /api/sessions/{id}/lesson):
// the steps are evaluated on the server from the recorded events, and the
// panel asks again whenever the session's live stream brings events. A
// session without a lesson keeps the panel hidden.

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

// doneCount is how many steps are done.
export function doneCount(steps) {
  return steps.filter((s) => s.done).length;
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

function para(text) {
  const p = el('p');
  for (const piece of inline(text)) {
    p.append(piece.t === 'text' ? piece.s : el(piece.t === 'code' ? 'code' : 'strong', {}, piece.s));
  }
  return p;
}

const hintAfterMs = 60000;

function render(panel, run, state) {
  const { lesson, steps, current } = run;
  // Keep the panel's own <link> and <script>: draw into a box of its own.
  let box = panel.querySelector('.lesson-box');
  if (!box) box = panel.appendChild(el('div', { class: 'lesson-box' }));
  panel = box;
  panel.replaceChildren();
  panel.append(el('h2', {}, 'Lesson: ' + lesson.title));
  for (const n of run.notices || []) panel.append(el('p', { class: 'lesson-notice small' }, n));
  const list = el('ol', { class: 'lesson-steps', 'data-testid': 'lesson-steps' });
  steps.forEach((st, i) => {
    const cls = st.done ? 'done' : i === current ? 'current' : 'todo';
    const li = el('li', { class: cls, 'data-testid': 'lesson-step', 'data-done': String(st.done) });
    li.append(el('span', { class: 'lesson-title' }, st.title));
    if (st.done) li.title = 'done at event #' + st.done_at_seq;
    if (i === current) {
      const body = el('div', { class: 'lesson-body' });
      for (const p of paragraphs(st.text)) body.append(para(p));
      if (st.do) {
        const code = el('code', { 'data-testid': 'lesson-do' }, st.do);
        const copy = el('button', { type: 'button', class: 'link small', 'data-testid': 'lesson-copy' }, 'copy');
        copy.addEventListener('click', () => navigator.clipboard?.writeText(st.do).then(() => { copy.textContent = 'copied'; }, () => {}));
        body.append(el('div', { class: 'lesson-do' }, el('span', { class: 'small muted' }, 'Do this: '), code, ' ', copy));
      }
      if (st.hint && Date.now() - state.since > hintAfterMs) body.append(el('p', { class: 'lesson-hint small muted', 'data-testid': 'lesson-hint' }, 'Hint: ' + st.hint));
      li.append(body);
    }
    list.append(li);
  });
  panel.append(list);
  if (current >= steps.length) panel.append(el('p', { class: 'lesson-complete', 'data-testid': 'lesson-complete' }, 'Lesson complete: every step was seen on the sockets.'));
  box.parentElement.hidden = false;
}

async function fetchRun(session) {
  const res = await fetch('/api/sessions/' + encodeURIComponent(session) + '/lesson', { headers: { Accept: 'application/json' } });
  if (res.status === 404) return null;
  if (!res.ok) throw new Error('lesson: HTTP ' + res.status);
  return res.json();
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
  const state = { since: Date.now(), done: -1, seq: 0, busy: false, again: false, finished: false };
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
        if (n !== state.done) { state.done = n; state.since = Date.now(); }
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
  // The hint appears after a while without progress: draw again then.
  setInterval(() => { if (!state.finished) refresh(); }, hintAfterMs);
}
if (typeof document !== 'undefined') main();
