from __future__ import annotations

from django.contrib.auth.models import Permission

from conversations.models import Message
from notifications.models import Campaign, ConsentRecord, IdempotencyKey
from notifications.services.consent import consent_is_current, consent_opt_in
from tests.factories import ConversationFactory
from tests.notifications.test_campaigns import make_contacts

PROMO = {"name": "promo", "language": "en", "parameters": {"first_name": "Ana", "discount": "20%"}}


def test_opt_out_and_in_through_the_api_record_source_and_actor(api, agent, team, contact):
    # The agent sees the contact through a conversation of their team, and was granted opt-ins.
    ConversationFactory(contact=contact, team=team)
    agent.user_permissions.add(Permission.objects.get(codename="record_opt_in"))
    api.force_authenticate(agent)
    response = api.post(f"/api/v1/contacts/{contact.pk}/opt-in/", {"category": "marketing", "proof": "signed form 7"},
                        format="json")
    assert response.status_code == 200 and response.json()["consent"]["marketing"]["opted_in"] is True
    response = api.post(f"/api/v1/contacts/{contact.pk}/opt-out/", {}, format="json")
    assert response.status_code == 200
    body = response.json()["consent"]
    assert body["marketing"]["opted_in"] is False and body["utility"]["opted_in"] is False
    latest = ConsentRecord.objects.filter(contact=contact, category="marketing").first()
    assert latest.source == "api" and latest.actor == agent
    assert api.get(f"/api/v1/contacts/{contact.pk}/consent/").json()["consent"]["marketing"]["source"] == "api"


def test_consent_api_needs_authentication(api, contact):
    assert api.post(f"/api/v1/contacts/{contact.pk}/opt-in/", {}, format="json").status_code in (401, 403)
    assert not ConsentRecord.objects.exists()


def test_template_message_through_the_conversation_api(api, graph, agent, conversation, contact, promo_template,
                                                       django_capture_on_commit_callbacks):
    conversation.assignee, conversation.status = agent, "assigned"
    conversation.save()
    api.force_authenticate(agent)
    url = f"/api/v1/conversations/{conversation.pk}/messages/"
    refused = api.post(url, {"template": PROMO}, format="json")
    assert refused.status_code == 409 and refused.json()["code"] == "not_opted_in"
    consent_opt_in(contact=contact, category="marketing", source="web_form")
    bad = api.post(url, {"template": {**PROMO, "parameters": {"first_name": "Ana"}}}, format="json")
    assert bad.status_code == 400 and bad.json()["code"] == "template_invalid" and "discount" in bad.json()["detail"]
    with django_capture_on_commit_callbacks(execute=True):
        ok = api.post(url, {"template": PROMO}, format="json")
    assert ok.status_code == 201
    assert [m["template"]["name"] for m in graph.sent_messages()] == ["promo"]


def test_templates_list_and_admin_only_create(api, graph, agent, admin_user, order_template):
    api.force_authenticate(agent)
    assert [t["name"] for t in api.get("/api/v1/templates/").json()] == ["order_update"]
    body = {"name": "welcome", "language": "en", "category": "MARKETING",
            "components": [{"type": "BODY", "text": "Welcome {{1}}", "example": {"body_text": [["Ana"]]}}]}
    assert api.post("/api/v1/templates/", body, format="json").status_code == 403
    api.force_authenticate(admin_user)
    graph.route("POST", "/v23.0/2000000002/message_templates", lambda r: (200, {"id": "77", "status": "PENDING"}))
    created = api.post("/api/v1/templates/", body, format="json")
    assert created.status_code == 201 and created.json()["status"] == "PENDING" and created.json()["remote_id"] == "77"


def test_notification_api_idempotency_key_sends_once(api, graph, admin_user, contact, promo_template,
                                                     django_capture_on_commit_callbacks):
    consent_opt_in(contact=contact, category="marketing", source="web_form")
    api.force_authenticate(admin_user)
    body = {"contact": contact.pk, "template": PROMO}
    with django_capture_on_commit_callbacks(execute=True):
        first = api.post("/api/v1/notifications/", body, format="json", HTTP_IDEMPOTENCY_KEY="order-42")
    with django_capture_on_commit_callbacks(execute=True):
        again = api.post("/api/v1/notifications/", body, format="json", HTTP_IDEMPOTENCY_KEY="order-42")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() and again["Idempotent-Replayed"] == "true"
    assert len(graph.sent_messages()) == 1
    assert Message.objects.filter(direction="out").count() == 1
    assert IdempotencyKey.objects.count() == 1
    other = api.post("/api/v1/notifications/", {**body, "template": {**PROMO, "parameters": {"first_name": "Bo",
                                                                                             "discount": "5%"}}},
                     format="json", HTTP_IDEMPOTENCY_KEY="order-42")
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"


def test_notification_api_refusal_is_remembered_under_its_key(api, graph, admin_user, contact, promo_template):
    api.force_authenticate(admin_user)
    body = {"to": f"+{contact.wa_id}", "template": PROMO}
    first = api.post("/api/v1/notifications/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 409 and first.json()["code"] == "not_opted_in"
    consent_opt_in(contact=contact, category="marketing", source="web_form")
    again = api.post("/api/v1/notifications/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert again.status_code == 409 and again.json() == first.json()
    assert graph.sent_messages() == [] and not contact.conversations.exists()
    assert api.post("/api/v1/notifications/", body, format="json").status_code == 400  # no key


def test_notification_api_is_admin_only(api, agent, contact, promo_template):
    api.force_authenticate(agent)
    response = api.post("/api/v1/notifications/", {"contact": contact.pk, "template": PROMO}, format="json",
                        HTTP_IDEMPOTENCY_KEY="x")
    assert response.status_code == 403 and not IdempotencyKey.objects.exists()


def test_campaign_api_create_start_stats_pause(api, graph, admin_user, agent, number, promo_template,
                                               django_capture_on_commit_callbacks):
    contacts = make_contacts(number, 3, prefix="1555500")
    api.force_authenticate(agent)
    assert api.get("/api/v1/campaigns/").status_code == 403
    api.force_authenticate(admin_user)
    bad = api.post("/api/v1/campaigns/", {"name": "x", "template": promo_template.pk,
                                          "parameter_mapping": {"first_name": "contact.password"}}, format="json")
    assert bad.status_code == 400
    created = api.post("/api/v1/campaigns/", {
        "name": "Spring", "template": promo_template.pk, "audience": "filter", "audience_filter": {"tags": ["vip"]},
        "parameter_mapping": {"first_name": "contact.first_name", "discount": "=15%"}}, format="json")
    assert created.status_code == 201 and created.json()["state"] == "draft"
    campaign_id = created.json()["id"]
    with django_capture_on_commit_callbacks(execute=True):
        started = api.post(f"/api/v1/campaigns/{campaign_id}/start/", format="json")
    assert started.status_code == 200
    stats = api.get(f"/api/v1/campaigns/{campaign_id}/stats/").json()
    assert stats["state"] == "completed" and stats["total"] == 3 and stats["delivery"]["sent"] == 3
    assert sorted(m["to"] for m in graph.sent_messages()) == sorted(c.wa_id for c in contacts)
    rows = api.get(f"/api/v1/campaigns/{campaign_id}/recipients/").json()["results"]
    assert {r["delivery"] for r in rows} == {"sent"} and all(r["replied"] is False for r in rows)
    refused = api.post(f"/api/v1/campaigns/{campaign_id}/pause/", {"reason": "late"}, format="json")
    assert refused.status_code == 409 and refused.json()["code"] == "invalid_state"
    assert Campaign.objects.get(pk=campaign_id).created_by == admin_user
    assert consent_is_current(contact=contacts[0], category="marketing")
