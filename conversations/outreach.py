"""Templates from the conversations API: starting a conversation with one, and sending one
into a conversation.

`POST /api/v1/conversations/` and `POST /api/v1/conversations/<id>/messages/` belong to the
conversations API, but a template message is the notifications app's (approved templates,
consent). To keep the app layers one-way (tests/test_app_layers.py), the notifications app
registers its services here from its `AppConfig.ready()`:

    register_conversation_initiator(conversation_initiate)
    register_template_sender(template_message_send)

The API calls `conversation_initiator()(actor=..., contact=..., to=..., number=...,
template_name=..., language=..., parameters=..., opt_in_proof=...)`, which returns an
`Outreach` or raises `config.refusals.Refused`, and `template_sender()(conversation=...,
name=..., language=..., parameters=..., sender_user=..., header_file=...)`, which returns
the queued `Message` or raises `SendRefused`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from conversations.models import Conversation, Message


@dataclass(frozen=True)
class Outreach:
    """A conversation started (`created`) or reused from the desk, the queued template
    message, and whether the contact was created for it."""

    conversation: Conversation
    message: Message
    created: bool
    contact_created: bool


InitiateFn = Callable[..., Outreach]
_INITIATOR: list[InitiateFn] = []


def register_conversation_initiator(fn: InitiateFn) -> None:
    """Register (or replace) the service that starts conversations with a template."""
    _INITIATOR[:] = [fn]


def conversation_initiator() -> InitiateFn:
    if not _INITIATOR:
        raise RuntimeError("no conversation initiator registered (the notifications app is not installed)")
    return _INITIATOR[0]


TemplateSendFn = Callable[..., Message]
_TEMPLATE_SENDER: list[TemplateSendFn] = []


def register_template_sender(fn: TemplateSendFn) -> None:
    """Register (or replace) the service that sends a template into a conversation."""
    _TEMPLATE_SENDER[:] = [fn]


def template_sender() -> TemplateSendFn:
    if not _TEMPLATE_SENDER:
        raise RuntimeError("no template sender registered (the notifications app is not installed)")
    return _TEMPLATE_SENDER[0]
