"""Finding customer messages the bot has not answered: a bot turn that was never
published (broker down) or failed for good (database trouble) is found again here."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Max
from django.utils import timezone

from bots.inbound import ANSWERABLE_TYPES
from bots.models import BotSession
from config import task_names
from config.tasking import dispatch
from conversations.models import Conversation, Message

# A turn normally runs within seconds; only messages older than this are swept, and only
# within the look-back (an old message is better left to people than answered late).
SWEEP_AFTER = timedelta(seconds=20)
LOOK_BACK = timedelta(minutes=30)
BATCH = 200


def unanswered_messages_sweep() -> int:
    """Dispatch a bot turn for the newest unclaimed customer message of each conversation
    still with the bot. Harmless to repeat: a turn claims its message once."""
    now = timezone.now()
    latest = (
        Message.objects.filter(
            direction=Message.Direction.INBOUND,
            sender_kind=Message.SenderKind.CONTACT,
            internal=False,
            type__in=ANSWERABLE_TYPES,
            conversation__status=Conversation.Status.BOT,
            created_at__gte=now - LOOK_BACK,
            created_at__lte=now - SWEEP_AFTER,
        )
        .values("conversation_id")
        .annotate(last=Max("id"))
        .order_by("conversation_id")[:BATCH]
    )
    newest = {row["conversation_id"]: row["last"] for row in latest}
    claimed = dict(
        BotSession.objects.filter(conversation_id__in=newest).values_list("conversation_id", "last_message_id")
    )
    dispatched = 0
    for conversation_id, message_id in newest.items():
        if claimed.get(conversation_id, 0) < message_id:
            dispatch(task_names.BOT_TURN, {"message_id": message_id})
            dispatched += 1
    return dispatched
