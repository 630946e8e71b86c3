from __future__ import annotations

from urllib.parse import parse_qs

import pytest

from conversations.models import PlatformEvent
from notifications.models import Campaign, MessageTemplate
from notifications.services.template_sync import template_submit, templates_sync
from notifications.tasks import apply_platform_event
from tests.support import webhooks

PATH = f"/v23.0/{webhooks.WABA_ID}/message_templates"


def _remote(i: int, status: str = "APPROVED", **extra) -> dict:
    return {
        "id": f"70{i:04d}",
        "name": f"tpl_{i}",
        "language": "en_US",
        "status": status,
        "category": "UTILITY",
        "parameter_format": "POSITIONAL",
        "components": [{"type": "BODY", "text": "Hello {{1}}"}],
        "quality_score": {"score": "GREEN", "date": 1700000000},
        **extra,
    }


def test_sync_follows_paging_cursors_and_stores_statuses(graph, number):
    pages = {
        "": {"data": [_remote(1), _remote(2, "PENDING")], "paging": {"cursors": {"after": "CUR1"}, "next": "x"}},
        "CUR1": {"data": [_remote(3, "REJECTED", rejected_reason="INVALID_FORMAT")],
                 "paging": {"cursors": {"after": "CUR2"}, "next": "y"}},
        "CUR2": {"data": [_remote(4, "PAUSED", quality_score={"score": "RED"})],
                 "paging": {"cursors": {"before": "CUR1", "after": "CUR3"}}},
    }

    def handler(request):
        after = parse_qs(request.query).get("after", [""])[0]
        return 200, pages[after]

    graph.route("GET", PATH, handler)
    counts = templates_sync(number=number)
    assert counts == {"created": 4, "updated": 0, "deleted": 0, "fetched": 4}
    gets = [r for r in graph.requests if r.method == "GET"]
    assert len(gets) == 3
    assert all(r.headers.get("Authorization") == "Bearer test-access-token" for r in gets)
    by_name = {t.name: t for t in MessageTemplate.objects.all()}
    assert by_name["tpl_1"].status == "APPROVED" and by_name["tpl_1"].quality == "GREEN"
    assert by_name["tpl_2"].status == "PENDING"
    assert by_name["tpl_3"].status == "REJECTED" and by_name["tpl_3"].rejection_reason == "INVALID_FORMAT"
    assert by_name["tpl_4"].status == "PAUSED" and by_name["tpl_4"].quality == "RED"
    assert by_name["tpl_1"].remote_id == "700001" and by_name["tpl_1"].last_synced_at is not None


def test_resync_updates_and_marks_missing_templates_deleted(graph, number):
    graph.route("GET", PATH, lambda r: (200, {"data": [_remote(1), _remote(2)]}))
    templates_sync(number=number)
    graph.route("GET", PATH, lambda r: (200, {"data": [_remote(1, "DISABLED")]}))
    counts = templates_sync(number=number)
    assert counts["updated"] == 1 and counts["deleted"] == 1
    assert MessageTemplate.objects.get(name="tpl_1").status == "DISABLED"
    assert MessageTemplate.objects.get(name="tpl_2").status == "DELETED"


def test_sync_error_keeps_existing_templates(graph, number, order_template):
    from conversations.providers.whatsapp import GraphError

    graph.error(190, "Error validating access token", status=401)
    with pytest.raises(GraphError):
        templates_sync(number=number)
    order_template.refresh_from_db()
    assert order_template.status == "APPROVED"


def test_submit_creates_the_template_remotely_and_stores_its_id(graph, number):
    template = MessageTemplate.objects.create(
        number=number, business_account_id=webhooks.WABA_ID, name="welcome", language="en",
        category="MARKETING", components=[{"type": "BODY", "text": "Welcome {{1}}",
                                           "example": {"body_text": [["Ana"]]}}],
    )
    graph.route("POST", PATH, lambda r: (200, {"id": "5551212", "status": "PENDING", "category": "MARKETING"}))
    template_submit(template=template)
    template.refresh_from_db()
    assert template.status == "PENDING" and template.remote_id == "5551212"
    sent = [r.body for r in graph.requests if r.method == "POST" and r.path == PATH][0]
    assert sent["name"] == "welcome" and sent["category"] == "MARKETING" and sent["components"][0]["type"] == "BODY"


def test_submit_refused_keeps_the_reason(graph, number):
    template = MessageTemplate.objects.create(
        number=number, business_account_id=webhooks.WABA_ID, name="bad", language="en",
        category="UTILITY", components=[{"type": "BODY", "text": "x"}],
    )
    graph.error(100, "Invalid parameter", details="Template name already exists")
    template_submit(template=template)
    template.refresh_from_db()
    assert template.status == "DRAFT" and "100" in template.submit_error


def _event(field: str, value: dict, key: str) -> PlatformEvent:
    return PlatformEvent.objects.create(field=field, payload=value, dedupe_key=key,
                                        business_account_id=webhooks.WABA_ID)


def test_status_webhook_rejects_with_reason(order_template):
    event = _event("message_template_status_update", {
        "event": "REJECTED", "message_template_id": 9001, "message_template_name": "order_update",
        "message_template_language": "en_US", "reason": "INCORRECT_CATEGORY",
    }, "k1")
    assert apply_platform_event(event.pk) is True
    order_template.refresh_from_db()
    assert order_template.status == "REJECTED" and "INCORRECT_CATEGORY" in order_template.rejection_reason
    event.refresh_from_db()
    assert event.handled_at is not None
    assert apply_platform_event(event.pk) is False


def test_paused_template_webhook_pauses_its_running_campaigns(order_template, number):
    campaign = Campaign.objects.create(name="c", number=number, template=order_template, state="running")
    event = _event("message_template_status_update", {
        "event": "PAUSED", "message_template_id": 9001, "message_template_name": "order_update",
        "message_template_language": "en_US", "reason": "NONE",
    }, "k2")
    apply_platform_event(event.pk)
    campaign.refresh_from_db()
    assert campaign.state == "paused" and "order_update" in campaign.pause_reason


def test_quality_webhook_updates_template_quality(order_template):
    event = _event("message_template_quality_update", {
        "previous_quality_score": "GREEN", "new_quality_score": "YELLOW", "message_template_id": 9001,
        "message_template_name": "order_update", "message_template_language": "en_US",
    }, "k3")
    apply_platform_event(event.pk)
    order_template.refresh_from_db()
    assert order_template.quality == "YELLOW"


def test_status_webhook_for_unknown_template_syncs_the_account(graph, number, django_capture_on_commit_callbacks):
    graph.route("GET", PATH, lambda r: (200, {"data": [_remote(7, "APPROVED", name="fresh")]}))
    event = PlatformEvent.objects.create(
        field="message_template_status_update", number=number, business_account_id=webhooks.WABA_ID,
        payload={"event": "APPROVED", "message_template_id": 1234, "message_template_name": "fresh",
                 "message_template_language": "en_US"}, dedupe_key="k4",
    )
    with django_capture_on_commit_callbacks(execute=True):
        apply_platform_event(event.pk)
    assert MessageTemplate.objects.get(name="fresh").status == "APPROVED"
