"""`GET /api/v1/conversations/<id>/handoff/`: the handoff context and the escalation
ledger, for those who may see the conversation."""

from __future__ import annotations

import pytest

from agents.models import AgentProfile
from conversations.services.message_send import message_send_text
from tests.bots.conftest import Customer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def handed_off(client, graph, number, demo_bot, agent):
    customer = Customer(client, graph)
    customer.says("hi")
    customer.taps("order-status", "Order status")
    customer.says("A1003")
    customer.says("quiero hablar con un humano")
    return customer.conversation


def url(conversation) -> str:
    return f"/api/v1/conversations/{conversation.pk}/handoff/"


def test_handoff_context_and_ledger_are_in_the_api(api, agent, handed_off, team):
    api.force_authenticate(agent)

    response = api.get(url(handed_off))

    assert response.status_code == 200
    data = response.json()
    assert data["status"] == "queued"
    handoff = data["handoff"]
    assert handoff["reason"] == "keyword"
    assert handoff["detail"] == "keyword: humano"
    assert handoff["policy"] == "Default escalation policy"
    assert handoff["collected_values"]["order_number"] == "A1003"
    assert handoff["suggested_team"] == {"id": team.pk, "name": team.name, "slug": team.slug}
    assert handoff["transcript"][-1] == "Customer: quiero hablar con un humano"
    assert handoff["fallback_sent"] is True
    assert len(data["history"]) == 1
    ledger = data["ledger"]
    assert ledger["human_offered_at"] and ledger["human_requested_at"] and ledger["handed_off_at"]
    assert ledger["first_human_reply_at"] is None
    assert data["bot"]["name"] == "Demo assistant"


def test_the_first_reply_of_a_person_appears_in_the_ledger(api, agent, handed_off):
    reply = message_send_text(conversation=handed_off, text="Hi, I'm Alex. Let me check.", sender_user=agent)
    api.force_authenticate(agent)

    ledger = api.get(url(handed_off)).json()["ledger"]

    assert ledger["first_human_reply_at"] == reply.created_at.isoformat()


def test_conversation_detail_carries_the_handoff_context(api, agent, handed_off):
    api.force_authenticate(agent)

    detail = api.get(f"/api/v1/conversations/{handed_off.pk}/").json()

    assert detail["handoff"]["reason"] == "keyword"


def test_supervisor_of_the_team_sees_the_handoff(api, supervisor, handed_off):
    api.force_authenticate(supervisor)

    assert api.get(url(handed_off)).status_code == 200


def test_agent_of_another_team_gets_not_found(api, outsider, handed_off):
    api.force_authenticate(outsider)

    response = api.get(url(handed_off))

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_anonymous_gets_refused(api, handed_off):
    response = api.get(url(handed_off))

    assert response.status_code in (401, 403)
    assert response.json()["code"] == "not_authenticated"


def test_handoff_reason_label_follows_the_agents_desk_language(api, agent, handed_off):
    api.force_login(agent)  # the desk's session, as the desk's scripts call the API
    assert api.get(url(handed_off)).json()["handoff"]["reason_label"] == "The customer asked for a person in words"

    AgentProfile.objects.update_or_create(user=agent, defaults={"ui_language": "pt"})
    handoff = api.get(url(handed_off)).json()["handoff"]

    assert handoff["reason_label"] == "O cliente pediu uma pessoa com suas palavras"
    assert handoff["transcript"][-1] == "Customer: quiero hablar con un humano"  # data stays as it was
