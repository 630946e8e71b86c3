// The alert banner on every desk page for admins and supervisors: open incidents (an expired
// token, a restricted account, a red number, a remediation deadline, a paused or rejected
// template), each with a link to what to do. New and closed alerts arrive over the desk socket
// (`alert.created`, `alert.closed`, relayed by live.js as "desk:frame" events); the list is
// fetched again after every (re)connect and every minute on pages without a socket.
import { api, el, config, gettext } from "./live.js";

const cfg = config();
const box = document.getElementById("alert-banner");
const hidden = new Set(JSON.parse(sessionStorage.getItem("handoff-hidden-alerts") || "[]"));

function remember() {
  sessionStorage.setItem("handoff-hidden-alerts", JSON.stringify([...hidden]));
}

function refresh() {
  box.hidden = box.children.length === 0;
}

function remove(id) {
  const node = document.getElementById(`alert-${id}`);
  if (node) node.remove();
  refresh();
}

async function dismiss(alert) {
  try {
    await api(`/api/v1/alerts/${alert.id}/close/`, { method: "POST" });
    remove(alert.id);
  } catch (error) {
    const node = document.getElementById(`alert-${alert.id}`);
    if (node) node.querySelector(".alert-error").textContent = error.message;
  }
}

function hide(alert) {
  hidden.add(alert.id);
  remember();
  remove(alert.id);
}

function show(alert) {
  if (!alert || hidden.has(alert.id)) return;
  const link = typeof alert.link === "string" && alert.link.startsWith("/") ? alert.link : null;
  const node = el(
    "div",
    { id: `alert-${alert.id}`, class: `alert-card ${alert.severity}`, role: "alert", dataset: { kind: alert.kind } },
    el("strong", {}, alert.title),
    el("p", {}, alert.detail),
    el(
      "div",
      { class: "alert-actions" },
      link ? el("a", { href: link }, gettext("What to do")) : null,
      cfg.admin ? el("button", { type: "button", class: "small", onclick: () => dismiss(alert) }, gettext("Mark dealt with")) : null,
      el("button", { type: "button", class: "small ghost", onclick: () => hide(alert) }, gettext("Hide")),
    ),
    el("span", { class: "alert-error error small" }),
  );
  const existing = document.getElementById(node.id);
  if (existing) existing.replaceWith(node);
  else box.prepend(node);
  refresh();
}

async function load() {
  try {
    const alerts = await api("/api/v1/alerts/");
    const open = new Set(alerts.map((a) => a.id));
    for (const node of [...box.children]) if (!open.has(Number(node.id.replace("alert-", "")))) node.remove();
    for (const alert of alerts.slice().reverse()) show(alert);
    refresh();
  } catch (_) {
    // The banner is a convenience: the alerts stay in the admin and the email.
  }
}

if (box) {
  window.addEventListener("desk:frame", (event) => {
    const frame = event.detail || {};
    // The frame names the alert; its text comes from the API in this reader's language.
    if (frame.type === "alert.created") load();
    else if (frame.type === "alert.closed" && frame.alert) remove(frame.alert.id);
  });
  window.addEventListener("desk:connected", load);
  load();
  setInterval(load, 60000);
}
