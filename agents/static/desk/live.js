// Shared by the desk and the monitor: the REST helper (session + CSRF), safe element
// building (text only, never HTML), and the live socket with catch-up on every (re)connect.

export function config() {
  return JSON.parse(document.getElementById("desk-config").textContent);
}

// Translations from the page's JavaScript catalogue (/desk/jsi18n/, in the desk user's
// language); the English text when the catalogue is missing.
export function gettext(text) {
  return typeof window.gettext === "function" ? window.gettext(text) : text;
}

export function interpolate(text, values) {
  return text.replace(/%\((\w+)\)s/g, (match, name) => (name in values ? String(values[name]) : match));
}

// The live connection's state as the status badge shows it.
export function connectionLabel(status) {
  return {
    live: gettext("live"), connecting: gettext("connecting…"), reconnecting: gettext("reconnecting…"),
    offline: gettext("offline"), "signed-out": gettext("signed out"),
  }[status] || status;
}

// Dates and times in the agent's time zone (their profile's, else the server's), in their language.
let zoneCache;
function zone() {
  if (zoneCache === undefined) {
    try {
      const cfg = config();
      zoneCache = { timeZone: cfg.timezone || undefined, locale: cfg.language || undefined };
      new Intl.DateTimeFormat(zoneCache.locale, { timeZone: zoneCache.timeZone });
    } catch {
      zoneCache = { timeZone: undefined, locale: undefined };
    }
  }
  return zoneCache;
}

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.detail) || interpolate(gettext("Request failed (%(status)s)"), { status }));
    this.status = status;
    this.code = (body && body.code) || "error";
  }
}

export async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") {
    headers["Content-Type"] = "application/json";
    headers["X-CSRFToken"] = csrfToken();
  }
  const response = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch (_) {
    data = null;
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// Every page of a paginated list ({results, next}).
export async function apiAll(path, limit = 40) {
  const items = [];
  let next = path;
  for (let i = 0; next && i < limit; i += 1) {
    const page = await api(next);
    items.push(...(page.results || []));
    next = page.next ? new URL(page.next, location.origin).pathname + new URL(page.next, location.origin).search : null;
  }
  return items;
}

// el("li", {id: "x", class: "a b", dataset: {k: "v"}, onclick: fn}, "text", child, ...)
// Strings always become text nodes: customer text can never become markup.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d`;
}

export function clock(iso) {
  if (!iso) return "";
  const { timeZone, locale } = zone();
  const d = new Date(iso);
  const day = (when) => when.toLocaleDateString("en-CA", { timeZone });
  return day(d) === day(new Date())
    ? d.toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit", timeZone })
    : d.toLocaleString(locale, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZone });
}

// The live socket. `onEvent(frame)` gets every server frame; `onConnect(reconnected)` runs
// after each hello, where the page catches up from the API. Subscriptions survive reconnects.
export class Live {
  constructor({ url, onEvent, onConnect, onStatus }) {
    this.url = url;
    this.onEvent = onEvent;
    this.onConnect = onConnect;
    this.onStatus = onStatus || (() => {});
    this.subscriptions = new Map();
    this.attempt = 0;
    this.connectedOnce = false;
    this.stopped = false;
    this.open();
  }

  open() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    this.onStatus(this.connectedOnce ? "reconnecting" : "connecting");
    const socket = new WebSocket(`${scheme}://${location.host}${this.url}`);
    this.socket = socket;
    socket.addEventListener("message", (message) => {
      let frame;
      try {
        frame = JSON.parse(message.data);
      } catch (_) {
        return;
      }
      if (frame.type === "hello") {
        const reconnected = this.connectedOnce;
        this.connectedOnce = true;
        this.attempt = 0;
        this.onStatus("live");
        for (const [conversation, silent] of this.subscriptions) {
          this.send({ action: "subscribe", conversation, silent });
        }
        Promise.resolve(this.onConnect(reconnected)).catch((error) => console.error(error));
        window.dispatchEvent(new CustomEvent("desk:connected"));
        return;
      }
      if (frame.type === "pong") return;
      // Page-wide listeners (the alert banner) see every frame too.
      window.dispatchEvent(new CustomEvent("desk:frame", { detail: frame }));
      this.onEvent(frame);
    });
    socket.addEventListener("close", (event) => {
      clearInterval(this.heartbeat);
      if (this.stopped) return;
      if (event.code === 4401 || event.code === 4403) {
        this.onStatus("signed-out");
        return;
      }
      this.onStatus("offline");
      // Jittered exponential backoff: 0.5 s doubling to 30 s, each wait randomised.
      const base = Math.min(30000, 500 * 2 ** this.attempt);
      this.attempt += 1;
      setTimeout(() => this.open(), base / 2 + Math.random() * base / 2);
    });
    this.heartbeat = setInterval(() => this.send({ action: "ping" }), 25000);
  }

  send(frame) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  subscribe(conversation, silent = false) {
    this.subscriptions.set(conversation, silent);
    this.send({ action: "subscribe", conversation, silent });
  }

  unsubscribe(conversation) {
    if (this.subscriptions.delete(conversation)) this.send({ action: "unsubscribe", conversation });
  }
}
