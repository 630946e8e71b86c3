"""GET, POST /api/v1/contacts/: search and creation with validated phone numbers."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from conversations.models import Contact
from tests.factories import ContactFactory, ConversationFactory, NumberFactory

URL = "/api/v1/contacts/"


def test_anonymous_cannot_list_or_create(number):
    client = APIClient()

    assert client.get(URL).json()["code"] == "not_authenticated"
    assert client.post(URL, {"wa_id": "+447700900123"}, format="json").status_code in (401, 403)
    assert not Contact.objects.exists()


def test_search_by_name_and_wa_id(api, agent, team, number):
    ada = ContactFactory(number=number, profile_name="Ada Lovelace", wa_id="447700900001")
    bob = ContactFactory(number=number, profile_name="Bob Builder", wa_id="447700900002")
    for contact in (ada, bob):
        ConversationFactory(contact=contact, team=team)
    api.force_authenticate(agent)

    by_name = api.get(URL, {"q": "lovelace"}).json()["results"]
    by_number = api.get(URL, {"q": "+44 7700900002"}).json()["results"]
    everyone = api.get(URL).json()

    assert [c["id"] for c in by_name] == [ada.id]
    assert [c["id"] for c in by_number] == [bob.id]
    assert everyone["count"] == 2


def test_create_normalises_phone_number_to_e164_digits(api, agent, number):
    api.force_authenticate(agent)

    response = api.post(URL, {"wa_id": "+44 7700 900123", "profile_name": "Cleo"}, format="json")

    assert response.status_code == 201
    assert response.json()["wa_id"] == "447700900123"
    assert response.json()["number"] == number.id
    assert Contact.objects.get(pk=response.json()["id"]).profile_name == "Cleo"


def test_create_by_business_scoped_user_id(api, agent, number):
    api.force_authenticate(agent)

    response = api.post(URL, {"user_id": "US.13491208655302741918"}, format="json")

    assert response.status_code == 201
    assert response.json()["wa_id"] == ""
    assert response.json()["user_id"] == "US.13491208655302741918"


@pytest.mark.parametrize("payload", [{}, {"wa_id": "12"}, {"wa_id": "not a number"}, {"wa_id": "+999 123"}])
def test_create_refuses_impossible_numbers(api, agent, number, payload):
    api.force_authenticate(agent)

    response = api.post(URL, payload, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert not Contact.objects.exists()


def test_duplicate_contact_is_a_conflict(api, agent, number):
    ContactFactory(number=number, wa_id="447700900123")
    api.force_authenticate(agent)

    response = api.post(URL, {"wa_id": "447700900123"}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "contact_exists"
    assert Contact.objects.filter(wa_id="447700900123").count() == 1


def test_create_for_a_named_number_or_refuse_an_unknown_one(api, agent, number):
    second = NumberFactory(phone_number_id="3000000003", is_default=False, name="Sales line")
    api.force_authenticate(agent)

    named = api.post(URL, {"wa_id": "447700900123", "number": second.id}, format="json")
    unknown = api.post(URL, {"wa_id": "447700900124", "number": second.id + 100}, format="json")

    assert named.status_code == 201 and named.json()["number"] == second.id
    assert unknown.status_code == 400 and unknown.json()["code"] == "invalid"
