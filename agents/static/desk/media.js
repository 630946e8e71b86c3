// Media in the desk: a message's file (image thumbnail opening full size, audio and voice
// note players, video, sticker, document with name and size, download state and retry),
// and the composer's attachment (button, drag and drop, paste) sent with a progress bar.
// Files come from /media/<message id>/, which checks access on every request.
import { api, el, gettext, interpolate } from "./live.js";

const $ = (id) => document.getElementById(id);

export function humanSize(bytes) {
  if (bytes === null || bytes === undefined) return "";
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${bytes} B`;
}

function kindLabel(kind) {
  return { image: gettext("image"), audio: gettext("audio"), video: gettext("video"), document: gettext("document"), sticker: gettext("sticker") }[kind] || kind;
}

export function mediaElement(m, { onRetried, onError }) {
  const media = m.media;
  if (!media) return null;
  const id = `media-${m.id}`;
  const label = media.voice ? gettext("voice note") : kindLabel(media.kind);
  if (media.state === "pending" || media.state === "downloading") {
    return el("div", { id, class: "media media-pending muted" }, media.failure_reason
      ? interpolate(gettext("Downloading the %(kind)s again… (%(reason)s)"), { kind: label, reason: media.failure_reason })
      : interpolate(gettext("Downloading the %(kind)s…"), { kind: label }));
  }
  if (media.state === "removed") return el("div", { id, class: "media media-removed muted" }, interpolate(gettext("The %(kind)s was removed."), { kind: label }));
  if (media.state === "failed") {
    // Only a download fails (a customer's file, or one the business sent from its phone);
    // a file sent from the desk is refused before it is stored.
    const retry = media.failure_code !== "no_media_id"
      ? el("button", {
        type: "button", class: "ghost media-retry", id: `media-retry-${m.id}`,
        onclick: async (event) => {
          event.target.disabled = true;
          try {
            onRetried(await api(`/api/v1/conversations/${m.conversation}/messages/${m.id}/media/retry/`, { method: "POST" }));
          } catch (error) {
            event.target.disabled = false;
            onError(error.message);
          }
        },
      }, gettext("Retry"))
      : null;
    return el("div", { id, class: "media media-failed" }, el("span", { class: "failure" }, interpolate(gettext("The %(kind)s could not be downloaded: %(reason)s"), { kind: label, reason: media.failure_reason || media.failure_code })), retry);
  }
  if (!media.url) return null;
  if ((media.kind === "image" || media.kind === "sticker") && media.inline) {
    const img = el("img", { src: media.thumbnail_url || media.url, alt: kindLabel(media.kind === "sticker" ? "sticker" : "image"), class: media.kind === "sticker" ? "media-sticker" : "media-image", loading: "lazy" });
    return el("a", { id, class: "media", href: media.url, target: "_blank", rel: "noopener", title: gettext("Open full size") }, img);
  }
  if (media.kind === "audio" && media.inline) {
    return el("div", { id, class: "media media-audio" }, el("span", { class: "muted" }, media.voice ? gettext("Voice note") : gettext("Audio")), el("audio", { controls: true, preload: "metadata", src: media.url }));
  }
  if (media.kind === "video" && media.inline) {
    return el("div", { id, class: "media media-video" }, el("video", { controls: true, preload: "metadata", src: media.url }));
  }
  const name = media.file_name || `${label}`;
  return el("a", { id, class: "media media-file", href: media.url, download: name }, el("span", { class: "file-name" }, name), el("span", { class: "muted" }, humanSize(media.size)));
}

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

// Upload with progress (fetch reports none): resolves with the created message.
function upload(path, form, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    xhr.setRequestHeader("X-CSRFToken", csrfToken());
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", (event) => { if (event.lengthComputable) onProgress(event.loaded / event.total); });
    xhr.addEventListener("load", () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch (_) { body = null; }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else reject(new Error((body && body.detail) || interpolate(gettext("Upload failed (%(status)s)"), { status: xhr.status })));
    });
    xhr.addEventListener("error", () => reject(new Error(gettext("The upload was interrupted."))));
    xhr.send(form);
  });
}

// The composer's attachment: one file at a time, sent as a reply with the text as caption.
export class Attachment {
  constructor({ conversationId, onSent, onError }) {
    this.conversationId = conversationId;
    this.onSent = onSent;
    this.onError = onError;
    this.file = null;
    $("composer-attach").addEventListener("click", () => $("composer-file").click());
    $("composer-file").addEventListener("change", (event) => {
      if (event.target.files[0]) this.choose(event.target.files[0]);
      event.target.value = "";
    });
    $("attachment-remove").addEventListener("click", () => this.choose(null));
    const zone = $("composer");
    zone.addEventListener("dragover", (event) => {
      if (!event.dataTransfer || ![...event.dataTransfer.types].includes("Files")) return;
      event.preventDefault();
      zone.classList.add("dropping");
    });
    zone.addEventListener("dragleave", () => zone.classList.remove("dropping"));
    zone.addEventListener("drop", (event) => {
      zone.classList.remove("dropping");
      const file = event.dataTransfer && event.dataTransfer.files[0];
      if (!file) return;
      event.preventDefault();
      this.choose(file);
    });
    $("composer-text").addEventListener("paste", (event) => {
      const file = event.clipboardData && [...event.clipboardData.files][0];
      if (!file) return;
      event.preventDefault();
      this.choose(file);
    });
  }

  choose(file) {
    const text = $("composer-text");
    if (file && !this.file) this.placeholder = text.placeholder;
    else if (!file && this.file && this.placeholder) text.placeholder = this.placeholder;
    this.file = file;
    $("attachment-preview").hidden = !file;
    $("attachment-name").textContent = file ? `${file.name || gettext("pasted file")} · ${humanSize(file.size)}` : "";
    $("attachment-progress").hidden = true;
    $("attachment-progress").value = 0;
    if (file) text.placeholder = gettext("Add a caption (optional), then Send");
  }

  pending() {
    return Boolean(this.file);
  }

  async send(caption, replyTo) {
    const id = this.conversationId();
    if (!id || !this.file) return;
    const form = new FormData();
    form.append("file", this.file, this.file.name || "pasted-file");
    if (caption) form.append("caption", caption);
    if (replyTo) form.append("reply_to", String(replyTo));
    const bar = $("attachment-progress");
    bar.hidden = false;
    bar.value = 0;
    const message = await upload(`/api/v1/conversations/${id}/messages/`, form, (fraction) => { bar.value = fraction; });
    this.choose(null);
    this.onSent(message);
  }
}
