"""Failure hooks: what other apps do when WhatsApp fails a message with an error whose policy
reaches beyond the conversation.

`conversations.services.delivery_outcomes` marks the message failed, logs and records the
error on the timeline; the parts of an error's policy that belong to a higher app register
here from that app's `AppConfig.ready()` (the notifications app does both):

    register_failure_hook(Action.ALERT_ADMIN, "alert", provider_error_alert)
    register_failure_hook(Action.OPT_OUT, "consent", provider_error_opt_out)

`fn(message=..., rule=..., code=..., title=..., said=...)` is called in the transaction that
marks the message failed, inside a savepoint of its own: a hook that raises is logged and
rolled back alone, the failure itself is still recorded. Registering a name again replaces
the earlier hook.

This keeps the app graph one-way: notifications imports conversations, never the reverse.
"""

from __future__ import annotations

from collections.abc import Callable

from conversations.providers.errors import Action

FailureFn = Callable[..., None]

_HOOKS: dict[Action, dict[str, FailureFn]] = {}


def register_failure_hook(action: Action, name: str, fn: FailureFn) -> None:
    """Register (or replace) the hook `name` run when an error's policy is `action`."""
    _HOOKS.setdefault(action, {})[name] = fn


def failure_hooks(action: Action) -> list[tuple[str, FailureFn]]:
    """The hooks registered for `action`, by name."""
    return sorted(_HOOKS.get(action, {}).items())
