// format.js: how the page writes bytes, times and meta. Everything here is
// pure except hexdumpParts and partsLegend, thin DOM wrappers that touch
// document only when called (so the node tests can import this module).

// b64bytes decodes an event's data (base64) to bytes; with max, only
// about its first max bytes (a preview needs no more).
export function b64bytes(s, max = Infinity) {
  if (!s) return new Uint8Array(0);
  if (s.length > (max / 3 + 1) * 4) s = s.slice(0, Math.ceil(max / 3) * 4);
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// b64len is how many bytes the base64 s holds, without decoding it.
export function b64len(s) {
  if (!s) return 0;
  const pad = s.endsWith("==") ? 2 : s.endsWith("=") ? 1 : 0;
  return (s.length / 4) * 3 - pad;
}

const hex2 = (b) => b.toString(16).padStart(2, "0");
const printable = (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".");

// hexdump formats bytes as `hexdump -C` does: offset, 16 bytes as 8+8 hex,
// then the ASCII column.
export function hexdump(bytes) {
  const lines = [];
  for (let off = 0; off < bytes.length; off += 16) {
    const chunk = bytes.subarray(off, off + 16);
    let hex = "";
    for (let i = 0; i < 16; i++) {
      hex += i < chunk.length ? hex2(chunk[i]) + " " : "   ";
      if (i === 7) hex += " ";
    }
    const ascii = Array.from(chunk, printable).join("");
    lines.push(`${off.toString(16).padStart(8, "0")}  ${hex} |${ascii}|`);
  }
  return lines.join("\n");
}

// hexdumpRuns is hexdump as runs of text, [{text, part}]: each byte's hex
// and character is a run of its own whose part is the index in parts of the
// part it belongs to (an app frame's length, header and content), -1 for
// none and for the offsets and separators. hexdumpParts draws them.
export function hexdumpRuns(bytes, parts) {
  const partOf = (i) => parts.findIndex((p) => i >= p.offset && i < p.offset + p.len);
  const runs = [];
  const run = (text, part = -1) => runs.push({ text, part });
  for (let off = 0; off < bytes.length; off += 16) {
    run(`${off.toString(16).padStart(8, "0")}  `);
    for (let i = 0; i < 16; i++) {
      const at = off + i;
      if (at < bytes.length) run(hex2(bytes[at]), partOf(at));
      else run("  ");
      run(i === 7 ? "  " : " ");
    }
    run("|");
    for (let i = off; i < Math.min(off + 16, bytes.length); i++) run(printable(bytes[i]), partOf(i));
    run(off + 16 < bytes.length ? "|\n" : "|");
  }
  return runs;
}

// hexdumpParts is hexdump with each byte's hex and character in a span of
// the part it belongs to, so the page can colour them: a fragment of text
// nodes and spans, one per run of hexdumpRuns.
export function hexdumpParts(bytes, parts) {
  const frag = document.createDocumentFragment();
  for (const { text, part } of hexdumpRuns(bytes, parts)) {
    if (part < 0) {
      frag.append(document.createTextNode(text));
      continue;
    }
    const s = document.createElement("span");
    s.className = `part part-${part}`;
    s.dataset.part = parts[part].name;
    s.textContent = text;
    frag.append(s);
  }
  return frag;
}

// partLabel says where a part lies: "header: bytes 2–18 (17 bytes)".
export const partLabel = (part) => `${part.name}: bytes ${part.offset}–${part.offset + part.len - 1} (${sizeOf(part.len)})`;

// partsLegend is the key above an app frame's hexdump, in the same colours.
export function partsLegend(parts) {
  const p = document.createElement("p");
  p.className = "parts-legend";
  p.setAttribute("data-testid", "frame-parts");
  parts.forEach((part, i) => {
    const s = document.createElement("span");
    s.className = `part part-${i}`;
    s.dataset.part = part.name;
    s.textContent = partLabel(part);
    p.append(s, " ");
  });
  return p;
}

const utf8 = new TextDecoder("utf-8"); // invalid sequences become U+FFFD

// preview shows the first bytes as text: UTF-8 decoded, control characters
// as escapes or dots, so "héllo\n" reads as héllo\n.
export function preview(bytes) {
  let s = "";
  for (const ch of utf8.decode(bytes.subarray(0, 64))) {
    const c = ch.codePointAt(0);
    if (c === 0x0a) s += "\\n";
    else if (c === 0x0d) s += "\\r";
    else if (c === 0x09) s += "\\t";
    else if (c < 0x20 || c === 0x7f || (c >= 0x80 && c < 0xa0)) s += ".";
    // Invisible format characters (a right-to-left override would reorder
    // the row's text) are shown by their code.
    else if (/\p{Cf}/u.test(ch)) s += `\\u{${c.toString(16)}}`;
    else s += ch;
  }
  return bytes.length > 64 ? s + "…" : s;
}

export function timeOf(at) {
  // "2026-11-25T17:31:57.254782678Z" -> "17:31:57.254782"
  const t = at.indexOf("T");
  return at.slice(t + 1, t + 16);
}

export const sizeOf = (n) => `${n} byte${n === 1 ? "" : "s"}`;

export const headersText = (h) => (h ? Object.entries(h).map(([k, v]) => `${k}: ${v}`).join("; ") : "");

// optionsText writes a server's options as the servers panel does:
// mode prefix · prefix ">> " · recv_size 4096 · oneshot no.
export function optionsText(opts) {
  if (!opts || typeof opts !== "object") return "";
  return Object.entries(opts).map(([k, v]) => {
    if (typeof v === "boolean") return `${k} ${v ? "yes" : "no"}`;
    if (typeof v === "string") return `${k} ${/^[A-Za-z0-9._-]+$/.test(v) ? v : JSON.stringify(v)}`;
    return `${k} ${JSON.stringify(v)}`;
  }).join(" · ");
}

// closeText says who closed and how, in the words a tutorial uses: a FIN
// from the peer is all a recv of 0 bytes tells, whether the peer closed or
// only shut down its sending side.
export function closeText(m) {
  let s;
  const rst = m.rst && !m.half;
  if (m.by === "peer") s = m.half ? "peer sent FIN (it closed, or shut down its sending side)" : rst ? "peer reset the connection (RST)" : "peer closed";
  else s = m.half ? "shutdown(SHUT_WR) here: FIN sent, can still receive" : rst ? "reset here (RST sent)" : "closed here";
  if (!m.reason || (rst && m.reason === "reset by peer (RST)")) return s; // a reset's own reason would only repeat it
  s += m.half && m.by === "peer" ? " — recv returned 0 bytes" : ` — ${m.reason}`;
  return s;
}
