"""Who sees which conversation: the access functions pages, API and websocket share."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations.access import (
    ConversationShape,
    conversation_for_user,
    conversations_visible_to,
    oversees,
    roles_for,
    user_is_admin,
    user_may,
)
from conversations.models import Conversation
from conversations.selectors import conversation_list, messages_for_conversation
from tests.api.conftest import join
from tests.factories import ContactFactory, ConversationFactory, MessageFactory, UserFactory


def visible_ids(user):
    return set(conversations_visible_to(user).values_list("id", flat=True))


def test_agent_sees_own_team_but_not_other_team_or_teamless(
    agent, team_conversation, other_conversation, teamless_conversation
):
    assert visible_ids(agent) == {team_conversation.id}


def test_agent_sees_conversation_of_another_team_assigned_to_them(agent, other_conversation):
    other_conversation.assignee, other_conversation.status = agent, "assigned"
    other_conversation.save()

    assert other_conversation.id in visible_ids(agent)


def test_active_participant_sees_conversation_until_leaving(outsider, team_conversation):
    participation = join(team_conversation, outsider)
    assert team_conversation.id in visible_ids(outsider)

    participation.left_at = timezone.now()
    participation.save()
    assert team_conversation.id not in visible_ids(outsider)


def test_outsider_sees_only_their_team(outsider, team_conversation, other_conversation, teamless_conversation):
    assert visible_ids(outsider) == {other_conversation.id}


def test_supervisor_sees_supervised_teams_and_teamless_conversations(
    supervisor, team_conversation, other_conversation, teamless_conversation
):
    assert visible_ids(supervisor) == {team_conversation.id, teamless_conversation.id}


def test_superuser_and_admin_group_member_see_everything(
    admin_user, team_conversation, other_conversation, teamless_conversation
):
    everything = {team_conversation.id, other_conversation.id, teamless_conversation.id}
    group_admin = UserFactory(username="groupadmin")
    group_admin.groups.add(Group.objects.get_or_create(name="admin")[0])

    assert visible_ids(admin_user) == everything
    assert visible_ids(group_admin) == everything
    assert user_is_admin(group_admin)


def test_inactive_or_anonymous_user_sees_nothing(agent, team_conversation):
    from django.contrib.auth.models import AnonymousUser

    agent.is_active = False
    agent.save()

    assert visible_ids(agent) == set()
    assert visible_ids(AnonymousUser()) == set()


def test_several_memberships_never_duplicate_rows(agent, supervisor, team, team_conversation):
    team.supervisors.add(agent)
    team_conversation.assignee, team_conversation.status = agent, "assigned"
    team_conversation.save()
    join(team_conversation, agent)

    assert list(conversations_visible_to(agent).values_list("id", flat=True)) == [team_conversation.id]


def test_conversation_for_user_hides_existence_from_outsiders(outsider, agent, team_conversation):
    assert conversation_for_user(agent, team_conversation.id) == team_conversation
    with pytest.raises(Http404):
        conversation_for_user(outsider, team_conversation.id)
    with pytest.raises(Http404):
        conversation_for_user(agent, team_conversation.id + 1000)
    with pytest.raises(Http404):
        conversation_for_user(agent, "not-a-number")


def test_oversight_is_per_team_and_admins_oversee_all(supervisor, admin_user, agent, team, other_team):
    def oversees_team(user, team):
        return oversees(roles_for(user), ConversationShape(team_id=team.pk if team else None))

    assert oversees_team(supervisor, team)
    assert not oversees_team(supervisor, other_team)
    assert not oversees_team(agent, team)
    assert oversees_team(admin_user, other_team)
    # Conversations without a team: every supervisor sees them, so every supervisor may act on them.
    assert oversees_team(supervisor, None)
    assert not oversees_team(agent, None)


def may_reply(user, conversation):
    return user_may(user, conversation, "reply")


def test_reply_to_someone_elses_conversation_needs_a_part_in_it(agent, teammate, supervisor, admin_user, team_conversation):
    team_conversation.assignee = teammate
    team_conversation.status = Conversation.Status.ASSIGNED
    team_conversation.save()

    assert may_reply(teammate, team_conversation)
    assert not may_reply(agent, team_conversation)
    assert may_reply(supervisor, team_conversation)
    assert may_reply(admin_user, team_conversation)
    join(team_conversation, agent)
    assert may_reply(agent, team_conversation)


def _add_conversations(number, team, count):
    for _ in range(count):
        conversation = ConversationFactory(
            contact=ContactFactory(number=number), team=team, status="assigned", assignee=UserFactory()
        )
        join(conversation, UserFactory())
        join(conversation, conversation.assignee)


def _queries_for_list(user):
    user = get_user_model().objects.get(pk=user.pk)  # a fresh request's user, nothing cached
    with CaptureQueriesContext(connection) as ctx:
        rows = list(conversation_list(user=user))
        shown = [
            (row.contact.profile_name, row.team.name, row.assignee.username, row.number.name)
            + tuple(p.user.username for p in row.active_participants)
            for row in rows
        ]
    assert all(shown)
    return len(ctx.captured_queries), len(rows)


def test_conversation_list_query_count_does_not_grow_with_rows(agent, number, team):
    _add_conversations(number, team, 2)
    few_queries, few_rows = _queries_for_list(agent)
    _add_conversations(number, team, 10)
    many_queries, many_rows = _queries_for_list(agent)

    assert (few_rows, many_rows) == (2, 12)
    assert many_queries == few_queries


def test_messages_for_conversation_follow_cursor_and_load_senders_at_once(agent, team_conversation):
    first = MessageFactory(conversation=team_conversation)
    later = [
        MessageFactory(conversation=team_conversation, sender_user=UserFactory(), direction="out", sender_kind="agent")
        for _ in range(5)
    ]

    with CaptureQueriesContext(connection) as ctx:
        after = list(messages_for_conversation(team_conversation, after_id=first.id))
        senders = [m.sender_user.username for m in after]

    assert [m.id for m in after] == [m.id for m in later]
    assert senders == [m.sender_user.username for m in later]
    assert len(ctx.captured_queries) == 1


def test_list_filters_by_status_team_assignee_and_since(admin_user, number, team, other_team, agent):
    old = ConversationFactory(contact=ContactFactory(number=number), team=team, status="queued")
    Conversation.objects.filter(pk=old.pk).update(last_activity_at=timezone.now() - timezone.timedelta(hours=2))
    mine = ConversationFactory(contact=ContactFactory(number=number), team=other_team, status="assigned", assignee=agent)

    assert [c.id for c in conversation_list(user=admin_user, status="queued")] == [old.id]
    assert [c.id for c in conversation_list(user=admin_user, team_id=other_team.id)] == [mine.id]
    assert [c.id for c in conversation_list(user=admin_user, assignee_id=agent.id)] == [mine.id]
    assert [c.id for c in conversation_list(user=admin_user, unassigned=True)] == [old.id]
    since = timezone.now() - timezone.timedelta(hours=1)
    assert [c.id for c in conversation_list(user=admin_user, since=since)] == [mine.id]
