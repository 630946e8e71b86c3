"""Handing a bot conversation to people, with its context."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext

from agents.models import Team
from agents.services.presence import online_profiles, team_has_available_agent
from agents.services.routing import conversation_enqueue
from bots.models import BotSession, EscalationPolicy, Handoff
from bots.selectors import transcript_lines
from bots.services.ledger import ledger_note_handoff, ledger_note_requested
from bots.texts import policy_text
from conversations.business_hours import team_is_open
from conversations.languages import speaking_to
from conversations.models import Conversation, Message
from conversations.services.message_send import SendRefused, message_send_text
from conversations.services.timeline import conversation_event_record

log = logging.getLogger(__name__)


def people_available(team: Team | None) -> bool:
    """Whether a person can answer now: the team is within its business hours and one of
    its agents is online with room (any online agent with room for a team-less queue)."""
    if team is None:
        # `load` is annotated by online_profiles().
        return any(profile.load < profile.capacity for profile in online_profiles())  # type: ignore[attr-defined]
    return team_is_open(team=team) and team_has_available_agent(team=team)


def customer_notice(policy: EscalationPolicy, *, available: bool) -> str:
    """What the customer is told on handoff, in the active language (`speaking_to`)."""
    if available:
        return policy_text(policy, "handoff_text")
    lines = [policy_text(policy, "fallback_text")]
    contacts = policy.fallback_lines()
    if contacts:
        lines.append(gettext("You can also reach us directly:"))
        lines.extend(contacts)
    return "\n".join(lines)


def handoff_trigger(
    *,
    conversation: Conversation,
    reason_code: str,
    policy: EscalationPolicy,
    detail: str = "",
    priority: int = 0,
    team: Team | None = None,
    trigger_message: Message | None = None,
    requested: bool = False,
    bot_name: str = "",
    skills: list[str] | None = None,
) -> Handoff | None:
    """Hand a conversation that is with the bot to a team's queue.

    Records the handoff with its context (reason, policy, collected values, last intent,
    transcript, suggested team, the skills asked of the agent), the timeline event and the ledger; tells the customer
    what happens next (the policy's fallback contact when no person is available now:
    outside business hours or nobody online with room; the conversation stays queued
    either way); and queues the conversation (bot → queued).

    Holds the conversation's row lock; returns None, changing nothing, when the
    conversation is no longer with the bot (another turn handed it off first).
    """
    with transaction.atomic():
        locked = Conversation.objects.select_for_update(of=("self",)).select_related("contact", "team").get(pk=conversation.pk)
        if locked.status != Conversation.Status.BOT:
            return None
        now = timezone.now()
        session = BotSession.objects.select_for_update().filter(conversation=locked).first()
        target = team or policy.target_team or locked.team
        available = people_available(target)
        handoff = Handoff.objects.create(
            conversation=locked,
            reason_code=reason_code,
            detail=detail[:2000],
            policy=policy if policy.pk else None,
            policy_name=policy.name,
            bot_name=bot_name or (session.bot.name if session and session.bot else ""),
            collected_values=dict(session.values) if session else {},
            last_intent=session.last_intent if session else "",
            transcript=transcript_lines(locked, policy.transcript_lines),
            suggested_team=target,
            priority=priority,
            skills=list(skills or []),
            agents_available=available,
            fallback_sent=not available,
            trigger_message=trigger_message,
            created_at=now,
        )
        if session is not None:
            session.handed_off_at = now
            session.current_step = None
            session.updated_at = now
            session.save(update_fields=["handed_off_at", "current_step", "updated_at"])
        if requested:
            ledger_note_requested(conversation=locked, at=now)
        ledger_note_handoff(conversation=locked, at=now)
        # The timeline keeps the reason in the site's language, whoever's language is active.
        with translation.override(settings.LANGUAGE_CODE):
            reason_text = str(handoff.get_reason_code_display())
        conversation_event_record(
            conversation=locked,
            kind="handoff",
            actor_kind="bot",
            reason=reason_text + (f": {detail}" if detail else ""),
            data={
                "handoff": handoff.pk,
                "reason_code": reason_code,
                "policy": policy.name,
                "team": target.pk if target else None,
                "priority": priority,
                "skills": list(skills or []),
                "agents_available": available,
            },
        )
        try:
            with transaction.atomic(), speaking_to(locked.contact):
                message_send_text(
                    conversation=locked, text=customer_notice(policy, available=available), sender_kind="bot"
                )
        except SendRefused as exc:
            log.warning("handoff notice for conversation %s not sent: %s %s", locked.pk, exc.code, exc.detail)
        conversation_enqueue(
            conversation=locked,
            team=target,
            priority=priority,
            reason=reason_code,
            skills=list(skills or []),
            language=locked.language or locked.contact.language,
        )
    conversation.refresh_from_db()
    return handoff
