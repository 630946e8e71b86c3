"""What the desk shows of consent and templates, registered as desk parts
(`agents.desk_parts`) from `NotificationsConfig.ready()`."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db.models import Q

from conversations.models import Conversation, WhatsAppNumber
from notifications.models import MessageTemplate
from notifications.services.consent import consent_state, user_may_record_opt_in
from notifications.template_params import template_slots


def templates_offer(number: WhatsAppNumber) -> list[dict[str, Any]]:
    """The approved templates the number may send, each with its body and the parameter
    slots the desk's template form asks for."""
    qs = MessageTemplate.objects.filter(status="APPROVED").filter(
        Q(number=number) | Q(business_account_id=number.business_account_id)
    )
    if not number.business_account_id:
        qs = MessageTemplate.objects.filter(status="APPROVED", number=number)
    templates = []
    for template in qs.order_by("name", "language")[:200]:
        body = template.component("BODY") or {}
        templates.append(
            {
                "name": template.name,
                "language": template.language,
                "category": template.category,
                "named": template.parameter_format == "named",
                "body": body.get("text", ""),
                "slots": [
                    {"component": s.component, "names": s.names, "format": s.fmt, "button_index": s.button_index}
                    for s in template_slots(template.components)
                ],
            }
        )
    return templates


def desk_consent(*, user: User, conversation: Conversation) -> dict[str, Any]:
    """The side panel's consent: the contact's current state per category."""
    return consent_state(contact=conversation.contact)


def desk_templates(*, user: User, conversation: Conversation) -> list[dict[str, Any]]:
    """The side panel's templates, for a closed window: those the conversation's number may send."""
    return templates_offer(conversation.number)


def new_conversation_templates(*, user: User, number: WhatsAppNumber | None) -> list[dict[str, Any]]:
    """The *New conversation* form's templates: those the chosen number may send."""
    return templates_offer(number) if number is not None else []


def new_conversation_may_record_opt_in(*, user: User, number: WhatsAppNumber | None) -> bool:
    """Whether the *New conversation* form offers to record the contact's opt-in."""
    return user_may_record_opt_in(user)
