"""Conference chats: several people in one conversation.

- join: a visible participant (the customer is told when the team announces participants);
- leave: the participant steps out (the owner must transfer or resolve instead);
- whisper: an internal note addressed to the agents, never sent to the customer;
- take over: a supervisor becomes the owner (capacity respected by the assignment
  service); the previous owner stays on as a participant;
- watch: a supervisor follows silently: no announcement, no read receipts, no "seen".
Every one of these is an entry in the conversation's timeline and reaches the desks
through `conversation.updated` after commit.

`conversation_mark_seen` is what opening a conversation does: the customer's messages
count as read and the last one is marked read on WhatsApp, except for silent watchers.
"""

from __future__ import annotations

import logging

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from agents.models import AgentProfile
from agents.services.audit import audit_record
from agents.services.presence import profile_for
from config.realtime import broadcast_on_commit
from config.refusals import Refused
from conversations import access
from conversations.agent_events import agent_load
from conversations.events import conversation_event, conversation_groups, publish_conversation
from conversations.languages import speaking_to
from conversations.models import Conversation, Message, Participant
from conversations.services import conversations as lifecycle
from conversations.services.message_delivery import message_mark_read_remote
from conversations.services.message_send import SendRefused, message_send_note, message_send_text
from conversations.services.timeline import conversation_event_record

log = logging.getLogger(__name__)


class ConferenceRefused(Refused):
    """A conference action that breaks a rule (`code`: `owner_must_transfer`, `not_participant`,
    `over_capacity`, `invalid`)."""


def _name(user: User) -> str:
    return user.get_full_name() or user.get_username()


def _locked(conversation: Conversation) -> Conversation:
    return (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("team", "contact", "number")
        .get(pk=conversation.pk)
    )


def _active(conversation: Conversation, user: User) -> Participant | None:
    return Participant.objects.filter(conversation=conversation, user_id=user.pk, left_at__isnull=True).first()


JOINED = gettext_noop("%(name)s joined the conversation.")
LEFT = gettext_noop("%(name)s left the conversation.")


def _announce(conversation: Conversation, text: str, actor: User) -> bool:
    """Tell the customer (in their language: `text` is a catalogue message taking the
    person's `name`), when the team wants it and the window allows free text."""
    team = conversation.team
    if team is None or not getattr(team, "announce_participants", False) or not conversation.window_open():
        return False
    with speaking_to(conversation.contact):
        text = gettext(text) % {"name": _name(actor)}
    try:
        message_send_text(conversation=conversation, text=text, sender_kind=Message.SenderKind.SYSTEM)
    except SendRefused as refusal:
        log.info("participant announcement for conversation %s not sent: %s", conversation.pk, refusal.code)
        return False
    return True


def conversation_join(*, conversation: Conversation, actor: User) -> Participant:
    """Add `actor` as a visible participant (a silent watcher becomes visible). Joining
    twice changes nothing. Requires that `actor` may see the conversation."""
    with transaction.atomic():
        conversation = _locked(conversation)
        access.require(actor, conversation, "join")
        if conversation.status == Conversation.Status.RESOLVED:
            raise ConferenceRefused("invalid", gettext("This conversation is resolved."))
        current = _active(conversation, actor)
        if current is not None and current.role != Participant.Role.WATCHER:
            return current
        if current is not None:
            current.role = Participant.Role.PARTICIPANT
            current.save(update_fields=["role"])
            participant = current
        else:
            participant = Participant.objects.create(
                conversation=conversation, user=actor, role=Participant.Role.PARTICIPANT
            )
        announced = _announce(conversation, JOINED, actor)
        conversation_event_record(
            conversation=conversation, kind="participant_joined", actor=actor,
            data={"user": actor.pk, "announced": announced},
        )
        audit_record(actor=actor, action="conference.join", target=conversation, announced=announced)
        publish_conversation(conversation)
    return participant


def conversation_leave(*, conversation: Conversation, actor: User) -> None:
    """End `actor`'s participation (or silent watch). The owner cannot leave: they
    transfer or resolve instead."""
    with transaction.atomic():
        conversation = _locked(conversation)
        if conversation.assignee_id == actor.pk:
            raise ConferenceRefused("owner_must_transfer", gettext("You own this conversation: transfer or resolve it instead."))
        current = _active(conversation, actor)
        if current is None:
            raise ConferenceRefused("not_participant", gettext("You are not in this conversation."))
        Participant.objects.filter(pk=current.pk, left_at__isnull=True).update(left_at=timezone.now())
        watcher = current.role == Participant.Role.WATCHER
        announced = False if watcher else _announce(conversation, LEFT, actor)
        conversation_event_record(
            conversation=conversation, kind="watch_stopped" if watcher else "participant_left", actor=actor,
            data={"user": actor.pk, "announced": announced},
        )
        audit_record(actor=actor, action="conference.unwatch" if watcher else "conference.leave", target=conversation)
        publish_conversation(conversation)


def conversation_whisper(*, conversation: Conversation, actor: User, text: str, to_user: User | None = None) -> Message:
    """An internal note addressed to the agents in the conversation (or to `to_user`): it
    is stored with `internal=True` and a `whisper` mark, and never sent to the customer."""
    text = (text or "").strip()
    if not text:
        raise ConferenceRefused("invalid", gettext("A whisper needs text."))
    with transaction.atomic():
        access.require(actor, conversation, "whisper")
        note = message_send_note(conversation=conversation, text=text, author=actor)
        payload = {**(note.payload or {}), "whisper": True, "to": to_user.pk if to_user is not None else None}
        Message.objects.filter(pk=note.pk).update(payload=payload)
        note.payload = payload
        conversation_event_record(
            conversation=conversation, kind="whisper", actor=actor,
            data={"message": note.pk, "to": payload["to"]},
        )
        # The text stays on the conversation (and goes with it on erasure), not in the log.
        audit_record(actor=actor, action="conference.whisper", target=conversation, message=note.pk,
                     to=payload["to"])
    return note


def conversation_takeover(*, conversation: Conversation, actor: User, reason: str = "") -> Conversation:
    """A supervisor (or admin) of the conversation's team becomes its owner, within their
    capacity (checked under the profile's row lock, like every assignment); the previous
    owner stays on as a participant and is told through `conversation.updated`."""
    access.require(actor, conversation, "takeover")
    with transaction.atomic():
        conversation = _locked(conversation)
        if conversation.status not in (Conversation.Status.QUEUED, Conversation.Status.ASSIGNED):
            raise ConferenceRefused("invalid", gettext("Only a queued or assigned conversation can be taken over."))
        previous = conversation.assignee
        if previous is not None and previous.pk == actor.pk:
            return conversation
        profile_for(actor)
        profile = AgentProfile.objects.select_for_update(of=("self",)).select_related("user").get(user_id=actor.pk)
        load = agent_load(user_id=actor.pk)
        if load >= profile.capacity:
            raise ConferenceRefused("over_capacity", gettext("You have no room for another conversation."))
        lifecycle.conversation_assign(
            conversation=conversation, user=actor, actor=actor, kind="takeover", reason=reason,
            data={"takeover": True}, profile=profile, load_before=load, previous_stays=True,
        )
        audit_record(actor=actor, action="conference.takeover", target=conversation,
                     changes={"assignee": [previous, actor]})
        if _announce(conversation, JOINED, actor):
            conversation_event_record(conversation=conversation, kind="participant_announced", actor=actor)
    return conversation


def conversation_watch(*, conversation: Conversation, actor: User) -> Participant:
    """A supervisor follows the conversation silently: not announced, no read receipts."""
    access.require(actor, conversation, "watch")
    with transaction.atomic():
        conversation = _locked(conversation)
        current = _active(conversation, actor)
        if current is not None:
            return current
        participant = Participant.objects.create(conversation=conversation, user=actor, role=Participant.Role.WATCHER)
        conversation_event_record(conversation=conversation, kind="watch_started", actor=actor, data={"user": actor.pk})
        audit_record(actor=actor, action="conference.watch", target=conversation)
        publish_conversation(conversation)
    return participant


def conversation_mark_seen(*, conversation: Conversation, actor: User) -> int:
    """Count the customer's messages as read (compare-and-set, so twice is harmless) and
    mark the last one read on WhatsApp. Silent watchers mark nothing. Returns how many
    messages changed."""
    shape = access.conversation_shape(conversation)
    if not access.may_see(access.roles_for(actor), shape):
        raise PermissionDenied(access.NOT_VISIBLE)
    if conversation.assignee_id != actor.pk and shape.participants.get(actor.pk) == Participant.Role.WATCHER:
        return 0  # a silent watcher
    with transaction.atomic():
        unread = Message.objects.filter(
            conversation=conversation, direction=Message.Direction.INBOUND, internal=False, read_at__isnull=True
        )
        last = unread.exclude(provider_message_id=None).order_by("-created_at", "-id").first()
        changed = unread.update(read_at=timezone.now())
        if changed:
            event = conversation_event(conversation)
            event["conversation"]["unread"] = 0
            broadcast_on_commit(conversation_groups(conversation), event)
            if last is not None:
                message_mark_read_remote(message=last)  # a task after commit
    return changed
