"""The actions the desk offers come from the API (`actions` on the side panel, inbox rows
and monitor rows), and they are exactly what the API then allows: for every persona and
every desk action on a conversation held by `agent`, an offered action succeeds and one
not offered is refused."""

from __future__ import annotations

import pytest
from django.utils import timezone

from agents.models import AgentProfile
from conversations.models import ConversationEvent, Participant
from tests.factories import ConversationFactory

PERSONAS = ["agent", "teammate", "outsider", "supervisor", "admin_user"]
ACTIONS = {
    "assign": {},
    "transfer": "team",
    "hold": {},
    "handback": {},
    "resolve": {},
    "join": {},
    "leave": {},
    "whisper": {"text": "Check the invoice"},
    "takeover": {},
    "watch": {},
}
# Taking a conversation you already hold, or joining one you own, answers 200 and changes
# nothing, so neither is offered.
NO_OPS = {("agent", "assign"), ("agent", "join")}


@pytest.fixture
def held(team, number, agent, teammate, outsider, supervisor, admin_user):
    for user in (agent, teammate, outsider, supervisor, admin_user):
        AgentProfile.objects.update_or_create(user=user, defaults={"presence": "online", "capacity": 3})
    conversation = ConversationFactory(
        team=team, contact__number=number, status="assigned", assignee=agent, queued_at=timezone.now()
    )
    Participant.objects.create(conversation=conversation, user=agent, role=Participant.Role.OWNER)
    return conversation


def _offered(api, user, conversation):
    api.force_authenticate(user)
    response = api.get(f"/api/v1/desk/conversations/{conversation.pk}/context/")
    if response.status_code == 404:
        return None
    context = response.json()
    assert context["conversation"]["actions"] == context["actions"]
    return context["actions"]


def test_each_persona_is_offered_what_the_rule_allows(api, request, held):
    offered = {p: _offered(api, request.getfixturevalue(p), held) for p in PERSONAS}
    assert offered == {
        "agent": ["reply", "note", "whisper", "transfer", "hold", "handback", "resolve"],
        "teammate": ["note", "join"],
        "outsider": None,  # out of sight: 404
        "supervisor": ["reply", "note", "whisper", "assign", "transfer", "hold", "handback", "resolve", "join",
                       "takeover", "watch"],
        "admin_user": ["reply", "note", "whisper", "assign", "transfer", "hold", "handback", "resolve", "join",
                       "takeover", "watch"],
    }


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize("persona", PERSONAS)
def test_offered_actions_succeed_and_the_others_are_refused(api, request, held, other_team, persona, action):
    user = request.getfixturevalue(persona)
    offered = _offered(api, user, held)
    body = {"team": other_team.pk} if ACTIONS[action] == "team" else ACTIONS[action]
    events_before = ConversationEvent.objects.filter(conversation=held).count()

    response = api.post(f"/api/v1/conversations/{held.pk}/{action}/", body, format="json")

    if offered is None:
        assert response.status_code == 404
    elif action in offered:
        assert response.status_code == 200, response.json()
        assert ConversationEvent.objects.filter(conversation=held).count() > events_before
    elif (persona, action) in NO_OPS:
        assert response.status_code == 200
        assert ConversationEvent.objects.filter(conversation=held).count() == events_before
    else:
        assert response.status_code in (403, 409), response.json()
        assert ConversationEvent.objects.filter(conversation=held).count() == events_before


def test_reply_follows_the_offer(api, held, agent, teammate):
    for user, status in ((teammate, 403), (agent, 201)):
        assert ("reply" in _offered(api, user, held)) is (status == 201)
        response = api.post(f"/api/v1/conversations/{held.pk}/messages/", {"text": "Hello"}, format="json")
        assert response.status_code == status


def test_monitor_rows_carry_the_supervisors_actions(api, held, supervisor, team, number):
    teamless = ConversationFactory(team=None, contact__number=number, status="queued", queued_at=timezone.now())
    api.force_authenticate(supervisor)
    rows = {row["id"]: row for row in api.get("/api/v1/desk/monitor/").json()["conversations"]}
    assert "takeover" in rows[held.pk]["actions"] and "whisper" in rows[held.pk]["actions"]
    # Supervisors see conversations without a team and may route them.
    assert {"assign", "transfer", "takeover", "watch"} <= set(rows[teamless.pk]["actions"])
    api.force_authenticate(supervisor)
    assert api.post(f"/api/v1/conversations/{teamless.pk}/transfer/", {"team": team.pk}, format="json").status_code == 200


def test_inbox_rows_carry_each_users_own_actions(api, held, agent, teammate):
    for user, expected in ((agent, "resolve"), (teammate, "join")):
        api.force_authenticate(user)
        rows = {row["id"]: row for row in api.get("/api/v1/desk/conversations/").json()["results"]}
        assert expected in rows[held.pk]["actions"]
    assert "resolve" not in rows[held.pk]["actions"]  # the teammate's row


def test_supervisor_group_alone_is_no_supervisor_anywhere(api, client, agent):
    from agents.roles import SUPERVISOR, role_grant

    role_grant(user=agent, role=SUPERVISOR)  # the admin site's group, but no team supervised
    api.force_authenticate(agent)
    assert api.get("/api/v1/agents/").status_code == 403
    assert api.get("/api/v1/desk/monitor/").status_code == 403
    client.force_login(agent)
    assert client.get("/desk/monitor/").status_code == 403
