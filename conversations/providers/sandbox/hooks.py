"""The webhooks the sandbox posts to the business, in Meta's shapes, signed with the
number's app secret exactly as Meta signs them (HMAC-SHA256 over the raw body)."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx
from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

from conversations.models import WhatsAppNumber
from conversations.providers.sandbox.models import Phone, PhoneMessage, Template

WEBHOOK_PATH = "/webhooks/whatsapp/"
TIMEOUT_SECONDS = 10.0


def webhook_url_for(request: HttpRequest) -> str:
    """The business's webhook endpoint: the setting, or this server as the request reached it."""
    return settings.SANDBOX_WEBHOOK_URL or request.build_absolute_uri(WEBHOOK_PATH)


def unix_now() -> str:
    return str(int(timezone.now().timestamp()))


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def envelope(*, business_account_id: str, field: str, value: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": business_account_id, "changes": [{"field": field, "value": value}]}],
    }


def _metadata(number: WhatsAppNumber) -> dict[str, str]:
    return {"display_phone_number": number.display_phone_number, "phone_number_id": number.phone_number_id}


def contact_object(phone: Phone) -> dict[str, Any]:
    profile: dict[str, str] = {"name": phone.name}
    if phone.username:
        profile["username"] = phone.username
    contact: dict[str, Any] = {"profile": profile}
    if phone.wa_id:
        contact["wa_id"] = phone.wa_id
    contact["user_id"] = phone.user_id
    return contact


def message_payload(message: PhoneMessage) -> dict[str, Any]:
    """A `messages` webhook carrying one customer message."""
    phone = message.phone
    number = phone.number
    value = {
        "messaging_product": "whatsapp",
        "metadata": _metadata(number),
        "contacts": [contact_object(phone)],
        "messages": [message.content],
    }
    return envelope(business_account_id=number.business_account_id, field="messages", value=value)


def _pricing_category(message: PhoneMessage) -> str:
    if message.type != "template":
        return "service"
    template = Template.objects.filter(
        business_account_id=message.phone.number.business_account_id,
        name=message.content.get("template", {}).get("name", ""),
    ).first()
    return template.category.lower() if template else "utility"


def status_payload(message: PhoneMessage, status: str) -> dict[str, Any]:
    """A `messages` webhook carrying one status of a business message."""
    phone = message.phone
    number = phone.number
    item: dict[str, Any] = {"id": message.wamid, "status": status, "timestamp": unix_now()}
    if phone.wa_id:
        item["recipient_id"] = phone.wa_id
    item["recipient_user_id"] = phone.user_id
    if status in ("sent", "delivered"):
        category = _pricing_category(message)
        # As WhatsApp prices them: a service reply inside the window is free, templates are charged.
        free = category == "service"
        item["pricing"] = {
            "billable": not free,
            "pricing_model": "PMP",
            "type": "free_customer_service" if free else "regular",
            "category": category,
        }
    callback = message.content.get("biz_opaque_callback_data")
    if callback:
        item["biz_opaque_callback_data"] = callback
    value = {"messaging_product": "whatsapp", "metadata": _metadata(number), "statuses": [item]}
    return envelope(business_account_id=number.business_account_id, field="messages", value=value)


def template_status_payload(template: Template) -> dict[str, Any]:
    value: dict[str, Any] = {
        "event": template.status,
        "message_template_id": template.pk,
        "message_template_name": template.name,
        "message_template_language": template.language,
        "message_template_category": template.category,
        "reason": template.rejected_reason or "NONE",
    }
    return envelope(business_account_id=template.business_account_id, field="message_template_status_update", value=value)


def webhook_post(*, url: str, app_secret: str, payload: dict[str, Any]) -> int:
    """POST `payload` signed with `app_secret`; returns the HTTP status (raises httpx errors)."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    response = httpx.post(
        url,
        content=body,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, app_secret)},
        timeout=TIMEOUT_SECONDS,
    )
    return response.status_code
