"""Merge parts: what other apps move when two contacts of a number turn out to be one
customer (conversations.services.contact_merge), and how they record the merge.

Each app above conversations moves its own rows and records what it must, registered from
its `AppConfig.ready()`:

    register_merge_part("notifications", notifications_contact_merge)
    register_merge_recorder("audit", merge_audit_record)

A part, `fn(survivor=..., merged=...)`, runs inside the merge's transaction (holding both
contacts' row locks) before the merged contact's row is deleted; it moves what belongs to
the survivor now and returns its counts per kind (`{"consent_records": 2}`). A recorder,
`fn(survivor=..., merged_id=..., reason=..., counts=...)`, runs in the same transaction
once the merge is done. Registering a name again replaces the earlier one.
"""

from __future__ import annotations

from collections.abc import Callable

PartFn = Callable[..., dict[str, int]]
RecorderFn = Callable[..., object]

_PARTS: dict[str, PartFn] = {}
_RECORDERS: dict[str, RecorderFn] = {}


def register_merge_part(name: str, fn: PartFn) -> None:
    """Register (or replace) the merge part `name`; see the module docstring."""
    _PARTS[name] = fn


def register_merge_recorder(name: str, fn: RecorderFn) -> None:
    """Register (or replace) the merge recorder `name`; see the module docstring."""
    _RECORDERS[name] = fn


def merge_parts() -> list[PartFn]:
    """The registered parts, by name."""
    return [fn for _name, fn in sorted(_PARTS.items())]


def merge_recorders() -> list[RecorderFn]:
    """The registered recorders, by name."""
    return [fn for _name, fn in sorted(_RECORDERS.items())]
