"""The access rules (conversations.access) as a table: every persona against every shape of
conversation, the actions each may take; then the properties that tie the pure rules to
the queries built from them (what `may_see` says is what `conversations_visible_to`
returns, for real rows), and the socket's event filter."""

from __future__ import annotations

import pytest

from conversations.access import (
    ACTION_STATUSES,
    ACTIONS,
    NOBODY,
    NOT_ASSIGNER,
    NOT_HOLDER,
    NOT_IN_CONFERENCE,
    NOT_IN_TEAM,
    NOT_OVERSEER,
    NOT_SENDER,
    NOT_VISIBLE,
    ConversationShape,
    Roles,
    allowed_actions,
    assign_refusal,
    conversation_shape,
    conversations_visible_to,
    event_may_reach,
    may_act,
    may_give_to,
    may_see,
    oversees,
    refusal,
    roles_for,
)
from conversations.models import Conversation, Participant
from tests.factories import ContactFactory, ConversationFactory, TeamFactory, UserFactory

TEAM, OTHER = 10, 20
ADMIN, SUPERVISOR, SUPERVISOR_ELSEWHERE, AGENT, TEAMMATE, OUTSIDER = 1, 2, 3, 4, 5, 6

PERSONAS = {
    "admin": Roles(ADMIN, admin=True),
    "supervisor": Roles(SUPERVISOR, supervises=frozenset({TEAM})),
    "supervisor_elsewhere": Roles(SUPERVISOR_ELSEWHERE, supervises=frozenset({OTHER})),
    "agent": Roles(AGENT, member_of=frozenset({TEAM})),
    "teammate": Roles(TEAMMATE, member_of=frozenset({TEAM})),
    "outsider": Roles(OUTSIDER, member_of=frozenset({OTHER})),
    "nobody": NOBODY,
}

S = Conversation.Status
OWNER, PARTICIPANT, WATCHER = "owner", "participant", "watcher"
SHAPES = {
    "queued": ConversationShape(TEAM, status=S.QUEUED),
    "with_the_bot": ConversationShape(TEAM, status=S.BOT),
    "held_by_agent": ConversationShape(TEAM, AGENT, {AGENT: OWNER}, status=S.ASSIGNED),
    "conference": ConversationShape(
        TEAM, AGENT, {AGENT: OWNER, OUTSIDER: PARTICIPANT, SUPERVISOR: WATCHER}, status=S.ASSIGNED
    ),
    "on_hold": ConversationShape(TEAM, AGENT, {AGENT: OWNER}, status=S.ASSIGNED, on_hold=True),
    "resolved": ConversationShape(TEAM, AGENT, status=S.RESOLVED),
    "teamless": ConversationShape(None, status=S.QUEUED),
    "other_team_held_by_agent": ConversationShape(OTHER, AGENT, {AGENT: OWNER}, status=S.ASSIGNED),
}

EVERYTHING_OPEN = "reply note whisper assign transfer handback resolve join takeover watch"
EVERYTHING_HELD = "reply note whisper assign transfer hold handback resolve join takeover watch"
OWNER_HELD = "reply note whisper transfer hold handback resolve"
# shape -> persona -> the actions `allowed_actions` offers (personas left out: none).
EXPECTED = {
    "queued": {
        "admin": EVERYTHING_OPEN,
        "supervisor": EVERYTHING_OPEN,
        "agent": "reply note assign transfer handback resolve join",
        "teammate": "reply note assign transfer handback resolve join",
    },
    "with_the_bot": {
        "admin": "reply note whisper assign resolve join watch",
        "supervisor": "reply note whisper assign resolve join watch",
        "agent": "reply note assign resolve join",
        "teammate": "reply note assign resolve join",
    },
    "held_by_agent": {
        "admin": EVERYTHING_HELD,
        "supervisor": EVERYTHING_HELD,
        "agent": OWNER_HELD,
        "teammate": "note join",
    },
    "conference": {
        "admin": EVERYTHING_HELD,
        # a silent watcher may become visible (join) or stop watching (leave)
        "supervisor": "reply note whisper assign transfer hold handback resolve join leave takeover",
        "agent": OWNER_HELD,
        "teammate": "note join",
        "outsider": "reply note whisper leave",
    },
    "on_hold": {
        "admin": EVERYTHING_HELD.replace("hold", "unhold"),
        "supervisor": EVERYTHING_HELD.replace("hold", "unhold"),
        "agent": OWNER_HELD.replace("hold", "unhold"),
        "teammate": "note join",
    },
    "resolved": {
        "admin": "reply note whisper reopen",
        "supervisor": "reply note whisper reopen",
        "agent": "reply note whisper reopen",
        "teammate": "note reopen",
    },
    "teamless": {
        "admin": EVERYTHING_OPEN,
        "supervisor": EVERYTHING_OPEN,
        "supervisor_elsewhere": EVERYTHING_OPEN,
    },
    "other_team_held_by_agent": {
        "admin": EVERYTHING_HELD,
        "supervisor_elsewhere": EVERYTHING_HELD,
        "agent": OWNER_HELD,
        "outsider": "note join",
    },
}

TABLE = [(shape, persona) for shape in SHAPES for persona in PERSONAS]


@pytest.mark.parametrize("shape,persona", TABLE)
def test_each_persona_gets_the_actions_the_rule_allows(shape, persona):
    expected = EXPECTED[shape].get(persona, "").split()
    assert allowed_actions(PERSONAS[persona], SHAPES[shape]) == expected


@pytest.mark.parametrize("shape,persona", TABLE)
def test_the_offer_is_who_may_and_what_the_state_allows(shape, persona):
    roles, conversation = PERSONAS[persona], SHAPES[shape]
    offered = allowed_actions(roles, conversation)
    for action in ACTIONS:
        statuses = ACTION_STATUSES.get(action)
        if action in offered:
            assert may_act(roles, conversation, action)
            assert statuses is None or conversation.status in statuses
        if action != "leave" and may_act(roles, conversation, action):
            assert may_see(roles, conversation), "nobody acts on what they may not see"
    if oversees(roles, conversation):
        assert may_see(roles, conversation)
        assert all(may_act(roles, conversation, action) for action in ACTIONS)
    if not may_see(roles, conversation):
        assert offered == []
        assert all(refusal(roles, conversation, a) in (None, NOT_VISIBLE) for a in ACTIONS)


def test_who_may_see_follows_team_assignment_participation_and_supervision():
    seen = {name: {s for s, shape in SHAPES.items() if may_see(roles, shape)} for name, roles in PERSONAS.items()}
    assert seen["admin"] == set(SHAPES)
    assert seen["supervisor"] == set(SHAPES) - {"other_team_held_by_agent"}
    assert seen["supervisor_elsewhere"] == {"teamless", "other_team_held_by_agent"}
    assert seen["agent"] == set(SHAPES) - {"teamless"}
    assert seen["teammate"] == set(SHAPES) - {"teamless", "other_team_held_by_agent"}
    assert seen["outsider"] == {"conference", "other_team_held_by_agent"}
    assert seen["nobody"] == set()


def test_refusals_name_the_rule():
    teammate, agent, outsider = PERSONAS["teammate"], PERSONAS["agent"], PERSONAS["outsider"]
    held, conference = SHAPES["held_by_agent"], SHAPES["conference"]
    assert refusal(outsider, held, "note") == NOT_VISIBLE
    assert refusal(teammate, held, "resolve") == NOT_HOLDER
    assert refusal(teammate, held, "reply") == NOT_SENDER
    assert refusal(teammate, held, "whisper") == NOT_IN_CONFERENCE
    assert refusal(agent, held, "takeover") == NOT_OVERSEER
    assert refusal(outsider, conference, "transfer") == NOT_IN_TEAM
    assert refusal(teammate, SHAPES["resolved"], "reopen") is None  # any member reopens
    with pytest.raises(ValueError):
        refusal(agent, held, "delete")


def test_only_overseers_assign_to_somebody_else_and_only_to_someone_who_may_hold_it():
    agent, teammate, supervisor, admin = (PERSONAS[p] for p in ("agent", "teammate", "supervisor", "admin"))
    queued = SHAPES["queued"]
    assert assign_refusal(agent, queued, agent) is None
    assert assign_refusal(agent, queued, teammate) == NOT_ASSIGNER
    assert assign_refusal(supervisor, queued, teammate) is None
    outsider = PERSONAS["outsider"]
    assert may_give_to(supervisor, TEAM, teammate) and may_give_to(supervisor, TEAM, supervisor)
    assert not may_give_to(supervisor, TEAM, outsider)
    assert may_give_to(admin, TEAM, outsider)  # admins give a conversation to anyone
    assert may_give_to(supervisor, None, outsider)  # a conversation without a team: anyone holds it


@pytest.mark.parametrize(
    "persona,event,reaches",
    [
        ("agent", {"type": "conversation.updated", "conversation": {"id": 1, "team": OTHER}}, True),
        ("admin", {"type": "message.created", "conversation": 7}, True),
        ("supervisor", {"type": "conversation.updated", "conversation": {"id": 1, "team": TEAM}}, True),
        ("supervisor", {"type": "conversation.updated", "conversation": {"id": 1, "team": None}}, True),
        ("supervisor", {"type": "conversation.updated", "conversation": {"id": 1, "team": OTHER}}, None),
        ("supervisor", {"type": "conversation.updated",
                        "conversation": {"id": 1, "team": OTHER, "participants": [{"id": SUPERVISOR, "role": WATCHER}]}},
         True),
        ("supervisor", {"type": "conversation.updated", "conversation": {"id": 1, "team": OTHER, "assignee": SUPERVISOR}},
         True),
        ("supervisor", {"type": "message.created", "conversation": 7}, None),
        ("supervisor", {"type": "queue.updated", "team": TEAM}, True),
        ("supervisor", {"type": "queue.updated", "team": {"id": OTHER}}, False),
        ("supervisor", {"type": "agent.updated", "agent": {"id": AGENT}}, True),
    ],
)
def test_socket_events_reach_a_socket_by_the_same_rule(persona, event, reaches):
    assert event_may_reach(PERSONAS[persona], event) is reaches


# --- the queries say what the pure rule says ------------------------------------------
@pytest.fixture
def world(db, number):
    team, other = TeamFactory(slug="t-team"), TeamFactory(slug="t-other")
    users = {name: UserFactory(username=f"access-{name}") for name in PERSONAS if name != "nobody"}
    users["admin"].is_superuser = True
    users["admin"].save()
    team.supervisors.add(users["supervisor"])
    other.supervisors.add(users["supervisor_elsewhere"])
    team.members.add(users["agent"], users["teammate"])
    other.members.add(users["outsider"])

    def conversation(team, status, assignee=None, people=()):
        made = ConversationFactory(contact=ContactFactory(number=number), team=team, status=status, assignee=assignee)
        for name, role in people:
            Participant.objects.create(conversation=made, user=users[name], role=role)
        return made

    agent = users["agent"]
    conversations = [
        conversation(team, S.QUEUED),
        conversation(team, S.BOT),
        conversation(team, S.ASSIGNED, agent, [("agent", OWNER)]),
        conversation(team, S.ASSIGNED, agent, [("agent", OWNER), ("outsider", PARTICIPANT), ("supervisor", WATCHER)]),
        conversation(None, S.QUEUED),
        conversation(other, S.ASSIGNED, agent, [("agent", OWNER)]),
        conversation(other, S.RESOLVED, agent),
    ]
    return users, conversations


def test_visible_querysets_hold_exactly_what_may_see_allows(world):
    users, conversations = world
    for name, user in users.items():
        roles = roles_for(user)
        expected = {c.pk for c in conversations if may_see(roles, conversation_shape(c))}
        assert set(conversations_visible_to(user).values_list("pk", flat=True)) == expected, name
        assert set(conversations_visible_to(roles).values_list("pk", flat=True)) == expected, name
    assert roles_for(users["admin"]).admin and roles_for(users["supervisor"]).supervises


def test_roles_are_read_in_two_queries_at_most(world, django_assert_max_num_queries):
    users, _ = world
    with django_assert_max_num_queries(2):
        roles = roles_for(users["supervisor"])
    assert (roles.member_of, roles.supervisor, roles.admin) == (frozenset(), True, False)
    assert roles_for(None) is NOBODY
