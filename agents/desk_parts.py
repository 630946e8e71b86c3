"""Desk parts of a higher app: what the desk shows of consent and templates.

The conversation's side panel (`agents.desk_selectors.desk_context`) and the *New
conversation* form (`new_conversation_options`) show what the notifications app owns (the
contact's consent, the approved templates with their parameter slots, whether the user may
record an opt-in). It registers them here from its `AppConfig.ready()`:

    register_panel_part("consent", desk_consent)
    register_new_conversation_part("templates", new_conversation_templates)

A panel part is `fn(user=..., conversation=...)`, a new-conversation part `fn(user=...,
number=...)` (`number` is None when there is none); each returns the JSON value the desk
reads under its name. Registering a name again replaces the earlier part. This keeps the
app graph one-way: notifications imports agents, never the reverse.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import User

from conversations.models import Conversation, WhatsAppNumber

PartFn = Callable[..., Any]
_PANEL: dict[str, PartFn] = {}
_NEW_CONVERSATION: dict[str, PartFn] = {}


def register_panel_part(name: str, fn: PartFn) -> None:
    """Register (or replace) the side panel's part `name`."""
    _PANEL[name] = fn


def register_new_conversation_part(name: str, fn: PartFn) -> None:
    """Register (or replace) the *New conversation* form's part `name`."""
    _NEW_CONVERSATION[name] = fn


def panel_parts(*, user: User, conversation: Conversation) -> dict[str, Any]:
    return {name: fn(user=user, conversation=conversation) for name, fn in sorted(_PANEL.items())}


def new_conversation_parts(*, user: User, number: WhatsAppNumber | None) -> dict[str, Any]:
    return {name: fn(user=user, number=number) for name, fn in sorted(_NEW_CONVERSATION.items())}
