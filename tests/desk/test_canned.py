"""Canned responses: who may use and manage which, and their variables."""

from __future__ import annotations

import pytest

from agents.models import CannedResponse
from agents.services.canned import canned_render
from tests.factories import ConversationFactory


@pytest.fixture
def responses(team, other_team, agent, outsider):
    return {
        "global": CannedResponse.objects.create(scope="global", shortcut="hello", title="Greeting", body="Hi {{contact.first_name}}!"),
        "team": CannedResponse.objects.create(scope="team", team=team, shortcut="refund", title="Refund", body="Refunds take 5 days."),
        "other_team": CannedResponse.objects.create(scope="team", team=other_team, shortcut="sales", title="Sales", body="Our prices"),
        "mine": CannedResponse.objects.create(scope="personal", owner=agent, shortcut="sig", title="Signature", body="— {{agent.name}}"),
        "theirs": CannedResponse.objects.create(scope="personal", owner=outsider, shortcut="sig", title="Theirs", body="x"),
    }


def _shortcuts(response):
    return sorted((r["shortcut"], r["scope"]) for r in response.json()["results"])


def test_agent_sees_global_their_teams_and_their_own(api, agent, responses):
    api.force_authenticate(agent)
    response = api.get("/api/v1/canned-responses/")
    assert _shortcuts(response) == [("hello", "global"), ("refund", "team"), ("sig", "personal")]


def test_variables_are_filled_for_the_conversation(api, agent, responses, team, number):
    agent.first_name, agent.last_name = "Alex", "Agent"
    agent.save()
    conversation = ConversationFactory(team=team, contact__number=number, contact__profile_name="Maria Lopez")
    api.force_authenticate(agent)
    results = {r["shortcut"]: r for r in api.get(f"/api/v1/canned-responses/?conversation={conversation.pk}").json()["results"]}
    assert results["hello"]["rendered"] == "Hi Maria!"
    assert results["sig"]["rendered"] == "— Alex Agent"


def test_rendering_keeps_unknown_variables_visible():
    assert canned_render(body="{{contact.first_name}} {{order.id}}", conversation=None, agent=None) == " {{order.id}}"


def test_rendering_for_a_conversation_the_user_cannot_see_is_refused(api, outsider, responses, team, number):
    conversation = ConversationFactory(team=team, contact__number=number)
    api.force_authenticate(outsider)
    assert api.get(f"/api/v1/canned-responses/?conversation={conversation.pk}").status_code == 404


def test_agent_creates_edits_and_deletes_their_own(api, agent):
    api.force_authenticate(agent)
    created = api.post("/api/v1/canned-responses/", {"shortcut": "bye", "title": "Bye", "body": "Bye {{contact.first_name}}"}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["scope"] == "personal" and created.json()["owner"] == agent.pk
    pk = created.json()["id"]
    assert api.patch(f"/api/v1/canned-responses/{pk}/", {"body": "See you"}, format="json").json()["body"] == "See you"
    assert api.delete(f"/api/v1/canned-responses/{pk}/").status_code == 204
    assert not CannedResponse.objects.filter(pk=pk).exists()


def test_agent_cannot_change_global_or_team_responses_nor_others_personal(api, agent, responses):
    api.force_authenticate(agent)
    assert api.patch(f"/api/v1/canned-responses/{responses['global'].pk}/", {"body": "x"}, format="json").status_code == 403
    assert api.delete(f"/api/v1/canned-responses/{responses['team'].pk}/").status_code == 403
    assert api.delete(f"/api/v1/canned-responses/{responses['theirs'].pk}/").status_code == 404
    created = api.post("/api/v1/canned-responses/", {"shortcut": "g", "title": "G", "body": "g", "scope": "global"}, format="json")
    assert created.status_code == 403


def test_supervisor_manages_their_teams_responses(api, supervisor, team, responses):
    api.force_authenticate(supervisor)
    created = api.post(
        "/api/v1/canned-responses/", {"shortcut": "hours", "title": "Hours", "body": "9 to 5", "scope": "team", "team": team.pk}, format="json"
    )
    assert created.status_code == 201, created.content
    assert api.patch(f"/api/v1/canned-responses/{responses['team'].pk}/", {"title": "Refunds"}, format="json").status_code == 200


def test_a_taken_shortcut_is_refused_clearly(api, agent, responses):
    api.force_authenticate(agent)
    response = api.post("/api/v1/canned-responses/", {"shortcut": "sig", "title": "Again", "body": "x"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "already taken" in response.json()["detail"]


def test_canned_api_needs_authentication(api):
    assert api.get("/api/v1/canned-responses/").status_code in (401, 403)
