from __future__ import annotations

import pytest

from conversations.models import Contact
from notifications.models import ConsentRecord
from notifications.services.consent import (
    consent_is_current,
    consent_opt_in,
    consent_opt_out,
    contacts_opted_in,
)
from tests.factories import ContactFactory


@pytest.fixture
def contact(number):
    return ContactFactory(number=number)


def test_contact_never_asked_has_no_current_consent(contact):
    assert consent_is_current(contact=contact, category="marketing") is False
    assert consent_is_current(contact=contact, category="utility") is False


def test_every_change_is_a_row_and_the_latest_one_is_current(contact, admin_user):
    consent_opt_in(contact=contact, category="marketing", source="web_form", proof="form #12 ticked")
    assert consent_is_current(contact=contact, category="marketing")
    consent_opt_out(contact=contact, category="marketing", source="admin", proof="phoned in", actor=admin_user)
    assert not consent_is_current(contact=contact, category="marketing")
    consent_opt_in(contact=contact, category="marketing", source="api")
    assert consent_is_current(contact=contact, category="marketing")
    rows = list(ConsentRecord.objects.filter(contact=contact).order_by("id"))
    assert [(r.opted_in, r.source) for r in rows] == [(True, "web_form"), (False, "admin"), (True, "api")]
    assert rows[1].actor == admin_user and rows[1].proof == "phoned in"
    assert rows[0].number == contact.number


def test_categories_are_independent(contact):
    consent_opt_in(contact=contact, category="utility", source="web_form")
    assert consent_is_current(contact=contact, category="utility")
    assert not consent_is_current(contact=contact, category="marketing")


def test_repeated_opt_out_is_not_a_new_change(contact):
    first = consent_opt_out(contact=contact, category="marketing", source="keyword")
    again = consent_opt_out(contact=contact, category="marketing", source="error_131050")
    assert again.pk == first.pk
    assert ConsentRecord.objects.filter(contact=contact).count() == 1


def test_unknown_category_or_source_is_refused(contact):
    with pytest.raises(ValueError):
        consent_opt_in(contact=contact, category="promotions", source="api")
    with pytest.raises(ValueError):
        consent_opt_in(contact=contact, category="marketing", source="rumour")


def test_opted_in_queryset_follows_the_latest_row(number):
    yes, no, never = ContactFactory(number=number), ContactFactory(number=number), ContactFactory(number=number)
    consent_opt_in(contact=yes, category="marketing", source="import")
    consent_opt_in(contact=no, category="marketing", source="import")
    consent_opt_out(contact=no, category="marketing", source="keyword")
    found = set(contacts_opted_in(queryset=Contact.objects.all(), category="marketing"))
    assert found == {yes}
    assert never not in found
