// The supervisor monitor: queues, agents, SLA breaches and every open conversation of the
// supervisor's teams, refreshed from the API whenever an event says something changed.
import { Live, api, el, duration, clock, config, gettext, interpolate } from "./live.js";

const cfg = config();
const $ = (id) => document.getElementById(id);
let data = null;

function showError(text) {
  $("monitor-error").textContent = text || "";
  $("monitor-error").hidden = !text;
}

function since(iso) {
  return iso ? duration((Date.now() - new Date(iso)) / 1000) : "";
}

function body(tableId, rows, empty) {
  const tbody = $(tableId).querySelector("tbody");
  const columns = $(tableId).querySelectorAll("thead th").length;
  tbody.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: columns, class: "muted" }, empty))]));
}

async function act(conversation, action, payload = {}) {
  showError("");
  try {
    await api(`/api/v1/conversations/${conversation}/${action}/`, { method: "POST", body: payload });
    schedule();
    return true;
  } catch (error) {
    showError(error.message);
    return false;
  }
}

function whisper(row) {
  const dialog = $("whisper-dialog");
  $("whisper-text").value = "";
  dialog.returnValue = "";
  dialog.showModal();
  dialog.addEventListener("close", () => {
    const text = $("whisper-text").value.trim();
    if (dialog.returnValue === "ok" && text) act(row.id, "whisper", { text });
  }, { once: true });
}

function reassign(row) {
  const dialog = $("reassign-dialog");
  const members = data.agents.filter((a) => row.team === null || a.teams.includes(row.team));
  $("reassign-agent").replaceChildren(...members.map((a) => el("option", { value: a.id }, `${a.name} (${a.load}/${a.capacity}, ${a.presence})`)));
  dialog.returnValue = "";
  dialog.showModal();
  dialog.addEventListener("close", () => {
    const agent = Number($("reassign-agent").value);
    if (dialog.returnValue !== "ok" || !agent) return;
    act(row.id, row.assignee ? "transfer" : "assign", { agent });
  }, { once: true });
}

async function watch(row) {
  if (await act(row.id, "watch")) location.href = `/desk/c/${row.id}/?watch=1`;
}

function render() {
  if (!data) return;
  body("queues-table", data.teams.map((t) => el("tr", { id: `queue-${t.id}` }, el("td", {}, t.name), el("td", { class: t.waiting ? "warn" : "" }, String(t.waiting)), el("td", {}, t.waiting ? duration(t.longest_wait_seconds + (Date.now() - loadedAt) / 1000) : "—"), el("td", {}, String(t.assigned)))), gettext("No teams."));
  body("agents-table", data.agents.map((a) => el("tr", { id: `agent-${a.id}` }, el("td", {}, a.name), el("td", {}, el("span", { class: `presence-dot ${a.presence}` }), { online: gettext("Online"), away: gettext("Away"), offline: gettext("Offline") }[a.presence] || a.presence), el("td", {}, el("meter", { min: 0, max: Math.max(1, a.capacity), value: a.load, title: interpolate(gettext("%(load)s of %(capacity)s"), { load: a.load, capacity: a.capacity }) }), ` ${a.load}/${a.capacity}`), el("td", { class: "muted" }, a.last_seen_at ? interpolate(gettext("%(time)s ago"), { time: since(a.last_seen_at) }) : gettext("never")))), gettext("No agents."));
  body("breaches-table", data.breaches.map((b) => el("tr", {}, el("td", {}, el("a", { href: `/desk/c/${b.conversation}/` }, b.contact_name || `#${b.conversation}`)), el("td", {}, { first_response: gettext("first response"), next_response: gettext("next response") }[b.kind] || b.kind.replace("_", " ")), el("td", {}, clock(b.due_at)), el("td", { class: "breached" }, clock(b.breached_at)))), gettext("No breaches."));
  body(
    "conversations-table",
    data.conversations.map((c) => {
      const windowLeft = c.window_expires_at ? (new Date(c.window_expires_at) - Date.now()) / 1000 : 0;
      const button = (label, handler, show = true) => (show ? el("button", { type: "button", class: "small", dataset: { action: label.toLowerCase().replace(" ", "-") }, onclick: () => handler(c) }, label) : null);
      const allowed = new Set(c.actions || []); // the server's answer for this supervisor
      return el(
        "tr",
        { id: `monitor-conversation-${c.id}`, class: c.sla_breached_at ? "breached-row" : "" },
        el("td", {}, el("a", { href: `/desk/c/${c.id}/` }, c.contact_name || `#${c.id}`), el("div", { class: "muted small" }, c.preview || "")),
        el("td", {}, c.team_name || "—"),
        el("td", {}, el("span", { class: `chip status-${c.status}` }, c.on_hold ? gettext("on hold") : { queued: gettext("queued"), assigned: gettext("assigned"), resolved: gettext("resolved") }[c.status] || c.status)),
        el("td", {}, c.assignee_name || "—", (c.participants || []).filter((p) => p.id !== c.assignee).length ? el("div", { class: "muted small" }, c.participants.filter((p) => p.id !== c.assignee).map((p) => `${p.name} (${p.role})`).join(", ")) : null),
        el("td", {}, since(c.status === "queued" ? c.queued_at : c.created_at)),
        el("td", { class: windowLeft > 0 ? "" : "muted" }, windowLeft > 0 ? duration(windowLeft) : "closed"),
        el("td", { class: c.sla_breached_at ? "breached" : "" }, c.sla_breached_at ? "breached" : ""),
        el(
          "td",
          { class: "row-actions" },
          button(gettext("Reassign"), reassign, allowed.has(c.assignee ? "transfer" : "assign")),
          button(gettext("Join"), (row) => act(row.id, "join"), allowed.has("join")),
          button(gettext("Whisper"), whisper, allowed.has("whisper")),
          button(gettext("Take over"), (row) => act(row.id, "takeover"), allowed.has("takeover")),
          button(gettext("Watch"), watch, allowed.has("watch")),
        ),
      );
    }),
    gettext("No open conversations."),
  );
}

let loadedAt = Date.now();
async function load() {
  try {
    data = await api("/api/v1/desk/monitor/");
    loadedAt = Date.now();
    render();
  } catch (error) {
    showError(error.message);
  }
}

let timer = null;
function schedule() {
  clearTimeout(timer);
  timer = setTimeout(load, 300);
}

function setStatus(status) {
  const badge = $("connection-status");
  badge.dataset.state = status;
  badge.textContent = status === "live" ? "live" : status;
  if (status === "signed-out") location.href = `/accounts/login/?next=${encodeURIComponent(location.pathname)}`;
}

new Live({
  url: cfg.socket,
  onEvent: (frame) => {
    if (["conversation.created", "conversation.updated", "queue.updated", "agent.updated", "sla.breached", "message.created"].includes(frame.type)) schedule();
  },
  onConnect: load,
  onStatus: setStatus,
});

const presence = $("presence-select");
api("/api/v1/agents/me/").then((profile) => { presence.value = profile.presence; }).catch(() => {});
presence.addEventListener("change", () => api("/api/v1/agents/me/", { method: "PATCH", body: { presence: presence.value } }).catch((e) => showError(e.message)));
$("help-button").addEventListener("click", () => $("help-dialog").showModal());
$("enable-alerts").hidden = true;
setInterval(render, 15000);
