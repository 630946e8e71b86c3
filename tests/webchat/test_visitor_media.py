"""Files from an agent to a web chat visitor: sent from the desk's API as on WhatsApp, pushed
to the visitor's socket with what the widget shows (kind, name, size, thumbnail) and links
signed for that one file, and served by those links only, with the desk's safe headers: a
link for another file or inbox, a tampered or expired one, or the visitor's token in the URL
gets nothing."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from channels.db import database_sync_to_async
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from conversations.models import Conversation, Message, WebChatInbox
from conversations.providers.webchat import HUMAN_OPTION_ID
from conversations.providers.webchat.tokens import media_link_signature
from conversations.services.webchat import (
    webchat_contact,
    webchat_history,
    webchat_message_receive,
    webchat_visitor,
)
from tests.support import media_files
from tests.webchat.conftest import new_visitor, next_of, open_visitor

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


def _visitor_conversation(inbox, agent, name="Ann") -> tuple[str, Conversation]:
    """A visitor who asked for a person, with their conversation assigned to `agent`."""
    token = new_visitor(inbox, name=name)
    visitor = webchat_visitor(inbox=inbox, token=token)
    webchat_message_receive(inbox=inbox, visitor=visitor, client_id=f"client-{name}-1", reply=HUMAN_OPTION_ID)
    conversation = Conversation.objects.get(contact__user_id=visitor.contact_user_id)
    Conversation.objects.filter(pk=conversation.pk).update(status="assigned", assignee=agent)
    return token, conversation


def _agent_sends(api, agent, conversation, data: bytes, name: str, mime: str, caption: str = "") -> dict:
    api.force_authenticate(agent)
    upload = SimpleUploadedFile(name, data, content_type=mime)
    response = api.post(f"/api/v1/conversations/{conversation.pk}/messages/", {"file": upload, "caption": caption},
                        format="multipart")
    assert response.status_code == 201, response.content
    return response.json()


def _links(inbox, token: str) -> dict[int, dict]:
    """The `media` of each of the visitor's messages, as the widget's catch-up carries it."""
    contact = webchat_contact(inbox=inbox, visitor=webchat_visitor(inbox=inbox, token=token), create=False)
    return {m["id"]: m["media"] for m in webchat_history(inbox=inbox, contact=contact) if "media" in m}


def _get(url: str):
    return Client().get(url)


def _sig(url: str) -> str:
    return parse_qs(urlsplit(url).query)["sig"][0]


def test_the_visitor_fetches_an_image_an_agent_sent_and_its_thumbnail(api, inbox, agent):
    token, conversation = _visitor_conversation(inbox, agent)
    photo = media_files.jpeg()
    sent = _agent_sends(api, agent, conversation, photo, "photo.jpg", "image/jpeg", caption="Your <b>order</b>")
    stored = Message.objects.get(pk=sent["id"])
    assert stored.status == "sent" and str(stored.provider_message_id).startswith("webchat-")
    media = _links(inbox, token)[stored.pk]
    assert media["url"].startswith(f"/webchat/{inbox.key}/media/{stored.pk}/?sig=")
    assert media["thumbnail_url"].startswith(f"/webchat/{inbox.key}/media/{stored.pk}/thumbnail/?sig=")
    assert token not in media["url"] and "token" not in media["url"]

    full = _get(media["url"])
    assert full.status_code == 200
    assert b"".join(full.streaming_content) == photo
    assert full["Content-Type"] == "image/jpeg" and "attachment" not in full.get("Content-Disposition", "")
    assert full["X-Content-Type-Options"] == "nosniff" and full["Content-Security-Policy"] == "sandbox"
    assert full["Referrer-Policy"] == "no-referrer" and full["Cross-Origin-Resource-Policy"] == "same-origin"
    thumb = _get(media["thumbnail_url"])
    assert thumb.status_code == 200 and thumb["Content-Type"] in ("image/jpeg", "image/png")
    assert len(b"".join(thumb.streaming_content)) < len(photo)


def test_a_document_is_a_download_with_its_name_and_no_thumbnail_link(api, inbox, agent):
    token, conversation = _visitor_conversation(inbox, agent)
    sent = _agent_sends(api, agent, conversation, media_files.pdf(), "terms.pdf", "application/pdf")
    media = _links(inbox, token)[sent["id"]]
    assert "thumbnail_url" not in media
    response = _get(media["url"])
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment") and "terms.pdf" in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff" and response["Content-Security-Policy"] == "sandbox"
    thumbnail = f"/webchat/{inbox.key}/media/{sent['id']}/thumbnail/?sig={_sig(media['url'])}"
    assert _get(thumbnail).status_code == 404  # a document has none


def _refused(response) -> bool:
    return response.status_code == 403 and response.json()["code"] == "forbidden" and response.json()["detail"]


def test_a_link_opens_only_its_own_file_in_its_own_inbox(api, inbox, agent, number, team):
    token, conversation = _visitor_conversation(inbox, agent)
    first = _agent_sends(api, agent, conversation, media_files.png(), "map.png", "image/png")
    second = _agent_sends(api, agent, conversation, media_files.pdf(), "terms.pdf", "application/pdf")
    links = _links(inbox, token)
    first_sig = _sig(links[first["id"]]["url"])
    assert _get(links[second["id"]]["url"]).status_code == 200
    assert _refused(_get(f"/webchat/{inbox.key}/media/{second['id']}/?sig={first_sig}"))
    assert _refused(_get(f"/webchat/{inbox.key}/media/{second['id']}/thumbnail/?sig={first_sig}"))

    other = WebChatInbox.objects.create(name="Other", number=number, team=team, allowed_origins="https://b.example")
    assert _refused(_get(f"/webchat/{other.key}/media/{first['id']}/?sig={first_sig}"))
    # Even a valid link of the other inbox does not reach this inbox's visitors' files.
    assert _get(f"/webchat/{other.key}/media/{first['id']}/?sig={media_link_signature(other.key, first['id'])}"
                ).status_code == 404


def test_a_tampered_missing_or_token_link_is_refused(api, inbox, agent):
    token, conversation = _visitor_conversation(inbox, agent)
    sent = _agent_sends(api, agent, conversation, media_files.png(), "map.png", "image/png")
    url = _links(inbox, token)[sent["id"]]["url"]
    stamp, signature = _sig(url).split(":")
    path = f"/webchat/{inbox.key}/media/{sent['id']}/"
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert _refused(Client().get(path, {"sig": f"{stamp}:{flipped}"}))
    assert _refused(Client().get(path, {"sig": f"{stamp[:-1]}{'0' if stamp[-1] != '0' else '1'}:{signature}"}))
    assert _refused(Client().get(path, {"sig": "x" * 500}))
    assert _refused(Client().get(path))
    assert _refused(Client().get(path, {"token": token}))  # the visitor's token is no key to files
    assert Client().get(path, {"sig": _sig(url)}).status_code == 200


def test_a_link_expires_and_the_next_catch_up_carries_a_fresh_one(api, inbox, agent, settings):
    token, conversation = _visitor_conversation(inbox, agent)
    sent = _agent_sends(api, agent, conversation, media_files.png(), "map.png", "image/png")
    url = _links(inbox, token)[sent["id"]]["url"]
    assert settings.WEBCHAT_MEDIA_LINK_SECONDS == 24 * 3600
    with time_machine.travel(timezone.now() + timedelta(hours=23)):
        assert _get(url).status_code == 200
    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        assert _refused(_get(url))
        fresh = _links(inbox, token)[sent["id"]]
        assert fresh["url"] != url
        assert _get(fresh["url"]).status_code == 200
        assert _get(fresh["thumbnail_url"]).status_code == 200
    settings.WEBCHAT_MEDIA_LINK_SECONDS = 60
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        assert _refused(_get(url))


def test_a_visitor_fetches_their_own_upload_but_no_note_or_unsent_file(api, inbox, agent):
    token, conversation = _visitor_conversation(inbox, agent)
    upload = Client().post(
        f"/webchat/{inbox.key}/upload/",
        {"token": token, "client_id": "upload-0001",
         "file": SimpleUploadedFile("mine.png", media_files.png(), content_type="image/png")},
        HTTP_ORIGIN="http://testserver",
    )
    assert upload.status_code == 200, upload.content
    assert _get(_links(inbox, token)[upload.json()["message"]]["url"]).status_code == 200
    sent = _agent_sends(api, agent, conversation, media_files.png(), "later.png", "image/png")
    Message.objects.filter(pk=sent["id"]).update(provider_message_id=None, status="pending")
    assert sent["id"] not in _links(inbox, token)
    # A correctly signed link still opens nothing the visitor may not see.
    signed = f"/webchat/{inbox.key}/media/{sent['id']}/?sig={media_link_signature(inbox.key, sent['id'])}"
    assert _get(signed).status_code == 404
    Message.objects.filter(pk=sent["id"]).update(provider_message_id="webchat-x", status="sent", internal=True)
    assert _get(signed).status_code == 404


async def test_the_visitor_socket_gets_the_file_with_what_the_widget_shows(api, inbox, agent):
    token, conversation = await database_sync_to_async(_visitor_conversation)(inbox, agent)
    socket = await open_visitor(inbox, token)
    sent = await database_sync_to_async(_agent_sends)(
        api, agent, conversation, media_files.pdf(), "terms.pdf", "application/pdf", "Please sign"
    )
    frame = (await next_of(socket, "message", id=sent["id"]))["message"]
    assert frame["text"] == "Please sign"
    assert frame["media"] == {
        "kind": "document", "mime_type": "application/pdf", "name": "terms.pdf", "size": len(media_files.pdf()),
        "size_text": frame["media"]["size_text"], "inline": False, "thumbnail": False,
        "url": frame["media"]["url"],
    }
    assert frame["media"]["url"].startswith(f"/webchat/{inbox.key}/media/{sent['id']}/?sig=")
    assert (await database_sync_to_async(_get)(frame["media"]["url"])).status_code == 200
    assert frame["media"]["size_text"].endswith("KB")
    again = await open_visitor(inbox, socket.hello["token"])  # catch-up carries it too
    assert [m["media"]["name"] for m in again.hello["messages"] if "media" in m] == ["terms.pdf"]
    await socket.disconnect()
    await again.disconnect()


async def test_a_reconnecting_widget_gets_fresh_links_for_the_files_it_already_shows(api, inbox, agent):
    token, conversation = await database_sync_to_async(_visitor_conversation)(inbox, agent)
    photo = await database_sync_to_async(_agent_sends)(api, agent, conversation, media_files.jpeg(), "a.jpg", "image/jpeg")
    note = await database_sync_to_async(_agent_sends)(api, agent, conversation, media_files.png(), "b.png", "image/png")
    await Message.objects.filter(pk=note["id"]).aupdate(internal=True)
    later = await database_sync_to_async(_agent_sends)(api, agent, conversation, media_files.pdf(), "c.pdf",
                                                      "application/pdf")
    old = (await database_sync_to_async(_links)(inbox, token))[photo["id"]]
    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        assert _refused(await database_sync_to_async(_get)(old["url"]))
        socket = await open_visitor(inbox, token, after=note["id"])  # it shows everything up to the note
        links = {link["id"]: link for link in socket.hello["media_links"]}
        assert set(links) == {photo["id"]}  # not the note's file; the later one comes whole in `messages`
        assert [m["id"] for m in socket.hello["messages"] if "media" in m] == [later["id"]]
        assert (await database_sync_to_async(_get)(links[photo["id"]]["url"])).status_code == 200
        assert (await database_sync_to_async(_get)(links[photo["id"]]["thumbnail_url"])).status_code == 200
        await socket.disconnect()
    fresh = await open_visitor(inbox, token)  # a widget with nothing shown gets everything in `messages`
    assert fresh.hello["media_links"] == []
    await fresh.disconnect()
