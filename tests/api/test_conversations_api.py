"""GET /api/v1/conversations/ and /api/v1/conversations/<id>/ for every persona."""

from __future__ import annotations

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from conversations.models import Conversation
from tests.api.conftest import join
from tests.factories import ContactFactory, ConversationFactory

LIST = "/api/v1/conversations/"


def detail(conversation) -> str:
    return f"/api/v1/conversations/{conversation.id}/"


def ids(response) -> list[int]:
    return [row["id"] for row in response.json()["results"]]


def touch(conversation, minutes_ago: int) -> None:
    Conversation.objects.filter(pk=conversation.pk).update(
        last_activity_at=timezone.now() - timezone.timedelta(minutes=minutes_ago)
    )


def test_anonymous_is_refused_with_the_error_body(team_conversation):
    client = APIClient()
    for url in (LIST, detail(team_conversation)):
        response = client.get(url)
        assert response.status_code in (401, 403)
        assert response.json()["code"] == "not_authenticated"
        assert response.json()["detail"]


def test_agent_lists_own_team_only_and_outsider_never_sees_it(
    api, agent, outsider, team_conversation, other_conversation, teamless_conversation
):
    api.force_authenticate(agent)
    assert ids(api.get(LIST)) == [team_conversation.id]

    api.force_authenticate(outsider)
    assert ids(api.get(LIST)) == [other_conversation.id]


def test_outsider_gets_404_on_another_teams_conversation(api, outsider, team_conversation):
    api.force_authenticate(outsider)

    response = api.get(detail(team_conversation))

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    missing = api.get(f"/api/v1/conversations/{team_conversation.id + 999}/")
    assert missing.status_code == 404
    assert missing.json() == response.json()


def test_supervisor_and_admin_lists(
    api, supervisor, admin_user, team_conversation, other_conversation, teamless_conversation
):
    api.force_authenticate(supervisor)
    assert set(ids(api.get(LIST))) == {team_conversation.id, teamless_conversation.id}

    api.force_authenticate(admin_user)
    assert set(ids(api.get(LIST))) == {team_conversation.id, other_conversation.id, teamless_conversation.id}


def test_list_is_newest_activity_first_and_paginated(api, admin_user, number, team):
    conversations = [ConversationFactory(contact=ContactFactory(number=number), team=team) for _ in range(5)]
    for minutes_ago, conversation in enumerate(conversations):
        touch(conversation, minutes_ago)
    api.force_authenticate(admin_user)

    first = api.get(LIST, {"page_size": 2}).json()
    second = api.get(LIST, {"page_size": 2, "page": 2}).json()

    assert first["count"] == 5
    assert [row["id"] for row in first["results"] + second["results"]] == [c.id for c in conversations[:4]]
    assert first["next"] and first["previous"] is None


def test_list_filters(api, agent, teammate, number, team):
    queued = ConversationFactory(contact=ContactFactory(number=number), team=team, status="queued")
    mine = ConversationFactory(contact=ContactFactory(number=number), team=team, status="assigned", assignee=agent)
    theirs = ConversationFactory(contact=ContactFactory(number=number), team=team, status="assigned", assignee=teammate)
    touch(queued, 120)
    api.force_authenticate(agent)

    assert set(ids(api.get(LIST, {"status": "assigned"}))) == {mine.id, theirs.id}
    assert ids(api.get(LIST, {"assignee": "me"})) == [mine.id]
    assert ids(api.get(LIST, {"assignee": str(teammate.id)})) == [theirs.id]
    assert ids(api.get(LIST, {"assignee": "none"})) == [queued.id]
    assert set(ids(api.get(LIST, {"team": team.id}))) == {queued.id, mine.id, theirs.id}
    since = (timezone.now() - timezone.timedelta(hours=1)).isoformat()
    assert set(ids(api.get(LIST, {"since": since}))) == {mine.id, theirs.id}


def test_team_filter_never_widens_visibility(api, agent, team_conversation, other_conversation, other_team):
    api.force_authenticate(agent)

    assert ids(api.get(LIST, {"team": other_team.id})) == []


@pytest.mark.parametrize(
    "params", [{"status": "lost"}, {"assignee": "someone"}, {"since": "yesterday"}, {"team": "x"}]
)
def test_bad_filter_is_invalid(api, agent, params):
    api.force_authenticate(agent)

    response = api.get(LIST, params)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert set(response.json()["fields"]) == set(params)


def test_detail_shows_contact_people_window_and_sla(api, agent, teammate, team, team_conversation):
    team_conversation.assignee = teammate
    team_conversation.status = Conversation.Status.ASSIGNED
    team_conversation.priority = 3
    team_conversation.first_response_due_at = timezone.now() + timezone.timedelta(minutes=5)
    team_conversation.save()
    join(team_conversation, teammate, role="owner")
    api.force_authenticate(agent)

    body = api.get(detail(team_conversation)).json()

    assert body["contact"]["profile_name"] == "Ada Customer"
    assert body["contact"]["wa_id"] == team_conversation.contact.wa_id
    assert body["status"] == "assigned"
    assert body["assignee"]["username"] == "teammate"
    assert body["team"] == {"id": team.id, "name": "Support", "slug": "support"}
    assert [(p["user"]["username"], p["role"]) for p in body["participants"]] == [("teammate", "owner")]
    assert body["window_open"] is True
    assert body["window_expires_at"]
    assert body["priority"] == 3
    assert body["first_response_due_at"]
    assert body["sla_breached_at"] is None
    assert "handoff" in body


def test_detail_reports_window_closed_after_24_hours(api, agent, team_conversation):
    team_conversation.last_customer_message_at = timezone.now() - timezone.timedelta(hours=25)
    team_conversation.window_expires_at = team_conversation.last_customer_message_at + timezone.timedelta(hours=24)
    team_conversation.save()
    api.force_authenticate(agent)

    assert api.get(detail(team_conversation)).json()["window_open"] is False


def test_token_authentication(agent, team_conversation, other_conversation):
    token = Token.objects.create(user=agent)
    client = APIClient()

    ok = client.get(LIST, HTTP_AUTHORIZATION=f"Token {token.key}")
    bad = client.get(LIST, HTTP_AUTHORIZATION="Token not-a-real-token")

    assert ok.status_code == 200
    assert [row["id"] for row in ok.json()["results"]] == [team_conversation.id]
    assert bad.status_code in (401, 403)
    assert bad.json()["code"] == "not_authenticated"


def test_list_query_count_stays_constant(api, agent, number, team, django_assert_max_num_queries):
    def add(count):
        for _ in range(count):
            conversation = ConversationFactory(
                contact=ContactFactory(number=number), team=team, status="assigned", assignee=agent
            )
            join(conversation, agent)

    api.force_authenticate(agent)
    add(2)
    with django_assert_max_num_queries(6):
        assert api.get(LIST).json()["count"] == 2
    add(15)
    with django_assert_max_num_queries(6):
        assert api.get(LIST).json()["count"] == 17


def test_detail_carries_the_latest_handoff_context(api, agent, team, team_conversation):
    from bots.models import Handoff

    Handoff.objects.create(
        conversation=team_conversation,
        reason_code="not_understood",
        created_at=timezone.now() - timezone.timedelta(minutes=5),
    )
    Handoff.objects.create(
        conversation=team_conversation,
        reason_code="keyword",
        policy_name="Default",
        collected_values={"order": "A-100"},
        transcript=["Customer: agent please", "Bot: Connecting you to a person."],
        suggested_team=team,
    )
    api.force_authenticate(agent)

    handoff = api.get(detail(team_conversation)).json()["handoff"]

    assert handoff["reason"] == "keyword"
    assert handoff["collected_values"] == {"order": "A-100"}
    assert handoff["transcript"][0] == "Customer: agent please"
    assert handoff["suggested_team"]["id"] == team.id


def test_detail_handoff_is_null_without_one(api, agent, team_conversation):
    api.force_authenticate(agent)

    assert api.get(detail(team_conversation)).json()["handoff"] is None


def test_since_accepts_an_offset_sent_without_url_encoding(api, agent, team_conversation):
    touch(team_conversation, 30)
    api.force_authenticate(agent)
    hour_ago = (timezone.now() - timezone.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    minute_ago = (timezone.now() - timezone.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S")

    # A literal "+00:00" in a URL reaches the server as " 00:00".
    assert ids(api.get(f"{LIST}?since={hour_ago}+00:00")) == [team_conversation.id]
    assert ids(api.get(f"{LIST}?since={minute_ago}+00:00")) == []
