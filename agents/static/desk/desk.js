// The agent desk: inbox views, the open conversation, the composer and the shortcuts.
// Everything is placed by id (conversation-<id>, message-<id>): a replayed event replaces.
import { Live, api, apiAll, el, clock, config, connectionLabel, gettext, interpolate } from "./live.js";
import { Composer } from "./composer.js";
import { Attachment, mediaElement } from "./media.js";
import { NewConversation } from "./new_conversation.js";
import { alertAssigned, setupAlerts } from "./alerts.js";
import { renderHandoff, renderSide, slaBadge, tickFor, windowLabel } from "./panels.js";

const cfg = config();
const me = cfg.user.id;
const $ = (id) => document.getElementById(id);

const state = {
  rows: new Map(),
  view: "mine",
  selected: null,
  open: null,
  context: null,
  lastMessageId: 0,
  messages: new Map(),
  counted: new Set(),
  watch: false,
  since: null,
};

setupAlerts($("enable-alerts"));

// A conversation's status as the desk shows it, in the desk user's language.
function statusLabel(row) {
  if (row.on_hold) return gettext("on hold");
  const labels = { bot: gettext("with the bot"), queued: gettext("queued"), assigned: gettext("assigned"), resolved: gettext("resolved") };
  return labels[row.status] || row.status;
}

// ---- inbox ----

function inView(row, view) {
  if (!row || row.status === "resolved") return false;
  if (view === "mine") {
    return row.assignee === me || (row.participants || []).some((p) => p.id === me && p.role === "participant");
  }
  if (view === "team") {
    return row.status === "queued" && (row.team === null ? cfg.supervisor : cfg.teams.includes(row.team));
  }
  return cfg.supervisor;
}

function upsertRow(data, { live = false } = {}) {
  if (!data || typeof data.id !== "number") return null;
  const previous = state.rows.get(data.id);
  const row = { ...(previous || { unread: 0, participants: [] }), ...data };
  if (data.unread === undefined && previous) row.unread = previous.unread;
  state.rows.set(row.id, row);
  const nowMine = row.assignee === me && row.status === "assigned";
  if (live && nowMine && (!previous || previous.assignee !== me)) alertAssigned(row, openConversation);
  scheduleList();
  if (row.id === state.open) renderHeader();
  return row;
}

function rowElement(row) {
  const win = windowLabel(row);
  const sla = slaBadge(row);
  const li = el(
    "li",
    {
      id: `conversation-${row.id}`,
      class: `row${row.unread ? " unread" : ""}${row.id === state.selected ? " selected" : ""}${row.id === state.open ? " open" : ""}`,
      dataset: { id: row.id },
      tabindex: "-1",
      "aria-selected": row.id === state.selected ? "true" : "false",
      onclick: () => openConversation(row.id),
    },
    el("div", { class: "line" }, el("span", { class: "name" }, row.contact_name || gettext("Customer")), el("time", { class: "muted" }, clock(row.last_activity_at))),
    el(
      "div",
      { class: "line" },
      el("span", { class: "preview muted" }, row.preview || ""),
      row.unread ? el("span", { class: "badge unread-count", title: gettext("Unread") }, String(row.unread)) : null,
    ),
    el(
      "div",
      { class: "line small" },
      el("span", { class: `chip status-${row.status}` }, statusLabel(row)),
      el("span", { class: `chip channel channel-${row.channel}`, title: gettext("Channel") }, row.channel === "webchat" ? gettext("Web chat") : "WhatsApp"),
      el("span", { class: `window${win.closed ? " closed" : ""}` }, win.text),
      sla ? el("span", { class: `sla ${sla.level}` }, sla.text) : null,
      el("span", { class: "muted" }, row.assignee_name || row.team_name || ""),
    ),
  );
  return li;
}

let listPending = false;
function scheduleList() {
  if (listPending) return;
  listPending = true;
  requestAnimationFrame(() => { listPending = false; renderList(); });
}

function visibleRows(view = state.view) {
  return [...state.rows.values()]
    .filter((row) => inView(row, view))
    .sort((a, b) => (b.last_activity_at || "").localeCompare(a.last_activity_at || "") || b.id - a.id);
}

function renderList() {
  const list = $("conversation-list");
  const rows = visibleRows();
  list.replaceChildren(...rows.map(rowElement));
  $("list-empty").hidden = rows.length > 0;
  for (const view of ["mine", "team", "all"]) {
    const counter = $(`count-${view}`);
    if (!counter) continue;
    const inThis = visibleRows(view);
    const unread = inThis.filter((row) => row.unread).length;
    counter.textContent = inThis.length ? String(inThis.length) : "";
    counter.classList.toggle("has-unread", unread > 0);
    counter.title = interpolate(gettext("%(count)s with unread messages"), { count: unread });
  }
  document.querySelectorAll(".tab").forEach((tab) => tab.setAttribute("aria-selected", String(tab.dataset.view === state.view)));
}

function setView(view) {
  if (!document.querySelector(`.tab[data-view="${view}"]`)) return;
  state.view = view;
  renderList();
}
document.querySelectorAll(".tab").forEach((tab) => tab.addEventListener("click", () => setView(tab.dataset.view)));

// ---- the open conversation ----
function authorOf(m) {
  if (m.sender_name) return m.sender_name;
  if (m.sender && m.sender.name) return m.sender.name;
  if (m.sender_kind === "contact") return (state.context && state.context.contact.name) || gettext("Customer");
  return { bot: gettext("Bot"), system: gettext("System"), agent: gettext("Agent") }[m.sender_kind] || m.sender_kind;
}

function inBotPart(m) {
  const row = state.rows.get(m.conversation);
  if (m.sender_kind === "bot") return true;
  if (!row || !row.queued_at) return row ? row.status === "bot" : false;
  return m.created_at < row.queued_at;
}

function messageElement(m) {
  const whisper = Boolean(m.whisper || (m.payload && m.payload.whisper));
  const classes = ["msg", m.direction === "in" ? "in" : "out"];
  if (m.internal) classes.push("internal");
  if (whisper) classes.push("whisper");
  if (m.sender_kind === "bot") classes.push("from-bot");
  if (m.sender_kind === "system") classes.push("system");
  if (inBotPart(m)) classes.push("bot-part");
  const quoted = m.reply_to ? state.messages.get(m.reply_to) : null;
  const label = m.internal ? (whisper ? gettext("whisper") : gettext("internal note")) : "";
  return el(
    "li",
    { id: `message-${m.id}`, class: classes.join(" "), dataset: { id: m.id, status: m.status, kind: m.sender_kind } },
    el("div", { class: "msg-head" }, el("span", { class: "author" }, authorOf(m)), label ? el("span", { class: "label" }, label) : null, el("time", { class: "muted" }, clock(m.created_at))),
    m.reply_to ? el("blockquote", { class: "quoted" }, quoted ? quoted.text : gettext("an earlier message")) : null,
    el("div", { class: "msg-body" }, m.text || `[${m.type}]`),
    mediaElement(m, { onRetried: (message) => placeMessage(message), onError: showError }),
    el(
      "div",
      { class: "msg-foot" },
      tickFor(m),
      m.status === "failed" ? el("span", { class: "failure" }, interpolate(gettext("Failed: %(reason)s"), { reason: m.error_text || gettext("not delivered") }) + (m.error_code ? ` (${m.error_code})` : "")) : null,
      !m.internal ? el("button", { type: "button", class: "ghost reply-btn", title: gettext("Reply to this message"), onclick: () => composer.replyTo(m) }, gettext("Reply")) : null,
    ),
  );
}

// Delivery status only moves forward: a copy that arrives late (the send's own answer
// after the visitor's "read" event) never takes a message back.
const STATUS_RANK = { pending: 0, sending: 0, sent: 1, delivered: 2, read: 3, failed: 4 };

const MEDIA_SETTLED = new Set(["stored", "failed"]);

// `snapshot`: read from the API (opening, catch-up), which may have left the server before a
// live event this desk already placed; it never takes a file back from stored or failed to
// "downloading" (a retry's own answer and events are not snapshots).
function placeMessage(m, { snapshot = false } = {}) {
  if (!m || m.conversation !== state.open) return;
  const previous = state.messages.get(m.id);
  const merged = { ...(previous || {}), ...m };
  if (previous && (STATUS_RANK[previous.status] ?? -1) > (STATUS_RANK[m.status] ?? -1)) merged.status = previous.status;
  if (snapshot && previous?.media && m.media && MEDIA_SETTLED.has(previous.media.state) && !MEDIA_SETTLED.has(m.media.state)) {
    merged.media = previous.media;
  }
  state.messages.set(m.id, merged);
  state.lastMessageId = Math.max(state.lastMessageId, m.id);
  const node = messageElement(merged);
  const existing = document.getElementById(`message-${m.id}`);
  const transcript = $("transcript");
  if (existing) {
    existing.replaceWith(node);
    return;
  }
  const later = [...transcript.children].find((child) => Number(child.dataset.id) > m.id);
  const nearBottom = transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 120;
  transcript.insertBefore(node, later || null);
  if (!later && nearBottom) transcript.scrollTop = transcript.scrollHeight;
}

function show(element, visible) {
  element.hidden = !visible;
}

function renderHeader() {
  const row = state.rows.get(state.open);
  const ctx = state.context;
  if (!row || !ctx) return;
  $("contact-name").textContent = row.contact_name || gettext("Customer");
  $("conversation-status").textContent = statusLabel(row);
  $("conversation-status").className = `chip status-${row.status}`;
  $("conversation-assignee").textContent = row.assignee_name
    ? interpolate(gettext("with %(name)s"), { name: row.assignee_name })
    : row.team_name ? interpolate(gettext("in %(team)s"), { team: row.team_name }) : "";
  const win = windowLabel(row);
  $("conversation-channel").textContent = row.channel === "webchat" ? gettext("Web chat") : "WhatsApp";
  $("conversation-channel").className = `chip channel channel-${row.channel}`;
  $("window-countdown").textContent = win.webchat
    ? gettext("Web chat: no 24-hour window")
    : win.closed ? gettext("24-hour window closed") : interpolate(gettext("window: %(time)s"), { time: win.text });
  $("window-countdown").className = `window${win.closed ? " closed" : ""}`;
  const sla = slaBadge(row);
  show($("sla-badge"), Boolean(sla));
  if (sla) { $("sla-badge").textContent = sla.text; $("sla-badge").className = `sla ${sla.level}`; }
  $("participants").textContent = (row.participants || []).filter((p) => p.role !== "watcher").map((p) => p.name).join(", ");
  // What this user may do here is the server's answer (the side panel's `actions`), never derived here.
  const allowed = new Set(ctx.actions || []);
  document.querySelectorAll("#conversation-actions [data-action]").forEach((button) => {
    button.hidden = !allowed.has(button.dataset.action);
  });
  composer.update(row, ctx, state.watch);
}

async function loadContext(id) {
  const ctx = await api(`/api/v1/desk/conversations/${id}/context/`);
  if (state.open !== id) return null;
  state.context = ctx;
  upsertRow(ctx.conversation);
  renderHandoff($("handoff-card"), ctx.handoff);
  renderSide(ctx, openConversation);
  renderHeader();
  return ctx;
}

function showError(text) {
  const box = $("action-error");
  box.textContent = text || "";
  box.hidden = !text;
}

async function openConversation(id, { push = true, watch = false } = {}) {
  if (state.open && state.open !== id) live.unsubscribe(state.open);
  state.open = id;
  state.selected = id;
  state.messages = new Map();
  state.lastMessageId = 0;
  state.context = null;
  state.watch = watch;
  $("transcript").replaceChildren();
  showError("");
  $("typing-line").textContent = "";
  $("desk").dataset.open = "1";
  $("conversation-view").hidden = false;
  $("empty-state").hidden = true;
  if (push) history.pushState({ id }, "", `/desk/c/${id}/`);
  scheduleList();
  let ctx;
  try {
    ctx = await loadContext(id);
    if (!ctx) return;
    if (ctx.my_role === "watcher") state.watch = true;
    else if (state.watch && (ctx.actions || []).includes("watch")) await api(`/api/v1/conversations/${id}/watch/`, { method: "POST" });
    live.subscribe(id, state.watch);
    $("watch-banner").hidden = !state.watch;
    const messages = await apiAll(`/api/v1/conversations/${id}/messages/`);
    if (state.open !== id) return;
    messages.forEach((m) => placeMessage(m, { snapshot: true }));
    $("transcript").scrollTop = $("transcript").scrollHeight;
    renderHeader();
    markSeen();
  } catch (error) {
    if (state.open !== id) return;
    $("conversation-view").hidden = true;
    $("side-panel").hidden = true;
    $("empty-state").hidden = false;
    $("empty-state").textContent = error.status === 404 ? gettext("This conversation does not exist or is not yours to see.") : error.message;
    live.unsubscribe(id);
    state.open = null;
  }
}

function closeConversation() {
  if (state.open) live.unsubscribe(state.open);
  state.open = null;
  $("desk").dataset.open = "";
  $("conversation-view").hidden = true;
  $("side-panel").hidden = true;
  $("empty-state").hidden = false;
  history.pushState({}, "", "/desk/");
  scheduleList();
}
$("back-to-list").addEventListener("click", closeConversation);
window.addEventListener("popstate", () => {
  const match = location.pathname.match(/^\/desk\/c\/(\d+)\/$/);
  if (match) openConversation(Number(match[1]), { push: false });
  else if (state.open) closeConversation();
});

let seenTimer = null;
function markSeen() {
  const id = state.open;
  const row = state.rows.get(id);
  if (!id || state.watch || document.visibilityState !== "visible" || !row || !row.unread) return;
  clearTimeout(seenTimer);
  seenTimer = setTimeout(async () => {
    try {
      await api(`/api/v1/conversations/${id}/seen/`, { method: "POST" });
      const current = state.rows.get(id);
      if (current) upsertRow({ ...current, unread: 0 });
    } catch (_) { /* a read receipt is a courtesy */ }
  }, 300);
}
document.addEventListener("visibilitychange", markSeen);

// ---- actions ----
async function act(action, body = {}) {
  const id = state.open;
  if (!id) return;
  showError("");
  try {
    const result = await api(`/api/v1/conversations/${id}/${action}/`, { method: "POST", body });
    if (result && result.conversation && typeof result.conversation === "object") upsertRow(result.conversation);
    await loadContext(id);
  } catch (error) {
    showError(error.message);
  }
}

async function transfer() {
  const ctx = state.context;
  const row = state.rows.get(state.open);
  if (!ctx || !row) return;
  const dialog = $("transfer-dialog");
  $("transfer-team").replaceChildren(el("option", { value: "" }, "—"), ...ctx.teams.filter((t) => t.id !== row.team).map((t) => el("option", { value: t.id }, t.name)));
  $("transfer-agent").replaceChildren(el("option", { value: "" }, "—"), ...ctx.team_members.filter((u) => u.id !== row.assignee).map((u) => el("option", { value: u.id }, u.name)));
  $("transfer-note").value = "";
  dialog.returnValue = "";
  dialog.showModal();
  dialog.addEventListener("close", () => {
    if (dialog.returnValue !== "ok") return;
    const team = Number($("transfer-team").value) || null;
    const agent = Number($("transfer-agent").value) || null;
    act("transfer", { team: agent ? null : team, agent, note: $("transfer-note").value });
  }, { once: true });
}

function runAction(action) {
  const button = document.querySelector(`#conversation-actions [data-action="${action}"]`);
  if (!button || button.hidden) return;
  if (action === "transfer") transfer();
  else act(action);
}
document.querySelectorAll("#conversation-actions [data-action]").forEach((button) => button.addEventListener("click", () => runAction(button.dataset.action)));

const composer = new Composer({
  conversationId: () => state.open,
  live: () => live,
  onSent: (message) => placeMessage(message),
  onError: showError,
});
composer.attachment = new Attachment({
  conversationId: () => state.open,
  onSent: (message) => placeMessage(message),
  onError: showError,
});

// A conversation started here opens at once (it is yours: the socket's event may come later).
const newConversation = new NewConversation({ onStarted: (result) => openConversation(result.conversation.id) });

// ---- live events ----
let typingTimer = null;
function onEvent(frame) {
  switch (frame.type) {
    case "message.created":
    case "message.updated": {
      const m = frame.message;
      if (!m) return;
      placeMessage(m);
      const row = state.rows.get(m.conversation);
      if (!row) { scheduleCatchUp(); return; }
      if (frame.type === "message.created" && !m.internal) {
        const patch = { id: row.id, preview: (m.text || "").slice(0, 200), last_activity_at: m.created_at };
        if (m.direction === "in" && !state.counted.has(m.id)) {
          state.counted.add(m.id);
          if (m.conversation !== state.open || state.watch || document.visibilityState !== "visible") patch.unread = (row.unread || 0) + 1;
          else { patch.unread = (row.unread || 0) + 1; setTimeout(markSeen, 0); }
        }
        upsertRow(patch);
      }
      return;
    }
    case "conversation.created":
    case "conversation.updated": {
      const row = upsertRow(frame.conversation, { live: true });
      if (row && row.id === state.open && state.context) loadContext(row.id).catch(() => {});
      return;
    }
    case "sla.breached": {
      const row = state.rows.get(frame.conversation);
      if (row) upsertRow({ id: row.id, sla_breached_at: frame.breached_at });
      return;
    }
    case "typing":
      if (frame.conversation === state.open && frame.user && frame.user.id !== me) {
        $("typing-line").textContent = interpolate(frame.internal ? gettext("%(name)s is writing a note…") : gettext("%(name)s is typing…"), { name: frame.user.name });
        clearTimeout(typingTimer);
        typingTimer = setTimeout(() => { $("typing-line").textContent = ""; }, 5000);
      }
      return;
    case "unsubscribed":
    case "error":
      if ((frame.code === "forbidden" || frame.reason === "forbidden") && frame.conversation === state.open) {
        closeConversation();
        $("empty-state").textContent = gettext("This conversation is no longer yours to see.");
      }
      return;
    default:
  }
}

// ---- catch-up: on every (re)connect, what changed since the last answer we saw ----
async function catchUp() {
  const url = state.since ? `/api/v1/desk/conversations/?since=${encodeURIComponent(state.since)}` : "/api/v1/desk/conversations/";
  const data = await api(url);
  // Overlap the next window by 30 s: a write committed late is replayed, never lost.
  state.since = new Date(new Date(data.server_time).getTime() - 30000).toISOString();
  const live = state.rows.size > 0;
  data.results.forEach((row) => upsertRow(row, { live }));
  if (state.open) {
    const id = state.open;
    const after = state.lastMessageId;
    const missed = await apiAll(`/api/v1/conversations/${id}/messages/${after ? `?after=${after}` : ""}`);
    missed.forEach((m) => placeMessage(m, { snapshot: true }));
    await loadContext(id);
  }
}
let catchUpTimer = null;
function scheduleCatchUp() {
  clearTimeout(catchUpTimer);
  catchUpTimer = setTimeout(() => catchUp().catch(() => {}), 400);
}

function setStatus(status) {
  const badge = $("connection-status");
  badge.dataset.state = status;
  badge.textContent = connectionLabel(status);
  if (status === "signed-out") location.href = `/accounts/login/?next=${encodeURIComponent(location.pathname)}`;
}

const initial = catchUp();
const live = new Live({
  url: cfg.socket,
  onEvent,
  onStatus: setStatus,
  onConnect: async () => { await initial.catch(() => {}); await catchUp(); },
});

// ---- presence ----
const presence = $("presence-select");
api("/api/v1/agents/me/").then((profile) => { presence.value = profile.presence; }).catch(() => {});
presence.addEventListener("change", () => api("/api/v1/agents/me/", { method: "PATCH", body: { presence: presence.value } }).catch((e) => showError(e.message)));

// ---- keyboard ----
function move(step) {
  const rows = visibleRows();
  if (!rows.length) return;
  let index = rows.findIndex((row) => row.id === state.selected);
  index = index === -1 ? 0 : Math.min(rows.length - 1, Math.max(0, index + step));
  state.selected = rows[index].id;
  renderList();
  const node = document.getElementById(`conversation-${state.selected}`);
  if (node) node.scrollIntoView({ block: "nearest" });
}
$("help-button").addEventListener("click", () => $("help-dialog").showModal());
document.addEventListener("keydown", (event) => {
  const target = event.target;
  const typing = target.closest && target.closest("input, textarea, select");
  if (typing || event.metaKey || event.ctrlKey || event.altKey) return;
  if (document.querySelector("dialog[open]")) return;
  const keys = {
    j: () => move(1),
    k: () => move(-1),
    o: () => state.selected && openConversation(state.selected),
    Enter: () => state.selected && openConversation(state.selected),
    1: () => setView("mine"),
    2: () => setView("team"),
    3: () => setView("all"),
    r: () => composer.focus("reply"),
    n: () => composer.focus("note"),
    w: () => composer.focus("whisper"),
    a: () => runAction("assign"),
    t: () => runAction("transfer"),
    h: () => runAction(state.rows.get(state.open) && state.rows.get(state.open).on_hold ? "unhold" : "hold"),
    b: () => runAction("handback"),
    e: () => runAction("resolve"),
    c: () => newConversation.open(),
    "?": () => $("help-dialog").showModal(),
    Escape: () => state.open && window.innerWidth < 800 && closeConversation(),
  };
  const handler = keys[event.key];
  if (handler) { event.preventDefault(); handler(); }
});

// Countdowns (window, SLA) move on their own.
setInterval(() => { scheduleList(); renderHeader(); }, 15000);

if (cfg.conversation) openConversation(cfg.conversation, { push: false, watch: cfg.watch });
else renderList();
