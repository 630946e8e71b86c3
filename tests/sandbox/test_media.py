"""The stand-in Graph's media: uploads (`POST /{phone-number-id}/media`), `GET /{media-id}` and
the media URL it answers (the number's token only), a media message sent by id and shown on
the phone, and a file the simulated customer sends arriving as a webhook with only its id."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from conversations.providers.sandbox.models import PhoneMessage, SandboxMedia
from tests.sandbox.conftest import SANDBOX_TOKEN
from tests.support import media_files

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def auth(token=SANDBOX_TOKEN) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def upload(client, number, data, name, mime, token=SANDBOX_TOKEN):
    return client.post(
        f"/sandbox/graph/v23.0/{number.phone_number_id}/media",
        {"file": SimpleUploadedFile(name, data, content_type=mime), "type": mime, "messaging_product": "whatsapp"},
        **auth(token),
    )


def test_an_upload_gets_an_id_that_get_media_describes_and_its_url_serves(client, sandbox_number):
    data = media_files.jpeg()

    media_id = upload(client, sandbox_number, data, "a.jpg", "image/jpeg").json()["id"]
    info = client.get(f"/sandbox/graph/v23.0/{media_id}", **auth()).json()
    response = client.get(info["url"].replace("http://testserver", ""), **auth())

    assert info["mime_type"] == "image/jpeg"
    assert (info["file_size"], info["sha256"]) == (len(data), media_files.sha256(data))
    assert b"".join(response.streaming_content) == data


def test_media_needs_the_numbers_token(client, sandbox_number):
    media_id = upload(client, sandbox_number, media_files.pdf(), "a.pdf", "application/pdf").json()["id"]

    assert upload(client, sandbox_number, b"x", "b.pdf", "application/pdf", token="wrong").status_code == 401
    assert client.get(f"/sandbox/graph/v23.0/{media_id}", **auth("wrong")).json()["error"]["code"] == 190
    assert client.get(f"/sandbox/graph/media-files/{media_id}/").status_code == 401
    assert client.get("/sandbox/graph/v23.0/999999", **auth()).json()["error"]["code"] == 100


def test_an_image_sent_by_id_shows_on_the_phone(client, graph_post, phone, sandbox_number, hook_receiver):
    media_id = upload(client, sandbox_number, media_files.jpeg(), "a.jpg", "image/jpeg").json()["id"]

    response = graph_post(
        f"{sandbox_number.phone_number_id}/messages",
        {"messaging_product": "whatsapp", "to": phone.wa_id, "type": "image", "image": {"id": media_id, "caption": "Here"}},
    )

    assert response.status_code == 200, response.content
    shown = PhoneMessage.objects.get(direction="out")
    assert shown.rendered["media"] == "image"
    assert shown.rendered["media_url"] == f"/sandbox/media/{media_id}/"
    assert shown.rendered["body"] == "Here"


def test_an_unknown_media_id_is_refused_like_graph(graph_post, phone, sandbox_number):
    response = graph_post(
        f"{sandbox_number.phone_number_id}/messages",
        {"messaging_product": "whatsapp", "to": phone.wa_id, "type": "image", "image": {"id": "nope"}},
    )

    assert response.json()["error"]["code"] == 131053


def test_a_voice_note_from_the_phone_arrives_as_a_webhook_with_its_id_only(
    client, admin_user, phone, hook_receiver, django_capture_on_commit_callbacks
):
    client.force_login(admin_user)
    data = media_files.ogg_opus()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/sandbox/api/phones/{phone.pk}/media/",
            {"file": SimpleUploadedFile("note.ogg", data, content_type="audio/ogg"), "voice": "1"},
        )

    assert response.status_code == 201, response.content
    [hook] = hook_receiver.hooks
    [message] = hook.value["messages"]
    media = SandboxMedia.objects.get()
    assert message["type"] == "audio"
    assert message["audio"] == {"id": media.media_id, "mime_type": "audio/ogg", "sha256": media_files.sha256(data),
                                "voice": True}
    assert client.get(f"/sandbox/media/{media.media_id}/")["Content-Type"] == "audio/ogg"
