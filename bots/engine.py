"""The bot engine: one turn per inbound customer message.

`turn(message=...)` decides and carries out what the conversation's bot does with a
message: nothing (not a message a bot answers, a person owns the conversation, already
handled, too many replies this minute), a handoff (an escalation trigger fired, the bot
failed or asked for it), or the bot's answer.

Guarantees:
- a message is answered at most once, and never after a newer message of the same
  conversation (a compare-and-set claim on the session's `last_message_id`);
- every menu the bot sends carries the policy's human option (bots.menus);
- the HTTP call of an external bot happens outside any transaction; the answer is applied
  in one transaction holding the session's row lock.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass

from django.core.cache import cache
from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from bots.actions import Action, End, HandOff, SendMedia, SendMenu, SendText, SetValue
from bots.external import ExternalBotError, ExternalRunner
from bots.flow import FlowRunner
from bots.inbound import Inbound, answerable, inbound_from_message
from bots.menus import render
from bots.models import Bot, BotSession, EscalationPolicy, Handoff
from bots.selectors import bot_for, policy_for
from bots.services.handoff import handoff_trigger
from bots.services.ledger import ledger_note_offered
from bots.services.sessions import bot_session_for
from bots.texts import policy_text
from bots.triggers import contact_is_vip, first_trigger
from conversations.languages import speaking_to
from conversations.models import Conversation, Message
from conversations.services.media_send import message_send_media_link
from conversations.services.message_send import SendRefused, message_send_interactive, message_send_text

log = logging.getLogger(__name__)

NOT_UNDERSTOOD_TEXT = gettext_noop("Sorry, I didn't understand that.")
BOT_TROUBLE_TEXT = gettext_noop("Sorry, something went wrong on our side. Type “agent” to reach a person.")
SESSION_STATE_FIELDS = [
    "current_step",
    "values",
    "state",
    "misunderstood_count",
    "repeat_step_key",
    "repeat_count",
    "last_intent",
    "ended_at",
    "updated_at",
]


@dataclass
class _Context:
    conversation: Conversation
    message: Message
    policy: EscalationPolicy
    bot: Bot | None
    session: BotSession


def turn(*, message: Message) -> None:
    """Answer `message` with its conversation's bot (see the module docstring)."""
    if not answerable(message):
        return
    conversation = Conversation.objects.select_related("contact", "number", "team").get(pk=message.conversation_id)
    if conversation.status != Conversation.Status.BOT:
        return
    session = bot_session_for(conversation=conversation)
    claimed = BotSession.objects.filter(pk=session.pk, last_message_id__lt=message.pk).update(
        last_message_id=message.pk
    )
    if not claimed:
        return
    previous_claim, session.last_message_id = session.last_message_id, message.pk
    try:
        with speaking_to(conversation.contact):  # every text of this turn in the customer's language
            _turn_claimed(conversation, message, session)
    except Exception:
        # Give the message back so the task's retry or the sweep answers it.
        try:
            BotSession.objects.filter(pk=session.pk, last_message_id=message.pk).update(last_message_id=previous_claim)
        except Exception:
            log.exception("could not release the claim on message %s", message.pk)
        raise


def _turn_claimed(conversation: Conversation, message: Message, session: BotSession) -> None:
    policy = policy_for(conversation)
    bot = bot_for(conversation)
    ctx = _Context(conversation, message, policy, bot, session)
    inbound = inbound_from_message(message)

    trigger = first_trigger(inbound=inbound, contact=conversation.contact, policy=policy)
    if trigger is not None and trigger.reason == Handoff.Reason.VIP and _handed_back_since_handoff(conversation):
        trigger = None  # a person gave this VIP back to the bot on purpose
    if trigger is not None:
        _hand_off(ctx, HandOff(trigger.reason, trigger.detail, None, trigger.priority), requested=trigger.requested)
        return
    if bot is None:
        _hand_off(ctx, HandOff(Handoff.Reason.NO_BOT, "no active bot for this number or team"))
        return
    if not _reply_allowed(conversation, policy):
        log.info("conversation %s: bot reply to message %s held back (rate limit)", conversation.pk, message.pk)
        return
    if session.bot_id != bot.pk:
        session.bot = bot
        BotSession.objects.filter(pk=session.pk).update(bot=bot)

    try:
        actions = _decide(ctx, inbound)
    except DatabaseError:
        raise  # our own trouble, not the bot's: the task retries
    except Exception as exc:  # any failure of the bot itself hands the customer to a person
        if not isinstance(exc, ExternalBotError):
            log.exception("bot %s failed on message %s", bot.pk, message.pk)
        _bot_failed(ctx, str(exc) or exc.__class__.__name__)
        return
    _apply(ctx, actions)


def _handed_back_since_handoff(conversation: Conversation) -> bool:
    latest = conversation.handoffs.order_by("-created_at").values_list("created_at", flat=True).first()
    if latest is None:
        return False
    return conversation.events.filter(kind="handed_back", created_at__gte=latest).exists()


def _decide(ctx: _Context, inbound: Inbound) -> list[Action]:
    bot = ctx.bot
    assert bot is not None
    if bot.kind == Bot.Kind.EXTERNAL:
        actions = ExternalRunner(bot=bot, conversation=ctx.conversation).respond(session=ctx.session, inbound=inbound)
        actions = _external_loop_check(ctx, actions)
    else:
        actions = FlowRunner(bot=bot, policy=ctx.policy).respond(session=ctx.session, inbound=inbound)
    if not actions:
        return _not_understood(ctx)
    if bot.kind == Bot.Kind.EXTERNAL and not any(isinstance(a, HandOff) for a in actions):
        ctx.session.misunderstood_count = 0
    return actions


def _not_understood(ctx: _Context) -> list[Action]:
    ctx.session.misunderstood_count += 1
    if ctx.session.misunderstood_count >= ctx.policy.max_not_understood:
        return [
            HandOff(Handoff.Reason.NOT_UNDERSTOOD, f"{ctx.session.misunderstood_count} answers in a row not understood")
        ]
    return [SendMenu(body=gettext(NOT_UNDERSTOOD_TEXT))]


def _external_loop_check(ctx: _Context, actions: list[Action]) -> list[Action]:
    """An external bot giving the same answer again and again is going round in circles."""
    if not actions or any(isinstance(a, HandOff) for a in actions):
        return actions
    signature = hashlib.sha256(repr(actions).encode()).hexdigest()[:32]
    session = ctx.session
    if session.repeat_step_key == signature:
        session.repeat_count += 1
    else:
        session.repeat_step_key, session.repeat_count = signature, 1
    if session.repeat_count >= ctx.policy.loop_limit:
        return [HandOff(Handoff.Reason.LOOP, f"the same answer {session.repeat_count} times in a row")]
    return actions


def _reply_allowed(conversation: Conversation, policy: EscalationPolicy) -> bool:
    """A per-conversation counter of bot replies in the current minute, shared through the
    cache (Redis in production) by every worker."""
    key = f"bots:replies:{conversation.pk}:{int(time.time() // 60)}"
    cache.add(key, 0, timeout=120)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=120)
        count = 1
    return count <= policy.bot_replies_per_minute


def _bot_failed(ctx: _Context, detail: str) -> None:
    if ctx.policy.escalate_on_bot_error:
        _hand_off(ctx, HandOff(Handoff.Reason.BOT_ERROR, detail[:500]))
        return
    with transaction.atomic():
        message_send_text(conversation=ctx.conversation, text=gettext(BOT_TROUBLE_TEXT), sender_kind="bot")


def _priority(ctx: _Context, priority: int) -> int:
    if contact_is_vip(ctx.conversation.contact, ctx.policy):
        return max(priority, ctx.policy.vip_priority)
    return priority


def _hand_off(ctx: _Context, action: HandOff, *, requested: bool = False) -> Handoff | None:
    return handoff_trigger(
        conversation=ctx.conversation,
        reason_code=action.reason,
        policy=ctx.policy,
        detail=action.detail,
        priority=_priority(ctx, action.priority),
        team=action.team,
        trigger_message=ctx.message,
        requested=requested,
        bot_name=ctx.bot.name if ctx.bot else "",
        skills=list(action.skills),
    )


def _apply(ctx: _Context, actions: list[Action]) -> None:
    """Carry the actions out in order, in one transaction; a newer message claimed in the
    meantime wins (its turn answers instead). Locks the conversation row, then the
    session row: the same order as `handoff_trigger`."""
    session = ctx.session
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=ctx.conversation.pk)
        if conversation.status != Conversation.Status.BOT:
            return
        locked = BotSession.objects.select_for_update().get(pk=session.pk)
        if locked.last_message_id != ctx.message.pk:
            return
        handoff: HandOff | None = None
        for action in actions:
            if isinstance(action, SendText):
                message_send_text(conversation=ctx.conversation, text=action.text[:4096], sender_kind="bot")
            elif isinstance(action, SendMedia):
                _send_media(ctx, action)
            elif isinstance(action, SendMenu):
                if not _send_menu(ctx, action):
                    handoff = HandOff(Handoff.Reason.BOT_ERROR, "a menu could not be sent")
                    break
            elif isinstance(action, SetValue):
                session.values = {**session.values, action.name: action.value}
            elif isinstance(action, End):
                session.ended_at = timezone.now()
            elif isinstance(action, HandOff):
                handoff = action
                break
        session.updated_at = timezone.now()
        session.save(update_fields=SESSION_STATE_FIELDS)
        if handoff is not None:
            _hand_off(ctx, handoff, requested=handoff.requested)


def _send_media(ctx: _Context, media: SendMedia) -> None:
    """Media by link; one WhatsApp refuses by its rules goes as text with the link instead."""
    try:
        with transaction.atomic():
            message_send_media_link(
                conversation=ctx.conversation, kind=media.kind, link=media.link, caption=media.caption,
                filename=media.filename, sender_kind="bot",
            )
    except SendRefused as exc:
        if exc.code != "invalid":
            raise
        log.warning("bot media for conversation %s sent as text: %s", ctx.conversation.pk, exc.detail)
        text = "\n".join(part for part in (media.caption, media.link) if part)
        message_send_text(conversation=ctx.conversation, text=text[:4096], sender_kind="bot")


def _send_menu(ctx: _Context, menu: SendMenu) -> bool:
    rendered = render(menu, human_title=policy_text(ctx.policy, "human_option_title"))
    try:
        with transaction.atomic():
            message_send_interactive(conversation=ctx.conversation, sender_kind="bot", **rendered.kwargs())
    except SendRefused as exc:
        log.error("bot menu refused for conversation %s: %s %s", ctx.conversation.pk, exc.code, exc.detail)
        return False
    ledger_note_offered(conversation=ctx.conversation)
    return True
