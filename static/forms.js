// forms.js: the page's forms. The start form is drawn by the server from
// the kinds' option schemas; this module shows the chosen kind's fields and
// posts the form as JSON. Also the client form and Delete session. Without
// JavaScript the same forms post to the server's form handlers.

import { call } from "./api.js";
import { busy, showError } from "./ui.js";

// showKindFields shows the start form's fields of the chosen kind. Every
// kind has a fieldset of options named kind.option; only the chosen kind's
// shows, and an option with data-when="mode=prefix" only while that option
// has one of those values. A kind the tutorials run on a port of their own
// offers that port.
export function showKindFields(serverForm) {
  const kindSelect = serverForm.elements.kind;
  const kind = kindSelect.value;
  for (const fs of serverForm.querySelectorAll("fieldset[data-kind]")) {
    const mine = fs.dataset.kind === kind;
    fs.hidden = !mine;
    fs.disabled = !mine;
    if (!mine) continue;
    for (const label of fs.querySelectorAll("[data-when]")) {
      if (!label.dataset.when) continue;
      const [opt, values] = label.dataset.when.split("=");
      const other = fs.querySelector(`[name="${CSS.escape(kind + "." + opt)}"]`);
      const value = other && other.type === "checkbox" ? String(other.checked) : other && other.value;
      label.hidden = other ? !values.split(",").includes(value) : false;
    }
  }
  // Faults from the start are stream faults: none for a datagram kind.
  const startFaults = serverForm.querySelector("[data-testid=start-faults]");
  if (startFaults) {
    const udp = kindSelect.selectedOptions[0]?.dataset.net === "udp";
    startFaults.hidden = udp;
    for (const el of startFaults.querySelectorAll("input")) el.disabled = udp;
  }
  // A Unix socket has a path, not a port: no port field for it.
  const unixKind = kindSelect.selectedOptions[0]?.dataset.net === "unix";
  serverForm.elements.port.closest("label").hidden = unixKind;
  document.querySelector("[data-testid=port-hint]").hidden = unixKind;
  if (unixKind) serverForm.elements.port.value = "0";
  const hint = document.querySelector("[data-testid=tutorial-port-suggestion]");
  // A workshop participant's block (data-block): tutorial ports are off.
  const port = "block" in hint.dataset ? 0 : Number(kindSelect.selectedOptions[0]?.dataset.port || 0);
  hint.hidden = !port;
  hint.replaceChildren();
  if (port) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "link";
    b.textContent = `Use ${port}`;
    b.addEventListener("click", () => { serverForm.elements.port.value = port; });
    hint.append(`The tutorials run this server on port ${port}. `, b);
  }
}

// optionsOf reads a kind's options from form fields named kind.option, as
// the server's no-JavaScript form handler does: a checkbox (or a hidden
// "on"/"off") is a boolean, an empty number takes its default.
export function optionsOf(kind, fields) {
  const options = {};
  for (const el of fields) {
    if (!el.name || !el.name.startsWith(kind + ".")) continue;
    const name = el.name.slice(kind.length + 1);
    switch (el.dataset.type) {
      case "bool": options[name] = el.type === "checkbox" ? el.checked : el.value === "on"; break;
      case "int": if (el.value.trim() !== "") options[name] = Number(el.value); break;
      default: options[name] = el.value;
    }
  }
  return options;
}

// startFaultsOf reads the start form's fault presets that are checked (and
// not disabled) as the API's "faults".
export function startFaultsOf(inputs) {
  return [...inputs].filter((el) => el.checked && !el.disabled).map((el) => JSON.parse(el.dataset.fault));
}

// startServer starts the server form describes (the start form, or a
// panel's "start again" form: the same fields) through the API, then
// refreshes the panel.
export async function startServer(form, { api, refresh }) {
  const f = form.elements;
  const kind = f.kind.value;
  await busy(form, async () => {
    try {
      const body = { kind, name: f.name.value, port: Number(f.port.value || 0), options: optionsOf(kind, form.querySelectorAll("[name]")) };
      const faults = startFaultsOf(form.querySelectorAll("input[name=fault-preset]"));
      if (faults.length) body.faults = faults;
      await call("POST", `${api}/servers`, body);
      if (form.id === "server-form") {
        // A second click starts a second server, not a copy with the same
        // name on the same port (nor with the same faults).
        f.name.value = "";
        f.port.value = "0";
        for (const el of form.querySelectorAll("input[name=fault-preset]")) el.checked = false;
      }
      await refresh();
    } catch (err) {
      showError(err.message);
    }
  });
}

// initForms wires the start form (#server-form) and the client form
// (#client-form) of the session whose API path is api; refresh refreshes
// the servers and clients panel.
export function initForms({ api, refresh }) {
  const serverForm = document.getElementById("server-form");
  serverForm.addEventListener("change", () => showKindFields(serverForm));
  showKindFields(serverForm);
  serverForm.addEventListener("submit", (e) => {
    e.preventDefault();
    startServer(serverForm, { api, refresh });
  });

  // The client form: the chosen kind's options only.
  const clientForm = document.getElementById("client-form");
  const showClientFields = () => {
    for (const d of clientForm.querySelectorAll("details[data-kind]")) d.hidden = d.dataset.kind !== clientForm.elements.kind.value;
  };
  clientForm.elements.kind.addEventListener("change", showClientFields);
  showClientFields();
  clientForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = clientForm.elements;
    const kind = f.kind.value;
    const target = f.target.value.trim();
    await busy(clientForm, async () => {
      try {
        await call("POST", `${api}/clients`, { kind, target, options: optionsOf("client-" + kind, clientForm.querySelectorAll("[name]")) });
        await refresh();
      } catch (err) {
        showError(err.message);
      }
    });
  });
}

// initDeleteForm wires Delete session (#delete-session): after a
// confirmation it deletes the session and goes home. state.sessionGone is
// set meanwhile, so the end of the live stream is expected.
export function initDeleteForm({ api, state }) {
  document.getElementById("delete-session").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!confirm("Delete this session? Its servers and clients stop and its recording is deleted.")) return;
    try {
      state.sessionGone = true; // the live stream's end is expected now
      await call("DELETE", api);
      location.href = "/";
    } catch (err) {
      state.sessionGone = false;
      showError(err.message);
    }
  });
}
