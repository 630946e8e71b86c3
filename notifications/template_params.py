"""A template's placeholders: which parameters each component needs, validating what a
caller gives against them, building the Graph `template.components`, and rendering the
text (for the transcript and the admin preview).

Parameters are given as:
- a list: the body's positional values ({{1}}, {{2}}, …);
- a dict of names (named templates): each component takes the names it uses;
- a dict by component: {"header": [...] | {...}, "body": [...] | {...}, "buttons": {"0": "..."}}.
A value is a string or number (a text parameter) or a Graph parameter object with its
`type` (currency, date_time, image, document, video, location, text, payload, coupon_code).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.utils.html import escape

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
COMPONENT_KEYS = ("header", "body", "buttons")
TEXT_PARAM_MAX = 1024
HEADER_TEXT_MAX = 60
MEDIA_FORMATS = {"IMAGE": "image", "VIDEO": "video", "DOCUMENT": "document"}
BODY_TYPES = {"text", "currency", "date_time"}


class TemplateParameterError(ValueError):
    """The parameters do not fit the template; the text says which and why."""


@dataclass
class Slot:
    """One component's placeholders."""

    component: str  # header, body, button
    names: list[str]
    fmt: str = "TEXT"  # header format
    button_index: int | None = None
    button_type: str = ""
    text: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _names(text: str) -> list[str]:
    seen: list[str] = []
    for name in PLACEHOLDER.findall(text or ""):
        if name not in seen:
            seen.append(name)
    return seen


def template_slots(components: list[dict[str, Any]]) -> list[Slot]:
    """The placeholders of each component, in Graph's order (header, body, buttons)."""
    slots: list[Slot] = []
    for comp in components or []:
        kind = str(comp.get("type", "")).upper()
        if kind == "HEADER":
            fmt = str(comp.get("format", "TEXT")).upper()
            if fmt in MEDIA_FORMATS or fmt == "LOCATION":
                slots.append(Slot("header", ["1"], fmt=fmt))
            elif _names(comp.get("text", "")):
                slots.append(Slot("header", _names(comp.get("text", "")), text=comp.get("text", "")))
        elif kind == "BODY" and _names(comp.get("text", "")):
            slots.append(Slot("body", _names(comp.get("text", "")), text=comp.get("text", "")))
        elif kind == "BUTTONS":
            for index, button in enumerate(comp.get("buttons") or []):
                btype = str(button.get("type", "")).upper()
                if (btype == "URL" and _names(button.get("url", ""))) or btype == "COPY_CODE":
                    slots.append(Slot("button", ["1"], button_index=index, button_type=btype))
                elif btype == "OTP":
                    slots.append(Slot("button", ["1"], button_index=index, button_type="URL"))
    return slots


def _split(parameters: list | dict | None, slots: list[Slot]) -> dict[str, Any]:
    """Parameters per component key (header, body, buttons)."""
    if parameters in (None, [], {}):
        return {}
    if isinstance(parameters, list):
        return {"body": parameters}
    if not isinstance(parameters, dict):
        raise TemplateParameterError("Parameters must be a list (body values) or an object.")
    if parameters and set(parameters) <= set(COMPONENT_KEYS):
        return parameters
    # Named parameters: each component takes the names it uses.
    wanted = {name for slot in slots if slot.component in ("header", "body") for name in slot.names}
    unknown = sorted(set(parameters) - wanted)
    if unknown:
        raise TemplateParameterError(f"Unknown parameter(s) {', '.join(unknown)}; the template uses "
                                     f"{', '.join(sorted(wanted)) or 'none'}.")
    split: dict[str, Any] = {}
    for slot in slots:
        if slot.component in ("header", "body"):
            split[slot.component] = {n: parameters[n] for n in slot.names if n in parameters}
    return split


def _text_param(value: Any, where: str, limit: int = TEXT_PARAM_MAX) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TemplateParameterError(f"{where} must be text or a number.")
    text = str(value)
    if not text.strip():
        raise TemplateParameterError(f"{where} is empty.")
    if "\n" in text or "\t" in text or "     " in text:
        raise TemplateParameterError(f"{where} cannot contain new lines, tabs or more than 4 spaces in a row.")
    if len(text) > limit:
        raise TemplateParameterError(f"{where} is {len(text)} characters; at most {limit} are allowed.")
    return text


def _typed(value: Any, allowed: set[str], where: str) -> dict[str, Any]:
    if isinstance(value, dict):
        kind = str(value.get("type", ""))
        if kind not in allowed:
            raise TemplateParameterError(f"{where} has type {kind or 'none'}; expected one of {', '.join(sorted(allowed))}.")
        if kind == "text":
            return {"type": "text", "text": _text_param(value.get("text"), where)}
        if not isinstance(value.get(kind), dict | str):
            raise TemplateParameterError(f"{where} of type {kind} needs a `{kind}` object.")
        if kind == "currency" and not {"fallback_value", "code", "amount_1000"} <= set(value["currency"]):
            raise TemplateParameterError(f"{where}: currency needs fallback_value, code and amount_1000.")
        if kind == "date_time" and "fallback_value" not in value["date_time"]:
            raise TemplateParameterError(f"{where}: date_time needs a fallback_value.")
        if kind in MEDIA_FORMATS.values() and not ({"link", "id"} & set(value[kind])):
            raise TemplateParameterError(f"{where}: {kind} needs a link or an id.")
        return {"type": kind, kind: value[kind]}
    if "text" not in allowed:
        raise TemplateParameterError(f"{where} needs a {' or '.join(sorted(allowed))} object.")
    return {"type": "text", "text": _text_param(value, where)}


def _values(slot: Slot, given: Any, named: bool) -> list[tuple[str, Any]]:
    label = slot.component if slot.button_index is None else f"button {slot.button_index}"
    if isinstance(given, dict):
        if not named and slot.component != "button":
            raise TemplateParameterError(f"The {label} uses positional parameters; give a list.")
        missing = [n for n in slot.names if n not in given]
        extra = sorted(set(given) - set(slot.names))
        if missing or extra:
            raise TemplateParameterError(
                f"The {label} expects {', '.join(slot.names)}"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; unknown {', '.join(extra)}" if extra else "") + "."
            )
        return [(n, given[n]) for n in slot.names]
    if isinstance(given, list):
        if named and slot.component != "button":
            raise TemplateParameterError(f"The {label} uses named parameters ({', '.join(slot.names)}); give an object.")
        if len(given) != len(slot.names):
            raise TemplateParameterError(f"The {label} expects {len(slot.names)} parameter(s), got {len(given)}.")
        return list(zip(slot.names, given, strict=True))
    if len(slot.names) == 1 and given is not None:
        return [(slot.names[0], given)]
    raise TemplateParameterError(f"The {label} expects {len(slot.names)} parameter(s).")


def template_components_build(
    *, components: list[dict[str, Any]], parameters: list | dict | None, named: bool
) -> tuple[list[dict[str, Any]], dict[str, dict[str, str]]]:
    """Validate `parameters` against the template and build Graph's `components`.
    Returns (components, texts) where texts maps component -> {name: display text} for
    rendering. Raises TemplateParameterError naming the component and the problem."""
    slots = template_slots(components)
    split = _split(parameters, slots)
    known = {"header", "body"} | ({"buttons"} if any(s.component == "button" for s in slots) else set())
    for key in split:
        if key not in known or not any(s.component == key.rstrip("s") for s in slots):
            raise TemplateParameterError(f"The template's {key} takes no parameters.")
    out: list[dict[str, Any]] = []
    texts: dict[str, dict[str, str]] = {}
    buttons_given = split.get("buttons") or {}
    if isinstance(buttons_given, list):
        buttons_given = {str(i): v for i, v in enumerate(buttons_given) if v is not None}
    for slot in slots:
        if slot.component == "button":
            given = buttons_given.get(str(slot.button_index))
            if given is None:
                raise TemplateParameterError(f"Button {slot.button_index} ({slot.button_type}) needs a parameter.")
            if slot.button_type == "COPY_CODE":
                code = _text_param(given, f"Button {slot.button_index}", 15)
                params = [{"type": "coupon_code", "coupon_code": code}]
                sub_type = "copy_code"
            else:
                params = [{"type": "text", "text": _text_param(given, f"Button {slot.button_index}", 2000)}]
                sub_type = "url"
            out.append({"type": "button", "sub_type": sub_type, "index": str(slot.button_index), "parameters": params})
            continue
        given = split.get(slot.component)
        if given is None:
            raise TemplateParameterError(
                f"The {slot.component} expects {len(slot.names)} parameter(s) ({', '.join(slot.names)}), got none."
            )
        values = _values(slot, given, named)
        params = []
        shown: dict[str, str] = {}
        for name, value in values:
            where = f"The {slot.component} parameter {{{{{name}}}}}"
            if slot.component == "header" and slot.fmt in MEDIA_FORMATS:
                kind = MEDIA_FORMATS[slot.fmt]
                value = {"type": kind, kind: {"link": value}} if isinstance(value, str) else value
                param = _typed(value, {kind}, where)
            elif slot.component == "header" and slot.fmt == "LOCATION":
                param = _typed(value, {"location"}, where)
            elif slot.component == "header":
                param = _typed(value, {"text"}, where)
            else:
                param = _typed(value, BODY_TYPES, where)
            if named and param["type"] == "text":
                param["parameter_name"] = name
            params.append(param)
            shown[name] = _display(param)
        if slot.component == "header" and slot.fmt == "TEXT":
            rendered = render_text(slot.text, shown)
            if len(rendered) > HEADER_TEXT_MAX:
                raise TemplateParameterError(f"The header is {len(rendered)} characters once filled; at most {HEADER_TEXT_MAX}.")
        texts[slot.component] = shown
        out.append({"type": slot.component, "parameters": params})
    return out, texts


def _display(param: dict[str, Any]) -> str:
    kind = param["type"]
    if kind == "text":
        return param["text"]
    inner = param.get(kind)
    if isinstance(inner, dict):
        return str(inner.get("fallback_value") or inner.get("link") or inner.get("name") or f"[{kind}]")
    return f"[{kind}]"


def render_text(text: str, values: dict[str, str]) -> str:
    """Substitute {{1}} / {{name}}; unknown placeholders stay as they are."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text or "")


def template_render(components: list[dict[str, Any]], texts: dict[str, dict[str, str]]) -> str:
    """Plain text of a filled template (header, body, footer, button labels) for the transcript."""
    lines: list[str] = []
    for comp in components or []:
        kind = str(comp.get("type", "")).upper()
        if kind == "HEADER" and str(comp.get("format", "TEXT")).upper() == "TEXT":
            lines.append(render_text(comp.get("text", ""), texts.get("header", {})))
        elif kind == "HEADER":
            lines.append(f"[{str(comp.get('format', '')).lower()}]")
        elif kind == "BODY":
            lines.append(render_text(comp.get("text", ""), texts.get("body", {})))
        elif kind == "FOOTER":
            lines.append(comp.get("text", ""))
        elif kind == "BUTTONS":
            lines.append(" ".join(f"[{b.get('text', '')}]" for b in comp.get("buttons") or []))
    return "\n".join(line for line in lines if line)


def sample_values(components: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Sample values from the template's `example` (as submitted to WhatsApp), else the
    placeholder's own name, per component."""
    samples: dict[str, dict[str, str]] = {}
    for comp in components or []:
        kind = str(comp.get("type", "")).lower()
        if kind not in ("header", "body"):
            continue
        names = _names(comp.get("text", ""))
        example = comp.get("example") or {}
        values: dict[str, str] = {}
        named = example.get(f"{kind}_text_named_params") or []
        for item in named:
            if isinstance(item, dict) and item.get("param_name"):
                values[str(item["param_name"])] = str(item.get("example", ""))
        positional = example.get(f"{kind}_text") or []
        if positional and isinstance(positional[0], list):
            positional = positional[0]
        for name, value in zip(names, positional, strict=False):
            values.setdefault(name, str(value))
        for name in names:
            values.setdefault(name, f"[{name}]")
        samples[kind] = values
    return samples


def template_preview_html(components: list[dict[str, Any]], values: dict[str, dict[str, str]] | None = None) -> str:
    """HTML preview: header, body, footer and buttons with the sample values filled in.
    Every piece of text is escaped before it is placed in the markup."""
    values = values if values is not None else sample_values(components)
    parts: list[str] = []
    for comp in components or []:
        kind = str(comp.get("type", "")).upper()
        if kind == "HEADER":
            fmt = str(comp.get("format", "TEXT")).upper()
            text = render_text(comp.get("text", ""), values.get("header", {})) if fmt == "TEXT" else f"[{fmt.lower()}]"
            parts.append(f'<div class="tpl-header"><strong>{escape(text)}</strong></div>')
        elif kind == "BODY":
            body = escape(render_text(comp.get("text", ""), values.get("body", {}))).replace("\n", "<br>")
            parts.append(f'<div class="tpl-body">{body}</div>')
        elif kind == "FOOTER":
            parts.append(f'<div class="tpl-footer"><small>{escape(comp.get("text", ""))}</small></div>')
        elif kind == "BUTTONS":
            labels = "".join(
                f'<span class="tpl-button" style="display:inline-block;border:1px solid #999;border-radius:4px;'
                f'padding:2px 8px;margin:2px">{escape(b.get("text", ""))}</span>'
                for b in comp.get("buttons") or []
            )
            parts.append(f'<div class="tpl-buttons">{labels}</div>')
    return '<div class="tpl-preview" style="max-width:420px">' + "".join(parts) + "</div>"
