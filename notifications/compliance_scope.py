"""The compliance monitor's scope: which policy and reply target a number has, which numbers
a user sees on the compliance page, and which of a number's conversations count for a period
(those the user may see, per conversations.access)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet

from bots.models import EscalationPolicy
from conversations.access import conversations_visible_to, roles_for
from conversations.models import Conversation, WhatsAppNumber

DEFAULT_TARGET_MINUTES = 60


def number_policy(number: WhatsAppNumber) -> EscalationPolicy | None:
    """The policy the bots use for the number's conversations before a team is known: the
    number's own, else the default one."""
    candidates = list(EscalationPolicy.objects.filter(Q(number=number) | Q(is_default=True)))
    candidates.sort(key=lambda policy: 0 if policy.number_id == number.pk else 1)
    return candidates[0] if candidates else None


def target_seconds(number: WhatsAppNumber, policy: EscalationPolicy | None = None) -> int:
    policy = policy if policy is not None else number_policy(number)
    minutes = policy.human_reply_target_minutes if policy is not None else DEFAULT_TARGET_MINUTES
    return max(1, minutes) * 60


def compliance_numbers(*, user: Any) -> QuerySet[WhatsAppNumber]:
    """Numbers shown on the compliance page. Numbers are no secret to supervisors; what they
    see of each is limited to their conversations (`compliance_conversations`)."""
    if not user_may_see_compliance(user):
        return WhatsAppNumber.objects.none()
    return WhatsAppNumber.objects.select_related("health").order_by("-is_default", "name", "pk")


def user_may_see_compliance(user: Any) -> bool:
    """Admins and supervisors of at least one team (conversations.access)."""
    return roles_for(user).supervisor


def compliance_conversations(*, user: Any | None, number: WhatsAppNumber, start: datetime,
                             end: datetime) -> QuerySet[Conversation]:
    """Conversations of the number created in [start, end) that `user` may see (every one
    for `user=None`: the system's own evidence, as kept on a remediation case)."""
    base = Conversation.objects.all() if user is None else conversations_visible_to(user)
    return base.filter(number=number, created_at__gte=start, created_at__lt=end).order_by()
