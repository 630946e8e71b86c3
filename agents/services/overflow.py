"""Overflow: a conversation waiting too long moves along its home team's overflow list
(another team, or finally any online agent with room), one step per timeout."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from agents.models import ConversationRouting, TeamOverflow
from conversations.models import Conversation
from conversations.services import conversations as lifecycle


def _steps(team_id: int, cache: dict[int, list[TeamOverflow]]) -> list[TeamOverflow]:
    if team_id not in cache:
        cache[team_id] = list(TeamOverflow.objects.filter(team_id=team_id).select_related("target_team"))
    return cache[team_id]


def overflow_sweep() -> int:
    """Move every queued conversation whose current step timed out to the next step.
    Each move locks the conversation row (skipping rows another worker holds) and
    re-checks its state, so concurrent sweeps move a conversation once."""
    now = timezone.now()
    cache: dict[int, list[TeamOverflow]] = {}
    team_ids = set(TeamOverflow.objects.values_list("team_id", flat=True))
    if not team_ids:
        return 0
    candidates = Conversation.objects.filter(status=Conversation.Status.QUEUED).filter(
        routing__home_team_id__in=team_ids, routing__any_agent=False
    ).values_list("pk", flat=True)
    moved = 0
    for conversation_id in list(candidates):
        with transaction.atomic():
            conversation = (
                Conversation.objects.select_for_update(skip_locked=True)
                .filter(pk=conversation_id, status=Conversation.Status.QUEUED)
                .first()
            )
            if conversation is None:
                continue
            routing = ConversationRouting.objects.select_related("home_team").get(conversation=conversation)
            if routing.any_agent or routing.home_team_id is None:
                continue
            steps = _steps(routing.home_team_id, cache)
            if routing.overflow_step >= len(steps):
                continue
            step = steps[routing.overflow_step]
            if (now - routing.step_entered_at).total_seconds() < step.after_seconds:
                continue
            previous_team = conversation.team_id
            routing.overflow_step += 1
            routing.step_entered_at = now
            routing.any_agent = step.target_team_id is None
            routing.save(update_fields=["overflow_step", "step_entered_at", "any_agent"])
            target = step.target_team.name if step.target_team is not None else "any online agent"
            lifecycle.conversation_overflow(
                conversation=conversation,
                team=step.target_team,
                reason=f"No agent within {step.after_seconds}s; moved to {target}",
                data={"from_team": previous_team, "to_team": step.target_team_id, "any_agent": routing.any_agent},
            )
            moved += 1
    return moved
