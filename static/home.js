// home.js: the home page's session list — Import sends the chosen file to
// the API and says in place what is wrong with it; Rename and Delete act
// on a row through the API. Without JavaScript the Import and Delete forms
// post as they are (Rename needs this script).

import { call, sessionAPI } from "./api.js";

const importForm = document.getElementById("import-form");
const importStatus = document.getElementById("import-status");

function say(el, msg, isError) {
  el.textContent = msg;
  el.classList.toggle("error", !!isError);
  el.hidden = !msg;
}

if (importForm) {
  importForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const file = importForm.querySelector("input[type=file]").files[0];
    if (!file) {
      say(importStatus, "Choose a session's export.jsonl first.", true);
      return;
    }
    const button = importForm.querySelector("button[type=submit]");
    button.disabled = true;
    say(importStatus, `Checking and importing ${file.name}…`, false);
    try {
      const res = await fetch("/api/sessions/import", { method: "POST", body: file, headers: { "Content-Type": "application/x-ndjson" } });
      const text = await res.text();
      let data = null;
      try { data = text ? JSON.parse(text) : null; } catch { data = { error: text }; }
      if (!res.ok) throw new Error((data && data.error) || `${res.status} ${res.statusText}`);
      say(importStatus, `Imported ${data.session.events} events as “${data.session.name}”. Opening it…`, false);
      location.assign(data.url);
    } catch (err) {
      say(importStatus, `${file.name} was not imported: ${err.message}`, true);
    } finally {
      button.disabled = false;
    }
  });
}

const list = document.querySelector("[data-testid=sessions]");
if (list) {
  for (const b of list.querySelectorAll("[data-action=rename]")) b.hidden = false;
  list.addEventListener("click", (e) => {
    const b = e.target.closest("[data-action=rename]");
    if (b) startRename(b.closest("tr"));
  });
  list.addEventListener("submit", async (e) => {
    const form = e.target.closest("form[data-action=delete]");
    if (!form) return;
    e.preventDefault();
    const row = form.closest("tr");
    const name = row.querySelector("[data-testid=session-link]").textContent;
    if (!confirm(`Delete the session “${name}”? Its servers and clients stop and its recording is deleted.`)) return;
    try {
      await call("DELETE", sessionAPI(row.dataset.session));
      row.remove();
      if (!list.querySelector("tbody tr")) location.reload();
    } catch (err) {
      rowError(row, `Not deleted: ${err.message}`);
    }
  });
}

function rowError(row, msg) {
  let p = row.querySelector(".row-error");
  if (!p) {
    p = document.createElement("p");
    p.className = "row-error small";
    p.setAttribute("role", "alert");
    p.dataset.testid = "row-error";
    row.querySelector(".name-cell").append(p);
  }
  p.textContent = msg;
}

function startRename(row) {
  const cell = row.querySelector(".name-cell");
  const link = cell.querySelector("[data-testid=session-link]");
  if (cell.querySelector("form")) return;
  const form = document.createElement("form");
  form.className = "rename-form row";
  const input = document.createElement("input");
  input.type = "text";
  input.maxLength = 200;
  input.required = true;
  input.value = link.textContent;
  input.setAttribute("aria-label", "New name");
  input.dataset.testid = "rename-input";
  const save = document.createElement("button");
  save.type = "submit";
  save.className = "small";
  save.textContent = "Save";
  save.dataset.testid = "rename-save";
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.className = "secondary small";
  cancel.textContent = "Cancel";
  form.append(input, save, cancel);
  link.hidden = true;
  cell.prepend(form);
  input.focus();
  input.select();
  const done = () => { form.remove(); link.hidden = false; };
  cancel.addEventListener("click", done);
  input.addEventListener("keydown", (e) => { if (e.key === "Escape") done(); });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const s = await call("PATCH", sessionAPI(row.dataset.session), { name: input.value });
      link.textContent = s.name;
      row.querySelector(".row-error")?.remove();
      done();
    } catch (err) {
      rowError(row, `Not renamed: ${err.message}`);
    }
  });
}
