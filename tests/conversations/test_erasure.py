"""Erasing a contact (GDPR Art. 17): a customer with a full history, built through the real
webhook, bot, handoff, desk API, statuses, consent, campaign and sandbox paths, is erased;
afterwards their phone number, name and every message text appear nowhere in the database
(every text, char, JSON and binary column of every table is searched, so a table added
later is covered too), while conversations, messages and statuses stay countable."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.contrib.admin.models import LogEntry
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from agents.services.presence import presence_set
from bots.demo import demo_flow_create, demo_lookup_service, demo_orders_load, demo_policy_create
from bots.models import BotSession, EscalationLedger, Handoff
from conversations.models import (
    Contact,
    ContactErasure,
    Conversation,
    ConversationEvent,
    Message,
    MessageStatusEvent,
    PlatformEvent,
    WebhookEvent,
)
from conversations.providers.sandbox.models import Phone
from conversations.providers.sandbox.services import phone_create
from conversations.services.contact_erasure import ERASED, TOKEN_PREFIX, WAMID_PREFIX, contact_erase
from conversations.services.message_delivery import message_deliver
from notifications.campaign_audience import campaign_recipients_build
from notifications.models import Campaign, CampaignRecipient, ConsentRecord, MessageTemplate, TemplateStatus
from notifications.services.consent import consent_is_current
from tests.bots.conftest import Customer
from tests.factories import ContactFactory, ConversationFactory, MessageFactory
from tests.support import webhooks
from tests.support.order_api import start_order_api

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = "4915112345678"
NAME = "Zelda Quixote-Marr"
OTHER_PHONE = "4917699887766"
OTHER_NAME = "Otto Unrelated"
OTHER_TEXT = "other customer keeps this sentence 8841"

SAID = [
    "My parcel to Hafenstrasse 77 never arrived",
    "The courier left a card with code QX-5531",
]
CAPTION = "photo of the damaged box 2207"
AGENT_REPLY = "Hello Zelda, I am tracing parcel QX-5531 right now"
NOTE = "Zelda mentioned her new flat in Hafenstrasse"
RESOLVE_NOTE = "Refund promised to Zelda for parcel QX-5531"
CONSENT_PROOF = f"Paper form signed by {NAME}, {PHONE}, at the Hafen store"
FAILURE_DETAIL = f"Recipient {PHONE} could not be reached"


# --- searching the whole database --------------------------------------------------------------


def _as_text(value) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return None


def database_text() -> list[tuple[str, str, str]]:
    """(table, column, value) for every text-like value in every table of the database."""
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 (table names from introspection)
            columns = [c[0] for c in cursor.description]
            for row in cursor.fetchall():
                for column, value in zip(columns, row, strict=True):
                    text = _as_text(value)
                    if text:
                        found.append((table, column, text))
    return found


def where_found(needles: set[str]) -> list[tuple[str, str, str]]:
    """Every (table, column, needle) where a needle occurs, also JSON-escaped."""
    hits = []
    for table, column, text in database_text():
        for needle in needles:
            if needle in text or json.dumps(needle)[1:-1] in text:
                hits.append((table, column, needle))
    return hits


# --- a customer with a full history ------------------------------------------------------------


@pytest.fixture
def order_api(settings):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
    state, server = start_order_api()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def setup(db, number, team, agent, admin_user, order_api):
    demo_orders_load()
    policy = demo_policy_create(team=team)
    bot = demo_flow_create(number=number, lookup_service=demo_lookup_service(base_url=f"{order_api.url}/demo/"))
    presence_set(user=agent, presence="online")
    MessageTemplate.objects.create(
        number=number, business_account_id=webhooks.WABA_ID, name="promo", language="en", category="MARKETING",
        components=[{"type": "BODY", "text": "Hello {{1}}, 20% off this week!", "example": {"body_text": [["Ana"]]}}],
        status=TemplateStatus.APPROVED, remote_id="9100",
    )
    MessageTemplate.objects.create(
        number=number, business_account_id=webhooks.WABA_ID, name="order_ready", language="en", category="UTILITY",
        components=[{"type": "BODY", "text": "Your order {{1}} is ready.", "example": {"body_text": [["A-1"]]}}],
        status=TemplateStatus.APPROVED, remote_id="9101",
    )
    return {"policy": policy, "bot": bot}


def post_ok(api, user, path, data, **headers):
    api.force_authenticate(user)
    response = api.post(path, data, format="json", **headers)
    assert response.status_code in (200, 201), (path, response.status_code, response.content)
    return response.json()


def build_history(client, api, graph, number, team, agent, admin_user) -> Contact:
    customer = Customer(client, graph, wa_id=PHONE, name=NAME)
    customer.says("hi")
    customer.taps("order-status", "Order status")
    assert "Order A1002 is being packed" in str(customer.says("A1002"))  # looked up at the order API
    for text in SAID:
        customer.says(text)
    customer.taps("handoff:human", "Talk to a person")
    conversation = customer.conversation
    assert conversation.status == Conversation.Status.ASSIGNED
    contact = conversation.contact

    # The same webhook body also carries another customer's message: theirs must survive.
    other = webhooks.batch([
        webhooks.change(webhooks.messages_value(
            [webhooks.text_message(OTHER_TEXT, wa_id=OTHER_PHONE)], wa_id=OTHER_PHONE, name=OTHER_NAME)),
        webhooks.change(webhooks.messages_value(
            [webhooks.inbound_message("image", {"id": "media-77", "mime_type": "image/jpeg", "caption": CAPTION},
                                      wa_id=PHONE)], wa_id=PHONE, name=NAME)),
    ])
    assert webhooks.post(client, other).status_code == 200

    base = f"/api/v1/conversations/{conversation.pk}"
    reply = post_ok(api, agent, f"{base}/messages/", {"text": AGENT_REPLY})
    post_ok(api, agent, f"{base}/messages/", {"note": NOTE})
    wamid = Message.objects.get(pk=reply["id"]).provider_message_id
    assert wamid
    for status in ("sent", "delivered", "read"):
        assert webhooks.post(client, webhooks.status_payload(wamid, status, recipient=PHONE)).status_code == 200
    notice = conversation.messages.filter(sender_kind="bot", provider_message_id__isnull=False).last()
    failed = webhooks.status_payload(notice.provider_message_id, "failed", recipient=PHONE, errors=[
        {"code": 131026, "title": "Message undeliverable", "error_data": {"details": FAILURE_DETAIL}}])
    assert webhooks.post(client, failed).status_code == 200

    post_ok(api, admin_user, f"/api/v1/contacts/{contact.pk}/opt-in/", {"category": "marketing", "proof": CONSENT_PROOF})
    post_ok(api, admin_user, f"/api/v1/contacts/{contact.pk}/opt-in/", {"category": "utility", "proof": CONSENT_PROOF})
    post_ok(api, admin_user, "/api/v1/notifications/",
            {"contact": contact.pk, "template": {"name": "order_ready", "language": "en", "parameters": ["QX-5531"]}},
            HTTP_IDEMPOTENCY_KEY="order-ready-1")
    campaign = Campaign.objects.create(
        name="Spring", number=number, template=MessageTemplate.objects.get(name="promo"), audience="csv",
        audience_csv=f"phone\n+{PHONE[:2]} {PHONE[2:5]} {PHONE[5:]}\n+{OTHER_PHONE}\n",
        parameter_mapping={"body": ["contact.profile_name"]},
    )
    campaign_recipients_build(campaign=campaign)
    assert CampaignRecipient.objects.filter(campaign=campaign, contact=contact).exists()

    post_ok(api, agent, f"{base}/resolve/", {"note": RESOLVE_NOTE})
    rating = webhooks.button_reply_payload(f"csat:{conversation.pk}:3", "Good", wa_id=PHONE)
    assert webhooks.post(client, rating).status_code == 200
    assert Conversation.objects.get(pk=conversation.pk).csat_score == 3

    preferences = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": webhooks.DISPLAY_NUMBER, "phone_number_id": webhooks.PHONE_NUMBER_ID},
        "contacts": [{"wa_id": PHONE, "profile": {"name": NAME}}],
        "user_preferences": [{"wa_id": PHONE, "detail": "User requested to stop marketing messages",
                              "category": "marketing_messages", "value": "stop", "timestamp": 1731705721}],
    }
    assert webhooks.post(client, webhooks.envelope(preferences, field="user_preferences")).status_code == 200

    phone_create(number=number, name=NAME, wa_id=PHONE)
    client.force_login(admin_user)
    response = client.post(f"/admin/conversations/contact/{contact.pk}/change/", {
        "number": number.pk, "wa_id": PHONE, "user_id": "", "profile_name": NAME, "language": "de",
        "attributes": json.dumps({"city": "Hamburg", "loyalty": "gold"}), "tags": json.dumps(["vip"]),
    })
    assert response.status_code == 302, response.content[:500]
    client.logout()
    return Contact.objects.get(pk=contact.pk)


def personal_needles(contact: Contact, baseline: list[tuple[str, str, str]]) -> set[str]:
    """The phone, the name, and the texts of every message of the contact, except what the
    bot says to everyone (texts of the configuration, or sent to other customers too)."""
    before = [text for _, _, text in baseline]
    texts = set(Message.objects.filter(conversation__contact=contact).values_list("text", flat=True))
    everyone = set(Message.objects.exclude(conversation__contact=contact).values_list("text", flat=True))
    texts = {t for t in texts - everyone if len(t) >= 6 and not any(t in value for value in before)}
    return {PHONE, NAME, *texts}


def test_full_history_erased_from_every_table(client, api, graph, number, team, agent, admin_user, setup):
    baseline = database_text()
    contact = build_history(client, api, graph, number, team, agent, admin_user)
    needles = personal_needles(contact, baseline)
    assert {*SAID, f"[image] {CAPTION}", AGENT_REPLY, NOTE} <= needles
    needles |= {CAPTION, RESOLVE_NOTE, CONSENT_PROOF, FAILURE_DETAIL, "Hamburg"}
    assert {n for _, _, n in where_found(needles)} == needles  # each is found before
    counts_before = {
        "conversations": Conversation.objects.filter(contact=contact).count(),
        "messages": Message.objects.filter(conversation__contact=contact).count(),
        "statuses": MessageStatusEvent.objects.count(),
        "consent": ConsentRecord.objects.filter(contact=contact).count(),
        "handoffs": Handoff.objects.filter(conversation__contact=contact).count(),
        "events": ConversationEvent.objects.filter(conversation__contact=contact).count(),
    }
    other_message = Message.objects.get(text=OTHER_TEXT)

    result = contact_erase(contact=contact, actor=admin_user)

    assert not result.already_erased
    hits = where_found(needles)
    assert hits == [], f"personal data left after erasure: {hits}"
    # Rows stay countable, with their statuses and times.
    assert Conversation.objects.filter(contact=contact).count() == counts_before["conversations"]
    messages = Message.objects.filter(conversation__contact=contact)
    assert messages.count() == counts_before["messages"]
    assert set(messages.exclude(text="").values_list("text", flat=True)) == {ERASED}
    assert messages.filter(status="read", read_at__isnull=False).exists()
    assert messages.filter(status="failed", error_code="131026").exists()
    assert MessageStatusEvent.objects.count() == counts_before["statuses"]
    assert set(MessageStatusEvent.objects.values_list("recipient_id", flat=True)) == {result.erasure.token}
    assert Handoff.objects.filter(conversation__contact=contact).count() == counts_before["handoffs"]
    assert ConversationEvent.objects.filter(conversation__contact=contact).count() == counts_before["events"]
    assert EscalationLedger.objects.filter(conversation__contact=contact, handed_off_at__isnull=False).exists()
    assert Conversation.objects.get(contact=contact).csat_score == 3
    # Consent: the facts and dates stay, the proofs go, and nothing may be sent any more.
    records = ConsentRecord.objects.filter(contact=contact)
    assert records.count() >= counts_before["consent"]
    assert records.filter(opted_in=True, category="marketing", source="api").exists()
    assert set(records.filter(source__in=["api", "whatsapp_preference"]).values_list("proof", flat=True)) == {ERASED}
    assert not consent_is_current(contact=contact, category="utility")
    assert not consent_is_current(contact=contact, category="marketing")
    # The contact is a token now; the other customer in the shared body is untouched.
    contact.refresh_from_db()
    assert contact.wa_id.startswith(TOKEN_PREFIX) and contact.wa_id == result.erasure.token
    assert (contact.profile_name, contact.user_id, contact.attributes, contact.tags) == (ERASED, "", {}, [])
    other_message.refresh_from_db()
    assert other_message.text == OTHER_TEXT
    shared = [e for e in WebhookEvent.objects.all() if OTHER_TEXT.encode() in bytes(e.body)]
    assert len(shared) == 1 and OTHER_NAME.encode() in bytes(shared[0].body)
    assert json.loads(bytes(shared[0].body))  # still a JSON body
    assert not Phone.objects.exists()
    assert BotSession.objects.filter(conversation__contact=contact, values={}).exists()
    assert LogEntry.objects.filter(object_id=str(contact.pk), object_repr=ERASED).exists()
    assert PlatformEvent.objects.filter(field="user_preferences").exists()


def test_erasure_is_recorded_once_and_a_second_run_changes_nothing(number, admin_user):
    conversation = ConversationFactory(contact__number=number, contact__wa_id=PHONE, contact__profile_name=NAME,
                                       contact__parent_user_id="BR.ENT.1234")
    MessageFactory(conversation=conversation, text=SAID[0])
    contact = conversation.contact

    first = contact_erase(contact=contact, actor=admin_user)
    contact.refresh_from_db()
    assert contact.parent_user_id == ""
    snapshot = database_text()
    second = contact_erase(contact=contact, actor=admin_user)

    assert second.already_erased and not first.already_erased
    assert second.erasure.pk == first.erasure.pk
    assert ContactErasure.objects.count() == 1
    erasure = ContactErasure.objects.get()
    assert (erasure.contact_ref, erasure.actor, erasure.actor_username, erasure.via) == (
        contact.pk, admin_user, "admin", "api")
    assert erasure.counts["messages"] == 1
    assert database_text() == snapshot
    assert "already erased" in second.summary and "nothing changed" in second.summary


def test_message_ids_older_than_the_redelivery_window_are_replaced(number, admin_user):
    conversation = ConversationFactory(contact__number=number, contact__wa_id=PHONE)
    old = MessageFactory(conversation=conversation, provider_message_id="wamid.OLD1",
                         created_at=timezone.now() - timedelta(days=9))
    recent = MessageFactory(conversation=conversation, provider_message_id="wamid.NEW1")
    MessageStatusEvent.objects.create(provider_message_id="wamid.OLD1", status="read", timestamp=timezone.now())

    contact_erase(contact=conversation.contact, actor=admin_user)

    old.refresh_from_db()
    recent.refresh_from_db()
    assert old.provider_message_id.startswith(WAMID_PREFIX)
    assert MessageStatusEvent.objects.get().provider_message_id == old.provider_message_id
    # Still inside WhatsApp's redelivery window: kept, so a redelivered webhook stays a duplicate.
    assert recent.provider_message_id == "wamid.NEW1"


def test_redelivered_message_after_erasure_stays_a_duplicate(client, number, admin_user):
    payload = webhooks.text_payload(SAID[0], wa_id=PHONE, name=NAME)
    assert webhooks.post(client, payload).status_code == 200
    contact = Contact.objects.get(wa_id=PHONE)

    messages = Message.objects.count()

    contact_erase(contact=contact, actor=admin_user)
    assert webhooks.post(client, payload).status_code == 200

    assert Contact.objects.count() == 1 and not Contact.objects.filter(wa_id=PHONE).exists()
    assert Message.objects.count() == messages
    assert WebhookEvent.objects.filter(state="processed").count() == 2


def test_late_statuses_are_anonymised_by_the_follow_up(client, number, admin_user):
    conversation = ConversationFactory(contact__number=number, contact__wa_id=PHONE, contact__profile_name=NAME)
    sent = MessageFactory(conversation=conversation, direction="out", sender_kind="agent", status="sent",
                          provider_message_id="wamid.LATE1")
    erased = contact_erase(contact=conversation.contact, actor=admin_user).erasure
    assert webhooks.post(client, webhooks.status_payload("wamid.LATE1", "read", recipient=PHONE)).status_code == 200
    assert where_found({PHONE})

    from conversations.services.contact_erasure import erasure_follow_up

    counts = erasure_follow_up()

    assert counts["statuses"] == 1 and counts["webhook_events"] >= 1
    assert where_found({PHONE}) == []
    sent.refresh_from_db()
    assert sent.status == "read"
    assert MessageStatusEvent.objects.get(status="read").recipient_id == erased.token
    # After the redelivery window the remaining ids are replaced and the erasure completes.
    with time_machine.travel(timezone.now() + timedelta(days=9), tick=False):
        counts = erasure_follow_up()
    assert counts["completed"] == 1
    sent.refresh_from_db()
    assert sent.provider_message_id.startswith(WAMID_PREFIX)
    assert ContactErasure.objects.get().completed_at is not None
    # A status arriving even later, for the replaced id, is recognised and anonymised.
    assert webhooks.post(client, webhooks.status_payload("wamid.LATE1", "deleted", recipient=PHONE)).status_code == 200
    assert where_found({PHONE})
    erasure_follow_up()
    assert where_found({PHONE}) == []


def test_stored_media_files_are_deleted(number, admin_user, settings, tmp_path):
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}}}
    path = default_storage.save("media/box.jpg", ContentFile(b"jpeg bytes"))
    conversation = ConversationFactory(contact__number=number, contact__wa_id=PHONE)
    MessageFactory(conversation=conversation, type="image", text="[image]",
                   payload={"type": "image", "image": {"id": "m1", "storage_path": path}})
    assert default_storage.exists(path)

    result = contact_erase(contact=conversation.contact, actor=admin_user)

    assert result.counts["files"] == 1
    assert not default_storage.exists(path)


def test_pending_outbound_messages_are_not_sent_after_erasure(number, admin_user):
    conversation = ConversationFactory(contact__number=number, contact__wa_id=PHONE)
    pending = MessageFactory(conversation=conversation, direction="out", sender_kind="agent", status="pending",
                             provider_message_id=None, text=AGENT_REPLY)

    contact_erase(contact=conversation.contact, actor=admin_user)

    pending.refresh_from_db()
    assert (pending.status, pending.error_code, pending.text) == ("failed", "erased", ERASED)


def test_a_reply_typed_after_erasure_fails_instead_of_going_out(number, graph, admin_user):
    conversation = ConversationFactory(contact__number=number, contact__wa_id=PHONE)
    contact_erase(contact=conversation.contact, actor=admin_user)
    late = MessageFactory(conversation=conversation, direction="out", sender_kind="agent", status="pending",
                          provider_message_id=None, text="Are you still there?")

    result = message_deliver(message_id=late.pk)

    late.refresh_from_db()
    assert (result.outcome, late.status, late.error_code) == ("failed", "failed", "erased")
    assert graph.sent_messages() == []


# --- the command, the admin action and the API ----------------------------------------------------


def test_command_erases_and_reports_then_says_already_erased(number, admin_user):
    contact = ContactFactory(number=number, wa_id=PHONE, profile_name=NAME)
    MessageFactory(conversation=ConversationFactory(contact=contact), text=SAID[0])

    out = StringIO()
    call_command("erase_contact", str(contact.pk), "--actor", "admin", stdout=out)
    assert out.getvalue().startswith(f"Erased contact {contact.pk}: ")
    assert "1 messages" in out.getvalue()
    erasure = ContactErasure.objects.get()
    assert (erasure.via, erasure.actor) == ("command", admin_user)

    again = StringIO()
    call_command("erase_contact", str(contact.pk), stdout=again)
    assert f"Contact {contact.pk} was already erased" in again.getvalue()
    assert "by admin via the command line" in again.getvalue()
    assert ContactErasure.objects.count() == 1


def test_command_refuses_unknown_contact_and_user(number):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No such contact: 999"):
        call_command("erase_contact", "999")
    contact = ContactFactory(number=number)
    with pytest.raises(CommandError, match="No such user: nobody"):
        call_command("erase_contact", str(contact.pk), "--actor", "nobody")
    assert not ContactErasure.objects.exists()


def test_admin_action_confirms_then_erases(client, number, admin_user):
    contact = ContactFactory(number=number, wa_id=PHONE, profile_name=NAME)
    keep = ContactFactory(number=number, wa_id=OTHER_PHONE, profile_name=OTHER_NAME)
    client.force_login(admin_user)
    url = "/admin/conversations/contact/"
    assert b"erase_personal_data" in client.get(url).content
    data = {"action": "erase_personal_data", "_selected_action": [contact.pk]}

    confirm = client.post(url, data)
    assert confirm.status_code == 200
    assert b"This cannot be undone" in confirm.content and NAME.encode() in confirm.content
    assert not ContactErasure.objects.exists()

    done = client.post(url, {**data, "confirm": "yes"}, follow=True)
    assert b"Erased the personal data of 1 contact(s)." in done.content
    erasure = ContactErasure.objects.get()
    assert (erasure.contact_ref, erasure.via, erasure.actor) == (contact.pk, "admin", admin_user)
    keep.refresh_from_db()
    assert keep.profile_name == OTHER_NAME

    again = client.post(url, {**data, "confirm": "yes"}, follow=True)
    assert b"1 contact(s) had been erased before" in again.content
    assert ContactErasure.objects.count() == 1


def test_admin_action_is_offered_to_admins_only(client, number, supervisor):
    contact = ContactFactory(number=number, wa_id=PHONE)
    supervisor.is_staff = True
    supervisor.save()
    from agents.roles import SUPERVISOR, roles_ensure

    roles_ensure()[SUPERVISOR].user_set.add(supervisor)
    client.force_login(supervisor)
    changelist = client.get("/admin/conversations/contact/")
    assert changelist.status_code == 200 and b"erase_personal_data" not in changelist.content

    response = client.post("/admin/conversations/contact/",
                           {"action": "erase_personal_data", "_selected_action": [contact.pk], "confirm": "yes"})

    assert response.status_code == 200  # the changelist again: no such action for this user
    assert not ContactErasure.objects.exists()
    contact.refresh_from_db()
    assert contact.wa_id == PHONE


def test_api_lets_admins_erase(api, number, admin_user):
    contact = ContactFactory(number=number, wa_id=PHONE, profile_name=NAME)
    api.force_authenticate(admin_user)

    response = api.post(f"/api/v1/contacts/{contact.pk}/erase/")

    assert response.status_code == 200
    body = response.json()
    assert body["contact"] == contact.pk and body["erased_by"] == "admin" and body["via"] == "api"
    assert body["already_erased"] is False
    again = api.post(f"/api/v1/contacts/{contact.pk}/erase/").json()
    assert again["already_erased"] is True and again["erased_at"] == body["erased_at"]
    assert api.post("/api/v1/contacts/999999/erase/").json()["code"] == "not_found"


@pytest.mark.parametrize("persona", ["agent", "outsider", "supervisor"])
def test_api_refuses_everyone_but_admins(api, number, persona, request):
    contact = ContactFactory(number=number, wa_id=PHONE, profile_name=NAME)
    ConversationFactory(contact=contact)
    api.force_authenticate(request.getfixturevalue(persona))

    response = api.post(f"/api/v1/contacts/{contact.pk}/erase/")

    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert not ContactErasure.objects.exists()
    contact.refresh_from_db()
    assert contact.wa_id == PHONE


def test_api_refuses_anonymous_requests(api, number):
    contact = ContactFactory(number=number, wa_id=PHONE)
    assert api.post(f"/api/v1/contacts/{contact.pk}/erase/").status_code == 403
    assert not ContactErasure.objects.exists()


def test_erase_call_is_in_the_openapi_schema(api, admin_user):
    api.force_authenticate(admin_user)
    schema = api.get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/contacts/{contact_id}/erase/"]["post"]
    assert operation["operationId"] == "contacts_erase"
    assert set(operation["responses"]) >= {"200", "403", "404"}


def test_every_contact_field_that_can_hold_personal_data_is_covered():
    """A reminder for the future: when the contact model gains a text or JSON field, the
    erasure must decide what happens to it."""
    from django.db import models

    handled = {"wa_id", "user_id", "parent_user_id", "profile_name", "language", "language_source", "attributes", "tags"}
    text_fields = {f.name for f in Contact._meta.concrete_fields
                   if isinstance(f, models.CharField | models.TextField | models.JSONField | models.BinaryField)}
    assert text_fields == handled
