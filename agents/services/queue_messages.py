"""Queue messages: tell a waiting customer their place in the queue and an honest wait
estimate, at most once per the team's interval, and only while the window is open.

The estimate comes from the team's recent assignments: the median time recent customers
waited, and the rate at which the queue has been moving (position / assignments per
second); the larger of the two is given. Without recent assignments no figure is promised.
"""

from __future__ import annotations

import math
import statistics
from datetime import datetime, timedelta

from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from agents.models import ConversationRouting, Team
from conversations.languages import speaking_to
from conversations.models import Conversation
from conversations.queue_events import queued_in_pool
from conversations.services.message_send import SendRefused, message_send_text

RECENT_WINDOW = timedelta(hours=2)
RECENT_LIMIT = 50


def queue_position(conversation: Conversation) -> int:
    """1 for the next conversation to be served in its pool."""
    routing = ConversationRouting.objects.filter(conversation=conversation).first()
    pool = None if (conversation.team_id is None or (routing and routing.any_agent)) else conversation.team_id
    ahead = queued_in_pool(pool).filter(
        Q(priority__gt=conversation.priority)
        | Q(priority=conversation.priority, queued_at__lt=conversation.queued_at)
        | Q(priority=conversation.priority, queued_at=conversation.queued_at, id__lt=conversation.pk)
    )
    return ahead.count() + 1


def wait_estimate_seconds(*, team: Team | None, position: int) -> float | None:
    """Expected wait for the conversation at `position`, or None without recent data."""
    now = timezone.now()
    recent = Conversation.objects.filter(assigned_at__gte=now - RECENT_WINDOW, queued_at__isnull=False)
    if team is not None:
        recent = recent.filter(team=team)
    rows: list[tuple[datetime, datetime]] = [
        (queued, assigned)
        for queued, assigned in recent.filter(assigned_at__gte=F("queued_at"))
        .order_by("-assigned_at")
        .values_list("queued_at", "assigned_at")[:RECENT_LIMIT]
        if queued is not None and assigned is not None
    ]
    if not rows:
        return None
    waits = [(assigned - queued).total_seconds() for queued, assigned in rows]
    median_wait = statistics.median(waits)
    span = max((now - min(assigned for _, assigned in rows)).total_seconds(), 60.0)
    rate = len(rows) / span
    return max(median_wait, position / rate)


def queue_message_text(*, position: int, estimate: float | None) -> str:
    """The queue message in the active language (`speaking_to` the customer)."""
    if position == 1:
        place = gettext("You are next in the queue.")
    else:
        place = gettext("You are number %(position)d in the queue.") % {"position": position}
    if estimate is None:
        return f"{place} " + gettext("An agent will be with you as soon as possible.")
    minutes = max(1, math.ceil(estimate / 60))
    wait = ngettext(
        "The estimated wait is about %(minutes)d minute.", "The estimated wait is about %(minutes)d minutes.", minutes
    ) % {"minutes": minutes}
    return f"{place} {wait}"


def queue_message_send(*, conversation_id: int) -> bool:
    """Send the position and estimate to a queued customer, unless the team disabled queue
    messages, the window is closed, or one was sent within the team's interval. The send
    slot is claimed with a compare-and-set first, so concurrent runs send at most one."""
    conversation = Conversation.objects.select_related("team", "contact", "number").filter(pk=conversation_id).first()
    if conversation is None or conversation.status != Conversation.Status.QUEUED:
        return False
    team = conversation.team
    if team is None or not team.queue_messages_enabled or not conversation.window_open():
        return False
    now = timezone.now()
    cutoff = now - timedelta(minutes=team.queue_message_interval_minutes)
    ConversationRouting.objects.get_or_create(
        conversation=conversation, defaults={"home_team": team, "step_entered_at": conversation.queued_at or now}
    )
    claimed = ConversationRouting.objects.filter(conversation=conversation).filter(
        Q(last_queue_message_at__isnull=True) | Q(last_queue_message_at__lte=cutoff)
    ).update(last_queue_message_at=now)
    if not claimed:
        return False
    position = queue_position(conversation)
    with speaking_to(conversation.contact):
        text = queue_message_text(position=position, estimate=wait_estimate_seconds(team=team, position=position))
    try:
        message_send_text(conversation=conversation, text=text, sender_kind="system")
    except SendRefused:
        return False
    return True


def queue_messages_sweep() -> int:
    """Send due queue messages to every queued conversation whose team asks for them."""
    sent = 0
    ids = Conversation.objects.filter(
        status=Conversation.Status.QUEUED, team__queue_messages_enabled=True
    ).values_list("pk", flat=True)
    for conversation_id in list(ids):
        sent += queue_message_send(conversation_id=conversation_id)
    return sent
