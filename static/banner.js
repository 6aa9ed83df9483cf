// Workshop mode on a session's page (drawn only in workshop mode, by the
// workshopHook component): a banner with the instructor's broadcast, a
// freeze, the faults pushed to everyone, or, for the instructor looking at a
// participant's session, that it is read-only, with Spotlight (the events
// full screen, for the projector). It learns of changes by a long poll of
// GET /api/sessions/{id}/workshop?v=VERSION&wait=8, which answers as soon as
// the workshop changes.

const app = document.getElementById('app');
const banner = document.getElementById('workshop-banner');
const session = app?.dataset.session;

// The banner sits between the page's header and its workspace.
const main = document.querySelector('main');
if (banner && main) document.body.insertBefore(banner, main);

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v; else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
}

function setSpotlight(on) {
  document.body.classList.toggle('ws-spotlight', on);
  if (!on && document.fullscreenElement) document.exitFullscreen().catch(() => {});
  syncButtons();
}

// syncButtons labels the instructor's buttons after the current state.
function syncButtons() {
  const on = document.body.classList.contains('ws-spotlight');
  const toggle = banner.querySelector('[data-testid=spotlight-toggle]');
  if (toggle) toggle.textContent = on ? 'Leave spotlight' : 'Spotlight';
  const full = banner.querySelector('[data-testid=fullscreen]');
  if (full) full.hidden = !on || !document.fullscreenEnabled || !!document.fullscreenElement;
}
document.addEventListener('fullscreenchange', () => banner && syncButtons());

// render draws the banner from the poll's answer.
export function render(v) {
  const lines = [];
  const w = v.workshop;
  const instructor = v.viewer === 'instructor';
  if (instructor && v.read_only) {
    const who = w ? `${w.participant}'s session` : 'this session';
    const toggle = el('button', { type: 'button', class: 'secondary small', 'data-testid': 'spotlight-toggle', title: 'the events alone, large, for the projector' }, 'Spotlight');
    toggle.addEventListener('click', () => setSpotlight(!document.body.classList.contains('ws-spotlight')));
    // Full screen needs a click (browsers refuse it otherwise): a button.
    const full = el('button', { type: 'button', class: 'secondary small', 'data-testid': 'fullscreen' }, 'Full screen');
    full.addEventListener('click', () => document.documentElement.requestFullscreen().catch(() => {}));
    const back = w ? el('a', { href: `/instructor/workshops/${w.id}`, class: 'small' }, 'dashboard') : '';
    lines.push(el('div', { class: 'ws-line ws-readonly-line', 'data-testid': 'readonly-banner' },
      el('strong', {}, 'Read-only: '), `you are looking at ${who}; nothing you do here changes it. `, toggle, ' ', full, ' ', back));
  }
  if (w && w.ended) {
    lines.push(el('div', { class: 'ws-line', 'data-testid': 'ended-banner' },
      el('strong', {}, 'The workshop has ended: '), 'this session is read-only now. You can still read every event and export it.'));
  } else if (w && w.frozen) {
    lines.push(el('div', { class: 'ws-line ws-frozen-line', 'data-testid': 'frozen-banner' },
      el('strong', {}, 'Paused by the instructor: '), 'nothing new can be started until they resume; what runs keeps running.'));
  }
  if (w && w.faults && w.faults.length && !w.ended) {
    lines.push(el('div', { class: 'ws-line', 'data-testid': 'faults-banner' },
      el('strong', {}, 'Fault pushed to everyone: '), w.faults.map((f) => f.what).join('; '),
      instructor ? '.' : '. Watch what it does to your connections.'));
  }
  if (w && w.spotlight && !instructor) {
    lines.push(w.spotlight.yours
      ? el('div', { class: 'ws-line', 'data-testid': 'spotlight-banner' },
        el('strong', {}, 'On the projector: '), 'the instructor is showing your session to everyone (read-only).')
      : el('div', { class: 'ws-line', 'data-testid': 'spotlight-banner' },
        el('strong', {}, 'On the projector: '), `${w.spotlight.participant}'s session. `,
        el('a', { href: w.spotlight.url, target: '_blank', rel: 'noopener', 'data-testid': 'spotlight-link' }, 'Watch it here'), ' (read-only).'));
  }
  if (w && w.message) {
    const at = w.message_at ? ` (${new Date(w.message_at).toLocaleTimeString()})` : '';
    lines.push(el('div', { class: 'ws-line ws-message', 'data-testid': 'message-banner' },
      el('strong', {}, `Instructor${at}: `), w.message));
  }
  banner.replaceChildren(...lines);
  banner.hidden = lines.length === 0;
  document.body.classList.toggle('ws-readonly', !!v.read_only);
  // /s/{id}?spotlight=1 (the dashboard's Spotlight link) opens in it.
  if (instructor && v.read_only && !render.done && new URLSearchParams(location.search).has('spotlight')) {
    document.body.classList.add('ws-spotlight');
  }
  render.done = true;
  syncButtons();
}

async function poll() {
  let version = 0;
  let last = '';
  for (;;) {
    try {
      const res = await fetch(`/api/sessions/${session}/workshop?v=${version}&wait=8`, { headers: { Accept: 'application/json' } });
      if (res.status === 404 || res.status === 401) return; // not a workshop session, or signed out
      if (!res.ok) throw new Error(String(res.status));
      const text = await res.text();
      const v = JSON.parse(text);
      version = v.version;
      if (text !== last) render(v); // a poll that timed out redraws nothing
      last = text;
    } catch {
      await new Promise((r) => setTimeout(r, 3000)); // sockplay unreachable: the health banner says so
    }
  }
}

if (banner && session) poll();
