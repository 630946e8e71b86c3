"""Reads: which bot and which escalation policy serve a conversation, the transcript
summary, and the handoff data the API and desk show."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Q, QuerySet

from bots.models import Bot, BotSession, EscalationLedger, EscalationPolicy, Handoff
from conversations.models import Conversation, Message

BUILT_IN_POLICY_NAME = "Built-in defaults"

_Scoped = TypeVar("_Scoped", Bot, EscalationPolicy)


def _scoped(queryset: QuerySet[_Scoped], conversation: Conversation) -> _Scoped | None:
    """The most specific row for the conversation, in one query: its number's, else its
    team's, else the default."""
    scope = Q(number_id=conversation.number_id) | Q(is_default=True)
    if conversation.team_id:
        scope |= Q(team_id=conversation.team_id)
    candidates = list(queryset.filter(scope).order_by("pk"))

    def rank(row: _Scoped) -> int:
        if row.number_id == conversation.number_id:
            return 0
        if conversation.team_id and row.team_id == conversation.team_id:
            return 1
        return 2

    return min(candidates, key=rank, default=None)


def bot_for(conversation: Conversation) -> Bot | None:
    """The active bot of the conversation's number, else of its team, else the default."""
    return _scoped(Bot.objects.filter(is_active=True).select_related("start_step"), conversation)


def policy_for(conversation: Conversation) -> EscalationPolicy:
    """The policy of the conversation's number, else of its team, else the default; when
    none is configured, an unsaved policy with the built-in defaults (no fallback contact)."""
    policy = _scoped(EscalationPolicy.objects.select_related("target_team"), conversation)
    return policy or EscalationPolicy(name=BUILT_IN_POLICY_NAME)


_SPEAKERS: dict[str, str] = {
    Message.SenderKind.CONTACT: "Customer",
    Message.SenderKind.BOT: "Bot",
    Message.SenderKind.AGENT: "Agent",
    Message.SenderKind.SYSTEM: "System",
}


def transcript_lines(conversation: Conversation, limit: int) -> list[str]:
    """The last `limit` messages the customer saw or wrote, oldest first, one line each."""
    messages = list(
        conversation.messages.filter(internal=False)
        .exclude(Q(direction=Message.Direction.OUTBOUND) & Q(status=Message.Status.FAILED))
        .order_by("-created_at", "-id")
        .only("sender_kind", "text", "type")[: max(limit, 1)]
    )
    lines = []
    for message in reversed(messages):
        text = " ".join((message.text or f"[{message.type}]").split())
        lines.append(f"{_SPEAKERS.get(message.sender_kind, message.sender_kind)}: {text[:300]}")
    return lines


def ledger_for(conversation: Conversation) -> dict[str, Any]:
    """The escalation ledger as a dict. When no person's reply was recorded yet, the first
    message a person sent after the handoff fills it (agents may answer through any path)."""
    ledger = EscalationLedger.objects.filter(conversation=conversation).first()
    if ledger is None:
        ledger = EscalationLedger(conversation=conversation)
    data = ledger.as_dict()
    if ledger.first_human_reply_at is None and ledger.handed_off_at is not None:
        first = (
            conversation.messages.filter(
                direction=Message.Direction.OUTBOUND,
                sender_kind=Message.SenderKind.AGENT,
                internal=False,
                created_at__gte=ledger.handed_off_at,
            )
            .order_by("created_at")
            .values_list("created_at", flat=True)
            .first()
        )
        if first is not None:
            data["first_human_reply_at"] = first.isoformat()
    return data


def latest_handoff(conversation: Conversation) -> Handoff | None:
    return conversation.handoffs.select_related("suggested_team").order_by("-created_at", "-id").first()


def handoff_data(conversation: Conversation) -> dict[str, Any]:
    """What the desk and API show about how the conversation reached people."""
    history = [h.as_context() for h in conversation.handoffs.select_related("suggested_team").order_by("-created_at", "-id")]
    session = BotSession.objects.select_related("bot", "current_step").filter(conversation=conversation).first()
    return {
        "conversation": conversation.pk,
        "status": conversation.status,
        "handoff": history[0] if history else None,
        "history": history,
        "ledger": ledger_for(conversation),
        "bot": (
            {
                "name": session.bot.name if session.bot else "",
                "current_step": session.current_step.key if session.current_step else "",
                "values": dict(session.values),
                "last_intent": session.last_intent,
            }
            if session is not None
            else None
        ),
    }
