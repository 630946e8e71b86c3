"""Real-shaped WhatsApp webhook payloads and their signatures."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from typing import Any

_ids = itertools.count(1)

APP_SECRET = "test-app-secret"
PHONE_NUMBER_ID = "1000000001"
DISPLAY_NUMBER = "15550001111"
WABA_ID = "2000000002"


def wamid() -> str:
    return f"wamid.IN{next(_ids):010d}{int(time.time() * 1000)}"


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def envelope(value: dict[str, Any], field: str = "messages", waba_id: str = WABA_ID) -> dict[str, Any]:
    return {"object": "whatsapp_business_account", "entry": [{"id": waba_id, "changes": [{"field": field, "value": value}]}]}


def messages_value(
    messages: list[dict[str, Any]],
    *,
    wa_id: str = "15551234567",
    name: str = "Ana Customer",
    user_id: str | None = None,
    phone_number_id: str = PHONE_NUMBER_ID,
) -> dict[str, Any]:
    contact: dict[str, Any] = {"profile": {"name": name}, "wa_id": wa_id}
    if user_id:
        contact["user_id"] = user_id
    return {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": DISPLAY_NUMBER, "phone_number_id": phone_number_id},
        "contacts": [contact],
        "messages": messages,
    }


def text_message(body: str, *, wa_id: str = "15551234567", msg_id: str | None = None, ts: int | None = None, **extra) -> dict:
    message = {
        "from": wa_id,
        "id": msg_id or wamid(),
        "timestamp": str(ts if ts is not None else int(time.time())),
        "type": "text",
        "text": {"body": body},
    }
    message.update(extra)
    return message


def text_payload(body: str, *, wa_id: str = "15551234567", name: str = "Ana Customer", msg_id: str | None = None, **kw) -> dict:
    phone_number_id = kw.pop("phone_number_id", PHONE_NUMBER_ID)
    return envelope(
        messages_value([text_message(body, wa_id=wa_id, msg_id=msg_id, **kw)], wa_id=wa_id, name=name, phone_number_id=phone_number_id)
    )


def button_reply_payload(button_id: str, title: str, *, wa_id: str = "15551234567", context_id: str | None = None) -> dict:
    message = {
        "from": wa_id,
        "id": wamid(),
        "timestamp": str(int(time.time())),
        "type": "interactive",
        "interactive": {"type": "button_reply", "button_reply": {"id": button_id, "title": title}},
    }
    if context_id:
        message["context"] = {"from": DISPLAY_NUMBER, "id": context_id}
    return envelope(messages_value([message], wa_id=wa_id))


def list_reply_payload(row_id: str, title: str, *, wa_id: str = "15551234567") -> dict:
    message = {
        "from": wa_id,
        "id": wamid(),
        "timestamp": str(int(time.time())),
        "type": "interactive",
        "interactive": {"type": "list_reply", "list_reply": {"id": row_id, "title": title, "description": ""}},
    }
    return envelope(messages_value([message], wa_id=wa_id))


def status_payload(
    message_id: str, status: str, *, recipient: str = "15551234567", ts: int | None = None, errors: list | None = None
) -> dict:
    item: dict[str, Any] = {
        "id": message_id,
        "status": status,
        "timestamp": str(ts if ts is not None else int(time.time())),
        "recipient_id": recipient,
    }
    if errors:
        item["errors"] = errors
    return envelope(
        {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": DISPLAY_NUMBER, "phone_number_id": PHONE_NUMBER_ID},
            "statuses": [item],
        }
    )


def post(client, payload: dict | bytes, *, secret: str = APP_SECRET, signature: str | None = None):
    """POST a signed webhook through Django's test client; returns the response."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {}
    sig = signature if signature is not None else sign(body, secret)
    if sig:
        headers["HTTP_X_HUB_SIGNATURE_256"] = sig
    return client.post("/webhooks/whatsapp/", data=body, content_type="application/json", **headers)


def inbound_message(kind: str, content: Any = None, *, wa_id: str = "15551234567", msg_id: str | None = None, **extra) -> dict:
    """One `messages[]` item of type `kind` carrying `content` under the key named after the type."""
    message: dict[str, Any] = {"from": wa_id, "id": msg_id or wamid(), "timestamp": str(int(time.time())), "type": kind}
    if content is not None:
        message[kind] = content
    message.update(extra)
    return message


def messages_payload(messages: list[dict], **kw) -> dict:
    """An envelope with one `messages` change holding `messages` (kw as for messages_value)."""
    return envelope(messages_value(messages, **kw))


def statuses_value(items: list[dict], *, phone_number_id: str = PHONE_NUMBER_ID) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": DISPLAY_NUMBER, "phone_number_id": phone_number_id},
        "statuses": items,
    }


def status_item(message_id: str, status: str, *, recipient: str = "15551234567", ts: int | None = None, errors: list | None = None) -> dict:
    item: dict[str, Any] = {
        "id": message_id,
        "status": status,
        "timestamp": str(ts if ts is not None else int(time.time())),
        "recipient_id": recipient,
    }
    if errors:
        item["errors"] = errors
    return item


def batch(*entries: list[dict[str, Any]], waba_id: str = WABA_ID) -> dict:
    """Several entries, each a list of changes (`{"field", "value"}`), in one body."""
    return {"object": "whatsapp_business_account", "entry": [{"id": waba_id, "changes": changes} for changes in entries]}


def change(value: dict[str, Any], field: str = "messages") -> dict[str, Any]:
    return {"field": field, "value": value}
