"""Business-scoped user ids and usernames: customers WhatsApp gives no phone number of are
served and written to by user id (Graph's `recipient` field), and identity changes
(`user_changed_user_id`, `user_changed_number`, `user_id_update`) keep the contact and its
history."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from agents.models import AuditEntry
from conversations.models import (
    Contact,
    ContactErasure,
    Conversation,
    ConversationEvent,
    Message,
    PlatformEvent,
)
from conversations.services.message_send import message_send_text
from notifications.models import Campaign
from notifications.services.consent import consent_is_current, consent_opt_in
from notifications.services.consent_import import consent_import_csv
from notifications.services.platform_events import platform_event_apply
from tests.factories import ContactFactory, ConversationFactory, MessageFactory
from tests.notifications.conftest import promo_template  # noqa: F401  (fixture)
from tests.notifications.test_campaigns import run
from tests.support import intake as intake_support
from tests.support import webhooks
from tests.support.intake import process

broker_at = intake_support.broker_at
broker_queue = intake_support.broker_queue
fresh_secrets = intake_support.fresh_secrets

pytestmark = pytest.mark.django_db

OLD_ID = "BR.1502576394655843"
NEW_ID = "BR.9988776655443322"


def username_message(body: str, user_id: str) -> dict:
    """A message from a customer with a username: no phone number anywhere."""
    message = webhooks.text_message(body, wa_id="")
    del message["from"]
    message["from_user_id"] = user_id
    value = webhooks.messages_value([message], wa_id="", user_id=user_id, name="ana.b")
    del value["contacts"][0]["wa_id"]
    return webhooks.envelope(value)


def system_message(system: dict, **fields) -> dict:
    """A `system` message as WhatsApp sends it: no `contacts` array."""
    message = {"id": webhooks.wamid(), "timestamp": str(int(time.time())), "type": "system", "system": system,
               **fields}
    value = webhooks.messages_value([message])
    del value["contacts"]
    return webhooks.envelope(value)


def recipients(graph) -> list[dict]:
    return [
        {key: r.body.get(key) for key in ("to", "recipient")}
        for r in graph.requests
        if r.method == "POST" and r.path.endswith("/messages") and isinstance(r.body, dict) and "type" in r.body
    ]


def test_a_customer_without_a_phone_number_is_served_and_answered_by_user_id(
    client, graph, number, django_capture_on_commit_callbacks
):
    event = process(client, username_message("hi, where is my order?", OLD_ID), django_capture_on_commit_callbacks)
    assert event.state == "processed"
    contact = Contact.objects.get(number=number, user_id=OLD_ID)
    assert contact.wa_id == ""
    conversation = Conversation.objects.get(contact=contact)
    graph.requests.clear()
    with django_capture_on_commit_callbacks(execute=True):
        reply = message_send_text(conversation=conversation, text="Let me check.")
    reply.refresh_from_db()
    assert reply.status == "sent"
    assert {"to": None, "recipient": OLD_ID} in recipients(graph)


def test_user_changed_user_id_keeps_the_contact_and_its_history(client, number, django_capture_on_commit_callbacks):
    process(client, username_message("first question", OLD_ID), django_capture_on_commit_callbacks)
    contact = Contact.objects.get(user_id=OLD_ID)
    conversation = Conversation.objects.get(contact=contact)

    event = process(client, system_message({
        "body": "User ana.b changed their business-scoped user id", "type": "user_changed_user_id",
        "previous_user_id": OLD_ID, "user_id": NEW_ID,
    }, from_user_id=NEW_ID), django_capture_on_commit_callbacks)
    assert event.state == "processed"
    contact.refresh_from_db()
    assert contact.user_id == NEW_ID
    assert Contact.objects.filter(number=number).count() == 1
    change = ConversationEvent.objects.get(conversation=conversation, kind="contact_identity_changed")
    assert change.data["previous_user_id"] == OLD_ID and change.data["changed"] == ["user_id"]

    process(client, username_message("second question", NEW_ID), django_capture_on_commit_callbacks)
    assert Contact.objects.filter(number=number).count() == 1
    texts = list(Message.objects.filter(conversation__contact=contact, direction="in", type="text")
                 .values_list("text", flat=True))
    assert texts == ["first question", "second question"]
    assert not Message.objects.filter(type="system").exclude(conversation=conversation).exists()


def test_user_changed_number_moves_the_phone_number_and_the_user_id(
    client, number, django_capture_on_commit_callbacks
):
    contact = ContactFactory(number=number, wa_id="5511987650001", user_id=OLD_ID)
    process(client, system_message({
        "body": "User Ana changed from 5511987650001 to 5511987650002", "type": "user_changed_number",
        "wa_id": "5511987650002", "previous_user_id": OLD_ID, "user_id": NEW_ID,
    }, **{"from": "5511987650001"}), django_capture_on_commit_callbacks)
    contact.refresh_from_db()
    assert (contact.wa_id, contact.user_id) == ("5511987650002", NEW_ID)
    assert Contact.objects.filter(number=number).count() == 1


CHANGE_NOTICE = {"type": "user_changed_user_id", "previous_user_id": OLD_ID, "user_id": NEW_ID,
                 "body": "User ana.b changed their business-scoped user id"}


def test_a_new_id_another_contact_holds_merges_that_contact_into_the_one_with_the_history(
    client, number, django_capture_on_commit_callbacks
):
    old = ContactFactory(number=number, wa_id="", user_id=OLD_ID, profile_name="", tags=["vip"])
    earlier = ConversationFactory(contact=old, status="resolved")
    MessageFactory(conversation=earlier, text="my order from March")
    consent_opt_in(contact=old, category="marketing", source="api", proof="web form")
    # The customer wrote with the new id before the notice came: a second contact.
    process(client, username_message("where is my new order?", NEW_ID), django_capture_on_commit_callbacks)
    newer = Contact.objects.get(user_id=NEW_ID)
    ongoing = Conversation.objects.get(contact=newer)

    notice = system_message(CHANGE_NOTICE, from_user_id=NEW_ID)
    event = process(client, notice, django_capture_on_commit_callbacks)
    assert event.state == "processed"
    assert list(Contact.objects.filter(number=number)) == [old]
    old.refresh_from_db()
    assert (old.user_id, old.profile_name, old.tags) == (NEW_ID, "ana.b", ["vip"])
    assert set(Conversation.objects.filter(contact=old)) == {earlier, ongoing}
    texts = set(Message.objects.filter(conversation__contact=old, type="text", direction="in").values_list("text", flat=True))
    assert texts == {"my order from March", "where is my new order?"}
    assert consent_is_current(contact=old, category="marketing")
    note = ConversationEvent.objects.get(kind="contact_identity_changed")
    assert note.data["changed"] == ["user_id"] and note.data["merged_contacts"] == [newer.pk]
    audit = AuditEntry.objects.get(action="contact.merge")
    assert audit.target_id == str(old.pk) and audit.extra["merged_contact"] == newer.pk
    assert audit.extra["counts"]["conversations"] == 1 and audit.extra["counts"]["consent_records"] == 0

    # The customer's next message joins the ongoing conversation; a redelivered notice changes nothing.
    process(client, username_message("any news?", NEW_ID), django_capture_on_commit_callbacks)
    assert Message.objects.get(text="any news?").conversation == ongoing
    assert process(client, notice, django_capture_on_commit_callbacks).state == "processed"
    assert list(Contact.objects.filter(number=number)) == [old]
    assert AuditEntry.objects.filter(action="contact.merge").count() == 1
    assert ConversationEvent.objects.filter(kind="contact_identity_changed").count() == 1


def test_when_both_contacts_have_an_open_conversation_the_less_recent_one_is_closed_without_a_rating(
    client, number, django_capture_on_commit_callbacks
):
    process(client, username_message("first question", OLD_ID), django_capture_on_commit_callbacks)
    first = Conversation.objects.get(contact__user_id=OLD_ID)
    process(client, username_message("second question", NEW_ID), django_capture_on_commit_callbacks)
    second = Conversation.objects.get(contact__user_id=NEW_ID)
    Conversation.objects.filter(pk=first.pk).update(
        last_customer_message_at=second.last_customer_message_at - timedelta(minutes=5))

    process(client, system_message(CHANGE_NOTICE), django_capture_on_commit_callbacks)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.contact_id == second.contact_id == Contact.objects.get(number=number).pk
    assert first.status == "resolved" and second.status != "resolved"
    assert first.csat_requested_at is None
    assert "merged into contact" in first.events.get(kind="resolved").reason


def test_a_holder_that_was_erased_is_not_merged(client, number, admin_user, django_capture_on_commit_callbacks):
    old = ContactFactory(number=number, wa_id="", user_id=OLD_ID)
    newer = ContactFactory(number=number, wa_id="", user_id=NEW_ID)
    ContactErasure.objects.create(contact=newer, contact_ref=newer.pk, token="tok", via="api")
    process(client, system_message(CHANGE_NOTICE), django_capture_on_commit_callbacks)
    old.refresh_from_db()
    assert Contact.objects.filter(number=number).count() == 2 and old.user_id == OLD_ID
    assert "not applied" in ConversationEvent.objects.get(kind="contact_identity_changed").reason


def test_user_id_update_as_forwarded_changes_the_contact(number):
    contact = ContactFactory(number=number, wa_id="5511987650003", user_id=OLD_ID)
    event = PlatformEvent.objects.create(number=number, field="user_id_update", dedupe_key="u1", payload={
        "user_id_update": [{"wa_id": "5511987650003", "previous_user_id": OLD_ID, "user_id": NEW_ID}],
    })
    platform_event_apply(event=event)
    contact.refresh_from_db()
    assert contact.user_id == NEW_ID and contact.wa_id == "5511987650003"


def test_user_id_update_as_forwarded_merges_a_holder_once_when_applied_twice(number):
    contact = ContactFactory(number=number, wa_id="5511987650004", user_id=OLD_ID)
    holder = ContactFactory(number=number, wa_id="", user_id=NEW_ID)
    ConversationFactory(contact=holder, status="resolved")
    event = PlatformEvent.objects.create(number=number, field="user_id_update", dedupe_key="u2", payload={
        "user_id_update": [{"wa_id": "5511987650004", "previous_user_id": OLD_ID, "user_id": NEW_ID}],
    })
    platform_event_apply(event=event)
    platform_event_apply(event=event)
    contact.refresh_from_db()
    assert list(Contact.objects.filter(number=number)) == [contact] and contact.user_id == NEW_ID
    assert Conversation.objects.get().contact == contact
    assert AuditEntry.objects.filter(action="contact.merge").count() == 1


def test_a_campaign_list_may_name_customers_by_user_id(
    graph, number, promo_template, django_capture_on_commit_callbacks  # noqa: F811
):
    known = ContactFactory(number=number, wa_id="", user_id=OLD_ID, profile_name="Ana")
    consent_opt_in(contact=known, category="marketing", source="import")
    campaign = Campaign.objects.create(
        name="By id", number=number, template=promo_template, audience="csv",
        audience_csv=f"recipient\n{OLD_ID}\nnot a number\n", parameter_mapping={"first_name": "=there",
                                                                              "discount": "=10%"},
    )
    campaign = run(campaign, django_capture_on_commit_callbacks)
    assert campaign.state == "completed"
    assert [r["value"] for r in campaign.audience_rejected] == ["not a number"]
    assert {"to": None, "recipient": OLD_ID} in recipients(graph)


def test_the_notification_api_reaches_a_customer_by_user_id(admin_client, graph, number, promo_template):  # noqa: F811
    contact = ContactFactory(number=number, wa_id="", user_id=OLD_ID)
    consent_opt_in(contact=contact, category="marketing", source="import")
    response = admin_client.post(
        "/api/v1/notifications/",
        {"to": OLD_ID, "template": {"name": "promo", "language": "en", "parameters": {"first_name": "Ana",
                                                                                       "discount": "5%"}}},
        content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-user-id-1",
    )
    assert response.status_code == 201, response.content
    assert Message.objects.filter(conversation__contact=contact, type="template").count() == 1


def test_an_agent_writes_first_to_a_customer_known_only_by_user_id(
    api, admin_user, graph, number, promo_template, django_capture_on_commit_callbacks  # noqa: F811
):
    api.force_authenticate(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/conversations/", {
            "to": NEW_ID, "opt_in_proof": "asked in store, 12:10",
            "template": {"name": "promo", "language": "en", "parameters": {"first_name": "Bo", "discount": "5%"}},
        }, format="json")
    assert response.status_code == 201, response.json()
    contact = Contact.objects.get(pk=response.json()["conversation"]["contact"]["id"])
    assert (contact.wa_id, contact.user_id) == ("", NEW_ID)
    assert {"to": None, "recipient": NEW_ID} in recipients(graph)


def test_consent_import_takes_user_ids_in_the_phone_column(number):
    report = consent_import_csv(number=number, text=f"phone,category,action,proof\n{OLD_ID},marketing,opt_in,form\n")
    assert report.rejected == []
    contact = Contact.objects.get(number=number, user_id=OLD_ID)
    assert consent_is_current(contact=contact, category="marketing")


PARENT_ID = "BR.ENT.11815799212886844830"


def parent_message(body: str, user_id: str, parent_user_id: str | None) -> dict:
    payload = username_message(body, user_id)
    if parent_user_id is not None:
        payload["entry"][0]["changes"][0]["value"]["contacts"][0]["parent_user_id"] = parent_user_id
    return payload


def test_the_parent_user_id_is_stored_kept_and_followed(client, number, django_capture_on_commit_callbacks):
    process(client, parent_message("hello", OLD_ID, PARENT_ID), django_capture_on_commit_callbacks)
    contact = Contact.objects.get(number=number, user_id=OLD_ID)
    assert contact.parent_user_id == PARENT_ID
    # A later webhook without it keeps the one stored; a different one replaces it.
    process(client, parent_message("still there?", OLD_ID, None), django_capture_on_commit_callbacks)
    contact.refresh_from_db()
    assert contact.parent_user_id == PARENT_ID
    process(client, parent_message("hello again", OLD_ID, "BR.ENT.22"), django_capture_on_commit_callbacks)
    contact.refresh_from_db()
    assert contact.parent_user_id == "BR.ENT.22"
    # Something that is not a user id is not stored.
    process(client, parent_message("and again", OLD_ID, "<b>x</b>"), django_capture_on_commit_callbacks)
    contact.refresh_from_db()
    assert contact.parent_user_id == "BR.ENT.22"


def test_the_parent_user_id_is_shown_in_the_desk_panel_and_the_admin(admin_client, client, number, outsider,
                                                                      django_capture_on_commit_callbacks):
    process(client, parent_message("hello", OLD_ID, PARENT_ID), django_capture_on_commit_callbacks)
    contact = Contact.objects.get(user_id=OLD_ID)
    conversation = Conversation.objects.get(contact=contact)
    context = admin_client.get(f"/api/v1/desk/conversations/{conversation.pk}/context/").json()
    assert context["contact"]["user_id"] == OLD_ID and context["contact"]["parent_user_id"] == PARENT_ID
    assert PARENT_ID in admin_client.get(f"/admin/conversations/contact/{contact.pk}/change/").content.decode()
    assert [c["parent_user_id"] for c in admin_client.get("/api/v1/contacts/").json()["results"]] == [PARENT_ID]
    client.force_login(outsider)
    assert client.get(f"/api/v1/desk/conversations/{conversation.pk}/context/").status_code == 404
