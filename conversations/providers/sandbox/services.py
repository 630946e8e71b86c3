"""Writes of the sandbox: simulated phones and their messages, and the stand-in Graph
API's records (sent messages, read receipts, templates).

Every function runs in one transaction and enqueues its webhook work on commit, so a
request never waits on the server calling itself back.
"""

from __future__ import annotations

import base64
import re
import secrets
from datetime import timedelta
from typing import Any

import phonenumbers
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from config import task_names
from config.tasking import enqueue_on_commit
from conversations.models import WhatsAppNumber
from conversations.providers.sandbox import graph
from conversations.providers.sandbox.hooks import unix_now
from conversations.providers.sandbox.media import media_rendered
from conversations.providers.sandbox.models import Phone, PhoneMessage, Template

TYPING_SECONDS = 25
WA_ID = re.compile(r"^[1-9]\d{5,14}$")
USERNAME = re.compile(r"^@?[A-Za-z0-9._]{3,35}$")

In = PhoneMessage.Direction.FROM_CUSTOMER
Out = PhoneMessage.Direction.TO_CUSTOMER
S = PhoneMessage.Status


class SandboxInvalid(ValueError):
    """A simulator request that cannot be carried out (bad input or unknown choice)."""


def new_wamid() -> str:
    return "wamid." + base64.urlsafe_b64encode(secrets.token_bytes(27)).decode()


def _user_id_for(wa_id: str) -> str:
    region = "US"
    if wa_id:
        try:
            region = phonenumbers.region_code_for_number(phonenumbers.parse("+" + wa_id)) or "US"
        except phonenumbers.NumberParseException:
            region = "US"
    return f"{region}.{secrets.randbelow(10**19):019d}"


def phone_create(*, number: WhatsAppNumber, name: str, wa_id: str = "", username: str = "") -> Phone:
    """A simulated customer on `number`, by phone number (`wa_id`) or by username only.

    Idempotent by phone number: asking again for an existing `wa_id` returns that phone.
    """
    name = name.strip()
    wa_id = re.sub(r"[\s+\-()]", "", wa_id)
    username = username.strip()
    if not name or len(name) > 100:
        raise SandboxInvalid("Give the customer a name (up to 100 characters).")
    if wa_id and not WA_ID.match(wa_id):
        raise SandboxInvalid("A phone number is 6 to 15 digits with the country code, like 15551234567.")
    if username and not USERNAME.match(username):
        raise SandboxInvalid("A username is 3 to 35 letters, digits, dots or underscores.")
    if not wa_id and not username:
        raise SandboxInvalid("Give a phone number, or a username for a customer who hides their number.")
    if username and not username.startswith("@"):
        username = "@" + username
    try:
        with transaction.atomic():
            return Phone.objects.create(
                number=number, name=name, wa_id=wa_id, username=username, user_id=_user_id_for(wa_id)
            )
    except IntegrityError:
        existing = Phone.objects.filter(number=number, wa_id=wa_id).first() if wa_id else None
        if existing is None:
            raise
        return existing


# --- the customer writes --------------------------------------------------------------------


def _reply_object(reply_to: PhoneMessage, choice: str) -> tuple[str, dict[str, Any], str]:
    """The inbound message object for tapping `choice` on a business message."""
    rendered = reply_to.rendered or {}
    for button in rendered.get("buttons", []):
        if button.get("kind") == "reply" and button.get("id") == choice:
            if reply_to.type == "template":
                return "button", {"button": {"payload": choice, "text": button["title"]}}, button["title"]
            reply = {"type": "button_reply", "button_reply": {"id": choice, "title": button["title"]}}
            return "interactive", {"interactive": reply}, button["title"]
    for section in rendered.get("sections", []):
        for row in section.get("rows", []):
            if row.get("id") == choice:
                reply = {
                    "type": "list_reply",
                    "list_reply": {"id": choice, "title": row["title"], "description": row.get("description", "")},
                }
                return "interactive", {"interactive": reply}, row["title"]
    raise SandboxInvalid("That message has no such button or row.")


@transaction.atomic
def customer_message_send(
    *,
    phone: Phone,
    webhook_url: str,
    text: str = "",
    reply_to: PhoneMessage | None = None,
    choice: str = "",
    location: dict[str, Any] | None = None,
) -> PhoneMessage:
    """The customer sends text, taps a button or list row of `reply_to`, or shares a location.

    Recorded at once; the signed webhook is posted by a task after commit.
    """
    message: dict[str, Any] = {}
    if phone.wa_id:
        message["from"] = phone.wa_id
    message["from_user_id"] = phone.user_id
    message.update({"id": new_wamid(), "timestamp": unix_now()})
    if reply_to is not None:
        if reply_to.phone_id != phone.pk or reply_to.direction != Out:
            raise SandboxInvalid("Replies answer a message this phone received.")
        kind, body, summary = _reply_object(reply_to, choice)
        message["context"] = {"from": phone.number.display_phone_number, "id": reply_to.wamid}
    elif location is not None:
        try:
            latitude, longitude = float(location["latitude"]), float(location["longitude"])
        except (KeyError, TypeError, ValueError):
            raise SandboxInvalid("A location needs a numeric latitude and longitude.") from None
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            raise SandboxInvalid("That latitude or longitude is out of range.")
        place: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
        for key in ("name", "address"):
            if location.get(key):
                place[key] = str(location[key])[:256]
        kind, body, summary = "location", {"location": place}, str(place.get("name") or f"{latitude}, {longitude}")
    else:
        text = text.strip()
        if not text or len(text) > 4096:
            raise SandboxInvalid("Write a message of 1 to 4096 characters.")
        kind, body, summary = "text", {"text": {"body": text}}, text
    message["type"] = kind
    message.update(body)
    created = PhoneMessage.objects.create(
        phone=phone,
        direction=In,
        wamid=message["id"],
        type=kind,
        content=message,
        text=summary,
        context_wamid=reply_to.wamid if reply_to else "",
        webhook_url=webhook_url,
    )
    Phone.objects.filter(pk=phone.pk).update(last_sent_at=timezone.now())
    enqueue_on_commit(task_names.SANDBOX_POST_CUSTOMER_MESSAGE, message_id=created.pk)
    return created


def customer_message_record_post(*, message_id: int, http_status: int | None, error: str = "") -> None:
    """Record the business endpoint's answer to a customer message's webhook."""
    if http_status is not None and 200 <= http_status < 300:
        PhoneMessage.objects.filter(pk=message_id, status=S.ACCEPTED).update(status=S.DELIVERED, error="")
    else:
        reason = error or f"The webhook endpoint answered HTTP {http_status}."
        PhoneMessage.objects.filter(pk=message_id, status=S.ACCEPTED).update(status=S.FAILED, error=reason)


@transaction.atomic
def phone_messages_seen(*, phone: Phone, message_ids: list[int]) -> int:
    """The customer has seen these delivered business messages: each gets one `read` webhook."""
    now = timezone.now()
    seen = list(
        PhoneMessage.objects.filter(
            phone=phone, direction=Out, pk__in=message_ids, status=S.DELIVERED, seen_at__isnull=True
        ).values_list("pk", flat=True)
    )
    claimed = 0
    for pk in seen:
        if PhoneMessage.objects.filter(pk=pk, seen_at__isnull=True).update(seen_at=now):
            claimed += 1
            enqueue_on_commit(task_names.SANDBOX_POST_READ_STATUS, message_id=pk)
    return claimed


# A business message's status moves forward only.
STATUS_RANK: dict[str, int] = {S.ACCEPTED: 0, S.SENT: 1, S.DELIVERED: 2, S.READ: 3}


def business_message_advance(*, message_id: int, status: str) -> bool:
    """Move a business message's status forward (compare-and-set); False when already there."""
    earlier = [s for s, rank in STATUS_RANK.items() if rank < STATUS_RANK[status]]
    return bool(PhoneMessage.objects.filter(pk=message_id, status__in=earlier).update(status=status))


# --- the stand-in Graph API -------------------------------------------------------------------


def _recipient(number: WhatsAppNumber, body: dict[str, Any], *, is_template: bool) -> Phone:
    to = re.sub(r"[\s+\-()]", "", str(body.get("to") or ""))
    if to:
        phone = Phone.objects.filter(number=number, wa_id=to).first()
        if phone is None and is_template and WA_ID.match(to):
            phone = phone_create(number=number, name=f"+{to}", wa_id=to)
    else:
        phone = Phone.objects.filter(number=number, user_id=str(body.get("recipient"))).first()
    if phone is None and not is_template:
        raise graph.GraphProblem(
            131047,
            "(#131047) Re-engagement message",
            "Message failed to send because more than 24 hours have passed since the customer last replied to "
            "this number.",
        )
    if phone is None:
        raise graph.GraphProblem(131026, "(#131026) Message undeliverable", "The recipient is not reachable.")
    return phone


def _template_for(number: WhatsAppNumber, body: dict[str, Any]) -> Template:
    name = body["template"]["name"]
    language = body["template"]["language"]["code"]
    template = Template.objects.filter(
        business_account_id=number.business_account_id, name=name, language=language
    ).first()
    if template is None or template.status in (Template.Status.PENDING, Template.Status.REJECTED):
        raise graph.GraphProblem(
            132001,
            "(#132001) Template name does not exist in the translation",
            f"template name ({name}) does not exist in {language}",
        )
    if template.status == Template.Status.PAUSED:
        raise graph.GraphProblem(132015, "(#132015) Template is Paused", f"Template {name} is paused.")
    if template.status == Template.Status.DISABLED:
        raise graph.GraphProblem(132016, "(#132016) Template is Disabled", f"Template {name} is disabled.")
    return template


@transaction.atomic
def graph_message_accept(*, number: WhatsAppNumber, body: dict[str, Any], webhook_url: str) -> dict[str, Any]:
    """Accept a message send as Graph does (raising GraphProblem otherwise); the
    `sent` and `delivered` status webhooks follow from a task."""
    kind = graph.validate_send(body)
    is_template = kind == "template"
    phone = _recipient(number, body, is_template=is_template)
    window = timedelta(hours=settings.CUSTOMER_SERVICE_WINDOW_HOURS)
    if not is_template and (phone.last_sent_at is None or timezone.now() - phone.last_sent_at >= window):
        raise graph.GraphProblem(
            131047,
            "(#131047) Re-engagement message",
            "Message failed to send because more than 24 hours have passed since the customer last replied to "
            "this number.",
        )
    if is_template:
        rendered = graph.render_template(_template_for(number, body), body)
        summary = rendered["body"]
    else:
        rendered, summary = graph.render_message(kind, body)
        if kind in graph.MEDIA_TYPES:
            rendered = media_rendered(number=number, kind=kind, body=body, rendered=rendered)
    message = PhoneMessage.objects.create(
        phone=phone,
        direction=Out,
        wamid=new_wamid(),
        type=kind,
        content=body,
        rendered=rendered,
        text=summary,
        context_wamid=str((body.get("context") or {}).get("message_id", "")),
        webhook_url=webhook_url,
    )
    Phone.objects.filter(pk=phone.pk).update(business_typing_until=None)
    enqueue_on_commit(task_names.SANDBOX_POST_DELIVERY_STATUSES, message_id=message.pk)
    contact = {"input": str(body.get("to") or body.get("recipient"))}
    contact["wa_id" if body.get("to") else "user_id"] = phone.wa_id if body.get("to") else phone.user_id
    result: dict[str, Any] = {"id": message.wamid}
    if is_template:
        result["message_status"] = "accepted"
    return {"messaging_product": "whatsapp", "contacts": [contact], "messages": [result]}


@transaction.atomic
def graph_mark_read(*, number: WhatsAppNumber, body: dict[str, Any]) -> dict[str, Any]:
    """The business read a customer message (and every earlier one); optionally shows typing."""
    if body.get("messaging_product") != "whatsapp":
        raise graph.bad_parameter("The parameter messaging_product is required and must be 'whatsapp'.")
    message = PhoneMessage.objects.filter(
        phone__number=number, direction=In, wamid=str(body.get("message_id") or "")
    ).first()
    if message is None:
        raise graph.bad_parameter("The parameter message_id must be the id of a message this number received.")
    PhoneMessage.objects.filter(
        phone=message.phone_id, direction=In, created_at__lte=message.created_at, status=S.DELIVERED
    ).update(status=S.READ)
    if isinstance(body.get("typing_indicator"), dict):
        until = timezone.now() + timedelta(seconds=TYPING_SECONDS)
        Phone.objects.filter(pk=message.phone_id).update(business_typing_until=until)
    return {"success": True}


HELLO_WORLD = [
    {"type": "HEADER", "format": "TEXT", "text": "Hello World"},
    {
        "type": "BODY",
        "text": "Welcome and congratulations!! This message demonstrates your ability to send a WhatsApp "
        "message notification from the Cloud API, hosted by Meta. Thank you for taking the time to test with us.",
    },
    {"type": "FOOTER", "text": "WhatsApp Business Platform sample message"},
]


def template_ensure_sample(*, business_account_id: str) -> Template:
    """Every new business account has Meta's approved `hello_world` (en_US) template."""
    template, _ = Template.objects.get_or_create(
        business_account_id=business_account_id,
        name="hello_world",
        language="en_US",
        defaults={"category": Template.Category.UTILITY, "status": Template.Status.APPROVED, "components": HELLO_WORLD},
    )
    return template


@transaction.atomic
def template_create(*, business_account_id: str, body: dict[str, Any], webhook_url: str) -> Template:
    """Create a PENDING template; a task reviews it after SANDBOX_TEMPLATE_REVIEW_SECONDS.

    Names starting with `reject` are rejected (reason INVALID_FORMAT), so the rejection
    path can be demonstrated; every other template is approved.
    """
    name, language, category, components = graph.validate_template_create(body)
    try:
        with transaction.atomic():
            template = Template.objects.create(
                business_account_id=business_account_id,
                name=name,
                language=language,
                category=category,
                components=components,
                webhook_url=webhook_url,
            )
    except IntegrityError:
        raise graph.bad_parameter(
            f"There is already {language} content for the template {name}. Create a new template and try again."
        ) from None
    enqueue_on_commit(
        task_names.SANDBOX_REVIEW_TEMPLATE, countdown=settings.SANDBOX_TEMPLATE_REVIEW_SECONDS, template_id=template.pk
    )
    return template


def template_review(*, template_id: int) -> Template | None:
    """Decide a PENDING template (once); returns it when this call decided it."""
    template = Template.objects.filter(pk=template_id).first()
    if template is None:
        return None
    if template.name.startswith("reject"):
        status, reason = Template.Status.REJECTED, "INVALID_FORMAT"
    else:
        status, reason = Template.Status.APPROVED, ""
    claimed = Template.objects.filter(Q(pk=template_id) & Q(status=Template.Status.PENDING)).update(
        status=status, rejected_reason=reason
    )
    if not claimed:
        return None
    template.refresh_from_db()
    return template
