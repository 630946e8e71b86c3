"""Outgoing webhooks against a real local receiver: the outbox is written with the change,
deliveries are signed, retried on a schedule, logged, and an endpoint failing for a day is
disabled with an alert."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from agents.services.routing import conversation_enqueue
from config import task_names, tasking
from config.refusals import Refused
from conversations.services import webhook_outbox
from conversations.services.conversations import conversation_assign, conversation_resolve, conversation_start
from conversations.services.message_receive import message_receive
from notifications.models import Alert, OutboxEvent, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from notifications.services.alerts import alert_raise
from notifications.services.consent import consent_opt_out
from notifications.services.webhook_delivery import (
    event_body,
    retry_delay,
    webhook_deliveries_due,
    webhook_deliveries_send,
    webhook_delivery_resend,
    webhook_endpoint_enable,
    webhook_signature_verify,
)
from notifications.tasks import webhook_deliveries_sweep
from tests.factories import ContactFactory
from tests.support import webhooks
from tests.support.receiver_server import Answer

pytestmark = pytest.mark.django_db(transaction=True)

State = WebhookDelivery.State


def start_conversation(number):
    contact = ContactFactory(number=number)
    with transaction.atomic():
        return conversation_start(contact=contact)


def test_a_change_posts_its_event_signed_over_the_raw_body(number, endpoint, receiver):
    conversation = start_conversation(number)

    assert len(receiver.requests) == 1
    posted = receiver.requests[0]
    assert posted.method == "POST" and posted.path == "/hooks"
    assert posted.headers["Content-Type"] == "application/json"
    assert webhook_signature_verify(secret=endpoint.secret, header=posted.headers["Handoff-Signature"],
                                    body=posted.raw)
    assert not webhook_signature_verify(secret="whsec_other", header=posted.headers["Handoff-Signature"],
                                        body=posted.raw)
    assert not webhook_signature_verify(secret=endpoint.secret, header=posted.headers["Handoff-Signature"],
                                        body=posted.raw + b" ")
    body = posted.json()
    assert body["type"] == "conversation.created" == posted.headers["Handoff-Event-Type"]
    assert body["id"] == posted.headers["Handoff-Event-Id"]
    assert body["data"]["conversation"]["id"] == conversation.pk
    assert body["data"]["conversation"]["status"] == "bot"
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == State.DELIVERED and delivery.attempts == 1
    attempt = WebhookAttempt.objects.get()
    assert attempt.succeeded and attempt.status_code == 200 and '"ok": true' in attempt.response_excerpt


def test_an_old_signature_is_refused_by_the_replay_check(number, endpoint, receiver):
    start_conversation(number)
    posted = receiver.requests[0]
    header = posted.headers["Handoff-Signature"]
    assert webhook_signature_verify(secret=endpoint.secret, header=header, body=posted.raw, now=time.time() + 60)
    assert not webhook_signature_verify(secret=endpoint.secret, header=header, body=posted.raw,
                                        now=time.time() + 3600)


def test_a_rolled_back_change_writes_no_event_and_sends_nothing(number, endpoint, receiver):
    contact = ContactFactory(number=number)
    with pytest.raises(RuntimeError), transaction.atomic():
        conversation_start(contact=contact)
        assert OutboxEvent.objects.count() == 1  # written in the change's transaction
        raise RuntimeError("the change fails after the event was written")

    assert OutboxEvent.objects.count() == 0
    assert WebhookDelivery.objects.count() == 0
    assert receiver.requests == []


def test_only_enabled_endpoints_that_want_the_event_receive_it(number, endpoint, receiver):
    endpoint.events = ["conversation.resolved"]
    endpoint.save()
    WebhookEndpoint.objects.create(url=f"{receiver.url}/off", events=["conversation.created"], enabled=False)

    start_conversation(number)

    assert OutboxEvent.objects.count() == 0
    assert receiver.requests == []


def test_each_lifecycle_change_reaches_the_endpoint(number, endpoint, receiver, agent, team):
    message_receive(number=number, profile={"wa_id": "15550001111", "profile": {"name": "Ana"}},
                    message=webhooks.text_message("hello", wa_id="15550001111"))
    conversation = receiver.requests[0].json()["data"]["conversation"]
    conversation_enqueue(conversation=number.conversations.get(pk=conversation["id"]), team=team, reason="asked")
    with transaction.atomic():
        locked = number.conversations.select_for_update().get(pk=conversation["id"])
        conversation_assign(conversation=locked, user=agent)
    with transaction.atomic():
        locked = number.conversations.select_for_update().get(pk=conversation["id"])
        conversation_resolve(conversation=locked, note="done")
    consent_opt_out(contact=locked.contact, category="marketing", source="api")
    alert_raise(kind=Alert.Kind.NUMBER_RED, incident="number:test:red", title="Number turned red")

    types = [r.json()["type"] for r in receiver.requests]
    for expected in ("conversation.created", "message.created", "conversation.handoff", "conversation.assigned",
                     "conversation.resolved", "consent.changed", "alert.created"):
        assert expected in types, types
    handoff = next(r.json() for r in receiver.requests if r.json()["type"] == "conversation.handoff")
    assert handoff["data"]["reason"] == "asked" and handoff["data"]["conversation"]["status"] == "queued"
    assigned = next(r.json() for r in receiver.requests if r.json()["type"] == "conversation.assigned")
    assert assigned["data"]["conversation"]["assignee"]["id"] == agent.pk
    message = next(r.json() for r in receiver.requests if r.json()["type"] == "message.created")
    assert message["data"]["message"]["text"] == "hello" and message["data"]["message"]["direction"] == "in"
    consent = next(r.json() for r in receiver.requests if r.json()["type"] == "consent.changed")
    assert consent["data"]["consent"]["opted_in"] is False and consent["data"]["contact"]["wa_id"] == "15550001111"


def test_failures_are_retried_with_exponential_backoff_until_success(number, endpoint, receiver):
    for _ in range(3):
        receiver.script(500, {"error": "down"})
    start_conversation(number)
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == State.PENDING and delivery.attempts == 1

    waits = []
    for _ in range(3):
        before = delivery.next_attempt_at
        last = WebhookAttempt.objects.filter(delivery=delivery).first()
        waits.append(round((before - last.attempted_at).total_seconds()))
        with time_machine.travel(before + timedelta(seconds=1), tick=False):
            assert webhook_deliveries_sweep() == 1
        delivery.refresh_from_db()

    assert waits == [30, 60, 120]
    assert delivery.state == State.DELIVERED and delivery.attempts == 4
    assert len(receiver.requests) == 4
    assert len({r.raw for r in receiver.requests}) == 1  # the same body every time
    log = list(WebhookAttempt.objects.filter(delivery=delivery).order_by("attempted_at"))
    assert [a.status_code for a in log] == [500, 500, 500, 200]
    assert '"down"' in log[0].response_excerpt and log[0].error == "answered 500"


def test_a_retry_is_not_sent_before_it_is_due(number, endpoint, receiver):
    receiver.script(503)
    start_conversation(number)
    assert webhook_deliveries_sweep() == 0
    assert len(receiver.requests) == 1


def test_retries_give_up_after_three_days(number, endpoint, receiver, settings):
    settings.WEBHOOK_DISABLE_AFTER_SECONDS = 10 * 24 * 3600
    receiver.route("/hooks", lambda r: Answer(500))
    start_conversation(number)
    delivery = WebhookDelivery.objects.get()
    created = delivery.event.created_at
    while delivery.state == State.PENDING:
        with time_machine.travel(delivery.next_attempt_at + timedelta(seconds=1), tick=False):
            webhook_deliveries_sweep()
        delivery.refresh_from_db()

    assert delivery.state == State.FAILED
    last = WebhookAttempt.objects.filter(delivery=delivery).first()
    assert last.attempted_at - created < timedelta(days=3)
    assert last.attempted_at + retry_delay(delivery.attempts) - created > timedelta(days=3)
    assert delivery.attempts == len(receiver.requests) > 10


def test_a_hanging_endpoint_times_out_and_is_retried(number, endpoint, receiver, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    receiver.script(200, delay=3)
    started = time.monotonic()
    start_conversation(number)

    assert time.monotonic() - started < 2.5
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == State.PENDING
    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code is None and attempt.error.startswith("timeout")


def test_a_redirect_to_a_private_address_is_not_followed(number, endpoint, receiver):
    receiver.script(302, {}, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
    start_conversation(number)

    assert len(receiver.requests) == 1
    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code == 302 and "redirects are not followed" in attempt.error
    assert WebhookDelivery.objects.get().state == State.PENDING


def test_a_private_address_is_refused_without_the_setting(number, endpoint, receiver, settings):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False
    start_conversation(number)

    assert receiver.requests == []
    attempt = WebhookAttempt.objects.get()
    assert attempt.error.startswith("refused:") and "private or local address" in attempt.error


def test_plain_http_is_refused_in_production(number, endpoint, receiver, settings):
    settings.OUTBOUND_REQUIRE_HTTPS = True
    start_conversation(number)

    assert receiver.requests == []
    assert "Only https" in WebhookAttempt.objects.get().error


def test_an_endpoint_failing_for_a_day_is_disabled_with_an_alert(number, endpoint, receiver):
    receiver.route("/hooks", lambda r: Answer(500))
    start_conversation(number)
    endpoint.refresh_from_db()
    first_failure = endpoint.failing_since
    assert first_failure is not None and endpoint.enabled

    delivery = WebhookDelivery.objects.get()
    while delivery.next_attempt_at - first_failure < timedelta(days=1):
        with time_machine.travel(delivery.next_attempt_at + timedelta(seconds=1), tick=False):
            webhook_deliveries_sweep()
        delivery.refresh_from_db()
    endpoint.refresh_from_db()
    assert endpoint.enabled  # not yet a day
    with time_machine.travel(delivery.next_attempt_at + timedelta(seconds=1), tick=False):
        webhook_deliveries_sweep()

    endpoint.refresh_from_db()
    assert not endpoint.enabled and "No successful delivery" in endpoint.disabled_reason
    alert = Alert.objects.get(kind=Alert.Kind.WEBHOOK_DISABLED)
    assert alert.is_open and endpoint.url in alert.title
    sent = len(receiver.requests)
    with time_machine.travel(timezone.now() + timedelta(days=2), tick=False):
        assert webhook_deliveries_sweep() == 0
    assert len(receiver.requests) == sent

    receiver.routes.clear()
    webhook_endpoint_enable(endpoint=endpoint)
    alert.refresh_from_db()
    assert not alert.is_open
    delivery.refresh_from_db()
    assert delivery.state == State.DELIVERED


def test_resend_posts_the_same_event_again(number, endpoint, receiver):
    start_conversation(number)
    delivery = WebhookDelivery.objects.get()
    webhook_delivery_resend(delivery=delivery)

    assert len(receiver.requests) == 2
    assert receiver.requests[0].json()["id"] == receiver.requests[1].json()["id"]
    assert json.loads(event_body(delivery.event)) == receiver.requests[1].json()
    assert WebhookAttempt.objects.filter(delivery=delivery).count() == 2


def test_resend_is_refused_while_the_endpoint_is_disabled(number, endpoint, receiver):
    start_conversation(number)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(enabled=False)
    with pytest.raises(Refused):
        webhook_delivery_resend(delivery=WebhookDelivery.objects.get())
    assert len(receiver.requests) == 1


def test_admin_shows_the_delivery_log_and_resends(client, admin_user, number, endpoint, receiver):
    receiver.script(500, {"error": "boom"})
    start_conversation(number)
    delivery = WebhookDelivery.objects.get()
    client.force_login(admin_user)

    page = client.get(f"/admin/notifications/webhookdelivery/{delivery.pk}/change/")
    assert page.status_code == 200
    assert b"answered 500" in page.content and b"boom" in page.content
    assert client.get("/admin/notifications/webhookendpoint/").status_code == 200

    client.post("/admin/notifications/webhookdelivery/", {"action": "resend", "_selected_action": [delivery.pk]})
    delivery.refresh_from_db()
    assert delivery.state == State.DELIVERED and len(receiver.requests) == 2


def test_an_agent_cannot_see_the_webhook_admin(client, agent, endpoint):
    agent.is_staff = True
    agent.save()
    client.force_login(agent)
    assert client.get("/admin/notifications/webhookendpoint/").status_code in (302, 403)


@pytest.fixture
def deliveries_held(monkeypatch):
    """Delivery tasks are not dispatched: the test sends the batch itself."""
    dispatch = tasking.dispatch

    def held(name, kwargs=None, countdown=0, coalesce="", unique=False):
        if name != task_names.WEBHOOK_DELIVER:
            dispatch(name, kwargs, countdown, coalesce, unique)

    monkeypatch.setattr(tasking, "dispatch", held)
    monkeypatch.setattr(webhook_outbox, "dispatch", held)


def test_a_batch_tries_a_hanging_endpoint_once_and_still_delivers_to_the_others(
        number, endpoint, receiver, settings, deliveries_held):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    hanging = WebhookEndpoint.objects.create(url=f"{receiver.url}/slow", events=["alert.created"])
    receiver.route("/slow", lambda r: Answer(200, delay=3))
    for i in range(3):
        alert_raise(kind=Alert.Kind.NUMBER_RED, incident=f"number:batch:{i}", title=f"Alert {i}")
    ids = list(WebhookDelivery.objects.filter(event__type="alert.created").values_list("pk", flat=True))
    assert len(ids) == 6

    started = time.monotonic()
    states = webhook_deliveries_send(delivery_ids=ids)

    assert time.monotonic() - started < 2.5  # one timeout, not three
    fine = WebhookDelivery.objects.filter(endpoint=endpoint)
    assert {d.state for d in fine} == {State.DELIVERED} and all(states[d.pk] == "delivered" for d in fine)
    slow = list(WebhookDelivery.objects.filter(endpoint=hanging).order_by("pk"))
    assert slow[0].attempts == 1 and slow[0].last_error.startswith("timeout")
    assert all(d.state == State.PENDING and d.attempts == 0 and d.next_attempt_at > timezone.now() for d in slow[1:])
    assert WebhookAttempt.objects.filter(delivery__endpoint=hanging).count() == 1
    assert WebhookAttempt.objects.filter(delivery__endpoint=endpoint, succeeded=True).count() == 3


def test_a_delivery_claimed_by_one_run_is_not_sent_by_another(number, endpoint, receiver, deliveries_held):
    start_conversation(number)
    delivery = WebhookDelivery.objects.get()
    first = webhook_deliveries_send(delivery_ids=[delivery.pk])
    second = webhook_deliveries_send(delivery_ids=[delivery.pk])

    assert first == {delivery.pk: "delivered"} and second == {}
    assert len(receiver.requests) == 1


def test_a_delivery_left_sending_by_a_dead_worker_is_sent_again_by_the_sweep(number, endpoint, receiver,
                                                                          deliveries_held):
    start_conversation(number)
    delivery = WebhookDelivery.objects.get()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(state=State.SENDING, claimed_at=timezone.now())
    assert webhook_deliveries_sweep() == 0  # a live claim is left alone

    with time_machine.travel(timezone.now() + timedelta(hours=1), tick=False):
        due = webhook_deliveries_due()
        assert due == [delivery.pk]
        assert webhook_deliveries_send(delivery_ids=due) == {delivery.pk: "delivered"}
    assert len(receiver.requests) == 1


def test_the_events_of_one_transaction_go_out_in_one_delivery_task(number, endpoint, receiver, monkeypatch):
    sent = []
    monkeypatch.setattr(webhook_outbox, "dispatch", lambda name, kwargs, **_: sent.append((name, kwargs)))
    message_receive(number=number, profile={"wa_id": "15550004444", "profile": {"name": "Di"}},
                    message=webhooks.text_message("hello", wa_id="15550004444"))

    first = sent[0]
    events = WebhookDelivery.objects.filter(pk__in=first[1]["delivery_ids"]).values_list("event__type", flat=True)
    assert first[0] == task_names.WEBHOOK_DELIVER
    assert sorted(events) == ["conversation.created", "message.created"]
