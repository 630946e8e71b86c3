"""Presence: the agent sets it through the API, the desk heartbeat keeps it, the sweep
moves silent agents to away; supervisors list agents with load against capacity."""

from datetime import timedelta

import time_machine
from asgiref.sync import async_to_sync
from django.utils import timezone

from agents.models import AgentProfile
from agents.services.presence import agent_seen, presence_sweep, team_has_available_agent
from agents.tasks import presence_sweep as presence_sweep_task
from conversations.socket_checks import presence_seen
from tests.agents.conftest import make_agent
from tests.factories import ConversationFactory


def test_agent_sets_presence_through_the_api(api, agent):
    api.force_authenticate(agent)
    response = api.patch("/api/v1/agents/me/", {"presence": "online"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["presence"] == "online"
    assert body["capacity"] == 3 and body["load"] == 0
    profile = AgentProfile.objects.get(user=agent)
    assert profile.presence == "online" and profile.last_seen_at is not None


def test_unknown_presence_is_refused(api, agent):
    api.force_authenticate(agent)
    response = api.patch("/api/v1/agents/me/", {"presence": "dancing"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_presence_api_needs_authentication(api, db):
    assert api.patch("/api/v1/agents/me/", {"presence": "online"}, format="json").status_code in (401, 403)


def test_silent_online_agent_moves_to_away_and_the_desk_brings_them_back(db, team, settings):
    settings.PRESENCE_AWAY_AFTER_SECONDS = 60
    user = make_agent(team, "quiet")
    AgentProfile.objects.filter(user=user).update(last_seen_at=timezone.now())
    with time_machine.travel(timezone.now() + timedelta(seconds=30)):
        assert presence_sweep() == 0
    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        assert presence_sweep_task.apply().get() == 1
        profile = AgentProfile.objects.get(user=user)
        assert profile.presence == "away" and profile.away_is_automatic
        agent_seen(user=user)
    assert AgentProfile.objects.get(user=user).presence == "online"


def test_desk_connection_does_not_override_a_chosen_presence(db, team):
    user = make_agent(team, "resting", presence="away")
    agent_seen(user=user)
    profile = AgentProfile.objects.get(user=user)
    assert profile.presence == "away"
    assert profile.last_seen_at is not None


def test_heartbeat_keeps_an_agent_online(db, team, settings):
    settings.PRESENCE_AWAY_AFTER_SECONDS = 60
    user = make_agent(team, "busy")
    start = timezone.now()
    for minute in range(1, 4):
        with time_machine.travel(start + timedelta(seconds=50 * minute)):
            agent_seen(user=user)
            assert presence_sweep() == 0
    assert AgentProfile.objects.get(user=user).presence == "online"


def test_team_has_available_agent(db, team, number):
    assert not team_has_available_agent(team=team)
    user = make_agent(team, "solo", capacity=1)
    assert team_has_available_agent(team=team)
    ConversationFactory(contact__number=number, number=number, team=team, status="assigned", assignee=user)
    assert not team_has_available_agent(team=team)


def test_supervisor_lists_their_teams_agents_with_load(api, team, supervisor, agent, teammate, outsider, number):
    for user in (agent, teammate, outsider):
        AgentProfile.objects.update_or_create(user=user, defaults={"presence": "online", "capacity": 4})
    ConversationFactory(contact__number=number, number=number, team=team, status="assigned", assignee=agent)
    api.force_authenticate(supervisor)
    response = api.get("/api/v1/agents/")
    assert response.status_code == 200
    rows = {row["username"]: row for row in response.json()}
    assert set(rows) == {"agent", "teammate"}
    assert (rows["agent"]["load"], rows["agent"]["capacity"]) == (1, 4)
    assert rows["teammate"]["load"] == 0


def test_agents_list_is_for_supervisors_only(api, agent):
    api.force_authenticate(agent)
    response = api.get("/api/v1/agents/")
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


def test_admin_lists_every_agent(api, admin_user, agent, outsider):
    api.force_authenticate(admin_user)
    usernames = {row["username"] for row in api.get("/api/v1/agents/").json()}
    assert {"agent", "outsider"} <= usernames


def test_desk_socket_activity_records_the_agents_presence(transactional_db, team):
    # transactional: the recorder runs in a worker thread with its own connection, which a
    # test transaction would hide from it (and PostgreSQL's pool refuses inside one).
    # The desk socket (conversations.socket_checks) reaches presence through the recorder
    # the agents app registers: an agent the sweep moved away comes back online.
    user = make_agent(team, "returning")
    AgentProfile.objects.filter(user=user).update(presence="away", away_is_automatic=True, last_seen_at=None)
    async_to_sync(presence_seen)(user.pk)
    profile = AgentProfile.objects.get(user=user)
    assert profile.presence == "online" and profile.last_seen_at is not None
