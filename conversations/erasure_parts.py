"""Erasure parts: what other apps erase of a contact, and how they record the erasure.

`conversations.services.contact_erase` erases what the conversations app keeps; each app
above it erases its own part and records what it must, registered from its
`AppConfig.ready()`:

    register_erasure_part("notifications", notifications_contact_erase, order=10)
    register_erasure_recorder("audit", erasure_audit_record)

A part, `fn(contact=..., needles=..., actor=...)`, runs inside the erasure's transaction
(holding the contact's row lock), after the conversations' own content and before the
contact row itself is anonymised; it returns its counts per kind (`{"consent_records": 2}`),
which go into the erasure's record. A recorder, `fn(actor=..., contact=..., via=...,
erasure=..., counts=...)`, runs in the same transaction once the `ContactErasure` row is
written. Parts run in ascending `order`; registering a name again replaces the earlier one.

This keeps the app graph one-way: agents and notifications import conversations, never
the reverse.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

PartFn = Callable[..., dict[str, int]]
RecorderFn = Callable[..., object]


@dataclass(frozen=True)
class ErasurePart:
    name: str
    fn: PartFn
    order: int


_PARTS: dict[str, ErasurePart] = {}
_RECORDERS: dict[str, RecorderFn] = {}


def register_erasure_part(name: str, fn: PartFn, order: int) -> None:
    """Register (or replace) the erasure part `name`; see the module docstring."""
    _PARTS[name] = ErasurePart(name=name, fn=fn, order=order)


def register_erasure_recorder(name: str, fn: RecorderFn) -> None:
    """Register (or replace) the erasure recorder `name`; see the module docstring."""
    _RECORDERS[name] = fn


def erasure_parts() -> list[ErasurePart]:
    """The registered parts, in the order they run."""
    return sorted(_PARTS.values(), key=lambda part: (part.order, part.name))


def erasure_recorders() -> list[RecorderFn]:
    """The registered recorders, by name."""
    return [fn for _name, fn in sorted(_RECORDERS.items())]
