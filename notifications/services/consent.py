"""The consent ledger's writes and reads.

Every change is appended as a ConsentRecord with its source, time, actor and proof; the
current state of a contact for a category is its latest row. Nothing is current without
a row: a contact never asked has not opted in.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils.translation import gettext

from config.refusals import Refused
from conversations.access import user_is_admin
from conversations.models import Contact
from conversations.services.webhook_outbox import webhook_consent_event
from notifications.models import ConsentCategory, ConsentRecord, ConsentSource, TemplateCategory

CATEGORIES = tuple(ConsentCategory.values)

# Granted per user or group in the admin; admins have it.
OPT_IN_PERMISSION = "notifications.record_opt_in"


class ConsentRefused(Refused):
    """A consent change a desk user may not record: `code` is `forbidden` or `invalid`."""


# Consent a template's category needs before a business-initiated send. Authentication
# templates are transactional: the utility consent covers them.
TEMPLATE_CONSENT_CATEGORY: dict[str, str] = {
    TemplateCategory.MARKETING: ConsentCategory.MARKETING,
    TemplateCategory.UTILITY: ConsentCategory.UTILITY,
    TemplateCategory.AUTHENTICATION: ConsentCategory.UTILITY,
}


def _check(category: str, source: str) -> None:
    if category not in CATEGORIES:
        raise ValueError(f"unknown consent category {category!r}; expected one of {', '.join(CATEGORIES)}")
    if source not in ConsentSource.values:
        raise ValueError(f"unknown consent source {source!r}")


def consent_latest(*, contact: Contact, category: str) -> ConsentRecord | None:
    return ConsentRecord.objects.filter(contact=contact, category=category).order_by("-id").first()


def consent_is_current(*, contact: Contact, category: str) -> bool:
    """True when the contact's latest consent row for `category` is an opt-in."""
    latest = consent_latest(contact=contact, category=category)
    return bool(latest and latest.opted_in)


def _consent_change(
    *, contact: Contact, category: str, opted_in: bool, source: str, proof: str, actor: User | None
) -> ConsentRecord:
    _check(category, source)
    with transaction.atomic():
        # Lock the contact so concurrent changes append in a definite order.
        locked = Contact.objects.select_for_update().only("id", "number_id").get(pk=contact.pk)
        latest = consent_latest(contact=locked, category=category)
        if latest is not None and latest.opted_in == opted_in:
            return latest
        record = ConsentRecord.objects.create(
            contact=locked,
            number_id=locked.number_id,
            category=category,
            opted_in=opted_in,
            source=source,
            proof=proof or "",
            actor=actor if actor is not None and actor.is_authenticated else None,
        )
        webhook_consent_event(record)
        return record


def consent_opt_out(
    *, contact: Contact, category: str, source: str, proof: str = "", actor: User | None = None
) -> ConsentRecord:
    """Record an opt-out; effective at once. Returns the new row, or the latest one when the
    contact was already opted out (a repeated opt-out is not a change)."""
    return _consent_change(
        contact=contact, category=category, opted_in=False, source=source, proof=proof, actor=actor
    )


def consent_opt_in(
    *, contact: Contact, category: str, source: str, proof: str = "", actor: User | None = None
) -> ConsentRecord:
    """Record an opt-in. Returns the new row, or the latest one when already opted in."""
    return _consent_change(contact=contact, category=category, opted_in=True, source=source, proof=proof, actor=actor)


def user_may_record_opt_in(user: User | None) -> bool:
    """Admins (superusers and the `admin` group) and the users granted
    `notifications.record_opt_in`, directly or through a group."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return user_is_admin(user) or user.has_perm(OPT_IN_PERMISSION)


def consent_change_by_user(
    *, contact: Contact, categories: tuple[str, ...], opted_in: bool, proof: str, actor: User, source: str
) -> list[ConsentRecord]:
    """Record a consent change a desk user passes on, for each of `categories`, in one
    transaction. An opt-out is always recorded: it must be honoured whoever passes it on.
    An opt-in needs `user_may_record_opt_in` (`ConsentRefused("forbidden")`) and proof of
    where and how the customer gave it (`ConsentRefused("invalid")`). The caller has
    checked that `actor` may see `contact`."""
    proof = (proof or "").strip()
    if opted_in:
        if not user_may_record_opt_in(actor):
            raise ConsentRefused(
                "forbidden", gettext("Recording an opt-in needs the record opt-in permission, which an admin grants.")
            )
        if not proof:
            raise ConsentRefused(
                "invalid", gettext("proof: say where and how the customer opted in (a form, a message, a document).")
            )
    change = consent_opt_in if opted_in else consent_opt_out
    with transaction.atomic():
        return [
            change(contact=contact, category=category, source=source, proof=proof, actor=actor)
            for category in categories
        ]


def consent_history(*, contact: Contact) -> QuerySet[ConsentRecord]:
    """Every consent change of `contact`, newest first, with who recorded it."""
    return ConsentRecord.objects.filter(contact=contact).select_related("actor").order_by("-id")


def consent_category_for_template(template_category: str) -> str:
    return TEMPLATE_CONSENT_CATEGORY.get(template_category, str(ConsentCategory.MARKETING))


def contacts_opted_in(*, queryset: QuerySet[Contact], category: str) -> QuerySet[Contact]:
    """Narrow `queryset` to contacts whose latest row for `category` is an opt-in."""
    latest = (
        ConsentRecord.objects.filter(contact=OuterRef("pk"), category=category).order_by("-id").values("opted_in")[:1]
    )
    return queryset.annotate(_consent_now=Subquery(latest)).filter(_consent_now=True)


def consent_state(*, contact: Contact) -> dict[str, dict]:
    """The current state per category, for the API and admin."""
    state: dict[str, dict] = {}
    for category in CATEGORIES:
        latest = consent_latest(contact=contact, category=category)
        state[category] = {
            "opted_in": bool(latest and latest.opted_in),
            "source": latest.source if latest else "",
            "at": latest.created_at.isoformat() if latest else None,
        }
    return state
