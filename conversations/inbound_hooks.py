"""Inbound hooks: apps that answer a customer's message before the bot does.

Receiving (`conversations.services.message_receive`) knows nothing of ratings or consent keywords; the
apps that handle them register here from their `AppConfig.ready()`:

    register_inbound_hook("consent_keywords", keyword_consent_handle, order=20)
    register_inbound_hook("csat", csat_record_reply, order=10, claim=csat_rated_conversation)

`fn(message=stored)` is called after a customer's message is stored, in the transaction
that stores it; it returns True when it handled the message (no bot turn follows).
A hook with `claim` may also say, before the message is stored, which of the contact's
conversations the message answers (`claim(contact=..., message=<raw webhook object>)`
returns that conversation, locked, or None): the message is stored there instead of
reopening or opening one, and only that hook's `fn` is then called. A hook with `claim`
is called only for the messages it claimed. Hooks run in ascending `order`; the first
that returns True ends the run. Registering a name again replaces the earlier hook.

This keeps the app graph one-way: agents and notifications import conversations, never
the reverse.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conversations.models import Contact, Conversation, Message

HandleFn = Callable[..., bool]
ClaimFn = Callable[..., "Conversation | None"]


@dataclass(frozen=True)
class InboundHook:
    name: str
    fn: HandleFn
    order: int
    claim: ClaimFn | None = None


_HOOKS: dict[str, InboundHook] = {}


def register_inbound_hook(name: str, fn: HandleFn, order: int, *, claim: ClaimFn | None = None) -> None:
    """Register (or replace) the inbound hook `name`; see the module docstring."""
    _HOOKS[name] = InboundHook(name=name, fn=fn, order=order, claim=claim)


def inbound_hooks() -> list[InboundHook]:
    """The registered hooks, in the order they run."""
    return sorted(_HOOKS.values(), key=lambda hook: (hook.order, hook.name))


def inbound_claim(*, contact: Contact, message: dict[str, Any]) -> tuple[InboundHook, Conversation] | None:
    """The first hook that claims the raw `message` for one of `contact`'s conversations,
    with that conversation; None when no hook claims it."""
    for hook in inbound_hooks():
        if hook.claim is None:
            continue
        conversation = hook.claim(contact=contact, message=message)
        if conversation is not None:
            return hook, conversation
    return None


def inbound_hooks_handle(*, message: Message, claimed_by: InboundHook | None = None) -> bool:
    """Run the hooks on a stored customer message; True when one handled it. A claimed
    message goes to its claiming hook only."""
    if claimed_by is not None:
        return bool(claimed_by.fn(message=message))
    return any(hook.fn(message=message) for hook in inbound_hooks() if hook.claim is None)
