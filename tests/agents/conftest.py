"""Fixtures for routing tests: online agents with profiles, handed-off conversations, and
a listener on channel-layer groups."""

from __future__ import annotations

import pytest

from agents.models import AgentProfile
from config import realtime
from tests.factories import ConversationFactory, UserFactory
from tests.support.layer_listener import LayerListener


def make_agent(team, username: str, *, capacity: int = 3, skills=(), languages=(), presence="online"):
    user = UserFactory(username=username)
    if team is not None:
        team.members.add(user)
    AgentProfile.objects.update_or_create(
        user=user,
        defaults={"capacity": capacity, "skills": list(skills), "languages": list(languages), "presence": presence},
    )
    return user


@pytest.fixture
def bot_conversation(number):
    def build(**kwargs):
        return ConversationFactory(contact__number=number, number=number, **kwargs)

    return build


class GroupListener(LayerListener):
    """A test channel subscribed to channel-layer groups; `events()` drains what arrived."""

    def __init__(self, *groups: str):
        super().__init__(groups)

    def events(self, quiet: float = 0.1) -> list[dict]:
        assert realtime.flush(), "desk events were not sent"
        return super().events(quiet)


@pytest.fixture
def listen():
    listeners: list[GroupListener] = []

    def open_listener(*groups: str) -> GroupListener:
        listeners.append(GroupListener(*groups))
        return listeners[-1]

    yield open_listener
    for listener in listeners:
        listener.close()
