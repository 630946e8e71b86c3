// What the desk shows beside messages: window and SLA badges, delivery ticks, the pinned
// handoff card and the customer panel. Customer data only ever becomes text nodes.
import { api, el, duration, clock, gettext, interpolate } from "./live.js";

const $ = (id) => document.getElementById(id);

export function windowLabel(row) {
  // WhatsApp's 24-hour rule does not apply to web chat: the visitor can be answered any time.
  if (row.channel === "webchat") return { text: gettext("no 24-hour window"), closed: false, webchat: true };
  if (!row.window_expires_at) return { text: gettext("no window"), closed: true };
  const left = (new Date(row.window_expires_at) - Date.now()) / 1000;
  return left > 0
    ? { text: interpolate(gettext("%(time)s left"), { time: duration(left) }), closed: false }
    : { text: gettext("window closed"), closed: true };
}

export function slaBadge(row) {
  if (row.sla_breached_at) return { text: gettext("SLA breached"), level: "breached" };
  const dues = [row.first_response_due_at, row.next_response_due_at].filter(Boolean).map((d) => new Date(d));
  if (!dues.length || row.status === "resolved") return null;
  const left = (Math.min(...dues) - Date.now()) / 1000;
  if (left <= 0) return { text: gettext("SLA overdue"), level: "breached" };
  return { text: `SLA ${duration(left)}`, level: left < 300 ? "soon" : "ok" };
}

// WhatsApp's pricing category and type of a message, in the desk user's language (the server's
// English `summary` for anything not known here).
function pricingLabel(pricing) {
  const categories = { marketing: gettext("marketing"), utility: gettext("utility"), authentication: gettext("authentication"), service: gettext("service") };
  const types = {
    regular: gettext("charged"), free: gettext("free"),
    free_customer_service: gettext("free: inside the customer-service window"),
    free_entry_point: gettext("free: entry point (ad or page button)"),
  };
  const category = pricing.category || "unknown";
  if (!(category in categories || category === "unknown") || (pricing.type && !(pricing.type in types))) return pricing.summary;
  const name = category === "unknown" ? gettext("unknown") : categories[category];
  return pricing.type ? `${name} (${types[pricing.type]})` : name;
}

export function tickFor(m) {
  if (m.direction !== "out" || m.internal) return null;
  const labels = { pending: "🕓", sending: "🕓", sent: "✓", delivered: "✓✓", read: "✓✓", failed: "✕" };
  const titles = { pending: gettext("Waiting"), sending: gettext("Sending"), sent: gettext("Sent"), delivered: gettext("Delivered"), read: gettext("Read"), failed: gettext("Not delivered") };
  // The cost category WhatsApp reported for this message (per-message pricing).
  const cost = m.pricing ? ` · ${interpolate(gettext("cost: %(summary)s"), { summary: pricingLabel(m.pricing) })}` : "";
  return el("span", { class: `ticks ${m.status}`, dataset: { status: m.status, pricing: m.pricing ? m.pricing.category || "unknown" : "" }, title: `${titles[m.status] || m.status}${cost}` }, labels[m.status] || "");
}

export function renderHandoff(card, handoff) {
  if (!handoff) { card.hidden = true; card.replaceChildren(); return; }
  const collected = handoff.collected || handoff.collected_values || {};
  const summary = handoff.transcript_summary || handoff.summary;
  card.replaceChildren(...[
    el("h2", {}, gettext("Handed off by the bot")),
    el("p", {}, el("strong", {}, gettext("Why:") + " "), handoff.reason_label || handoff.reason || "—", handoff.detail ? ` (${handoff.detail})` : "", handoff.policy ? ` · ${interpolate(gettext("policy: %(name)s"), { name: handoff.policy })}` : ""),
    handoff.last_intent ? el("p", {}, el("strong", {}, gettext("Last intent:") + " "), handoff.last_intent) : null,
    (handoff.skills || []).length ? el("p", {}, el("strong", {}, gettext("Skills asked for:") + " "), handoff.skills.join(", ")) : null,
    Object.keys(collected).length
      ? el("dl", { class: "collected" }, Object.entries(collected).flatMap(([key, value]) => [el("dt", {}, key), el("dd", {}, typeof value === "object" ? JSON.stringify(value) : String(value))]))
      : null,
    summary ? el("p", { class: "muted summary" }, summary) : null,
  ].filter(Boolean));
  card.hidden = false;
}

export function renderSide(ctx, open) {
  const c = ctx.contact;
  const fields = [[gettext("Name"), c.name], ["WhatsApp", c.wa_id ? `+${c.wa_id}` : c.user_id], [gettext("Parent user id"), c.parent_user_id], [gettext("Customer since"), clock(c.created_at)]];
  for (const [key, value] of Object.entries(c.attributes || {})) fields.push([key, typeof value === "object" ? JSON.stringify(value) : String(value)]);
  if ((c.tags || []).length) fields.push([gettext("Tags"), c.tags.join(", ")]);
  const pricing = ctx.pricing;
  if (pricing && (pricing.charged || pricing.free)) {
    const categories = Object.entries(pricing.by_category || {}).map(([category, v]) => `${category} ${v.messages}`).join(", ");
    const cost = Object.entries(pricing.cost || {}).map(([currency, amount]) => `${amount} ${currency}`).join(", ");
    fields.push([gettext("WhatsApp charges"), `${interpolate(gettext("%(charged)s charged"), { charged: pricing.charged })}${categories ? ` (${categories})` : ""}, ${interpolate(gettext("%(free)s free"), { free: pricing.free })}${cost ? ` · ${cost}` : ""}`]);
  }
  $("profile-fields").replaceChildren(...fields.filter(([, v]) => v).flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  renderLanguage(c);
  $("consent-list").replaceChildren(
    ...Object.entries(ctx.consent || {}).map(([category, s]) =>
      el("li", { class: s.opted_in ? "ok" : "muted" }, `${{ marketing: gettext("marketing"), utility: gettext("utility") }[category] || category}: ${s.opted_in ? gettext("opted in") : gettext("not opted in")}`, s.at ? ` (${s.source}, ${clock(s.at)})` : ""),
    ),
  );
  $("earlier-list").replaceChildren(
    ...(ctx.earlier.length
      ? ctx.earlier.map((e) => el("li", {}, el("a", { href: `/desk/c/${e.id}/`, onclick: (ev) => { ev.preventDefault(); open(e.id); } }, `#${e.id} · ${{ queued: gettext("queued"), assigned: gettext("assigned"), resolved: gettext("resolved") }[e.status] || e.status} · ${clock(e.created_at)}`), el("div", { class: "muted" }, e.preview || "")))
      : [el("li", { class: "muted" }, gettext("None"))]),
  );
  $("side-panel").hidden = false;
}

// The customer's language: detected from their first messages or set by a person; any desk
// user who sees the conversation may correct it (texts to the customer and routing follow it).
function renderLanguage(contact) {
  const select = $("contact-language");
  if (!select) return;
  const choices = [["", gettext("Not known")], ...(contact.languages || [])];
  if (contact.language && !choices.some(([code]) => code === contact.language)) choices.push([contact.language, contact.language]);
  select.replaceChildren(...choices.map(([code, name]) => el("option", { value: code }, name)));
  select.value = contact.language || "";
  const source = { detected: gettext("detected from their messages"), agent: gettext("set by a person") }[contact.language_source] || "";
  $("contact-language-source").textContent = source;
  select.onchange = () => {
    select.disabled = true;
    api(`/api/v1/contacts/${contact.id}/`, { method: "PATCH", body: { language: select.value } })
      .then((saved) => {
        contact.language = saved.language;
        contact.language_source = saved.language_source;
        $("contact-language-source").textContent = gettext("set by a person");
      })
      .catch(() => { select.value = contact.language || ""; })
      .finally(() => { select.disabled = false; });
  };
}
