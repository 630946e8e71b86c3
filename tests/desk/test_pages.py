"""Desk pages and the desk's reads: sign-in required, access checked, customer text
escaped by the templates, and the inbox, side panel and monitor figures."""

from __future__ import annotations

import pytest
from django.utils import timezone

from agents.models import AgentProfile
from conversations.models import Participant
from tests.factories import ConversationFactory, MessageFactory


@pytest.fixture
def conversation(team, number, agent):
    conv = ConversationFactory(
        team=team, contact__number=number, contact__profile_name="<script>alert(1)</script>", status="assigned",
        assignee=agent, queued_at=timezone.now(), last_message_preview="hello",
    )
    Participant.objects.create(conversation=conv, user=agent, role="owner")
    return conv


def test_desk_pages_need_sign_in(client):
    for url in ("/desk/", "/desk/monitor/", "/desk/c/1/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_sign_in_page_renders(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert b'name="username"' in response.content


def test_agent_opens_their_desk_and_their_conversation(client, agent, conversation):
    client.force_login(agent)
    assert client.get("/desk/").status_code == 200
    response = client.get(f"/desk/c/{conversation.pk}/")
    assert response.status_code == 200
    assert b"<script>alert(1)</script>" not in response.content


def test_outsider_gets_404_for_another_teams_conversation(client, outsider, conversation):
    client.force_login(outsider)
    assert client.get(f"/desk/c/{conversation.pk}/").status_code == 404
    assert client.get(f"/api/v1/desk/conversations/{conversation.pk}/context/").status_code == 404


def test_monitor_is_for_supervisors_only(client, agent, supervisor):
    client.force_login(agent)
    assert client.get("/desk/monitor/").status_code == 403
    assert client.get("/api/v1/desk/monitor/").status_code == 403
    client.force_login(supervisor)
    assert client.get("/desk/monitor/").status_code == 200


def test_inbox_rows_carry_unread_counts_and_only_visible_conversations(api, agent, outsider, conversation, number, other_team):
    MessageFactory(conversation=conversation)
    MessageFactory(conversation=conversation, read_at=timezone.now())
    ConversationFactory(team=other_team, contact__number=number, status="queued")
    api.force_authenticate(agent)
    rows = api.get("/api/v1/desk/conversations/").json()["results"]
    assert [r["id"] for r in rows] == [conversation.pk]
    assert rows[0]["unread"] == 1
    assert rows[0]["contact_name"] == "<script>alert(1)</script>"  # JSON: the page renders it as text
    api.force_authenticate(outsider)
    assert conversation.pk not in [r["id"] for r in api.get("/api/v1/desk/conversations/").json()["results"]]


def test_catch_up_since_returns_changes_including_resolved(api, agent, conversation):
    api.force_authenticate(agent)
    first = api.get("/api/v1/desk/conversations/").json()
    assert api.get("/api/v1/desk/conversations/", {"since": first["server_time"]}).json()["results"] == []
    conversation.status = "resolved"
    conversation.resolved_at = conversation.last_activity_at = timezone.now()
    conversation.save()
    changed = api.get("/api/v1/desk/conversations/", {"since": first["server_time"]}).json()["results"]
    assert [(r["id"], r["status"]) for r in changed] == [(conversation.pk, "resolved")]


def test_side_panel_shows_profile_earlier_conversations_and_role(api, agent, conversation, team, number):
    earlier = ConversationFactory(contact=conversation.contact, team=team, status="resolved")
    api.force_authenticate(agent)
    context = api.get(f"/api/v1/desk/conversations/{conversation.pk}/context/").json()
    assert context["contact"]["name"] == "<script>alert(1)</script>"
    assert [e["id"] for e in context["earlier"]] == [earlier.pk]
    assert context["my_role"] == "owner"
    assert context["window_open"] is True
    assert set(context["consent"]) >= {"marketing", "utility"}


def test_monitor_counts_queues_and_agent_load(api, supervisor, agent, conversation, team, number):
    ConversationFactory(team=team, contact__number=number, status="queued", queued_at=timezone.now() - timezone.timedelta(minutes=5))
    AgentProfile.objects.update_or_create(user=agent, defaults={"capacity": 4, "presence": "online"})
    api.force_authenticate(supervisor)
    data = api.get("/api/v1/desk/monitor/").json()
    queue = next(t for t in data["teams"] if t["id"] == team.pk)
    assert queue["waiting"] == 1
    assert queue["longest_wait_seconds"] >= 299
    row = next(a for a in data["agents"] if a["id"] == agent.pk)
    assert (row["load"], row["capacity"], row["presence"]) == (1, 4, "online")
    assert {c["id"] for c in data["conversations"]} >= {conversation.pk}
