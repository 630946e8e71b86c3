"""Conversations in and out of the personas' reach, for the API tests."""

from __future__ import annotations

import pytest

from conversations.models import Participant
from tests.factories import ContactFactory, ConversationFactory


@pytest.fixture
def team_conversation(number, team):
    """A conversation of the agent's team (Support), not yet assigned."""
    return ConversationFactory(contact=ContactFactory(number=number, profile_name="Ada Customer"), team=team)


@pytest.fixture
def other_conversation(number, other_team):
    """A conversation of the outsider's team (Sales)."""
    return ConversationFactory(contact=ContactFactory(number=number, profile_name="Bob Sales"), team=other_team)


@pytest.fixture
def teamless_conversation(number):
    return ConversationFactory(contact=ContactFactory(number=number, profile_name="Cy Nobody"), team=None)


def join(conversation, user, role=Participant.Role.PARTICIPANT):
    return Participant.objects.create(conversation=conversation, user=user, role=role)
