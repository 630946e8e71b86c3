"""Desk actions through the API, for every persona: the agent who holds the conversation,
a teammate, an outsider (other team), the team's supervisor, and an admin."""

import pytest

from agents.models import AgentProfile
from conversations.models import Conversation, ConversationEvent
from tests.agents.conftest import make_agent
from tests.factories import ConversationFactory, UserFactory


@pytest.fixture
def profiles(agent, teammate, outsider, supervisor, admin_user):
    for user in (agent, teammate, outsider, supervisor, admin_user):
        AgentProfile.objects.update_or_create(user=user, defaults={"presence": "online", "capacity": 3})


@pytest.fixture
def held(number, team, agent, profiles):
    """A conversation of the team, assigned to `agent`."""
    conversation = ConversationFactory(contact__number=number, number=number, team=team, status="queued")
    from agents.services.desk_actions import conversation_assign

    return conversation_assign(conversation=conversation, actor=agent)


@pytest.fixture
def queued(number, team, profiles):
    return ConversationFactory(contact__number=number, number=number, team=team, status="queued")


def post(api, user, conversation, action, body=None):
    api.force_authenticate(user)
    return api.post(f"/api/v1/conversations/{conversation.pk}/{action}/", body or {}, format="json")


# (action, body builder, expected for: agent (assignee), teammate, outsider, supervisor, admin)
OWNER_ACTIONS = ["resolve", "hold", "handback", "transfer_team"]


@pytest.mark.parametrize("action", OWNER_ACTIONS)
@pytest.mark.parametrize(
    "persona,expected",
    [("agent", 200), ("teammate", 403), ("outsider", 404), ("supervisor", 200), ("admin_user", 200)],
)
def test_actions_on_an_assigned_conversation_by_persona(
    request, api, held, other_team, action, persona, expected, django_capture_on_commit_callbacks
):
    user = request.getfixturevalue(persona)
    body = {"team": other_team.pk, "note": "needs sales"} if action == "transfer_team" else {}
    name = "transfer" if action == "transfer_team" else action
    with django_capture_on_commit_callbacks(execute=True):
        response = post(api, user, held, name, body)
    assert response.status_code == expected, response.json()
    held.refresh_from_db()
    if expected == 200:
        assert ConversationEvent.objects.filter(conversation=held, actor=user).exists()
    else:
        assert response.json()["code"] in {"forbidden", "not_found"}
        assert held.status == "assigned" and not held.on_hold


@pytest.mark.parametrize(
    "persona,expected",
    [("agent", 200), ("teammate", 200), ("outsider", 404), ("supervisor", 200), ("admin_user", 200)],
)
def test_taking_a_queued_conversation_by_persona(request, api, queued, persona, expected):
    user = request.getfixturevalue(persona)
    response = post(api, user, queued, "assign")
    assert response.status_code == expected
    queued.refresh_from_db()
    if expected == 200:
        assert queued.assignee == user
        assert response.json()["assignee"]["id"] == user.pk
    else:
        assert queued.assignee is None


def test_teammate_cannot_take_a_conversation_held_by_another_agent(api, held, teammate):
    response = post(api, teammate, held, "assign")
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    held.refresh_from_db()
    assert held.assignee.username == "agent"


def test_only_supervisors_assign_to_somebody_else(api, queued, agent, teammate, supervisor):
    response = post(api, agent, queued, "assign", {"agent": teammate.pk})
    assert response.status_code == 403
    response = post(api, supervisor, queued, "assign", {"agent": teammate.pk})
    assert response.status_code == 200
    queued.refresh_from_db()
    assert queued.assignee == teammate


def test_assign_refuses_an_agent_without_room(api, queued, team, supervisor, teammate, number):
    AgentProfile.objects.filter(user=teammate).update(capacity=1)
    other = ConversationFactory(contact__number=number, number=number, team=team, status="assigned", assignee=teammate)
    response = post(api, supervisor, queued, "assign", {"agent": teammate.pk})
    assert response.status_code == 409
    assert response.json()["code"] == "over_capacity"
    assert Conversation.objects.filter(assignee=teammate).count() == 1
    assert other.pk


def test_assign_refuses_an_agent_outside_the_team(api, queued, supervisor, outsider):
    response = post(api, supervisor, queued, "assign", {"agent": outsider.pk})
    assert response.status_code == 409
    assert response.json()["code"] == "not_in_team"


def test_transfer_to_a_teammate_with_a_note(api, held, agent, teammate, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(api, agent, held, "transfer", {"agent": teammate.pk, "note": "billing question"})
    assert response.status_code == 200
    held.refresh_from_db()
    assert held.assignee == teammate
    event = ConversationEvent.objects.get(conversation=held, kind="transferred")
    assert event.reason == "billing question"
    assert event.data["previous_assignee"] == agent.pk


def test_transfer_to_a_team_requeues_there(api, held, agent, other_team, outsider, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(api, agent, held, "transfer", {"team": other_team.pk, "note": "sales lead"})
    assert response.status_code == 200
    held.refresh_from_db()
    # The other team's online member has room, so it was assigned there at once.
    assert held.team == other_team
    assert held.assignee == outsider


def test_transfer_needs_exactly_one_target(api, held, agent, teammate, other_team):
    response = post(api, agent, held, "transfer", {})
    assert response.status_code == 400
    response = post(api, agent, held, "transfer", {"agent": teammate.pk, "team": other_team.pk})
    assert response.status_code == 400


def test_resolve_then_reopen_by_a_teammate(api, held, agent, teammate, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert post(api, agent, held, "resolve").status_code == 200
    held.refresh_from_db()
    assert held.status == "resolved" and held.resolved_at is not None
    response = post(api, teammate, held, "reopen")
    assert response.status_code == 200
    held.refresh_from_db()
    assert held.status == "assigned" and held.assignee == teammate
    assert post(api, teammate, held, "reopen").json()["code"] == "invalid_status"


def test_outsider_cannot_reopen(api, held, agent, outsider, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post(api, agent, held, "resolve")
    assert post(api, outsider, held, "reopen").status_code == 404


def test_hold_and_unhold(api, held, agent):
    assert post(api, agent, held, "hold").json()["on_hold"] is True
    assert post(api, agent, held, "unhold").json()["on_hold"] is False
    kinds = list(ConversationEvent.objects.filter(conversation=held).values_list("kind", flat=True))
    assert kinds[-2:] == ["held", "unheld"]


def test_unhold_refused_when_the_assignee_filled_up(api, held, agent, team, number):
    post(api, agent, held, "hold")
    AgentProfile.objects.filter(user=agent).update(capacity=1)
    ConversationFactory(contact__number=number, number=number, team=team, status="assigned", assignee=agent)
    response = post(api, agent, held, "unhold")
    assert response.status_code == 409
    assert response.json()["code"] == "over_capacity"


def test_handback_returns_the_conversation_to_the_bot(api, held, agent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(api, agent, held, "handback", {"note": "answered by FAQ"})
    assert response.status_code == 200
    held.refresh_from_db()
    assert held.status == "bot" and held.assignee is None
    assert not held.participants.filter(left_at__isnull=True).exists()


def test_actions_need_authentication(api, held):
    response = api.post(f"/api/v1/conversations/{held.pk}/resolve/", {}, format="json")
    assert response.status_code in (401, 403)
    held.refresh_from_db()
    assert held.status == "assigned"


def test_admin_group_member_acts_everywhere(api, held, other_team):
    from agents.roles import ADMIN, role_grant

    boss = UserFactory(username="boss")
    role_grant(user=boss, role=ADMIN)
    assert post(api, boss, held, "hold").status_code == 200


def test_make_agent_helper_creates_online_profile(db, team):
    user = make_agent(team, "helper")
    assert user.agent_profile.presence == "online"
