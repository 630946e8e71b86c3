"""Fixtures and helpers for the webhook intake tests: a clean secrets cache, and a
listener on the real channel layer that collects desk events."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from conversations.intake import app_secrets_forget
from conversations.models import WebhookEvent


@pytest.fixture(autouse=True)
def fresh_secrets():
    app_secrets_forget()
    yield
    app_secrets_forget()


class DeskListener:
    """A channel subscribed to some groups; `events()` drains what arrived."""

    def __init__(self, groups: list[str]):
        self.layer = get_channel_layer()
        self.channel = async_to_sync(self.layer.new_channel)()
        self.groups = list(groups)
        for group in self.groups:
            async_to_sync(self.layer.group_add)(group, self.channel)

    def add(self, group: str) -> None:
        self.groups.append(group)
        async_to_sync(self.layer.group_add)(group, self.channel)

    def events(self) -> list[dict[str, Any]]:
        async def drain():
            import asyncio

            got = []
            while True:
                try:
                    message = await asyncio.wait_for(self.layer.receive(self.channel), timeout=0.2)
                except TimeoutError:
                    return got
                got.append(message["event"])

        return async_to_sync(drain)()

    def close(self) -> None:
        for group in self.groups:
            async_to_sync(self.layer.group_discard)(group, self.channel)


@pytest.fixture
def supervisors_listener():
    listener = DeskListener(["supervisors"])
    listener.events()
    yield listener
    listener.close()


def last_event() -> WebhookEvent:
    return WebhookEvent.objects.order_by("-pk").first()


def body_of(event: WebhookEvent) -> Any:
    return json.loads(bytes(event.body))
