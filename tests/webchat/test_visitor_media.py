"""Files from an agent to a web chat visitor: sent from the desk's API as on WhatsApp, pushed
to the visitor's socket with what the widget shows (kind, name, size, thumbnail), and served
only to that visitor's own token, with the desk's safe headers; another visitor, a forged
token or nobody gets nothing."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from conversations.models import Conversation, Message
from conversations.providers.webchat import HUMAN_OPTION_ID
from conversations.services.webchat import webchat_message_receive, webchat_visitor
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


def _fetch(inbox, message_id: int, token: str | None, *, thumbnail: bool = False):
    path = f"/webchat/{inbox.key}/media/{message_id}/" + ("thumbnail/" if thumbnail else "")
    return Client().get(path, {"token": token} if token is not None else {})


def test_the_visitor_fetches_an_image_an_agent_sent_and_its_thumbnail(api, inbox, agent):
    token, conversation = _visitor_conversation(inbox, agent)
    photo = media_files.jpeg()
    sent = _agent_sends(api, agent, conversation, photo, "photo.jpg", "image/jpeg", caption="Your <b>order</b>")
    stored = Message.objects.get(pk=sent["id"])
    assert stored.status == "sent" and str(stored.provider_message_id).startswith("webchat-")

    full = _fetch(inbox, stored.pk, token)
    assert full.status_code == 200
    assert b"".join(full.streaming_content) == photo
    assert full["Content-Type"] == "image/jpeg" and "attachment" not in full.get("Content-Disposition", "")
    assert full["X-Content-Type-Options"] == "nosniff" and full["Content-Security-Policy"] == "sandbox"
    assert full["Referrer-Policy"] == "no-referrer" and full["Cross-Origin-Resource-Policy"] == "same-origin"
    thumb = _fetch(inbox, stored.pk, token, thumbnail=True)
    assert thumb.status_code == 200 and thumb["Content-Type"] in ("image/jpeg", "image/png")
    assert len(b"".join(thumb.streaming_content)) < len(photo)


def test_a_document_is_a_download_with_its_name(api, inbox, agent):
    token, conversation = _visitor_conversation(inbox, agent)
    sent = _agent_sends(api, agent, conversation, media_files.pdf(), "terms.pdf", "application/pdf")
    response = _fetch(inbox, sent["id"], token)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment") and "terms.pdf" in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff" and response["Content-Security-Policy"] == "sandbox"
    assert _fetch(inbox, sent["id"], token, thumbnail=True).status_code == 404  # a document has none


def test_another_visitor_a_forged_token_or_nobody_gets_nothing(api, inbox, agent):
    token, conversation = _visitor_conversation(inbox, agent)
    other, _ = _visitor_conversation(inbox, agent, name="Bob")
    sent = _agent_sends(api, agent, conversation, media_files.png(), "map.png", "image/png")
    assert _fetch(inbox, sent["id"], other).status_code == 404
    assert _fetch(inbox, sent["id"], other, thumbnail=True).status_code == 404
    assert _fetch(inbox, sent["id"], "forged").status_code == 403
    assert _fetch(inbox, sent["id"], None).status_code == 403
    assert _fetch(inbox, sent["id"], token).status_code == 200


def test_a_visitor_fetches_their_own_upload_but_no_note_or_unsent_file(api, inbox, agent):
    token, conversation = _visitor_conversation(inbox, agent)
    upload = Client().post(
        f"/webchat/{inbox.key}/upload/",
        {"token": token, "client_id": "upload-0001",
         "file": SimpleUploadedFile("mine.png", media_files.png(), content_type="image/png")},
        HTTP_ORIGIN="http://testserver",
    )
    assert upload.status_code == 200, upload.content
    assert _fetch(inbox, upload.json()["message"], token).status_code == 200
    sent = _agent_sends(api, agent, conversation, media_files.png(), "later.png", "image/png")
    Message.objects.filter(pk=sent["id"]).update(provider_message_id=None, status="pending")
    assert _fetch(inbox, sent["id"], token).status_code == 404


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
    }
    assert frame["media"]["size_text"].endswith("KB")
    again = await open_visitor(inbox, socket.hello["token"])  # catch-up carries it too
    assert [m["media"]["name"] for m in again.hello["messages"] if "media" in m] == ["terms.pdf"]
    await socket.disconnect()
    await again.disconnect()
