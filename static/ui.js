// ui.js: the page's messages (the error banner, the table's note) and the
// busy state of forms. Elements are looked up when used, not on import.

// showError shows msg in the banner, which stays in view at the top of the
// window (errors come from forms far down the page) until dismissed or 20 s.
export function showError(msg, sticky = false) {
  const banner = document.getElementById("banner");
  banner.textContent = msg;
  const x = document.createElement("button");
  x.type = "button";
  x.className = "dismiss";
  x.textContent = "×";
  x.title = "dismiss";
  x.addEventListener("click", () => { banner.hidden = true; });
  banner.prepend(x);
  banner.classList.remove("info");
  banner.hidden = false;
  clearTimeout(showError.timer);
  if (!sticky) showError.timer = setTimeout(() => { banner.hidden = true; }, 20000);
}

// note says something about the table that is not an error (skipped ahead,
// nothing matches the filter…) next to the live state.
export function note(msg) {
  const tableNote = document.getElementById("table-note");
  tableNote.textContent = msg;
  tableNote.hidden = !msg;
  clearTimeout(note.timer);
  if (msg) note.timer = setTimeout(() => { tableNote.hidden = true; }, 15000);
}

// busy disables a form's buttons while its request runs, so a double click
// does not start two servers.
export async function busy(el, fn) {
  const buttons = el.tagName === "BUTTON" ? [el] : [...el.querySelectorAll("button")];
  for (const b of buttons) b.disabled = true;
  try {
    return await fn();
  } finally {
    for (const b of buttons) b.disabled = false;
  }
}
