"""Fixtures for bot scenarios: the demo flow bot on the test number, its policy, an agent
online, a Rasa-like server, and `Customer`, who writes through the real webhook."""

from __future__ import annotations

import pytest

from agents.services.presence import presence_set
from bots.demo import demo_flow_create, demo_lookup_service, demo_orders_load, demo_policy_create
from bots.models import HUMAN_OPTION_ID
from conversations.models import Conversation
from tests.bots.rasa_server import start_rasa_server
from tests.support import webhooks
from tests.support.order_api import start_order_api


class Customer:
    """A customer writing to the test number through the real, signed webhook."""

    def __init__(self, client, graph, wa_id: str = "15551234567", name: str = "Ana Customer"):
        self.client, self.graph, self.wa_id, self.name = client, graph, wa_id, name
        self.seen = 0

    def says(self, text: str) -> list[dict]:
        return self._post(webhooks.text_payload(text, wa_id=self.wa_id, name=self.name))

    def taps(self, button_id: str, title: str = "") -> list[dict]:
        return self._post(webhooks.button_reply_payload(button_id, title or button_id, wa_id=self.wa_id))

    def picks(self, row_id: str, title: str = "") -> list[dict]:
        return self._post(webhooks.list_reply_payload(row_id, title or row_id, wa_id=self.wa_id))

    def sends(self, message: dict) -> list[dict]:
        return self._post(webhooks.envelope(webhooks.messages_value([message], wa_id=self.wa_id, name=self.name)))

    def _post(self, payload: dict) -> list[dict]:
        response = webhooks.post(self.client, payload)
        assert response.status_code == 200
        return self.new_replies()

    def new_replies(self) -> list[dict]:
        """What went out to this customer at the Graph server since the last look."""
        sent = [m for m in self.graph.sent_messages() if m.get("to") == self.wa_id]
        fresh, self.seen = sent[self.seen :], len(sent)
        return fresh

    @property
    def conversation(self) -> Conversation:
        return Conversation.objects.get(contact__wa_id=self.wa_id)


def texts(replies: list[dict]) -> list[str]:
    out = []
    for reply in replies:
        if reply["type"] == "text":
            out.append(reply["text"]["body"])
        elif reply["type"] == "interactive":
            out.append(reply["interactive"]["body"]["text"])
    return out


def option_ids(reply: dict) -> list[str]:
    interactive = reply["interactive"]
    if interactive["type"] == "button":
        return [b["reply"]["id"] for b in interactive["action"]["buttons"]]
    return [row["id"] for section in interactive["action"]["sections"] for row in section["rows"]]


def menus(replies: list[dict]) -> list[dict]:
    return [r for r in replies if r["type"] == "interactive"]


def offers_a_person(reply: dict) -> bool:
    return HUMAN_OPTION_ID in option_ids(reply)


@pytest.fixture
def customer(client, graph, number):
    return Customer(client, graph)


@pytest.fixture
def policy(db, team):
    return demo_policy_create(team=team)


@pytest.fixture
def order_api(settings):
    """A real local HTTP server answering like the demo's order API (tests/support/order_api.py)."""
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
    state, server = start_order_api()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def demo_bot(db, number, policy, order_api):
    demo_orders_load()
    return demo_flow_create(number=number, lookup_service=demo_lookup_service(base_url=f"{order_api.url}/demo/"))


@pytest.fixture
def agent_online(agent):
    presence_set(user=agent, presence="online")
    return agent


@pytest.fixture
def rasa():
    state, server = start_rasa_server()
    yield state
    server.shutdown()
    server.server_close()
