// The instructor's dashboard (/instructor/workshops/{wid}): the participants
// table is fetched again, as HTML drawn by the server, every two seconds
// while the tab is visible. A poll rather than a WebSocket: the table is a
// summary of every participant's session, which the server computes from
// what was recorded since its last look; pushing it on every event would
// mean one subscription per participant fanning every event into this tab,
// while a poll costs the same whatever the participants do.

const dash = document.querySelector('[data-workshop]');
const every = 2000;

async function refresh() {
  const body = document.getElementById('participant-rows');
  if (!dash || !body || document.hidden) return;
  const res = await fetch(`/instructor/workshops/${dash.dataset.workshop}/participants`, { headers: { Accept: 'text/html' } });
  if (!res.ok) throw new Error(`the dashboard answered ${res.status}`);
  const html = await res.text();
  const tpl = document.createElement('template');
  tpl.innerHTML = html.trim();
  const next = tpl.content.firstElementChild;
  if (next && next.id === 'participant-rows') body.replaceWith(next);
  const count = document.querySelector('[data-testid=participant-count]');
  if (count && next) count.textContent = next.dataset.count;
}

function loop() {
  const note = document.getElementById('ws-updated');
  refresh().then(
    () => { if (note) { note.textContent = `sorted by who needs help most · updated ${new Date().toLocaleTimeString()}`; note.dataset.state = 'live'; } },
    (err) => { if (note) { note.textContent = `not updated: ${err.message}; trying again`; note.dataset.state = 'error'; } },
  ).finally(() => setTimeout(loop, every));
}

if (dash) {
  setTimeout(loop, every);
  document.addEventListener('visibilitychange', () => { if (!document.hidden) refresh().catch(() => {}); });
}
