// The sandbox phone: pick a customer, read what the business sent, write back.
// Everything a customer or the business wrote is put in the page with textContent.
(function () {
  "use strict";

  const POLL_MS = 1000;
  const api = "/sandbox/api/phones/";
  const csrf = document.querySelector("[name=csrfmiddlewaretoken]").value;
  const el = (id) => document.getElementById(id);
  let current = null;
  let phones = [];
  let pollTimer = null;
  const seenAsked = new Set();

  function node(tag, className, text) {
    const n = document.createElement(tag);
    if (className) n.className = className;
    if (text !== undefined && text !== null && text !== "") n.textContent = text;
    return n;
  }

  async function call(url, body) {
    const options = body === undefined ? {} : {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body),
    };
    const response = await fetch(url, Object.assign({ credentials: "same-origin" }, options));
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.detail || "HTTP " + response.status);
    return data;
  }

  function renderPhones() {
    const list = el("phones");
    list.replaceChildren();
    for (const phone of phones) {
      const button = node("button", phone.id === current ? "current" : "", phone.name);
      button.type = "button";
      button.append(node("small", "", phone.wa_id ? "+" + phone.wa_id : phone.username + " · " + phone.user_id));
      button.addEventListener("click", () => choose(phone.id));
      const item = node("li");
      item.append(button);
      list.append(item);
    }
  }

  async function loadPhones() {
    const data = await call(api);
    phones = data.phones;
    renderPhones();
  }

  function choose(id) {
    current = id;
    seenAsked.clear();
    el("thread").replaceChildren();
    for (const id of ["text", "send", "share-location", "attach", "voice"]) el(id).disabled = false;
    renderPhones();
    poll();
  }

  const TICKS = { accepted: "🕓", sent: "✓", delivered: "✓✓", read: "✓✓ seen", failed: "failed" };

  function meta(message) {
    const time = new Date(message.created_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    let label = time + " " + (TICKS[message.status] || message.status);
    if (message.direction === "out") label = time + " · " + message.status;
    const m = node("div", "meta" + (message.status === "read" ? " read" : "") + (message.status === "failed" ? " failed" : ""), label);
    if (message.error) m.title = message.error;
    return m;
  }

  function choices(message) {
    const r = message.rendered || {};
    const box = node("div", "choices");
    for (const b of r.buttons || []) {
      const button = node("button", "", b.title);
      button.type = "button";
      if (b.kind === "reply") button.addEventListener("click", () => reply(message.id, b.id));
      else button.disabled = true;
      box.append(button);
    }
    if (r.sections) {
      const open = node("button", "", "☰ " + r.list_button);
      open.type = "button";
      const rows = node("div", "choices");
      rows.hidden = true;
      open.addEventListener("click", () => { rows.hidden = !rows.hidden; });
      for (const section of r.sections) {
        if (section.title) rows.append(node("strong", "", section.title));
        for (const row of section.rows) {
          const button = node("button", "row", row.title);
          button.type = "button";
          if (row.description) button.append(node("small", "", row.description));
          button.addEventListener("click", () => reply(message.id, row.id));
          rows.append(button);
        }
      }
      box.append(open, rows);
    }
    return box;
  }

  // A file the phone sent or received, from the sandbox's own media view.
  function mediaNode(r) {
    if (r.media_link) return node("div", "body", "[" + r.media + "] " + r.media_link);
    if (!r.media_url) return null;
    const type = r.mime_type || "";
    if ((r.media === "image" || r.media === "sticker") && type.startsWith("image/")) {
      const img = node("img", "media");
      img.src = r.media_url;
      img.alt = r.media;
      return img;
    }
    if (r.media === "audio") {
      const audio = node("audio");
      audio.controls = true;
      audio.src = r.media_url;
      return audio;
    }
    if (r.media === "video") {
      const video = node("video");
      video.controls = true;
      video.src = r.media_url;
      return video;
    }
    const link = node("a", "file", "📄 " + (r.file_name || "document"));
    link.href = r.media_url;
    return link;
  }

  function bubble(message) {
    const b = node("div", "bubble " + message.direction);
    b.id = "message-" + message.id;
    const r = message.rendered || {};
    const file = r.media && r.media !== "location" ? mediaNode(r) : null;
    if (file) {
      b.append(file);
      if (r.body) b.append(node("div", "body", r.body));
    } else if (message.direction === "out") {
      if (r.header) b.append(node("div", "head", r.header));
      b.append(node("div", "body", r.body !== undefined ? r.body : message.text));
      if (r.footer) b.append(node("div", "foot", r.footer));
      if ((r.buttons && r.buttons.length) || r.sections) b.append(choices(message));
    } else {
      b.append(node("div", "body", message.text));
    }
    b.append(meta(message));
    b.dataset.status = message.status;
    return b;
  }

  function renderThread(data) {
    const thread = el("thread");
    const atBottom = thread.scrollHeight - thread.scrollTop - thread.clientHeight < 40;
    el("chat-title").textContent = data.phone.name;
    el("chat-sub").textContent = (data.phone.wa_id ? "+" + data.phone.wa_id : data.phone.username) + " → " + data.phone.number_display;
    el("typing").textContent = data.typing ? "the business is typing…" : "";
    let added = false;
    for (const message of data.messages) {
      const existing = document.getElementById("message-" + message.id);
      if (!existing) {
        thread.append(bubble(message));
        added = true;
      } else if (existing.dataset.status !== message.status) {
        existing.replaceWith(bubble(message));
      }
    }
    if (!data.messages.length && !thread.children.length) thread.append(node("p", "empty", "No messages yet. Say hello!"));
    if (data.messages.length) thread.querySelectorAll(".empty").forEach((n) => n.remove());
    if (added && atBottom) thread.scrollTop = thread.scrollHeight;
    markSeen(data.messages);
  }

  // The customer has looked at the chat: delivered business messages become "read".
  function markSeen(messages) {
    if (document.visibilityState !== "visible") return;
    const ids = messages
      .filter((m) => m.direction === "out" && m.status === "delivered" && !m.seen && !seenAsked.has(m.id))
      .map((m) => m.id);
    if (!ids.length) return;
    ids.forEach((id) => seenAsked.add(id));
    call(api + current + "/seen/", { ids: ids }).catch(() => ids.forEach((id) => seenAsked.delete(id)));
  }

  async function poll() {
    clearTimeout(pollTimer);
    if (current !== null) {
      const asked = current;
      try {
        const data = await call(api + asked + "/");
        if (asked === current) renderThread(data);
      } catch (err) {
        el("send-error").textContent = err.message;
      }
    }
    pollTimer = setTimeout(poll, POLL_MS);
  }

  async function send(body) {
    el("send-error").textContent = "";
    try {
      await call(api + current + "/messages/", body);
      poll();
    } catch (err) {
      el("send-error").textContent = err.message;
    }
  }

  function reply(messageId, choice) {
    send({ reply_to: messageId, choice: choice });
  }

  el("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = el("text").value.trim();
    if (!text) return;
    el("text").value = "";
    send({ text: text });
  });

  async function sendFile(file, voice) {
    el("send-error").textContent = "";
    const form = new FormData();
    form.append("file", file);
    form.append("caption", voice ? "" : el("text").value.trim());
    if (voice) form.append("voice", "1");
    try {
      const response = await fetch(api + current + "/media/", {
        method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrf }, body: form,
      });
      const data = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error(data.detail || "HTTP " + response.status);
      if (!voice) el("text").value = "";
      poll();
    } catch (err) {
      el("send-error").textContent = err.message;
    }
  }

  el("attach").addEventListener("click", () => el("attach-file").click());
  el("voice").addEventListener("click", () => el("voice-file").click());
  el("attach-file").addEventListener("change", (event) => {
    const file = event.target.files[0];
    event.target.value = "";
    if (file) sendFile(file, false);
  });
  el("voice-file").addEventListener("change", (event) => {
    const file = event.target.files[0];
    event.target.value = "";
    if (file) sendFile(file, true);
  });

  el("share-location").addEventListener("click", () => {
    send({ location: { latitude: 38.7223, longitude: -9.1393, name: "Praça do Comércio", address: "Lisbon" } });
  });

  el("new-phone").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    el("np-error").textContent = "";
    try {
      const data = await call(api, {
        number: Number(form.elements.number.value) || null,
        name: form.elements["name"].value,
        wa_id: form.elements.wa_id.value,
        username: form.elements.username.value,
      });
      form.reset();
      await loadPhones();
      choose(data.phone.id);
    } catch (err) {
      el("np-error").textContent = err.message;
    }
  });

  document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") poll(); });
  loadPhones().then(() => { if (phones.length) choose(phones[0].id); }).catch((err) => {
    el("np-error").textContent = err.message;
  });
})();
