// The desk's composer: replies (optionally to one message), internal notes, whispers,
// canned responses on "/", and, once the 24-hour window has closed, approved templates only.
import { api, el, gettext } from "./live.js";
import { templateFields, templateParameters } from "./template_form.js";

const $ = (id) => document.getElementById(id);

export class Composer {
  constructor({ conversationId, live, onSent, onError }) {
    this.conversationId = conversationId;
    this.live = live;
    this.onSent = onSent;
    this.onError = onError;
    this.mode = "reply";
    this.replyToId = null;
    this.canned = null;
    this.cannedFor = null;
    this.matches = [];
    this.active = 0;
    this.lastTyping = 0;
    this.templates = [];
    this.text = $("composer-text");
    this.text.addEventListener("input", () => { this.typing(); this.cannedLookup(); });
    this.text.addEventListener("keydown", (event) => this.keydown(event));
    $("composer").addEventListener("submit", (event) => { event.preventDefault(); this.send(); });
    $("reply-to-cancel").addEventListener("click", () => this.replyTo(null));
    document.querySelectorAll("#composer .mode").forEach((button) => button.addEventListener("click", () => this.setMode(button.dataset.mode)));
    $("template-select").addEventListener("change", () => this.templateChosen());
    $("template-composer").addEventListener("submit", (event) => { event.preventDefault(); this.sendTemplate(); });
    this.setMode("reply");
  }

  // The modes offered follow the server's `actions` for this user (reply, note, whisper).
  update(row, ctx, watch) {
    // Web chat has no 24-hour window (and no templates): always the reply composer.
    const windowOpen = row.channel === "webchat" || (row.window_expires_at && new Date(row.window_expires_at) > Date.now());
    const allowed = new Set(ctx.actions || []);
    this.watch = watch;
    $("mode-reply").hidden = watch || !windowOpen || !allowed.has("reply");
    $("mode-note").hidden = watch || !allowed.has("note");
    $("mode-whisper").hidden = !allowed.has("whisper");
    if (watch) this.setMode("whisper");
    else if ($(`mode-${this.mode}`).hidden) this.setMode(["reply", "note", "whisper"].find((mode) => !$(`mode-${mode}`).hidden) || "note");
    $("template-composer").hidden = Boolean(windowOpen) || watch;
    // Refill only when the offer changed: a live update must not wipe a half-filled form.
    const offer = JSON.stringify((ctx.templates || []).map((t) => [t.name, t.language, t.slots]));
    if (!windowOpen && offer !== this.offer) {
      this.offer = offer;
      this.fillTemplates(ctx.templates || []);
    }
  }

  setMode(mode) {
    const button = $(`mode-${mode}`);
    if (!button || button.hidden) return;
    this.mode = mode;
    document.querySelectorAll("#composer .mode").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.mode === mode)));
    $("composer").dataset.mode = mode;
    this.text.placeholder = {
      reply: gettext("Type a reply; / for canned responses"),
      note: gettext("Internal note: only agents see it"),
      whisper: gettext("Whisper to the agents: the customer never sees it"),
    }[mode];
    if (mode !== "reply") this.replyTo(null);
  }

  focus(mode) {
    if (!this.conversationId()) return;
    this.setMode(mode);
    this.text.focus();
  }

  replyTo(message) {
    this.replyToId = message ? message.id : null;
    $("reply-to-preview").hidden = !message;
    $("reply-to-text").textContent = message ? (message.text || "").slice(0, 140) : "";
    if (message) this.focus("reply");
  }

  typing() {
    const id = this.conversationId();
    const now = Date.now();
    if (!id || now - this.lastTyping < 3000 || !this.text.value) return;
    this.lastTyping = now;
    this.live().send({ action: "typing", conversation: id, internal: this.mode !== "reply" });
  }

  async send() {
    const id = this.conversationId();
    const text = this.text.value.trim();
    if (id && this.attachment && this.attachment.pending()) return this.sendFile(text);
    if (!id || !text) return;
    this.onError("");
    $("composer-send").disabled = true;
    try {
      if (this.mode === "whisper") {
        await api(`/api/v1/conversations/${id}/whisper/`, { method: "POST", body: { text } });
      } else {
        const body = this.mode === "note" ? { note: text } : { text, reply_to: this.replyToId };
        this.onSent(await api(`/api/v1/conversations/${id}/messages/`, { method: "POST", body }));
      }
      this.text.value = "";
      this.replyTo(null);
    } catch (error) {
      this.onError(error.message);
    } finally {
      $("composer-send").disabled = false;
    }
  }

  // A file goes to the customer as a reply (the text is its caption), whatever the mode;
  // outside the 24-hour window the server refuses it with `window_closed`.
  async sendFile(caption) {
    this.onError("");
    $("composer-send").disabled = true;
    try {
      await this.attachment.send(caption, this.replyToId);
      this.text.value = "";
      this.replyTo(null);
    } catch (error) {
      this.onError(error.message);
    } finally {
      $("composer-send").disabled = false;
    }
  }

  // ---- canned responses ----
  async cannedLookup() {
    const before = this.text.value.slice(0, this.text.selectionStart);
    const match = before.match(/(?:^|\s)\/([\w-]*)$/);
    if (!match || this.mode === "whisper") { this.closeCanned(); return; }
    const id = this.conversationId();
    if (this.cannedFor !== id) {
      this.cannedFor = id;
      this.canned = (await api(`/api/v1/canned-responses/?conversation=${id}`)).results;
    }
    const query = match[1].toLowerCase();
    this.matches = this.canned.filter((c) => c.shortcut.toLowerCase().startsWith(query) || c.title.toLowerCase().includes(query)).slice(0, 8);
    this.active = 0;
    this.query = match[1];
    this.renderCanned();
  }

  renderCanned() {
    const menu = $("canned-menu");
    menu.hidden = this.matches.length === 0;
    menu.replaceChildren(
      ...this.matches.map((c, i) =>
        el(
          "li",
          { role: "option", class: i === this.active ? "active" : "", "aria-selected": String(i === this.active), dataset: { shortcut: c.shortcut }, onmousedown: (e) => { e.preventDefault(); this.insertCanned(c); } },
          el("strong", {}, `/${c.shortcut}`), " ", el("span", { class: "muted" }, c.title), el("div", { class: "small" }, (c.rendered || c.body).slice(0, 120)),
        ),
      ),
    );
  }

  closeCanned() {
    this.matches = [];
    $("canned-menu").hidden = true;
  }

  insertCanned(item) {
    const caret = this.text.selectionStart;
    const start = caret - this.query.length - 1;
    const text = item.rendered || item.body;
    this.text.value = this.text.value.slice(0, start) + text + this.text.value.slice(caret);
    const position = start + text.length;
    this.text.setSelectionRange(position, position);
    this.closeCanned();
    this.text.focus();
  }

  keydown(event) {
    const open = this.matches.length > 0;
    if (open && (event.key === "ArrowDown" || event.key === "ArrowUp")) {
      event.preventDefault();
      this.active = (this.active + (event.key === "ArrowDown" ? 1 : -1) + this.matches.length) % this.matches.length;
      this.renderCanned();
    } else if (open && (event.key === "Enter" || event.key === "Tab")) {
      event.preventDefault();
      this.insertCanned(this.matches[this.active]);
    } else if (event.key === "Escape") {
      if (open) this.closeCanned();
      else this.text.blur();
    } else if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      this.send();
    }
  }

  // ---- templates, once the window has closed ----
  fillTemplates(templates) {
    this.templates = templates;
    $("template-select").replaceChildren(
      el("option", { value: "" }, templates.length ? gettext("Choose a template…") : gettext("No approved templates")),
      ...templates.map((t, i) => el("option", { value: String(i) }, `${t.name} (${t.language})`)),
    );
    this.templateChosen();
  }

  templateChosen() {
    const template = this.templates[Number($("template-select").value)];
    const chosen = $("template-select").value !== "" && template;
    $("template-body").textContent = chosen ? template.body : "";
    $("template-send").disabled = !chosen;
    $("template-params").replaceChildren(...(chosen ? templateFields(template) : []));
  }

  async sendTemplate() {
    const id = this.conversationId();
    const template = this.templates[Number($("template-select").value)];
    if (!id || !template) return;
    const parameters = templateParameters(template, $("template-params"));
    this.onError("");
    try {
      const message = await api(`/api/v1/conversations/${id}/messages/`, {
        method: "POST",
        body: { template: { name: template.name, language: template.language, parameters } },
      });
      this.onSent(message);
      $("template-select").value = "";
      this.templateChosen();
    } catch (error) {
      this.onError(error.message);
    }
  }
}
