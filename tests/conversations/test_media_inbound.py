"""Inbound media against a real local HTTP server playing Graph: every kind downloaded and
stored once (also when the webhook comes twice), the SSRF cases, size caps and bytes that
are not what the MIME type says, temporary errors retried, failures kept with the reason
and retried from the API, and the files deleted with the contact's erasure."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image

from conversations.models import Message, MessageMedia
from conversations.services.contact_erasure import contact_erase
from conversations.services.media_download import media_download, media_downloads_redispatch_due
from tests.support import media_files, webhooks
from tests.support.graph_server import RawBody, start_graph_server
from tests.support.intake import DeskListener

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.MEDIA_DOWNLOAD_HOSTS = ["127.0.0.1", "localhost"]
    return tmp_path / "media"


@pytest.fixture
def other_host():
    """A second server, the place an attacker would like us to fetch from."""
    state, server = start_graph_server()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def deliver(client, number, django_capture_on_commit_callbacks):
    def deliver(payload):
        with django_capture_on_commit_callbacks(execute=True):
            response = webhooks.post(client, payload)
        assert response.status_code == 200

    return deliver


def media_message(kind: str, media_id: str, mime: str, data: bytes, **fields) -> dict:
    return webhooks.inbound_message(kind, {"id": media_id, "mime_type": mime, "sha256": media_files.sha256(data), **fields})


def file_requests(graph, path):
    return [r for r in graph.requests if r.method == "GET" and r.path == path]


KINDS = [
    ("image", "image/jpeg", media_files.jpeg, {"caption": "the broken part"}),
    ("audio", "audio/ogg; codecs=opus", media_files.ogg_opus, {"voice": True}),
    ("video", "video/mp4", media_files.mp4, {}),
    ("document", "application/pdf", media_files.pdf, {"filename": "invoice-2291.pdf"}),
    ("sticker", "image/webp", media_files.webp, {"animated": False}),
]


@pytest.mark.parametrize(("kind", "mime", "make", "fields"), KINDS, ids=[k[0] for k in KINDS])
def test_every_kind_is_downloaded_and_stored_once_when_the_webhook_comes_twice(
    deliver, graph, kind, mime, make, fields
):
    data = make()
    path = media_files.serve_media(graph, f"MEDIA-{kind}", data, mime)
    payload = webhooks.messages_payload([media_message(kind, f"MEDIA-{kind}", mime, data, **fields)])

    deliver(payload)
    deliver(payload)

    message = Message.objects.get(direction="in")
    media = MessageMedia.objects.get()
    assert media.message == message
    assert media.state == MessageMedia.State.STORED, media.failure_reason
    assert (media.kind, media.size, media.sha256) == (kind, len(data), media_files.sha256(data))
    assert media.mime_type == mime.split(";")[0]
    with default_storage.open(media.file.name, "rb") as handle:
        assert handle.read() == data
    assert len(file_requests(graph, f"/v23.0/MEDIA-{kind}")) == 1
    [fetch] = file_requests(graph, path)
    assert fetch.headers["Authorization"] == "Bearer test-access-token"
    assert media.voice is bool(fields.get("voice"))
    assert media.file_name == fields.get("filename", "")
    assert bool(media.thumbnail) is (kind in ("image", "sticker"))


def test_image_thumbnail_is_small_and_the_desk_hears_the_download(deliver, graph):
    data = media_files.jpeg(1600, 1200)
    media_files.serve_media(graph, "MEDIA-BIG", data, "image/jpeg")
    payload = webhooks.messages_payload([media_message("image", "MEDIA-BIG", "image/jpeg", data)])
    listener = DeskListener([])
    listener.add("supervisors")

    deliver(payload)

    media = MessageMedia.objects.get()
    with default_storage.open(media.thumbnail.name, "rb") as handle:
        thumb = Image.open(handle)
        assert max(thumb.size) <= 320
    updated = [
        e for e in listener.events() if e["type"] == "message.updated" and e["message"]["id"] == media.message_id
    ]
    assert updated and updated[-1]["message"]["media"]["state"] == "stored"
    assert updated[-1]["message"]["media"]["thumbnail_url"] == f"/media/{media.message_id}/thumbnail/"
    listener.close()


def test_a_url_carried_by_the_payload_is_never_fetched(deliver, graph, other_host):
    data = media_files.jpeg()
    media_files.serve_media(graph, "MEDIA-1", data, "image/jpeg")
    trap = other_host.base_url.rsplit("/", 1)[0] + "/steal"
    message = media_message("image", "MEDIA-1", "image/jpeg", data, url=trap)

    deliver(webhooks.messages_payload([message]))

    assert other_host.requests == []
    assert MessageMedia.objects.get().state == MessageMedia.State.STORED


def test_a_graph_answer_pointing_at_a_host_outside_the_allow_list_is_not_fetched(deliver, graph, other_host, settings):
    settings.MEDIA_DOWNLOAD_HOSTS = ["127.0.0.1"]
    data = media_files.jpeg()
    elsewhere = other_host.base_url.replace("127.0.0.1", "localhost").rsplit("/", 1)[0] + "/latest/meta-data"
    media_files.serve_media(graph, "MEDIA-2", data, "image/jpeg", url=elsewhere)

    deliver(webhooks.messages_payload([media_message("image", "MEDIA-2", "image/jpeg", data)]))

    assert other_host.requests == []
    media = MessageMedia.objects.get()
    assert (media.state, media.failure_code) == (MessageMedia.State.FAILED, "host_not_allowed")
    assert "MEDIA_DOWNLOAD_HOSTS" in media.failure_reason
    assert Message.objects.get(direction="in").text == "[image]"


def test_a_redirect_to_another_host_is_not_followed(deliver, graph, other_host):
    data = media_files.jpeg()
    path = media_files.serve_media(graph, "MEDIA-3", data, "image/jpeg")
    elsewhere = other_host.base_url.replace("127.0.0.1", "localhost").rsplit("/", 1)[0] + "/internal"
    graph.route("GET", path, lambda request: (302, RawBody(b"", "text/plain", {"Location": elsewhere})))

    deliver(webhooks.messages_payload([media_message("image", "MEDIA-3", "image/jpeg", data)]))

    assert other_host.requests == []
    media = MessageMedia.objects.get()
    assert (media.state, media.failure_code) == (MessageMedia.State.FAILED, "redirect_refused")


def test_a_redirect_on_the_same_host_is_followed(deliver, graph):
    data = media_files.jpeg()
    path = media_files.serve_media(graph, "MEDIA-4", data, "image/jpeg")
    graph.route("GET", "/moved", lambda request: (200, RawBody(data, "image/jpeg")))
    graph.route("GET", path, lambda request: (302, RawBody(b"", "text/plain", {"Location": "/moved"})))

    deliver(webhooks.messages_payload([media_message("image", "MEDIA-4", "image/jpeg", data)]))

    assert MessageMedia.objects.get().state == MessageMedia.State.STORED


def test_an_image_over_five_megabytes_is_refused_while_streaming(deliver, graph):
    data = media_files.jpeg() + b"\x00" * (5 * 1024 * 1024)
    media_files.serve_media(graph, "MEDIA-5", data, "image/jpeg", file_size=1000)

    deliver(webhooks.messages_payload([media_message("image", "MEDIA-5", "image/jpeg", data)]))

    media = MessageMedia.objects.get()
    assert (media.state, media.failure_code) == (MessageMedia.State.FAILED, "too_large")
    assert "5 MB" in media.failure_reason
    assert not media.file


def test_a_sticker_graph_says_is_too_big_is_not_fetched_at_all(deliver, graph):
    data = media_files.webp()
    path = media_files.serve_media(graph, "MEDIA-6", data, "image/webp", file_size=600 * 1024)

    deliver(webhooks.messages_payload([media_message("sticker", "MEDIA-6", "image/webp", data)]))

    assert file_requests(graph, path) == []
    assert MessageMedia.objects.get().failure_code == "too_large"


def test_bytes_that_are_not_the_declared_type_are_not_stored(deliver, graph, media_root):
    media_files.serve_media(graph, "MEDIA-7", media_files.HTML, "image/jpeg")

    deliver(webhooks.messages_payload([media_message("image", "MEDIA-7", "image/jpeg", media_files.HTML)]))

    media = MessageMedia.objects.get()
    assert (media.state, media.failure_code) == (MessageMedia.State.FAILED, "mime_mismatch")
    assert not media.file
    assert not [p for p in media_root.rglob("*") if p.is_file()]


def test_a_media_id_graph_does_not_know_fails_with_the_reason_and_the_message_stays(deliver, graph):
    graph.route(
        "GET", "/v23.0/MEDIA-GONE",
        lambda request: (400, {"error": {"message": "Unsupported get request", "type": "GraphMethodException", "code": 100}}),
    )

    deliver(webhooks.messages_payload([media_message("document", "MEDIA-GONE", "application/pdf", b"x", filename="a.pdf")]))

    message = Message.objects.get(direction="in")
    assert message.text == "[document] a.pdf"
    assert message.media.state == MessageMedia.State.FAILED
    assert message.media.failure_code == "graph_100"


def test_the_desk_hears_the_new_message_before_its_download_starts(deliver, graph):
    """A download that fails at once must not overtake the message's own event: the desk
    keeps the last state it hears, so the other order would leave "Downloading…" forever."""
    listener = DeskListener([])
    listener.add("supervisors")
    heard_before_download: list[tuple[str, str]] = []

    def media_info(request):
        heard_before_download.extend(
            (e["type"], e["message"]["media"]["state"]) for e in listener.events(0.1) if e["type"].startswith("message.") and e["message"]["type"] == "image"
        )
        return 404, {"error": {"message": "gone", "code": 100}}

    graph.route("GET", "/v23.0/MEDIA-FAST-FAIL", media_info)

    deliver(webhooks.messages_payload([media_message("image", "MEDIA-FAST-FAIL", "image/jpeg", b"x")]))

    after = [(e["type"], e["message"]["media"]["state"]) for e in listener.events() if e["type"].startswith("message.") and e["message"]["type"] == "image"]
    listener.close()
    assert heard_before_download == [("message.created", "pending")]
    assert after == [("message.updated", "failed")]


def test_a_temporary_error_is_retried_and_then_stored(number, graph, deliver, django_capture_on_commit_callbacks):
    data = media_files.jpeg()
    media_files.serve_media(graph, "MEDIA-8", data, "image/jpeg")
    calls = []

    def flaky(request):
        calls.append(request)
        if len(calls) == 1:
            return 500, {"error": {"message": "temporarily unavailable", "type": "OAuthException", "code": 2}}
        return 200, {"url": graph.base_url.rsplit("/", 1)[0] + "/files/MEDIA-8", "mime_type": "image/jpeg", "id": "MEDIA-8"}

    graph.route("GET", "/v23.0/MEDIA-8", flaky)

    deliver(webhooks.messages_payload([media_message("image", "MEDIA-8", "image/jpeg", data)]))

    media = MessageMedia.objects.get()
    assert (media.state, media.attempts) == (MessageMedia.State.PENDING, 1)
    assert media.failure_reason  # the desk can say why it is waiting
    later = timezone.now() + timedelta(hours=1)
    with time_machine.travel(later, tick=False), django_capture_on_commit_callbacks(execute=True):
        assert media_downloads_redispatch_due() == 1
    media.refresh_from_db()
    assert (media.state, media.attempts, media.failure_code) == (MessageMedia.State.STORED, 2, "")


def test_a_second_run_of_the_task_downloads_nothing(deliver, graph):
    data = media_files.jpeg()
    path = media_files.serve_media(graph, "MEDIA-9", data, "image/jpeg")
    deliver(webhooks.messages_payload([media_message("image", "MEDIA-9", "image/jpeg", data)]))

    assert media_download(media_id=MessageMedia.objects.get().pk).outcome == "skipped"
    assert len(file_requests(graph, path)) == 1


def test_failed_download_is_retried_through_the_api_by_an_agent_who_sees_it(
    deliver, graph, api, agent, outsider, team, django_capture_on_commit_callbacks
):
    data = media_files.jpeg()
    graph.route("GET", "/v23.0/MEDIA-10", lambda request: (404, {"error": {"message": "gone", "code": 100}}))
    deliver(webhooks.messages_payload([media_message("image", "MEDIA-10", "image/jpeg", data)]))
    message = Message.objects.get(direction="in")
    message.conversation.team = team
    message.conversation.save(update_fields=["team"])
    assert message.media.state == MessageMedia.State.FAILED
    url = f"/api/v1/conversations/{message.conversation_id}/messages/{message.pk}/media/retry/"

    api.force_authenticate(outsider)
    assert api.post(url).status_code == 404

    media_files.serve_media(graph, "MEDIA-10", data, "image/jpeg")
    api.force_authenticate(agent)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(url)
    assert response.status_code == 200, response.content
    message.media.refresh_from_db()
    assert message.media.state == MessageMedia.State.STORED
    assert response.json()["media"]["state"] in ("pending", "stored")

    again = api.post(url)
    assert (again.status_code, again.json()["code"]) == (400, "invalid")


def test_erasing_the_contact_deletes_its_media_files(deliver, graph, django_capture_on_commit_callbacks):
    data = media_files.jpeg()
    media_files.serve_media(graph, "MEDIA-11", data, "image/jpeg")
    deliver(webhooks.messages_payload([media_message("image", "MEDIA-11", "image/jpeg", data)]))
    media = MessageMedia.objects.get()
    paths = [media.file.name, media.thumbnail.name]
    assert all(default_storage.exists(p) for p in paths)

    contact = media.message.conversation.contact
    with django_capture_on_commit_callbacks(execute=True):
        contact_erase(contact=contact, actor=None)

    media.refresh_from_db()
    assert media.state == MessageMedia.State.REMOVED
    assert (media.file.name, media.file_name, media.sha256) == ("", "", "")
    assert not any(default_storage.exists(p) for p in paths)


def echo_payload(*items: dict) -> dict:
    """`smb_message_echoes`: what the business sent from its own WhatsApp Business app."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": webhooks.DISPLAY_NUMBER, "phone_number_id": webhooks.PHONE_NUMBER_ID},
        "message_echoes": list(items),
    }
    return webhooks.envelope(value, field="smb_message_echoes")


def echo_media(kind: str, media_id: str, mime: str, data: bytes, *, to: str = "15551234567", **fields) -> dict:
    message = media_message(kind, media_id, mime, data, **fields)
    return {**message, "from": webhooks.DISPLAY_NUMBER, "to": to}


def test_a_photo_and_a_document_the_business_sent_from_its_phone_are_downloaded_once_for_the_desk(deliver, graph):
    photo, pdf = media_files.jpeg(1200, 900), media_files.pdf()
    photo_path = media_files.serve_media(graph, "ECHO-IMG", photo, "image/jpeg")
    media_files.serve_media(graph, "ECHO-DOC", pdf, "application/pdf")
    payload = echo_payload(
        echo_media("image", "ECHO-IMG", "image/jpeg", photo, caption="your part, packed"),
        echo_media("document", "ECHO-DOC", "application/pdf", pdf, filename="receipt.pdf"),
    )
    listener = DeskListener([])
    listener.add("supervisors")

    deliver(payload)
    deliver(payload)

    events = [(e["type"], e["message"]["type"], e["message"]["media"]["state"]) for e in listener.events()
              if e["type"].startswith("message.")]
    listener.close()
    image = Message.objects.get(type="image")
    assert (image.direction, image.sender_kind, image.text) == ("out", "agent", "[image] your part, packed")
    assert image.media.state == MessageMedia.State.STORED, image.media.failure_reason
    with default_storage.open(image.media.file.name, "rb") as handle:
        assert handle.read() == photo
    with default_storage.open(image.media.thumbnail.name, "rb") as handle:
        assert max(Image.open(handle).size) <= 320
    document = Message.objects.get(type="document").media
    assert (document.state, document.file_name, document.size) == (MessageMedia.State.STORED, "receipt.pdf", len(pdf))
    assert len(file_requests(graph, photo_path)) == 1
    for kind in ("image", "document"):  # the desk hears each message, then its download
        assert [(t, state) for t, k, state in events if k == kind] == [
            ("message.created", "pending"), ("message.updated", "stored")
        ]


def test_an_echo_is_held_to_the_same_rules_no_payload_url_and_bytes_that_match_their_type(
    deliver, graph, other_host, media_root
):
    trap = other_host.base_url.rsplit("/", 1)[0] + "/steal"
    media_files.serve_media(graph, "ECHO-FAKE", media_files.HTML, "image/jpeg")

    deliver(echo_payload(echo_media("image", "ECHO-FAKE", "image/jpeg", media_files.HTML, url=trap)))

    assert other_host.requests == []
    media = Message.objects.get(direction="out").media
    assert (media.state, media.failure_code) == (MessageMedia.State.FAILED, "mime_mismatch")
    assert not [p for p in media_root.rglob("*") if p.is_file()]


def test_a_failed_echo_download_is_retried_through_the_api(
    deliver, graph, api, agent, team, django_capture_on_commit_callbacks
):
    data = media_files.jpeg()
    graph.route("GET", "/v23.0/ECHO-LATE", lambda request: (404, {"error": {"message": "gone", "code": 100}}))
    deliver(echo_payload(echo_media("image", "ECHO-LATE", "image/jpeg", data)))
    message = Message.objects.get(direction="out")
    message.conversation.team = team
    message.conversation.save(update_fields=["team"])
    assert message.media.state == MessageMedia.State.FAILED

    media_files.serve_media(graph, "ECHO-LATE", data, "image/jpeg")
    api.force_authenticate(agent)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/api/v1/conversations/{message.conversation_id}/messages/{message.pk}/media/retry/")
    assert response.status_code == 200, response.content
    message.media.refresh_from_db()
    assert message.media.state == MessageMedia.State.STORED
