/* Handoff web chat: paste
 *   <script src="https://HANDOFF/widget.js" data-inbox="KEY" async></script>
 * The chat runs in an iframe served by Handoff, so the page's CSS cannot reach it; this
 * script only draws the launcher and the frame, and talks to the frame with postMessage
 * checked on both sides. API: Handoff.open(), Handoff.close(), Handoff.identify({user_id,
 * user_hash, name, email}), Handoff.on("message" | "open" | "close", fn). The visitor's token
 * lives in the frame's storage; where the browser blocks storage in third-party frames,
 * this page keeps it for the frame. */
(function () {
  "use strict";
  if (window.Handoff && window.Handoff.__loaded) return; // pasted twice: load once
  var script = document.currentScript || document.querySelector("script[src*='/widget.js'][data-inbox]");
  if (!script) return;
  var inbox = script.getAttribute("data-inbox") || "";
  var base = new URL(script.src, location.href).origin;
  var queued = (window.Handoff && window.Handoff.q) || [];
  var handlers = {};
  var pending = [];
  var ready = false;
  var isOpen = false;
  var frame, launcher, holder;

  function post(msg) {
    if (ready && frame && frame.contentWindow) frame.contentWindow.postMessage(msg, base);
    else pending.push(msg);
  }
  function emit(name, data) {
    (handlers[name] || []).forEach(function (fn) { try { fn(data); } catch (e) { setTimeout(function () { throw e; }); } });
  }
  function setOpen(open) {
    isOpen = open;
    holder.style.display = open ? "block" : "none";
    launcher.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) launcher.removeAttribute("data-unread");
    if (open) post({ handoff: "open" });
    emit(open ? "open" : "close", {});
  }
  function style(el, rules) { for (var k in rules) el.style.setProperty(k, rules[k], "important"); }

  function build() {
    if (document.getElementById("handoff-chat-root")) return;
    var root = document.createElement("div");
    root.id = "handoff-chat-root";
    style(root, { all: "initial", position: "fixed", right: "20px", bottom: "20px", "z-index": "2147483000" });
    holder = document.createElement("div");
    style(holder, { all: "initial", display: "none", position: "fixed", right: "20px", bottom: "90px",
      width: "370px", height: "560px", "max-width": "calc(100vw - 40px)", "max-height": "calc(100vh - 110px)",
      "box-shadow": "0 8px 30px rgba(0,0,0,.25)", "border-radius": "12px", overflow: "hidden", background: "#fff" });
    frame = document.createElement("iframe");
    frame.id = "handoff-chat-frame";
    frame.title = "Chat";
    frame.src = base + "/webchat/" + encodeURIComponent(inbox) + "/?origin=" + encodeURIComponent(location.origin);
    style(frame, { all: "initial", display: "block", border: "0", width: "100%", height: "100%" });
    holder.appendChild(frame);
    launcher = document.createElement("button");
    launcher.id = "handoff-chat-launcher";
    launcher.type = "button";
    launcher.setAttribute("aria-label", "Open chat");
    launcher.setAttribute("aria-expanded", "false");
    launcher.textContent = "Chat";
    style(launcher, { all: "initial", cursor: "pointer", width: "56px", height: "56px", "border-radius": "50%",
      background: "#1f6feb", color: "#fff", "font-size": "15px", "font-family": "system-ui, sans-serif", "font-weight": "600", "text-align": "center", "line-height": "56px",
      "box-shadow": "0 4px 14px rgba(0,0,0,.3)", display: "block" });
    launcher.addEventListener("click", function () { setOpen(!isOpen); });
    root.appendChild(holder);
    root.appendChild(launcher);
    document.body.appendChild(root);
  }

  window.addEventListener("message", function (event) {
    if (event.origin !== base || !frame || event.source !== frame.contentWindow) return;
    var data = event.data;
    if (!data || typeof data !== "object" || typeof data.handoff !== "string") return;
    var storeKey = "handoff.webchat." + inbox;
    if (data.handoff === "boot") {
      // The browser keeps the frame from its own storage: the page keeps the visitor's token.
      var token = "";
      try { token = localStorage.getItem(storeKey) || ""; } catch (e) { /* none */ }
      frame.contentWindow.postMessage({ handoff: "stored", token: token }, base);
    } else if (data.handoff === "store" && typeof data.token === "string") {
      try { localStorage.setItem(storeKey, data.token); } catch (e) { /* storage blocked */ }
    } else if (data.handoff === "ready") {
      ready = true;
      if (data.color) launcher.style.setProperty("background", data.color, "important");
      pending.splice(0).forEach(post);
    } else if (data.handoff === "message" && data.message && typeof data.message === "object") {
      if (!isOpen) launcher.setAttribute("data-unread", "1");
      emit("message", { text: String(data.message.text || ""), sender: String(data.message.sender || "") });
    } else if (data.handoff === "close") {
      setOpen(false);
    }
  });

  var api = {
    __loaded: true,
    open: function () { setOpen(true); },
    close: function () { setOpen(false); },
    identify: function (who) {
      if (!who || typeof who !== "object") return;
      post({ handoff: "identify", user: {
        user_id: String(who.user_id || ""), user_hash: String(who.user_hash || ""),
        name: String(who.name || ""), email: String(who.email || "") } });
    },
    on: function (name, fn) { if (typeof fn === "function") (handlers[name] = handlers[name] || []).push(fn); },
  };
  window.Handoff = api;
  function start() {
    build();
    queued.forEach(function (call) { if (call && api[call[0]]) api[call[0]].apply(null, call[1] || []); });
  }
  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
