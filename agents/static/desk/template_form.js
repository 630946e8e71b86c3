// The template parameter form, shared by the composer (window closed) and "New conversation":
// one input per parameter slot of a template, and the `parameters` the API takes from them.
// The server checks them against the template (template_invalid); this only shapes them.
import { el, gettext, interpolate } from "./live.js";

const MEDIA = ["IMAGE", "VIDEO", "DOCUMENT"];

export function templateFields(template) {
  const fields = [];
  for (const slot of template ? template.slots : []) {
    for (const name of slot.names) {
      const media = MEDIA.includes(slot.format);
      const label = media
        ? { IMAGE: gettext("image link for the header"), VIDEO: gettext("video link for the header"), DOCUMENT: gettext("document link for the header") }[slot.format]
        : slot.component === "button"
          ? interpolate(gettext("button %(number)s value"), { number: slot.button_index + 1 })
          : `${{ header: gettext("header"), body: gettext("body") }[slot.component] || slot.component} {{${name}}}`;
      const input = el("input", { required: true, maxlength: "1024", dataset: { component: slot.component, name, format: slot.format, button: slot.button_index ?? "" } });
      fields.push(el("label", { class: "param" }, el("span", {}, label), input));
    }
  }
  return fields;
}

export function templateParameters(template, container) {
  const parameters = {};
  for (const input of container.querySelectorAll("input")) {
    const { component, name, format, button } = input.dataset;
    const value = input.value;
    if (component === "button") {
      parameters.buttons = { ...(parameters.buttons || {}), [button]: value };
    } else if (MEDIA.includes(format)) {
      const kind = format.toLowerCase();
      parameters.header = [{ type: kind, [kind]: { link: value } }];
    } else if (template.named) {
      parameters[component] = { ...(parameters[component] || {}), [name]: value };
    } else {
      parameters[component] = [...(parameters[component] || []), value];
    }
  }
  return Object.keys(parameters).length ? parameters : [];
}
