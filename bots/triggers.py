"""Escalation triggers checked on every customer message before the bot answers.

Each returns a `Trigger` (reason, priority, detail) or None. Order matters and is fixed in
`first_trigger`: WhatsApp's own test message, the human option, escalation keywords,
negative sentiment, then the VIP rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bots.inbound import Inbound, contains_phrase, normalize
from bots.models import HUMAN_OPTION_ID, EscalationPolicy, Handoff
from bots.texts import human_option_titles
from conversations.models import Contact

TOP_PRIORITY = 100
NEGATIVE_PRIORITY = 10

# WhatsApp reviews automated experiences by writing to the business: a message that says
# it comes from WhatsApp or Meta and asks about the bot. Both parts must be present.
_PLATFORM_SOURCE = re.compile(
    r"\b(?:from|by|de|von|da|van|du)\s+(?:the\s+)?(?:whatsapp|meta|facebook)\b"
    r"|\b(?:whatsapp|meta)\s+(?:team|support|review|business|policy|quality|equipo|equipe|teams?)\b"
    r"|\bthis is (?:whatsapp|meta)\b"
)
_PLATFORM_TOPIC = re.compile(
    r"\b(?:bot|bots|chatbot|chat bot|automated|automation|automatic|virtual assistant|ai assistant"
    r"|escalation|human agent|customer experience|experiencia|experiencia con el bot)\b"
)
_PLATFORM_ASK = re.compile(r"\b(?:test|testing|review|reviewing|evaluat\w*|quality|feedback|experience|check\w*)\b")


@dataclass(frozen=True)
class Trigger:
    reason: str
    priority: int = 0
    detail: str = ""
    requested: bool = False  # the customer asked for a person (ledger: human_requested_at)


def is_platform_test_message(text: str) -> bool:
    norm = normalize(text)
    return bool(_PLATFORM_SOURCE.search(norm) and _PLATFORM_TOPIC.search(norm) and _PLATFORM_ASK.search(norm))


def human_option_chosen(inbound: Inbound, policy: EscalationPolicy) -> bool:
    if inbound.payload == HUMAN_OPTION_ID:
        return True
    if not inbound.text:
        return False
    typed = normalize(inbound.text)
    return any(typed == normalize(title) for title in human_option_titles(policy))


def matched_keyword(inbound: Inbound, policy: EscalationPolicy) -> str:
    if inbound.kind == "reply" or not inbound.text:
        return ""
    norm = inbound.normalized
    return next((k for k in policy.keyword_list() if contains_phrase(norm, k)), "")


def matched_negative_word(inbound: Inbound, policy: EscalationPolicy) -> str:
    if not inbound.text:
        return ""
    norm = inbound.normalized
    return next((w for w in policy.negative_word_list() if contains_phrase(norm, w)), "")


def contact_is_vip(contact: Contact, policy: EscalationPolicy) -> bool:
    if not policy.vip_attribute:
        return False
    value = (contact.attributes or {}).get(policy.vip_attribute)
    if value is None:
        return False
    return normalize(str(value)) == normalize(policy.vip_value or "true")


def first_trigger(*, inbound: Inbound, contact: Contact, policy: EscalationPolicy) -> Trigger | None:
    if policy.detect_platform_test and inbound.text and is_platform_test_message(inbound.text):
        return Trigger(Handoff.Reason.PLATFORM_TEST, TOP_PRIORITY, "WhatsApp bot-quality test message", requested=True)
    if human_option_chosen(inbound, policy):
        return Trigger(Handoff.Reason.CUSTOMER_REQUEST, 0, policy.human_option_title, requested=True)
    keyword = matched_keyword(inbound, policy)
    if keyword:
        return Trigger(Handoff.Reason.KEYWORD, 0, f"keyword: {keyword}", requested=True)
    negative = matched_negative_word(inbound, policy)
    if negative:
        return Trigger(Handoff.Reason.NEGATIVE_SENTIMENT, NEGATIVE_PRIORITY, f"word: {negative}")
    if contact_is_vip(contact, policy):
        return Trigger(
            Handoff.Reason.VIP, policy.vip_priority, f"contact attribute {policy.vip_attribute} = {policy.vip_value}"
        )
    return None
