"""Fixtures for routing tests: online agents with profiles, handed-off conversations, and
a listener on channel-layer groups."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from agents.models import AgentProfile
from tests.factories import ConversationFactory, UserFactory


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


class GroupListener:
    """A test channel subscribed to channel-layer groups; `events()` drains what arrived."""

    def __init__(self, *groups: str):
        self.layer = get_channel_layer()
        self.channel = async_to_sync(self.layer.new_channel)()
        for group in groups:
            async_to_sync(self.layer.group_add)(group, self.channel)

    def events(self) -> list[dict]:
        received = []

        async def drain():
            import asyncio

            while True:
                try:
                    message = await asyncio.wait_for(self.layer.receive(self.channel), timeout=0.05)
                except TimeoutError:
                    return
                received.append(message["event"])

        async_to_sync(drain)()
        return received


@pytest.fixture
def listen():
    return GroupListener
