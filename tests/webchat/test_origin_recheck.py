"""Visitor sockets already open when an admin changes the inbox: a socket whose site was
removed from the allowed origins (or every socket, when the inbox is disabled or deleted)
is closed with 4403; a socket whose site is still allowed stays open and keeps working."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.test import Client

from conversations.models import WebChatInbox
from tests.webchat.conftest import SITE, new_visitor, open_visitor, visitor_call

pytestmark = pytest.mark.django_db(transaction=True)

WWW = "https://www.shop.example"


def _visitor_of(inbox: WebChatInbox, origin: str) -> str:
    response = visitor_call(inbox, "session", {"origin": origin})
    assert response.status_code == 200, response.content
    token = response.json()["token"]
    return visitor_call(inbox, "prechat", {"token": token, "name": "Bo", "email": "bo@example.com"}).json()["token"]


async def _closed_with(socket) -> int:
    frame = await socket.receive_output(timeout=3)
    assert frame["type"] == "websocket.close", frame
    return frame["code"]


async def _still_open(socket) -> None:
    await socket.send_json_to({"action": "ping"})
    assert (await socket.receive_json_from(timeout=3))["type"] == "pong"


async def test_removing_an_origin_closes_the_sockets_from_it_and_only_those(api, admin_user, inbox):
    removed = await open_visitor(inbox, await database_sync_to_async(new_visitor)(inbox))  # from SITE
    kept = await open_visitor(inbox, await database_sync_to_async(_visitor_of)(inbox, WWW))
    direct = await open_visitor(inbox, await database_sync_to_async(_visitor_of)(inbox, WWW), origin=SITE.encode())

    def remove_site():
        api.force_authenticate(admin_user)
        response = api.patch(f"/api/v1/inboxes/{inbox.pk}/", {"allowed_origins": [WWW]}, format="json")
        assert response.status_code == 200, response.content

    await database_sync_to_async(remove_site)()
    assert await _closed_with(removed) == 4403
    # A socket opened straight from the removed site, whatever its token says, goes too.
    assert await _closed_with(direct) == 4403
    await _still_open(kept)
    assert await kept.receive_nothing(timeout=0.3), "the inbox's change is never forwarded to a visitor"
    await kept.disconnect()


async def test_disabling_the_inbox_in_the_admin_closes_every_socket(admin_user, inbox):
    first = await open_visitor(inbox, await database_sync_to_async(new_visitor)(inbox))
    second = await open_visitor(inbox, await database_sync_to_async(_visitor_of)(inbox, WWW))

    def disable():
        client = Client()
        client.force_login(admin_user)
        page = client.get(f"/admin/conversations/webchatinbox/{inbox.pk}/change/")
        assert page.status_code == 200
        form = page.context["adminform"].form
        data = {name: form[name].value() for name in form.fields if name != "is_active"}
        data = {k: ("" if v is None else v) for k, v in data.items()}
        data["ask_name"] = "on" if data["ask_name"] else ""
        data["ask_email"] = "on" if data["ask_email"] else ""
        data = {k: v for k, v in data.items() if v not in ("", False)}
        response = client.post(f"/admin/conversations/webchatinbox/{inbox.pk}/change/", data)
        assert response.status_code == 302, response.content[:2000]

    await database_sync_to_async(disable)()
    assert not (await sync_to_async(WebChatInbox.objects.get)(pk=inbox.pk)).is_active
    assert await _closed_with(first) == 4403
    assert await _closed_with(second) == 4403


async def test_a_change_that_keeps_the_origin_keeps_the_socket(api, admin_user, inbox):
    socket = await open_visitor(inbox, await database_sync_to_async(new_visitor)(inbox))

    def rename():
        api.force_authenticate(admin_user)
        assert api.patch(f"/api/v1/inboxes/{inbox.pk}/", {"greeting": "Hello"}, format="json").status_code == 200

    await database_sync_to_async(rename)()
    await _still_open(socket)
    await socket.disconnect()
