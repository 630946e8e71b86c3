"""Two contacts of one number that turn out to be the same customer (WhatsApp reports a
new business-scoped user id or phone number that another contact already holds, because
the customer wrote with it before the notice arrived) become one: the surviving contact
keeps every conversation, with their messages and media, and the other apps' rows
(consent, campaign rows: conversations.merge_parts), and the other contact row goes."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.utils import timezone

from conversations.events import publish_conversation
from conversations.merge_parts import merge_parts, merge_recorders
from conversations.models import Contact, ContactErasure, Conversation, LanguageSource
from conversations.services.conversations import conversation_resolve

log = logging.getLogger(__name__)


@dataclass
class ContactMerge:
    """What a merge did: the survivor, the merged contact's former id and the rows moved."""

    survivor: Contact
    merged_id: int
    counts: dict[str, int] = field(default_factory=dict)


def _fill(survivor: Contact, merged: Contact) -> list[str]:
    """What the survivor lacks and the merged contact knows (identifiers excepted: the
    caller gives the survivor its new ones)."""
    changed: list[str] = []
    for name in ("profile_name", "parent_user_id"):
        if not getattr(survivor, name) and getattr(merged, name):
            setattr(survivor, name, getattr(merged, name))
            changed.append(name)
    if not survivor.language and merged.language:
        for name in ("language", "language_source", "language_confidence", "language_samples",
                     "language_set_by", "language_set_at"):
            setattr(survivor, name, getattr(merged, name))
            changed.append(name)
    elif survivor.language_source != LanguageSource.AGENT and merged.language_source == LanguageSource.AGENT:
        # A person's choice outweighs a detection.
        for name in ("language", "language_source", "language_confidence", "language_set_by", "language_set_at"):
            setattr(survivor, name, getattr(merged, name))
            changed.append(name)
    attributes = {**merged.attributes, **survivor.attributes}
    if attributes != survivor.attributes:
        survivor.attributes = attributes
        changed.append("attributes")
    tags = [*survivor.tags, *(tag for tag in merged.tags if tag not in survivor.tags)]
    if tags != survivor.tags:
        survivor.tags = tags
        changed.append("tags")
    return changed


def contact_merge(*, survivor: Contact, merged: Contact, reason: str) -> ContactMerge | None:
    """Fold `merged` into `survivor` (two contacts of the same number): every conversation
    of `merged` moves to `survivor` with its messages and media, the other apps' parts move
    their rows, what the survivor lacks (name, language, attributes, tags) is taken over,
    the merged contact row is deleted and the merge is recorded by the registered recorders
    (the audit log; the caller writes the timeline entry).

    When both have an open conversation, the one the customer wrote in last stays open and the
    other is resolved without asking for a rating (one open conversation per contact).

    Locks their open conversations in id order, then both contact rows in id order (the
    receive path's order: the conversation row before the contact's, as language detection
    takes it). Returns None
    and changes nothing when `merged` is gone already (a redelivered notice) or either
    contact was erased. Call inside a transaction; the caller then gives the survivor the
    merged contact's identifiers."""
    if survivor.pk == merged.pk or survivor.number_id != merged.number_id:
        return None
    open_rows = list(
        Conversation.objects.select_for_update()
        .filter(contact__in=[survivor.pk, merged.pk])
        .exclude(status=Conversation.Status.RESOLVED)
        .order_by("pk")
    )
    locked = {c.pk: c for c in Contact.objects.select_for_update().filter(pk__in=[survivor.pk, merged.pk]).order_by("pk")}
    if merged.pk not in locked or survivor.pk not in locked:
        return None
    if ContactErasure.objects.filter(contact_id__in=list(locked)).exists():
        log.warning("contacts %s and %s not merged: one was erased", survivor.pk, merged.pk)
        return None
    keep, gone = locked[survivor.pk], locked[merged.pk]
    result = ContactMerge(survivor=keep, merged_id=gone.pk)
    note = f"contact #{gone.pk} merged into contact #{keep.pk}: {reason}"
    if len(open_rows) == 2:
        older = min(open_rows, key=lambda c: (c.last_customer_message_at or c.created_at, c.pk))
        conversation_resolve(conversation=older, note=note, ask_rating=False)
        result.counts["conversations_resolved"] = 1
    moved = list(Conversation.objects.filter(contact=gone).order_by("pk"))
    result.counts["conversations"] = Conversation.objects.filter(contact=gone).update(contact=keep)
    for part in merge_parts():
        result.counts.update(part(survivor=keep, merged=gone))
    filled = _fill(keep, gone)
    gone.delete()
    if filled:
        keep.updated_at = timezone.now()
        keep.save(update_fields=[*filled, "updated_at"])
    for conversation in moved:
        conversation.contact = keep
        publish_conversation(conversation)
    for recorder in merge_recorders():
        recorder(survivor=keep, merged_id=result.merged_id, reason=reason, counts=result.counts)
    survivor.__dict__.update({name: getattr(keep, name) for name in filled})
    log.info("%s", note)
    return result
