// The web chat frame (templates/webchat/frame.html), shown by /widget.js in an iframe.
// Customer and agent text is always rendered as text. The visitor's token lives in this
// frame's storage, so a reload or another page of the site resumes the conversation; the
// socket catches up from the last message id it has seen.
const config = JSON.parse(document.getElementById("webchat-config").textContent);
const $ = (id) => document.getElementById(id);
const storeKey = `handoff.webchat.${config.key}`;
const state = { token: "", lastId: 0, socket: null, retry: 0, outbox: new Map(), open: false, seen: new Set(),
  mode: "", verified: false, email: "", offline: false, prechat: false, typingTimer: null, typedAt: 0, readUpTo: 0 };

// Where the token is kept: this frame's storage; where the browser blocks storage in
// third-party frames, the host page keeps it for the frame (widget.js, by postMessage).
let ownStorage = true;
try { localStorage.getItem(storeKey); } catch (e) { ownStorage = false; }
let hostStored = null;

function store(token) {
  state.token = token;
  if (ownStorage) {
    try { localStorage.setItem(storeKey, token); } catch (e) { /* full: this page only */ }
  } else {
    window.parent.postMessage({ handoff: "store", token }, config.hostOrigin);
  }
}
function stored() {
  if (ownStorage) {
    try { return localStorage.getItem(storeKey) || ""; } catch (e) { return ""; }
  }
  return new Promise((resolve) => {
    hostStored = resolve;
    window.parent.postMessage({ handoff: "boot" }, config.hostOrigin);
    setTimeout(() => resolve(""), 1500);
  });
}
function toHost(msg) { window.parent.postMessage({ handoff: msg.handoff, ...msg }, config.hostOrigin); }

async function call(path, body) {
  const response = await fetch(`/webchat/${encodeURIComponent(config.key)}/${path}/`, {
    method: "POST", headers: { "Content-Type": "application/json" }, credentials: "omit",
    body: JSON.stringify({ token: state.token, ...body }),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw Object.assign(new Error(data.detail || "Something went wrong."), data);
  if (data.token) store(data.token);
  if ("email" in data) state.email = data.email;
  if ("verified" in data && path === "session") state.verified = data.verified;
  return data;
}

function show(mode) {
  state.mode = mode;
  $("prechat-form").hidden = mode !== "prechat";
  $("offline-form").hidden = mode !== "offline";
  $("offline-done").hidden = mode !== "offline-done";
  $("chat").hidden = mode !== "chat";
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "onclick") node.addEventListener("click", v);
    else node.setAttribute(k, v);
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}

function markFor(m) {
  if (!m.mine) return null;
  if (m.id <= state.readUpTo) return el("span", { class: "mark" }, "Read");
  return el("span", { class: "mark" }, "Sent");
}

// A file of the conversation, by the links the server signed for this one file (the
// visitor's token never goes into a URL; every frame and catch-up brings fresh links): an
// image by its thumbnail (opening full size), audio and video players, else a download
// link with its name and size. Names and captions are text, never HTML.
function mediaElement(m) {
  const media = m.media;
  if (!media || !media.url) return null;
  const labels = config.labels || {};
  const name = media.name || labels.file || "File";
  const full = media.url;
  if ((media.kind === "image" || media.kind === "sticker") && media.inline) {
    const img = el("img", { class: "media-image", src: media.thumbnail_url || full, alt: name });
    return el("a", { class: "media", href: full, target: "_blank", rel: "noopener noreferrer", title: labels.open || "" }, img);
  }
  if (media.kind === "audio" && media.inline) return el("audio", { class: "media-audio", controls: "", preload: "none", src: full });
  if (media.kind === "video" && media.inline) return el("video", { class: "media-video", controls: "", preload: "metadata", src: full });
  const link = el("a", { class: "media-file", href: full, download: name, rel: "noopener noreferrer" }, name);
  return el("span", { class: "media-doc" }, link, media.size_text ? el("span", { class: "media-size" }, ` (${media.size_text})`) : null);
}

// On reconnect the greeting re-signs the links of files already shown (the catch-up
// resends only newer messages), so a widget left open for days keeps working links. A
// player already started keeps its source rather than jumping back to the start.
function refreshLinks(links) {
  for (const link of links || []) {
    const li = $(`msg-${link.id}`);
    if (!li || !link.url) continue;
    for (const a of li.querySelectorAll("a.media, a.media-file")) a.setAttribute("href", link.url);
    for (const img of li.querySelectorAll("img.media-image")) img.setAttribute("src", link.thumbnail_url || link.url);
    for (const player of li.querySelectorAll("audio.media-audio, video.media-video")) {
      if (player.paused && !player.currentTime) player.setAttribute("src", link.url);
    }
  }
}

function render(m) {
  const who = m.mine ? null : el("span", { class: "who" }, m.sender_name || (m.sender === "agent" ? "Agent" : m.sender === "bot" ? "Bot" : ""));
  const choices = (m.choices || []).length
    ? el("div", { class: "choices" }, ...m.choices.map((c) => el("button", { type: "button", onclick: () => reply(c) }, c.title)))
    : null;
  const text = m.text ? el("span", { class: "text" }, m.text) : null;
  const li = el("li", { id: `msg-${m.id}`, class: m.mine ? "mine" : "theirs" }, who, mediaElement(m), text, choices, markFor(m));
  const existing = $(`msg-${m.id}`);
  if (existing) existing.replaceWith(li);
  else {
    const list = $("messages");
    const later = [...list.children].find((n) => Number(n.id.slice(4)) > m.id);
    list.insertBefore(li, later || null);
    list.scrollTop = list.scrollHeight;
  }
  state.lastId = Math.max(state.lastId, m.id);
  $("transcript").hidden = false;
  if (!m.mine) {
    $("typing").textContent = "";
    acknowledge(m);
  }
}

function acknowledge(m) {
  if (!state.seen.has(`d${m.id}`) && m.status !== "delivered" && m.status !== "read") {
    state.seen.add(`d${m.id}`);
    send({ action: "delivered", message: m.id });
  }
  if (state.open && document.visibilityState === "visible" && !state.seen.has(`r${m.id}`) && m.status !== "read") {
    state.seen.add(`r${m.id}`);
    send({ action: "read", message: m.id });
  }
}

function readAll() {
  for (const li of $("messages").querySelectorAll("li.theirs")) acknowledge({ id: Number(li.id.slice(4)), status: "" });
}

function send(frame) {
  if (state.socket && state.socket.readyState === WebSocket.OPEN) { state.socket.send(JSON.stringify(frame)); return true; }
  return false;
}

function clientId() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function post(frame) {
  const id = clientId();
  const full = { ...frame, client_id: id };
  state.outbox.set(id, full);
  send(full);
}

function reply(choice) { post({ action: "reply", id: choice.id }); }

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const url = `${scheme}://${location.host}/ws/webchat/${encodeURIComponent(config.key)}/?token=${encodeURIComponent(state.token)}&after=${state.lastId}`;
  const socket = new WebSocket(url);
  state.socket = socket;
  socket.onmessage = (event) => {
    let frame;
    try { frame = JSON.parse(event.data); } catch (e) { return; }
    handle(frame);
  };
  socket.onclose = async (event) => {
    if (state.socket !== socket) return;
    state.socket = null;
    if (event.code === 4403) { $("chat-status").textContent = "This chat is not available here."; return; }
    if (event.code === 4401) {
      try { await call("session", { origin: config.hostOrigin }); } catch (e) { /* retried below */ }
    }
    const delay = Math.min(1000 * 2 ** state.retry, 15000);
    state.retry += 1;
    $("chat-status").textContent = "Reconnecting…";
    setTimeout(connect, delay);
  };
}

function handle(frame) {
  switch (frame.type) {
    case "hello":
      state.retry = 0;
      $("chat-status").textContent = "";
      if (frame.token) store(frame.token);
      refreshLinks(frame.media_links);
      for (const m of frame.messages || []) render(m);
      state.prechat = frame.prechat;
      state.offline = frame.offline;
      if (state.mode !== "offline-done") {
        const open = frame.conversation && frame.conversation.status !== "resolved";
        if (frame.offline && !open && !(frame.messages || []).length) show("offline");
        else show(frame.prechat ? "prechat" : "chat");
      }
      for (const pending of state.outbox.values()) send(pending); // resent by id: stored once
      return;
    case "message":
      render(frame.message);
      if (!frame.message.mine) toHost({ handoff: "message", message: { text: frame.message.text, sender: frame.message.sender } });
      return;
    case "ack":
      state.outbox.delete(frame.client_id);
      return;
    case "read":
      state.readUpTo = Math.max(state.readUpTo, frame.up_to || 0);
      for (const li of $("messages").querySelectorAll("li.mine")) {
        if (Number(li.id.slice(4)) <= state.readUpTo) {
          const mark = li.querySelector(".mark");
          if (mark) mark.textContent = "Read";
        }
      }
      return;
    case "typing":
      $("typing").textContent = "Typing…";
      clearTimeout(state.typingTimer);
      state.typingTimer = setTimeout(() => { $("typing").textContent = ""; }, 20000);
      return;
    case "error":
      if (frame.client_id) state.outbox.delete(frame.client_id);
      if (frame.code === "prechat_required") show("prechat");
      else $("chat-status").textContent = frame.detail || "Something went wrong.";
      return;
    default:
  }
}

function formError(id, error) { $(id).textContent = error.detail || error.message; }

$("prechat-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("prechat-error").textContent = "";
  try {
    await call("prechat", {
      name: $("prechat-name") ? $("prechat-name").value : "",
      email: $("prechat-email") ? $("prechat-email").value : "",
      consent: $("prechat-consent") ? $("prechat-consent").checked : false,
    });
    show("chat");
    $("composer-text").focus();
  } catch (error) { formError("prechat-error", error); }
});

$("offline-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("offline-error").textContent = "";
  try {
    await call("offline", {
      name: $("offline-name").value, email: $("offline-email").value, text: $("offline-text").value,
      consent: $("offline-consent") ? $("offline-consent").checked : true, client_id: clientId(),
    });
    show("offline-done");
  } catch (error) { formError("offline-error", error); }
});

$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("composer-text").value.trim();
  if (!text) return;
  post({ action: "message", text });
  $("composer-text").value = "";
});
$("composer-text").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); $("composer").requestSubmit(); }
});
$("composer-text").addEventListener("input", () => {
  const now = Date.now();
  if (now - state.typedAt > 2000) { state.typedAt = now; send({ action: "typing" }); }
});
$("composer-file").addEventListener("change", async () => {
  const file = $("composer-file").files[0];
  if (!file) return;
  const form = new FormData();
  form.append("token", state.token);
  form.append("client_id", clientId());
  form.append("file", file);
  $("chat-status").textContent = "Sending the file…";
  try {
    const response = await fetch(`/webchat/${encodeURIComponent(config.key)}/upload/`, { method: "POST", body: form, credentials: "omit" });
    const data = await response.json().catch(() => ({}));
    $("chat-status").textContent = response.ok ? "" : data.detail || "The file could not be sent.";
  } catch (error) { $("chat-status").textContent = "The file could not be sent."; }
  $("composer-file").value = "";
});
$("talk-to-person").addEventListener("click", () => post({ action: "reply", id: "handoff:human" }));
$("chat-close").addEventListener("click", () => toHost({ handoff: "close" }));
$("transcript").addEventListener("click", () => {
  $("transcript-form").hidden = !$("transcript-form").hidden;
  $("transcript-email").value = state.email || "";
});
$("transcript-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("transcript-error").textContent = "";
  try {
    await call("transcript", { email: $("transcript-email").value });
    $("transcript-form").hidden = true;
    $("chat-status").textContent = "The transcript is on its way.";
  } catch (error) { formError("transcript-error", error); }
});
document.addEventListener("visibilitychange", () => { if (state.open) readAll(); });

window.addEventListener("message", async (event) => {
  if (event.source !== window.parent || event.origin !== config.hostOrigin) return;
  const data = event.data;
  if (!data || typeof data !== "object") return;
  if (data.handoff === "stored" && hostStored) { hostStored(typeof data.token === "string" ? data.token : ""); hostStored = null; }
  else if (data.handoff === "open") { state.open = true; readAll(); }
  else if (data.handoff === "close") state.open = false;
  else if (data.handoff === "identify" && data.user && typeof data.user === "object") {
    try {
      const before = state.verified;
      const result = await call("identify", data.user);
      state.verified = result.verified;
      if (result.verified !== before && state.socket) { const old = state.socket; state.socket = null; old.close(); state.lastId = 0; $("messages").replaceChildren(); connect(); }
    } catch (error) { $("chat-status").textContent = error.detail || error.message; }
  }
});

async function start() {
  state.token = await stored();
  try {
    await call("session", { origin: config.hostOrigin });
  } catch (error) {
    $("chat-status").textContent = error.detail || error.message;
    return;
  }
  connect();
  toHost({ handoff: "ready", color: config.color });
}
start();
