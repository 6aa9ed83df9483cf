// panel.js: the servers and clients panel (#endpoints). The server renders
// it (GET /s/{id}/endpoints); this module refreshes it when lifecycle events
// arrive, keeps what the visitor had going in it, and runs its buttons:
// copy a snippet, send, half-close, close, stop, start again, and the
// faults of servers and clients (add, switch on/off, change, remove).

import { call } from "./api.js";
import { busy, showError } from "./ui.js";

// createPanel wires the panel of session sessionID (api is its API path).
// startServer(form) starts a server from a start form (the panel's "start
// again" forms are such forms); it is the start form's, passed in.
export function createPanel({ sessionID, api, startServer }) {
  const panel = document.getElementById("endpoints");
  let refreshTimer = 0;
  let refreshDue = 0;

  // scheduleRefresh refreshes the panel soon, once for a burst of events.
  // While one is due or under way, the panel says so in data-refreshing
  // (tests wait for it to settle before typing into it).
  function scheduleRefresh() {
    clearTimeout(refreshTimer);
    panel.dataset.refreshing = "1";
    refreshDue = Date.now() + 150;
    refreshTimer = setTimeout(() => { refreshTimer = 0; refresh(); }, 150);
  }

  // refresh re-renders the servers and clients panel from the server and
  // carries over what the visitor had going in it: each send box's text,
  // format and "+ \n" choice, which snippets were open, and the focus.
  async function refresh() {
    panel.dataset.refreshing = "1";
    try {
      const res = await fetch(panel.dataset.src || `/s/${sessionID}/endpoints`);
      if (!res.ok) return;
      const html = await res.text();
      const forms = {};
      for (const f of panel.querySelectorAll("form[data-action=send]")) {
        forms[f.dataset.id] = { data: f.elements.data.value, format: f.elements.format.value, newline: f.elements.newline.checked };
      }
      const faultForms = keepFaultForms(panel);
      const open = new Set([...panel.querySelectorAll("details[open]")].map((d) => d.dataset.id));
      const active = document.activeElement;
      let focus = null;
      if (active && panel.contains(active)) {
        const form = active.closest("form[data-id]");
        focus = { id: form && form.dataset.id, name: active.name, start: active.selectionStart, end: active.selectionEnd };
      }
      panel.innerHTML = html;
      for (const f of panel.querySelectorAll("form[data-action=send]")) {
        const was = forms[f.dataset.id];
        if (!was) continue;
        f.elements.data.value = was.data;
        f.elements.format.value = was.format;
        f.elements.newline.checked = was.newline;
      }
      for (const d of panel.querySelectorAll("details[data-id]")) d.open = open.has(d.dataset.id);
      faultForms(panel);
      if (focus && focus.id && focus.name) {
        const f = panel.querySelector(`form[data-action=send][data-id="${focus.id}"]`);
        const el = f && f.elements[focus.name];
        if (el) {
          el.focus();
          if (focus.start != null && el.setSelectionRange) el.setSelectionRange(focus.start, focus.end);
        }
      }
      showCopyButtons();
      updateTargets();
    } catch { /* the next event retries */ } finally {
      // Settled, unless another was scheduled meanwhile.
      if (!refreshTimer || Date.now() >= refreshDue) delete panel.dataset.refreshing;
    }
  }

  // markUnreachable says the panel does not know what runs (sockplay cannot
  // be reached) and disables its buttons; markReachable undoes the class
  // and shows what runs now (the refreshed panel has its buttons again).
  function markUnreachable() {
    panel.classList.add("unreachable");
    for (const li of panel.querySelectorAll("li[data-state=running], li[data-state=connected]")) {
      li.dataset.state = "unknown";
      const st = li.querySelector(".state");
      if (st) st.textContent = "unknown: sockplay is not reachable";
    }
    for (const b of panel.querySelectorAll("button, input, select")) b.disabled = true;
  }
  function markReachable() {
    panel.classList.remove("unreachable");
    refresh();
  }

  // clear empties the panel (the session was deleted).
  function clear() {
    panel.replaceChildren();
  }

  panel.addEventListener("click", async (e) => {
    const b = e.target.closest("button[data-copy]");
    if (!b) return;
    try {
      await navigator.clipboard.writeText(b.previousElementSibling.textContent);
      b.textContent = "Copied";
      setTimeout(() => { b.textContent = "Copy"; }, 1500);
    } catch (err) {
      showError(`Could not copy: ${err.message}. Select the text and copy it instead.`);
    }
  });

  panel.addEventListener("submit", async (e) => {
    const again = e.target.closest("form[data-action=start-again]");
    if (again) {
      e.preventDefault();
      await startServer(again);
      return;
    }
    const fault = e.target.closest("form[data-action^=fault-]");
    if (fault) {
      e.preventDefault();
      await busy(fault, async () => {
        try {
          const base = `${api}/${fault.dataset.owner}/faults`;
          const one = `${base}/${encodeURIComponent(fault.dataset.name)}`;
          switch (fault.dataset.action) {
            case "fault-remove": await call("DELETE", one); break;
            case "fault-toggle": await call("PATCH", one, { enabled: fault.elements.enabled.value === "on" }); break;
            case "fault-edit": await call("PATCH", one, faultPatchOf(fault.elements)); break;
            default:
              await call("POST", base, fault.dataset.fault ? JSON.parse(fault.dataset.fault) : faultOf(fault.elements));
              fault.reset(); // added: the form is for the next one
          }
          await refresh();
        } catch (err) {
          showError(err.message);
        }
      });
      return;
    }
    const form = e.target.closest("form[data-action=send]");
    if (!form) return;
    e.preventDefault();
    const f = form.elements;
    let data = f.data.value;
    let payload = {};
    if (form.dataset.kind === "app") {
      payload = { action: f.format.value, value: data }; // a request on a new connection
    } else if (f.format.value === "hex") {
      payload.hex = data + (f.newline.checked ? " 0a" : "");
    } else {
      payload.text = data + (f.newline.checked ? "\n" : "");
    }
    try {
      await call("POST", `${api}/clients/${form.dataset.id}/send`, payload);
    } catch (err) {
      showError(err.message);
    }
  });

  panel.addEventListener("click", async (e) => {
    const btn = e.target.closest("button[data-action]");
    if (!btn) return;
    e.preventDefault(); // the button's form is the no-JavaScript fallback
    const id = btn.dataset.id;
    await busy(btn, async () => {
      try {
        switch (btn.dataset.action) {
          case "stop-server": await call("DELETE", `${api}/servers/${id}`); break;
          case "half-close": await call("POST", `${api}/clients/${id}/close`, { half: true }); break;
          case "close-client": await call("POST", `${api}/clients/${id}/close`, { half: false }); break;
          default: return;
        }
        await refresh();
      } catch (err) {
        showError(err.message);
      }
    });
  });

  return { refresh, scheduleRefresh, showCopyButtons, updateTargets, markUnreachable, markReachable, clear };
}

// faultOf reads the panel's fault form as the API takes it: attributes
// written "name=value name=value" become numbers (a word that is not
// name=number is sent as it is, for the server to explain).
export function faultOf(f) {
  const spec = { type: f.type.value, direction: f.direction.value };
  if (f.toxicity.value.trim() !== "") spec.toxicity = Number(f.toxicity.value);
  const attrs = {};
  for (const kv of f.attributes.value.replaceAll(",", " ").split(/\s+/).filter(Boolean)) {
    const [k, v] = kv.split("=");
    attrs[k] = v !== undefined && /^-?\d+$/.test(v) ? Number(v) : v;
  }
  if (Object.keys(attrs).length) spec.attributes = attrs;
  return spec;
}

// drawn is a form field's value as the page drew it.
function drawn(el) {
  if (el.tagName === "SELECT") return ([...el.options].find((o) => o.defaultSelected) || el.options[0] || {}).value;
  return el.defaultValue;
}

// keepFaultForms reads what the visitor typed into the faults panels
// forms (the add form of each server and client, each fault's Change box)
// and returns a function that puts it back into the refreshed panel.
export function keepFaultForms(root) {
  const key = (f) => `${f.dataset.action} ${f.dataset.owner} ${f.dataset.name || ""}`;
  const kept = new Map();
  for (const f of root.querySelectorAll("form[data-action=fault-add]:not([data-fault]), form[data-action=fault-edit]")) {
    // Only what differs from what the page drew: a value saved meanwhile
    // (or changed elsewhere) shows as the refreshed panel has it.
    kept.set(key(f), [...f.elements].filter((el) => el.name && el.value !== drawn(el)).map((el) => [el.name, el.value]));
  }
  return (into) => {
    for (const f of into.querySelectorAll("form[data-action=fault-add]:not([data-fault]), form[data-action=fault-edit]")) {
      for (const [name, value] of kept.get(key(f)) || []) {
        const el = f.elements[name];
        if (el) el.value = value;
      }
    }
  };
}

// faultPatchOf reads a fault's edit form (toxicity, attr.NAME fields) as
// PATCH takes it; an empty field is left as it is, and a value that is not
// a number is sent as typed, for the server to explain.
export function faultPatchOf(elements) {
  const patch = {};
  const attributes = {};
  for (const el of elements) {
    if (!el.name || el.value.trim() === "") continue;
    const v = el.value.trim();
    const n = /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v;
    if (el.name === "toxicity") patch.toxicity = n;
    else if (el.name.startsWith("attr.")) attributes[el.name.slice(5)] = n;
  }
  if (Object.keys(attributes).length) patch.attributes = attributes;
  return patch;
}

// Copy buttons next to the terminal snippets (only where the browser lets a
// page write to the clipboard: http://127.0.0.1 and https).
export function showCopyButtons() {
  if (!navigator.clipboard) return;
  for (const b of document.querySelectorAll("button[data-copy]")) b.hidden = false;
}

// updateTargets fills the client form's list of targets (#targets) with the
// running servers' addresses, and its target with the first of them when
// it is empty or names a stopped server.
export function updateTargets() {
  const list = document.getElementById("targets");
  if (!list) return; // a share link's page has no client form
  list.replaceChildren();
  // A unix client's targets are socket paths, every other kind's host:port.
  const kind = document.querySelector("[data-testid=client-kind]");
  const unix = kind?.value === "unix";
  const isPath = (a) => a.startsWith("/");
  const addrs = [];
  for (const li of document.querySelectorAll("li[data-testid=server][data-state=running]")) {
    const a = li.dataset.addr || "";
    if (!a) continue;
    addrs.push(a);
    if (isPath(a) !== unix) continue;
    const o = document.createElement("option");
    o.value = a;
    list.appendChild(o);
  }
  const target = document.querySelector("[data-testid=client-target]");
  const first = list.querySelector("option");
  // A stopped server's address would only get ECONNREFUSED: offer a running one.
  // What the visitor typed stays, even after an error; only an empty
  // target, or a server's address of the other sort (a socket path for a
  // tcp client), is filled in with a running server's address.
  const otherSort = addrs.includes(target.value) && isPath(target.value) !== unix;
  if ((!target.value || otherSort) && first) target.value = first.value;
  else if (otherSort) target.value = "";
  if (kind && !kind.dataset.targets) {
    kind.dataset.targets = "1";
    kind.addEventListener("change", updateTargets);
  }
}
