"""Fixtures for routing tests: online agents with profiles, and handed-off conversations."""

from __future__ import annotations

import pytest

from agents.models import AgentProfile
from tests.factories import ConversationFactory, UserFactory


def make_agent(team, username: str, *, capacity: int = 3, skills=(), languages=(), presence="online"):
    user = UserFactory(username=username)
    team.members.add(user)
    AgentProfile.objects.update_or_create(
        user=user,
        defaults={"capacity": capacity, "skills": list(skills), "languages": list(languages), "presence": presence},
    )
    return user


@pytest.fixture
def online_agent():
    return make_agent


@pytest.fixture
def bot_conversation(number):
    def build(**kwargs):
        return ConversationFactory(contact__number=number, number=number, **kwargs)

    return build
