// "New conversation": find a contact by name or number (only those the API lets this user
// see) or type an international number, pick an approved template, fill its parameters and
// send; the conversation that opens is yours. The server decides everything (consent,
// approval, access); refusals are shown as it words them.
import { api, el, gettext, interpolate } from "./live.js";
import { templateFields, templateParameters } from "./template_form.js";

const $ = (id) => document.getElementById(id);
const PHONE = /^\+?\d[\d\s().-]{5,}$/;

function consentText(consent) {
  return ["marketing", "utility"]
    .map((category) => interpolate(gettext("%(category)s: %(state)s"), {
      category: { marketing: gettext("marketing"), utility: gettext("utility") }[category],
      state: consent[category] && consent[category].opted_in ? gettext("opted in") : gettext("no opt-in"),
    }))
    .join(" · ");
}

export class NewConversation {
  constructor({ onStarted }) {
    this.onStarted = onStarted;
    this.dialog = $("new-conversation-dialog");
    this.target = null; // {contact} or {to}
    this.templates = [];
    this.options = null;
    this.searchTimer = null;
    this.searchSeq = 0;
    $("new-conversation").addEventListener("click", () => this.open());
    $("new-contact-search").addEventListener("input", () => this.searchSoon());
    $("new-contact-search").addEventListener("keydown", (event) => {
      if (event.key !== "Enter") return;
      event.preventDefault();
      const first = $("new-contact-results").querySelector("button");
      if (first) first.click();
    });
    $("new-contact-clear").addEventListener("click", () => this.pick(null));
    $("new-number").addEventListener("change", () => this.loadOptions(Number($("new-number").value)));
    $("new-template-select").addEventListener("change", () => this.templateChosen());
    $("new-conversation-cancel").addEventListener("click", () => this.dialog.close());
    $("new-conversation-form").addEventListener("submit", (event) => { event.preventDefault(); this.send(); });
  }

  error(text) {
    $("new-conversation-error").textContent = text || "";
    $("new-conversation-error").hidden = !text;
  }

  async open() {
    this.error("");
    this.pick(null);
    $("new-contact-search").value = "";
    $("new-contact-results").replaceChildren();
    $("new-opt-in-proof").value = "";
    if (!this.dialog.open) this.dialog.showModal();
    $("new-contact-search").focus();
    await this.loadOptions(null);
  }

  async loadOptions(numberId) {
    try {
      const options = await api(`/api/v1/desk/new-conversation/${numberId ? `?number=${numberId}` : ""}`);
      this.options = options;
      $("new-number").replaceChildren(
        ...options.numbers.map((n) => el("option", { value: String(n.id) }, [n.name, n.display_phone_number].filter(Boolean).join(" · ") || interpolate(gettext("Number %(id)s"), { id: n.id }))),
      );
      $("new-number").value = String(options.number || "");
      $("new-number-row").hidden = options.numbers.length < 2;
      $("new-opt-in-row").hidden = !options.may_record_opt_in;
      this.fillTemplates(options.templates);
    } catch (error) {
      this.error(error.message);
    }
  }

  // ---- who ----
  searchSoon() {
    clearTimeout(this.searchTimer);
    this.searchTimer = setTimeout(() => this.search(), 250);
  }

  async search() {
    const query = $("new-contact-search").value.trim();
    const seq = ++this.searchSeq;
    const items = [];
    if (PHONE.test(query)) {
      const to = query.startsWith("+") ? query : `+${query}`;
      items.push(el("li", {}, el("button", { type: "button", class: "ghost", id: "new-contact-typed", onclick: () => this.pick({ to }) }, interpolate(gettext("Write to %(to)s"), { to }))));
    }
    if (query) {
      try {
        const page = await api(`/api/v1/contacts/?q=${encodeURIComponent(query)}&page_size=10`);
        if (seq !== this.searchSeq) return;
        for (const contact of page.results) {
          const label = contact.profile_name || contact.wa_id || contact.user_id;
          const number = contact.wa_id ? `+${contact.wa_id}` : "";
          items.push(el("li", {}, el("button", { type: "button", class: "ghost contact-hit", dataset: { id: contact.id }, onclick: () => this.pick({ contact }) }, el("strong", {}, label), " ", el("span", { class: "muted" }, number))));
        }
      } catch (error) {
        if (seq === this.searchSeq) this.error(error.message);
      }
    }
    if (seq !== this.searchSeq) return;
    $("new-contact-results").replaceChildren(...items);
    $("new-contact-none").hidden = !query || items.length > 0;
  }

  async pick(target) {
    this.target = target;
    this.error("");
    $("new-contact-picked").hidden = !target;
    $("new-contact-find").hidden = Boolean(target);
    $("new-contact-consent").textContent = "";
    if (!target) {
      $("new-contact-name").textContent = "";
      return;
    }
    $("new-contact-results").replaceChildren();
    if (target.to) {
      $("new-contact-name").textContent = target.to;
      $("new-contact-consent").textContent = gettext("A number without a contact yet has no opt-in.");
      return;
    }
    const contact = target.contact;
    $("new-contact-name").textContent = [contact.profile_name, contact.wa_id ? `+${contact.wa_id}` : contact.user_id].filter(Boolean).join(" · ");
    if (this.options && contact.number !== this.options.number) await this.loadOptions(contact.number);
    try {
      const state = await api(`/api/v1/contacts/${contact.id}/consent/`);
      if (this.target === target) $("new-contact-consent").textContent = consentText(state.consent);
    } catch (_) { /* consent is shown as a courtesy; the server checks it on send */ }
  }

  // ---- what ----
  fillTemplates(templates) {
    this.templates = templates;
    $("new-template-select").replaceChildren(
      el("option", { value: "" }, templates.length ? gettext("Choose a template…") : gettext("No approved templates")),
      ...templates.map((t, i) => el("option", { value: String(i) }, `${t.name} (${t.language}) · ${String(t.category || "").toLowerCase()}`)),
    );
    this.templateChosen();
  }

  chosenTemplate() {
    return $("new-template-select").value === "" ? null : this.templates[Number($("new-template-select").value)];
  }

  templateChosen() {
    const template = this.chosenTemplate();
    $("new-template-body").textContent = template ? template.body : "";
    $("new-template-params").replaceChildren(...templateFields(template));
  }

  async send() {
    const template = this.chosenTemplate();
    if (!this.target) { this.error(gettext("Choose a contact or type an international number first.")); return; }
    if (!template) { this.error(gettext("Choose a template.")); return; }
    const body = {
      template: { name: template.name, language: template.language, parameters: templateParameters(template, $("new-template-params")) },
    };
    if (this.target.contact) body.contact = this.target.contact.id;
    else {
      body.to = this.target.to;
      if (this.options && this.options.number) body.number = this.options.number;
    }
    const proof = $("new-opt-in-proof").value.trim();
    if (proof && this.options && this.options.may_record_opt_in) body.opt_in_proof = proof;
    this.error("");
    $("new-conversation-send").disabled = true;
    try {
      const result = await api("/api/v1/conversations/", { method: "POST", body });
      this.dialog.close();
      this.onStarted(result);
    } catch (error) {
      this.error(error.message);
    } finally {
      $("new-conversation-send").disabled = false;
    }
  }
}
