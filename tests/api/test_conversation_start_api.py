"""POST /api/v1/conversations/: an agent writes first, with an approved template, within the
consent rules and the access rules, and the conversation is theirs."""

from __future__ import annotations

import pytest

from agents.models import AgentProfile
from conversations.models import Contact, Conversation, ConversationEvent, Message, WebChatInbox
from notifications.models import ConsentCategory, ConsentRecord, MessageTemplate, TemplateStatus
from notifications.services.consent import consent_opt_in, consent_opt_out
from tests.api.conftest import join
from tests.factories import ContactFactory, ConversationFactory

URL = "/api/v1/conversations/"


@pytest.fixture
def promo(number):
    return MessageTemplate.objects.create(
        number=number, business_account_id=number.business_account_id, name="spring_sale", language="en",
        category="MARKETING", components=[{"type": "BODY", "text": "Hi {{1}}, spring sale starts today."}],
        status=TemplateStatus.APPROVED,
    )


@pytest.fixture
def callback(number):
    return MessageTemplate.objects.create(
        number=number, business_account_id=number.business_account_id, name="callback", language="en",
        category="UTILITY", components=[{"type": "BODY", "text": "Hello {{1}}, you asked us to call you back."}],
        status=TemplateStatus.APPROVED,
    )


@pytest.fixture
def known(number, team):
    """A contact the agent may see (an earlier, resolved conversation of their team), opted in."""
    contact = ContactFactory(number=number, profile_name="Ada Customer", wa_id="447700900123")
    ConversationFactory(contact=contact, team=team, status=Conversation.Status.RESOLVED)
    for category in (ConsentCategory.MARKETING, ConsentCategory.UTILITY):
        consent_opt_in(contact=contact, category=category, source="api", proof="web form")
    return contact


def start(api, user, **body):
    api.force_authenticate(user)
    body.setdefault("template", {"name": "callback", "language": "en", "parameters": ["Ada"]})
    return api.post(URL, body, format="json")


def test_agent_starts_a_conversation_that_is_theirs(
    api, agent, team, known, callback, graph, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = start(api, agent, contact=known.pk)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["created"] is True and body["contact_created"] is False
    assert body["conversation"]["status"] == "assigned"
    assert body["conversation"]["assignee"]["id"] == agent.pk
    assert body["conversation"]["team"]["id"] == team.pk
    assert body["message"]["type"] == "template" and body["message"]["business_initiated"] is True
    conversation = Conversation.objects.get(pk=body["conversation"]["id"])
    events = list(conversation.events.order_by("id").values_list("kind", "actor_id", "actor_kind"))
    assert events == [("created", agent.pk, "agent"), ("assigned", agent.pk, "agent")]
    assert [sent["template"]["name"] for sent in graph.sent_messages()] == ["callback"]


def test_a_new_phone_number_creates_its_contact_when_the_customer_just_opted_in(
    api, admin_user, number, promo
):
    response = start(api, admin_user, to="+44 7700 900999", opt_in_proof="agreed on the phone, call 12:10",
                     template={"name": "spring_sale", "language": "en", "parameters": ["Bo"]})

    assert response.status_code == 201, response.json()
    contact = Contact.objects.get(pk=response.json()["conversation"]["contact"]["id"])
    assert contact.wa_id == "447700900999" and contact.number == number and contact.created_by == admin_user
    assert response.json()["contact_created"] is True
    record = ConsentRecord.objects.get(contact=contact)
    assert (record.category, record.opted_in, record.proof) == ("marketing", True, "agreed on the phone, call 12:10")


def test_a_new_phone_number_without_opt_in_is_refused_and_leaves_nothing(api, agent, number, callback):
    response = start(api, agent, to="+447700900999")

    assert response.status_code == 409
    assert response.json()["code"] == "not_opted_in"
    assert not Contact.objects.exists() and not Conversation.objects.exists() and not Message.objects.exists()


def test_an_opt_in_needs_the_permission_to_record_it(api, agent, number, callback):
    response = start(api, agent, to="+447700900999", opt_in_proof="said so")

    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert not Contact.objects.exists()


def test_opted_out_contact_is_refused_for_a_marketing_template(api, agent, known, promo):
    consent_opt_out(contact=known, category=ConsentCategory.MARKETING, source="keyword")

    response = start(api, agent, contact=known.pk, template={"name": "spring_sale", "language": "en",
                                                             "parameters": ["Ada"]})

    assert response.status_code == 409
    assert response.json()["code"] == "not_opted_in"
    assert known.conversations.count() == 1  # only the earlier, resolved one
    assert not Message.objects.exists()


def test_utility_template_follows_the_utility_consent(api, agent, known, callback, promo):
    consent_opt_out(contact=known, category=ConsentCategory.MARKETING, source="keyword")

    response = start(api, agent, contact=known.pk)  # `callback` is a utility template

    assert response.status_code == 201, response.json()


def test_unapproved_template_is_refused(api, agent, known, callback):
    MessageTemplate.objects.filter(pk=callback.pk).update(status=TemplateStatus.PAUSED)

    response = start(api, agent, contact=known.pk)

    assert response.status_code == 409
    assert response.json()["code"] == "template_not_approved"
    assert known.conversations.count() == 1


@pytest.mark.parametrize("to", ["12", "+999 123", "not a number", "+44 7700 9009 9912 3456"])
def test_a_bad_phone_number_is_refused(api, agent, number, callback, to):
    response = start(api, agent, to=to)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert not Contact.objects.exists()


def test_contact_and_to_together_are_invalid(api, agent, known, callback):
    response = start(api, agent, contact=known.pk, to="+447700900123")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_outsider_may_not_pick_a_contact_they_cannot_see(api, outsider, known, callback):
    response = start(api, outsider, contact=known.pk)

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert known.conversations.count() == 1


def test_outsider_typing_the_number_of_a_contact_they_cannot_see_is_refused_without_naming_it(
    api, outsider, known, callback
):
    response = start(api, outsider, to="+44 7700 900123")

    assert response.status_code == 409
    assert response.json()["code"] == "contact_exists"
    assert "Ada" not in response.json()["detail"]
    assert known.conversations.count() == 1


def test_starting_twice_reuses_the_open_conversation(api, agent, known, callback):
    first = start(api, agent, contact=known.pk)
    second = start(api, agent, to="+447700900123")

    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["created"] is False
    assert second.json()["conversation"]["id"] == first.json()["conversation"]["id"]
    assert known.conversations.exclude(status=Conversation.Status.RESOLVED).count() == 1
    assert Message.objects.filter(type="template").count() == 2


def test_an_open_conversation_nobody_holds_becomes_the_agents(api, agent, team, known, callback):
    queued = ConversationFactory(contact=known, team=team, status=Conversation.Status.QUEUED)

    response = start(api, agent, contact=known.pk)

    assert response.status_code == 200, response.json()
    queued.refresh_from_db()
    assert (queued.status, queued.assignee_id) == ("assigned", agent.pk)
    assert queued.events.filter(kind="assigned", actor=agent).exists()


def test_someone_elses_open_conversation_is_not_taken_over(api, agent, teammate, team, known, callback):
    held = ConversationFactory(contact=known, team=team, status=Conversation.Status.ASSIGNED, assignee=teammate)

    response = start(api, agent, contact=known.pk)

    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    held.refresh_from_db()
    assert held.assignee_id == teammate.pk
    assert not Message.objects.exists()


def test_a_participant_writes_into_someone_elses_conversation_which_stays_theirs(
    api, agent, teammate, team, known, callback
):
    held = ConversationFactory(contact=known, team=team, status=Conversation.Status.ASSIGNED, assignee=teammate)
    join(held, agent)

    response = start(api, agent, contact=known.pk)

    assert response.status_code == 200
    held.refresh_from_db()
    assert held.assignee_id == teammate.pk
    assert Message.objects.get().sender_user == agent


def test_an_open_conversation_out_of_sight_is_a_conflict(api, agent, other_team, known, callback):
    ConversationFactory(contact=known, team=other_team, status=Conversation.Status.QUEUED)

    response = start(api, agent, contact=known.pk)

    assert response.status_code == 409
    assert response.json()["code"] == "conflict"


def test_an_agent_without_room_is_refused(api, agent, known, callback, number):
    AgentProfile.objects.update_or_create(user=agent, defaults={"capacity": 0})

    response = start(api, agent, contact=known.pk)

    assert response.status_code == 409
    assert response.json()["code"] == "over_capacity"
    assert known.conversations.count() == 1


def test_an_agent_with_two_teams_starts_a_conversation_without_a_team(api, agent, other_team, known, callback):
    other_team.members.add(agent)

    response = start(api, agent, contact=known.pk)

    assert response.status_code == 201
    assert response.json()["conversation"]["team"] is None
    assert response.json()["conversation"]["assignee"]["id"] == agent.pk


def test_signed_out_is_refused(api, known, callback):
    response = api.post(URL, {"contact": known.pk, "template": {"name": "callback", "language": "en"}}, format="json")

    assert response.status_code == 403
    assert not ConversationEvent.objects.filter(kind="created").exclude(conversation__status="resolved").exists()


def test_a_contact_created_by_the_agent_can_be_written_to(api, agent, number, callback):
    contact = ContactFactory(number=number, created_by=agent)
    consent_opt_in(contact=contact, category=ConsentCategory.UTILITY, source="api", proof="form")

    response = start(api, agent, contact=contact.pk)

    assert response.status_code == 201
    assert response.json()["conversation"]["contact"]["id"] == contact.pk


def test_the_new_conversation_form_offers_approved_templates_with_their_slots(api, agent, admin_user, number, callback):
    MessageTemplate.objects.create(
        number=number, business_account_id=number.business_account_id, name="draft", language="en",
        category="MARKETING", components=[{"type": "BODY", "text": "Draft {{1}}"}], status=TemplateStatus.PENDING,
    )
    api.force_authenticate(agent)

    options = api.get("/api/v1/desk/new-conversation/").json()

    assert options["number"] == number.pk
    assert [n["id"] for n in options["numbers"]] == [number.pk]
    assert [(t["name"], t["category"]) for t in options["templates"]] == [("callback", "UTILITY")]
    assert options["templates"][0]["slots"][0]["names"] == ["1"]
    assert options["may_record_opt_in"] is False
    api.force_authenticate(admin_user)
    assert api.get("/api/v1/desk/new-conversation/").json()["may_record_opt_in"] is True
    assert api.get(f"/api/v1/desk/new-conversation/?number={number.pk + 100}").status_code == 404


def test_a_web_chat_visitor_is_not_written_to_on_whatsapp(api, agent, number, team, callback):
    inbox = WebChatInbox.objects.create(name="Shop", number=number, team=team, allowed_origins="https://shop.example")
    visitor = ContactFactory(number=number, wa_id="", user_id="visitor-1", webchat_inbox=inbox, created_by=agent)
    consent_opt_in(contact=visitor, category=ConsentCategory.UTILITY, source="api", proof="form")

    response = start(api, agent, contact=visitor.pk)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert not visitor.conversations.exists()
