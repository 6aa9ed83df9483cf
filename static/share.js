// share.js: the session page's Share control — make a read-only link,
// copy it, list the links and revoke them, through the share API
// (POST/GET /api/sessions/{id}/shares, DELETE …/shares/{token}). It adds
// itself below the Export menu of an owner's page; a share link's own page
// (data-share) has none.

import { call, sessionAPI } from "./api.js";

const app = document.getElementById("app");
const exportMenu = document.querySelector("[data-testid=export-menu]");
if (app && app.dataset.session && !app.dataset.share && exportMenu) init(app.dataset.session);

function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "testid") e.dataset.testid = v;
    else if (k in e) e[k] = v;
    else e.setAttribute(k, v);
  }
  e.append(...children);
  return e;
}

function init(sessionID) {
  const css = el("link", { rel: "stylesheet", href: "/static/home.css" });
  document.head.append(css);
  const status = el("p", { className: "share-status small", role: "status", testid: "share-status", hidden: true });
  const links = el("ul", { className: "share-links", testid: "share-links" });
  const create = el("button", { type: "button", className: "small", testid: "share-create", textContent: "Create a read-only link" });
  const menu = el("details", { className: "share-menu small", testid: "share-menu" },
    el("summary", { textContent: "Share" }),
    el("p", { className: "muted", textContent: "Whoever has a link can watch this session live, replay it and export it — nothing else. Revoke a link to end that." }),
    create, status, links);
  exportMenu.after(menu);

  const say = (msg, isError) => {
    status.textContent = msg;
    status.classList.toggle("error", !!isError);
    status.hidden = !msg;
  };

  async function load() {
    try {
      const data = await call("GET", `${sessionAPI(sessionID)}/shares`);
      const active = data.shares.filter((s) => !s.revoked_at);
      const revoked = data.shares.length - active.length;
      links.replaceChildren(...active.map(row));
      if (!active.length) links.append(el("li", { className: "muted", testid: "share-none", textContent: "No link yet." }));
      if (revoked) links.append(el("li", { className: "muted", textContent: `${revoked} revoked link${revoked > 1 ? "s" : ""} no longer open this session.` }));
    } catch (err) {
      say(`The links could not be listed: ${err.message}`, true);
    }
  }

  function row(s) {
    const url = el("input", { type: "text", readOnly: true, value: s.url, className: "share-url", testid: "share-url", "aria-label": "Share link" });
    url.addEventListener("focus", () => url.select());
    const copy = el("button", { type: "button", className: "secondary small", testid: "share-copy", textContent: "Copy" });
    copy.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(s.url);
      } catch {
        url.focus();
        url.select();
        document.execCommand("copy");
      }
      say("Link copied: send it to whoever should watch.", false);
    });
    const revoke = el("button", { type: "button", className: "danger small", testid: "share-revoke", textContent: "Revoke" });
    revoke.addEventListener("click", async () => {
      try {
        await call("DELETE", `${sessionAPI(sessionID)}/shares/${s.token}`);
        say("Link revoked: it no longer opens this session.", false);
        load();
      } catch (err) {
        say(`Not revoked: ${err.message}`, true);
      }
    });
    const made = new Date(s.created_at);
    return el("li", { testid: "share-link" }, url,
      el("span", { className: "share-buttons" }, copy, revoke),
      el("span", { className: "muted", textContent: ` made ${made.toISOString().slice(0, 16).replace("T", " ")} UTC` }));
  }

  create.addEventListener("click", async () => {
    create.disabled = true;
    try {
      const s = await call("POST", `${sessionAPI(sessionID)}/shares`);
      await load();
      say("Link made: copy it and send it.", false);
      links.querySelector(`[data-testid=share-url][value="${CSS.escape(s.url)}"]`)?.select();
    } catch (err) {
      say(`No link made: ${err.message}`, true);
    } finally {
      create.disabled = false;
    }
  });
  menu.addEventListener("toggle", () => { if (menu.open) load(); });
}
