// detail.js: the detail pane of the selected event: its fields, what it
// means, its meta, the error card (what failed, the usual cause, the
// Python exception), and its bytes as a hexdump and as text. detailFields
// and bytesText are pure (the node tests import them); renderDetail draws.

import { b64bytes, hexdump, hexdumpParts, partsLegend } from "./format.js";
import { dataKinds, details } from "./renderers.js";

// detailFields lists an event's fields as [label, value], leaving out the
// empty ones. names, when the page knows them, names the ends:
// {owner: 'echo server :20000', other: '← your terminal 127.0.0.1:55850'}.
export function detailFields(ev, names = {}) {
  const f = [
    ["seq", `#${ev.seq}`],
    ["time (UTC)", ev.at ? ev.at.replace("T", " ").replace("Z", "") : ""],
    ["kind", ev.kind],
    ["owner", !ev.server ? "" : names.owner && names.owner !== ev.server && !names.owner.includes(ev.server) ? `${names.owner} (${ev.server})` :
      `${ev.server} (${ev.server.startsWith("srv-") ? "a server" : ev.server.startsWith("cli-") ? "a client" : "?"})`],
    ["connection", ev.conn || ""],
    ["network", ev.net || ""],
    ["this end", names.owner && ev.local ? `${names.owner} · ${ev.local}` : ev.local || ""],
    ["other end", names.other && ev.remote ? `${names.other}${names.other.includes(ev.remote) ? "" : ` · ${ev.remote}`}` : ev.remote || ""],
  ];
  if (dataKinds.has(ev.kind) || ev.len) f.push(["length", `${ev.len} byte${ev.len === 1 ? "" : "s"}`]);
  if (ev.truncated) f.push(["captured", `${b64bytes(ev.data).length} of ${ev.len} bytes (the capture cap)`]);
  return f.filter(([, v]) => v !== "" && v !== undefined && v !== null);
}

// bytesText is bytes as text for reading: UTF-8, with newlines kept, tabs
// kept, other control characters as \xNN, so nothing invisible hides.
export function bytesText(bytes) {
  const s = new TextDecoder("utf-8").decode(bytes);
  let out = "";
  for (const ch of s) {
    const c = ch.codePointAt(0);
    if (c === 0x0a || c === 0x09) out += ch;
    else if (c === 0x0d) out += "\\r";
    else if (c < 0x20 || c === 0x7f || (c >= 0x80 && c < 0xa0)) out += `\\x${c.toString(16).padStart(2, "0")}`;
    else if (/\p{Cf}/u.test(ch)) out += `\\u{${c.toString(16)}}`;
    else out += ch;
  }
  return out;
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

// renderDetail draws ev (null: nothing selected) in the pane pane; names
// as detailFields takes them.
export function renderDetail(pane, ev, names = {}) {
  const body = pane.querySelector(".detail-body");
  if (!ev) {
    body.replaceChildren(el("p", "muted small", "Select an event (a click, or ↑/↓ in the list) to see all it says and its bytes."));
    pane.dataset.seq = "";
    return;
  }
  pane.dataset.seq = ev.seq;
  const frag = document.createDocumentFragment();
  const title = el("p", "detail-what");
  title.setAttribute("data-testid", "detail-what");
  const d = details(ev);
  title.textContent = d.split("\n")[0] || ev.kind;
  frag.append(title);

  if (ev.err) {
    const card = el("div", "error-card");
    card.setAttribute("data-testid", "error-card");
    card.append(el("strong", "", `${ev.err.errno}: ${ev.err.message}`));
    if (ev.err.hint) card.append(el("p", "", ev.err.hint));
    if (ev.err.python) card.append(el("p", "small", `In Python: ${ev.err.python}`));
    frag.append(card);
  } else if (d.includes("\n")) {
    frag.append(el("p", "hint small", d.split("\n").slice(1).join(" ")));
  }

  const dl = el("dl", "fields");
  dl.setAttribute("data-testid", "detail-fields");
  for (const [k, v] of detailFields(ev, names)) dl.append(el("dt", "", k), el("dd", "", v));
  frag.append(dl);

  const meta = ev.meta && Object.keys(ev.meta).length ? ev.meta : null;
  if (meta) {
    const h = el("h3", "", "meta");
    const pre = el("pre", "meta", JSON.stringify(meta, null, 2));
    pre.setAttribute("data-testid", "detail-meta");
    frag.append(h, pre);
  }

  if (ev.data) {
    const bytes = b64bytes(ev.data);
    frag.append(el("h3", "", `bytes (${bytes.length})`));
    const pre = el("pre", "hexdump");
    pre.setAttribute("data-testid", "hexdump");
    const parts = ev.meta && ev.meta.parts;
    if (parts) {
      frag.append(partsLegend(parts));
      pre.append(hexdumpParts(bytes, parts));
    } else {
      pre.textContent = hexdump(bytes);
    }
    frag.append(pre, el("h3", "", "as text"));
    const txt = el("pre", "as-text", bytesText(bytes));
    txt.setAttribute("data-testid", "detail-text");
    frag.append(txt);
  }
  body.replaceChildren(frag);
}
