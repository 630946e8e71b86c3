"""Web chat inboxes: saving one from the API or the admin, and telling the visitor sockets
already open on it when its allowed origins or its state change (README, "Web chat").

A socket checks its origin when it connects; an inbox save publishes `inbox.changed` with
the new allow-list to the inbox's group after commit, and every visitor socket of the inbox
closes itself (4403) when its origin is no longer allowed or the inbox is disabled, so
removing a site takes effect at once, not only for new sockets.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from config.realtime import broadcast_on_commit
from conversations.models import WebChatInbox
from conversations.providers import webchat

INBOX_FIELDS = (
    "name", "number", "team", "allowed_origins", "title", "greeting", "color", "ask_name", "ask_email",
    "consent_text", "identity_secret", "is_active",
)


def webchat_inbox_save(*, inbox: WebChatInbox | None, values: dict[str, Any]) -> WebChatInbox:
    """Create an inbox (`inbox` None) or change the given fields of one. `allowed_origins`
    is a list of origins; an empty `identity_secret` keeps the stored one. A change is
    announced to the inbox's open sockets (`webchat_inbox_announce`)."""
    values = {k: v for k, v in values.items() if k in INBOX_FIELDS}
    if "allowed_origins" in values:
        values["allowed_origins"] = "\n".join(values["allowed_origins"])
    if not values.get("identity_secret") and inbox is not None:
        values.pop("identity_secret", None)
    if inbox is None:
        return WebChatInbox.objects.create(**values)
    with transaction.atomic():
        for name, value in values.items():
            setattr(inbox, name, value)
        if values:
            inbox.save(update_fields=list(values))
            webchat_inbox_announce(inbox=inbox)
    return inbox


def webchat_inbox_announce(*, inbox: WebChatInbox, removed: bool = False) -> None:
    """After commit, tell the inbox's open visitor sockets its allowed origins and whether
    it still takes chats (`removed`: the inbox is being deleted); each socket whose origin
    is no longer allowed closes itself."""
    broadcast_on_commit([webchat.inbox_group(inbox.pk)], webchat.inbox_changed_event(inbox, removed=removed))
