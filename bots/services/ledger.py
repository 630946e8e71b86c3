"""The escalation ledger: first moments the human option was offered, a person was asked
for and the conversation was handed off. Each moment is written once (compare-and-set on
an empty field), so concurrent turns keep the earliest. When a person first answered is
read from the messages (`bots.selectors.ledger_for`)."""

from __future__ import annotations

from datetime import datetime

from django.db.models import F
from django.utils import timezone

from bots.models import EscalationLedger
from conversations.models import Conversation


def _ledger(conversation: Conversation) -> EscalationLedger:
    ledger, _ = EscalationLedger.objects.get_or_create(conversation=conversation)
    return ledger


def _first(conversation: Conversation, field: str, at: datetime | None) -> None:
    ledger = _ledger(conversation)
    EscalationLedger.objects.filter(pk=ledger.pk, **{f"{field}__isnull": True}).update(**{field: at or timezone.now()})


def ledger_note_offered(*, conversation: Conversation, at: datetime | None = None) -> None:
    _first(conversation, "human_offered_at", at)


def ledger_note_requested(*, conversation: Conversation, at: datetime | None = None) -> None:
    _first(conversation, "human_requested_at", at)


def ledger_note_handoff(*, conversation: Conversation, at: datetime | None = None) -> None:
    ledger = _ledger(conversation)
    EscalationLedger.objects.filter(pk=ledger.pk).update(handoff_count=F("handoff_count") + 1)
    _first(conversation, "handed_off_at", at)

