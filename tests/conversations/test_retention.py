"""Retention: each kind of data is deleted or anonymised once older than its setting, and
only then; dedupe keeps working; the job is scheduled daily and may run twice."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.utils import timezone

from bots.models import Handoff
from conversations.management.commands.run_embedded import PeriodicScheduler
from conversations.models import (
    Contact,
    Conversation,
    ConversationEvent,
    Message,
    MessageStatusEvent,
    PlatformEvent,
    WebhookEvent,
)
from conversations.services.retention import EXPIRED, EXPIRED_EVENT, retention_apply, retention_policy
from tests.factories import ConversationFactory, MessageFactory
from tests.support import webhooks

pytestmark = pytest.mark.django_db(transaction=True)

DAY = timedelta(days=1)


def days_ago(days: float):
    return time_machine.travel(timezone.now() - days * DAY, tick=False)


def inbound(client, text: str, wa_id: str = "15557770001") -> Message:
    payload = webhooks.text_payload(text, wa_id=wa_id, name="Retention Tester")
    assert webhooks.post(client, payload).status_code == 200
    return Message.objects.get(text=text)


def test_retention_runs_daily_in_celery_beat_and_in_the_embedded_scheduler():
    name = "conversations.tasks.retention_apply"
    assert django_settings.PERIODIC_TASKS[name] == 24 * 3600
    assert django_settings.CELERY_BEAT_SCHEDULE[name] == {"task": name, "schedule": 24 * 3600}
    assert PeriodicScheduler(django_settings.PERIODIC_TASKS).schedule[name] == 24 * 3600


def test_defaults_are_documented_values():
    policy = retention_policy()
    assert (policy.webhook_body_days, policy.webhook_event_days, policy.status_days, policy.platform_event_days,
            policy.media_days, policy.message_days) == (30, 90, 90, 365, 90, 365)


def test_raw_webhook_bodies_are_emptied_after_30_days_only(client, number):
    with days_ago(31):
        old = inbound(client, "an old message body")
    with days_ago(29):
        recent = inbound(client, "a recent message body")
    with days_ago(40):
        pending = WebhookEvent.objects.create(body=b'{"entry": []}', signature="sha256=x")

    counts = retention_apply()

    old_event, recent_event = WebhookEvent.objects.exclude(pk=pending.pk).order_by("received_at")
    assert bytes(old_event.body) == b"" and old_event.signature == ""
    assert old_event.state == WebhookEvent.State.PROCESSED  # the row stays until its own retention
    assert b"a recent message body" in bytes(recent_event.body) and recent_event.signature
    pending.refresh_from_db()
    assert bytes(pending.body) == b'{"entry": []}'  # not processed yet: kept
    assert counts["webhook_bodies_cleared"] == 1
    # Anonymising bodies touches no message.
    old.refresh_from_db()
    recent.refresh_from_db()
    assert old.text == "an old message body" and recent.text == "a recent message body"
    assert retention_apply()["webhook_bodies_cleared"] == 0


def test_setting_changes_the_body_period(client, number, settings):
    settings.RETENTION_WEBHOOK_BODY_DAYS = 10
    with days_ago(11):
        inbound(client, "eleven days old")
    with days_ago(9):
        inbound(client, "nine days old")

    retention_apply()

    bodies = [bytes(e.body) for e in WebhookEvent.objects.order_by("received_at")]
    assert bodies[0] == b"" and b"nine days old" in bodies[1]


def test_processed_webhook_events_are_deleted_after_90_days_and_dedupe_still_holds(client, number):
    with days_ago(91):
        old = inbound(client, "ninety-one days old")
        platform = PlatformEvent.objects.create(
            webhook=WebhookEvent.objects.get(), field="account_update", payload={}, dedupe_key="k1"
        )
        pending = WebhookEvent.objects.create(body=b"{}", signature="s")
    with days_ago(89):
        inbound(client, "eighty-nine days old")
        young = WebhookEvent.objects.latest("received_at")

    counts = retention_apply()

    assert counts["webhook_events_deleted"] == 1
    assert set(WebhookEvent.objects.values_list("pk", flat=True)) == {pending.pk, young.pk}
    platform.refresh_from_db()
    assert platform.webhook_id is None  # platform events are kept on their own schedule
    # Message ids are kept: a redelivery of the old webhook changes nothing.
    redelivered = webhooks.text_payload("ninety-one days old", wa_id="15557770001", msg_id=old.provider_message_id)
    assert webhooks.post(client, redelivered).status_code == 200
    assert Message.objects.filter(provider_message_id=old.provider_message_id).count() == 1
    assert Message.objects.filter(direction="in").count() == 2


def test_statuses_are_deleted_after_90_days_and_the_message_keeps_its_status(client, number):
    conversation = ConversationFactory(contact__number=number)
    message = MessageFactory(conversation=conversation, direction="out", sender_kind="agent", status="sent",
                             provider_message_id="wamid.RET1")
    with days_ago(91):
        assert webhooks.post(client, webhooks.status_payload("wamid.RET1", "delivered")).status_code == 200
    with days_ago(89):
        assert webhooks.post(client, webhooks.status_payload("wamid.RET1", "read")).status_code == 200

    counts = retention_apply()

    assert counts["statuses_deleted"] == 1
    assert list(MessageStatusEvent.objects.values_list("status", flat=True)) == ["read"]
    message.refresh_from_db()
    assert message.status == "read" and message.delivered_at is not None and message.read_at is not None


def test_platform_events_are_deleted_after_365_days(number):
    with days_ago(366):
        PlatformEvent.objects.create(field="account_update", payload={"event": "old"}, dedupe_key="old")
    with days_ago(364):
        PlatformEvent.objects.create(field="account_update", payload={"event": "new"}, dedupe_key="new")

    assert retention_apply()["platform_events_deleted"] == 1
    assert list(PlatformEvent.objects.values_list("dedupe_key", flat=True)) == ["new"]


def test_media_references_and_files_go_after_90_days(number, settings, tmp_path):
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}}}
    conversation = ConversationFactory(contact__number=number)
    old_path = default_storage.save("media/old.jpg", ContentFile(b"old"))
    new_path = default_storage.save("media/new.jpg", ContentFile(b"new"))
    with days_ago(91):
        old = MessageFactory(conversation=conversation, type="image", text="[image] receipt",
                             payload={"type": "image", "image": {"id": "m-old", "caption": "receipt",
                                                                 "storage_path": old_path}})
    with days_ago(89):
        new = MessageFactory(conversation=conversation, type="image", text="[image] box",
                             payload={"type": "image", "image": {"id": "m-new", "storage_path": new_path}})

    counts = retention_apply()

    assert counts["media_removed"] == 1
    old.refresh_from_db()
    new.refresh_from_db()
    assert old.payload == {"type": "image", "image": {"removed": True}, "media_removed": True}
    assert old.text == "[image] receipt"  # the message itself is kept for its own period
    assert not default_storage.exists(old_path)
    assert new.payload["image"]["id"] == "m-new" and default_storage.exists(new_path)
    assert retention_apply()["media_removed"] == 0


def test_messages_are_anonymised_after_365_days_keeping_rows_and_ids(client, number):
    with days_ago(366):
        old = inbound(client, "a year and a day ago")
    with days_ago(364):
        young = inbound(client, "not quite a year ago")
    total = Message.objects.count()

    counts = retention_apply()

    old.refresh_from_db()
    young.refresh_from_db()
    assert (old.text, old.payload) == (EXPIRED, {"expired": True})
    assert old.provider_message_id.startswith("wamid.") and old.status == "received"
    assert young.text == "not quite a year ago" and young.payload["text"]["body"] == "not quite a year ago"
    assert Message.objects.count() == total
    assert counts["messages_expired"] >= 1
    assert retention_apply()["messages_expired"] == 0


def test_resolved_conversations_lose_their_context_after_365_days(number, team):
    contact_old = Contact.objects.create(number=number, wa_id="15557770002", profile_name="Old")
    contact_open = Contact.objects.create(number=number, wa_id="15557770003", profile_name="Open")
    with days_ago(400):
        old = ConversationFactory(contact=contact_old, status="resolved", last_message_preview="old preview",
                                  last_activity_at=timezone.now(), resolved_at=timezone.now())
        Handoff.objects.create(conversation=old, reason_code="keyword", detail="said agent",
                               transcript=["Customer: my address is Elm St 4"], collected_values={"x": "y"})
        ConversationEvent.objects.create(conversation=old, kind="resolved", reason="refund for Elm St 4")
        recent = ConversationFactory(contact=contact_open, status="assigned", last_message_preview="still open",
                                     last_activity_at=timezone.now())

    counts = retention_apply()

    old.refresh_from_db()
    recent.refresh_from_db()
    assert counts["conversations_expired"] == 1
    assert old.last_message_preview == EXPIRED and recent.last_message_preview == "still open"
    handoff = Handoff.objects.get()
    assert (handoff.detail, handoff.transcript, handoff.collected_values) == (EXPIRED, [f"Customer: {EXPIRED}"], {})
    assert ConversationEvent.objects.get(kind="resolved").reason == EXPIRED
    assert ConversationEvent.objects.filter(conversation=old, kind=EXPIRED_EVENT).count() == 1
    assert retention_apply()["conversations_expired"] == 0
    assert ConversationEvent.objects.filter(kind=EXPIRED_EVENT).count() == 1
    assert Conversation.objects.count() == 2


def test_zero_keeps_data_for_ever(client, number, settings):
    for name in ("RETENTION_WEBHOOK_BODY_DAYS", "RETENTION_WEBHOOK_EVENT_DAYS", "RETENTION_STATUS_DAYS",
                 "RETENTION_PLATFORM_EVENT_DAYS", "RETENTION_MEDIA_DAYS", "RETENTION_MESSAGE_DAYS"):
        setattr(settings, name, 0)
    with days_ago(2000):
        message = inbound(client, "kept for ever")

    counts = retention_apply()

    assert not any(v for k, v in counts.items() if not k.startswith("erasure_"))
    message.refresh_from_db()
    assert message.text == "kept for ever"
    assert b"kept for ever" in bytes(WebhookEvent.objects.get().body)


@pytest.mark.parametrize(
    ("name", "value"),
    [("RETENTION_WEBHOOK_BODY_DAYS", 7), ("RETENTION_WEBHOOK_EVENT_DAYS", 3), ("RETENTION_STATUS_DAYS", 1),
     ("RETENTION_PLATFORM_EVENT_DAYS", 5), ("RETENTION_MESSAGE_DAYS", -1)],
)
def test_periods_that_would_break_dedupe_are_refused(settings, name, value):
    setattr(settings, name, value)
    with pytest.raises(ImproperlyConfigured, match=name):
        retention_apply()


def test_eight_days_is_the_shortest_body_period(client, number, settings):
    settings.RETENTION_WEBHOOK_BODY_DAYS = 8
    with days_ago(9):
        inbound(client, "nine days")
    retention_apply()
    assert bytes(WebhookEvent.objects.get().body) == b""


def test_command_reports_the_policy_and_what_it_did(client, number):
    with days_ago(31):
        inbound(client, "old enough")

    out = StringIO()
    call_command("apply_retention", stdout=out)

    text = out.getvalue()
    assert text.startswith("Retention: webhook body 30 days, webhook event 90 days")
    assert "webhook bodies cleared: 1" in text
    assert json.loads(bytes(WebhookEvent.objects.get().body) or b"null") is None


def test_downloaded_media_files_and_thumbnails_go_after_90_days(number, settings, tmp_path):
    from conversations.models import MessageMedia

    settings.MEDIA_ROOT = str(tmp_path)
    conversation = ConversationFactory(contact__number=number)
    rows = {}
    for label, age in (("old", 91), ("new", 89)):
        with days_ago(age):
            message = MessageFactory(conversation=conversation, type="image", text="[image]",
                                     payload={"type": "image", "image": {"id": f"m-{label}"}})
        media = MessageMedia(message=message, kind="image", mime_type="image/jpeg", state=MessageMedia.State.STORED,
                             file_name=f"{label}.jpg", sha256="a" * 64)
        media.file.save(f"{label}.jpg", ContentFile(b"jpeg"), save=False)
        media.thumbnail.save("thumb.jpg", ContentFile(b"thumb"), save=False)
        media.save()
        rows[label] = (media, [media.file.name, media.thumbnail.name])

    retention_apply()

    old, old_paths = rows["old"]
    new, new_paths = rows["new"]
    old.refresh_from_db()
    new.refresh_from_db()
    assert (old.state, old.file.name, old.file_name) == (MessageMedia.State.REMOVED, "", "")
    assert not any(default_storage.exists(p) for p in old_paths)
    assert new.state == MessageMedia.State.STORED
    assert all(default_storage.exists(p) for p in new_paths)
