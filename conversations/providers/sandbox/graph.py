"""The stand-in Graph API's rules: request checks with Graph's error codes and shapes,
and how a sent message looks on the customer's phone."""

from __future__ import annotations

import re
import secrets
from typing import Any

from conversations.providers.sandbox.models import Template

MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
SEND_TYPES = ("text", "interactive", "template", "location", "contacts", "reaction", *MEDIA_TYPES)
PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


class GraphProblem(Exception):
    """An error answered in Graph's shape: `{"error": {message, type, code, error_data, fbtrace_id}}`."""

    def __init__(
        self, code: int, message: str, details: str = "", *, http_status: int = 400, kind: str = "OAuthException"
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
        self.http_status = http_status
        self.kind = kind

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.kind, "code": self.code}
        if self.details:
            error["error_data"] = {"messaging_product": "whatsapp", "details": self.details}
        error["fbtrace_id"] = "A" + secrets.token_urlsafe(16)
        return {"error": error}


def bad_parameter(details: str) -> GraphProblem:
    return GraphProblem(100, "(#100) Invalid parameter", details)


def token_invalid() -> GraphProblem:
    return GraphProblem(190, "Invalid OAuth access token - Cannot parse access token", http_status=401)


def unknown_object(object_id: str) -> GraphProblem:
    return GraphProblem(
        100,
        f"Unsupported post request. Object with ID '{object_id}' does not exist, cannot be loaded due to "
        "missing permissions, or does not support this operation.",
        kind="GraphMethodException",
    )


def _text(value: Any, field: str, limit: int, *, required: bool = True) -> str:
    if value is None or value == "":
        if required:
            raise bad_parameter(f"The parameter {field} is required.")
        return ""
    if not isinstance(value, str):
        raise bad_parameter(f"Param {field} must be a string.")
    if len(value) > limit:
        raise bad_parameter(f"Param {field} must be at most {limit} characters long.")
    return value


def _object(body: dict[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key)
    if not isinstance(value, dict):
        raise bad_parameter(f"The parameter {key} is required.")
    return value


def _check_buttons(action: dict[str, Any]) -> None:
    buttons = action.get("buttons")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        raise bad_parameter("Param interactive['action']['buttons'] must have between 1 and 3 elements.")
    ids, titles = set(), set()
    for i, button in enumerate(buttons):
        reply = button.get("reply") if isinstance(button, dict) else None
        if not isinstance(button, dict) or button.get("type") != "reply" or not isinstance(reply, dict):
            raise bad_parameter(f"Param interactive['action']['buttons'][{i}]['type'] must be 'reply'.")
        ids.add(_text(reply.get("id"), f"interactive['action']['buttons'][{i}]['reply']['id']", 256))
        titles.add(_text(reply.get("title"), f"interactive['action']['buttons'][{i}]['reply']['title']", 20))
    if len(ids) != len(buttons) or len(titles) != len(buttons):
        raise bad_parameter("Buttons must have unique ids and titles.")


def _check_list(action: dict[str, Any]) -> None:
    _text(action.get("button"), "interactive['action']['button']", 20)
    sections = action.get("sections")
    if not isinstance(sections, list) or not 1 <= len(sections) <= 10:
        raise bad_parameter("Param interactive['action']['sections'] must have between 1 and 10 elements.")
    row_ids: list[str] = []
    for s, section in enumerate(sections):
        if not isinstance(section, dict):
            raise bad_parameter(f"Param interactive['action']['sections'][{s}] must be an object.")
        where = f"interactive['action']['sections'][{s}]"
        _text(section.get("title"), f"{where}['title']", 24, required=len(sections) > 1)
        rows = section.get("rows")
        if not isinstance(rows, list) or not rows:
            raise bad_parameter(f"Param {where}['rows'] must have at least 1 element.")
        for r, row in enumerate(rows):
            if not isinstance(row, dict):
                raise bad_parameter(f"Param {where}['rows'][{r}] must be an object.")
            row_ids.append(_text(row.get("id"), f"{where}['rows'][{r}]['id']", 200))
            _text(row.get("title"), f"{where}['rows'][{r}]['title']", 24)
            _text(row.get("description"), f"{where}['rows'][{r}]['description']", 72, required=False)
    if len(row_ids) > 10:
        raise bad_parameter("Total row count exceed max allowed count: 10")
    if len(set(row_ids)) != len(row_ids):
        raise bad_parameter("Row ids must be unique.")


def _check_interactive(body: dict[str, Any]) -> None:
    interactive = _object(body, "interactive")
    kind = interactive.get("type")
    if kind not in ("button", "list"):
        raise bad_parameter("Param interactive['type'] must be one of {BUTTON, LIST}.")
    _text(_object(interactive, "body").get("text"), "interactive['body']['text']", 4096 if kind == "list" else 1024)
    if "footer" in interactive:
        _text(_object(interactive, "footer").get("text"), "interactive['footer']['text']", 60)
    if "header" in interactive:
        header = _object(interactive, "header")
        if header.get("type") == "text":
            _text(header.get("text"), "interactive['header']['text']", 60)
    action = _object(interactive, "action")
    if kind == "button":
        _check_buttons(action)
    else:
        _check_list(action)


def validate_send(body: dict[str, Any]) -> str:
    """Check a message send the way Graph does; returns the message type."""
    if body.get("messaging_product") != "whatsapp":
        raise bad_parameter("The parameter messaging_product is required and must be 'whatsapp'.")
    if body.get("recipient_type", "individual") != "individual":
        raise bad_parameter("Param recipient_type must be 'individual'.")
    if not body.get("to") and not body.get("recipient"):
        raise bad_parameter("The parameter to is required.")
    kind = body.get("type", "text")
    if kind not in SEND_TYPES:
        raise bad_parameter(f"Param type must be one of {{{', '.join(t.upper() for t in SEND_TYPES)}}}.")
    if "context" in body:
        _text(_object(body, "context").get("message_id"), "context['message_id']", 191)
    if kind == "text":
        _text(_object(body, "text").get("body"), "text['body']", 4096)
    elif kind == "interactive":
        _check_interactive(body)
    elif kind == "template":
        template = _object(body, "template")
        _text(template.get("name"), "template['name']", 512)
        language = template.get("language")
        if not isinstance(language, dict) or not language.get("code"):
            raise bad_parameter("The parameter template['language']['code'] is required.")
    elif kind in MEDIA_TYPES:
        media = _object(body, kind)
        if not media.get("id") and not media.get("link"):
            raise bad_parameter(f"Param {kind} must have an id or a link.")
    elif kind == "location":
        location = _object(body, "location")
        if "latitude" not in location or "longitude" not in location:
            raise bad_parameter("The parameters location['latitude'] and location['longitude'] are required.")
    elif kind == "reaction":
        _text(_object(body, "reaction").get("message_id"), "reaction['message_id']", 191)
    elif kind == "contacts" and not isinstance(body.get("contacts"), list):
        raise bad_parameter("The parameter contacts is required.")
    return kind


# --- templates -------------------------------------------------------------------------------


def _component(components: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next((c for c in components if str(c.get("type", "")).upper() == kind), {})


def _parameter_text(parameter: dict[str, Any]) -> str:
    kind = parameter.get("type")
    if kind == "text":
        return str(parameter.get("text", ""))
    if kind == "currency":
        return str(parameter.get("currency", {}).get("fallback_value", ""))
    if kind == "date_time":
        return str(parameter.get("date_time", {}).get("fallback_value", ""))
    if kind == "payload":
        return str(parameter.get("payload", ""))
    return f"[{kind}]"


def _fill(text: str, parameters: list[dict[str, Any]]) -> str:
    values = {str(i + 1): _parameter_text(p) for i, p in enumerate(parameters)}
    values.update({str(p["parameter_name"]): _parameter_text(p) for p in parameters if p.get("parameter_name")})
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def _sent_parameters(sent: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    component = next((c for c in sent if c.get("type") == kind), {})
    return list(component.get("parameters") or [])


def render_template(template: Template, body: dict[str, Any]) -> dict[str, Any]:
    """Fill the approved template with the send's parameters (132000 when the counts differ)."""
    sent = body["template"].get("components") or []
    if not isinstance(sent, list):
        raise bad_parameter("Param template['components'] must be a list.")
    rendered: dict[str, Any] = {}
    for kind in ("header", "body"):
        component = _component(template.components, kind.upper())
        text = component.get("text", "") if component.get("format", "TEXT").upper() == "TEXT" else ""
        parameters = _sent_parameters(sent, kind)
        expected = len(set(PLACEHOLDER.findall(text)))
        if expected != len(parameters):
            raise GraphProblem(
                132000,
                "(#132000) Number of parameters does not match the expected number of params",
                f"{kind}: number of localizable_params ({len(parameters)}) does not match the expected "
                f"number of params ({expected})",
            )
        rendered[kind] = _fill(text, parameters)
    rendered["footer"] = _component(template.components, "FOOTER").get("text", "")
    buttons = []
    for index, button in enumerate(_component(template.components, "BUTTONS").get("buttons", [])):
        if str(button.get("type", "")).upper() != "QUICK_REPLY":
            buttons.append({"kind": "link", "title": button.get("text", "")})
            continue
        given: dict[str, Any] = next(
            (c for c in sent if c.get("type") == "button" and str(c.get("index")) == str(index)), {}
        )
        first: dict[str, Any] = next(iter(given.get("parameters") or []), {})
        payload = first.get("payload") or button.get("text", "")
        buttons.append({"kind": "reply", "id": str(payload), "title": button.get("text", "")})
    rendered["buttons"] = buttons
    return rendered


def render_message(kind: str, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """What the phone shows for a non-template message, and a one-line summary."""
    if kind == "text":
        text = body["text"]["body"]
        return {"body": text}, text
    if kind == "interactive":
        interactive = body["interactive"]
        rendered: dict[str, Any] = {
            "header": (interactive.get("header") or {}).get("text", ""),
            "body": interactive["body"]["text"],
            "footer": (interactive.get("footer") or {}).get("text", ""),
        }
        action = interactive["action"]
        if interactive["type"] == "button":
            rendered["buttons"] = [
                {"kind": "reply", "id": b["reply"]["id"], "title": b["reply"]["title"]} for b in action["buttons"]
            ]
        else:
            rendered["list_button"] = action["button"]
            rendered["sections"] = [
                {
                    "title": s.get("title", ""),
                    "rows": [
                        {"id": r["id"], "title": r["title"], "description": r.get("description", "")}
                        for r in s["rows"]
                    ],
                }
                for s in action["sections"]
            ]
        return rendered, rendered["body"]
    if kind in MEDIA_TYPES:
        caption = body[kind].get("caption", "")
        return {"body": caption, "media": kind}, f"[{kind}] {caption}".strip()
    if kind == "location":
        location = body["location"]
        label = location.get("name") or f"{location['latitude']}, {location['longitude']}"
        return {"body": label, "media": "location"}, f"[location] {label}"
    if kind == "reaction":
        emoji = body["reaction"].get("emoji", "")
        return {"body": emoji, "reaction_to": body["reaction"]["message_id"]}, f"[reaction] {emoji}".strip()
    return {"body": f"[{kind}]"}, f"[{kind}]"


# --- template creation -----------------------------------------------------------------------

TEMPLATE_NAME = re.compile(r"^[a-z0-9_]{1,512}$")


def validate_template_create(body: dict[str, Any]) -> tuple[str, str, str, list[dict[str, Any]]]:
    """Check a template creation request; returns (name, language, category, components)."""
    name = body.get("name")
    if not isinstance(name, str) or not TEMPLATE_NAME.match(name):
        raise bad_parameter("Param name must contain only lowercase letters, digits and underscores.")
    language = body.get("language")
    if not isinstance(language, str) or not language:
        raise bad_parameter("The parameter language is required.")
    category = str(body.get("category", "")).upper()
    if category not in Template.Category.values:
        raise bad_parameter("Param category must be one of {MARKETING, UTILITY, AUTHENTICATION}.")
    components = body.get("components")
    if not isinstance(components, list) or not all(isinstance(c, dict) for c in components):
        raise bad_parameter("The parameter components is required.")
    body_component = _component(components, "BODY")
    if category != Template.Category.AUTHENTICATION:
        _text(body_component.get("text"), "components['BODY']['text']", 1024)
    return name, language, category, components
