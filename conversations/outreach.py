"""Writing first: how the conversations API starts a conversation with a template.

`POST /api/v1/conversations/` belongs to the conversations API, but a business-initiated
message is the notifications app's (approved templates, consent). To keep the app layers
one-way (tests/test_app_layers.py), the notifications app registers its service here from
its `AppConfig.ready()`:

    register_conversation_initiator(conversation_initiate)

and the API calls `conversation_initiator()(actor=..., contact=..., to=..., number=...,
template_name=..., language=..., parameters=..., opt_in_proof=...)`, which returns an
`Outreach` or raises `config.refusals.Refused`.
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
