"""Serving media only to people who may see the conversation (page and API), inline for
images, audio and video with nosniff, as a sandboxed download for everything else; and
sending files: WhatsApp's rules checked before anything is stored, the upload to
`POST /{phone-number-id}/media`, the send by id, the 24-hour window."""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from conversations.models import Message, MessageMedia
from tests.factories import ContactFactory, ConversationFactory, MessageFactory
from tests.support import media_files

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


@pytest.fixture
def team_conversation(number, team):
    return ConversationFactory(contact=ContactFactory(number=number, wa_id="15557654321"), team=team)


def stored(conversation, kind: str, data: bytes, mime: str, name: str = "") -> Message:
    message = MessageFactory(conversation=conversation, type=kind, text=f"[{kind}]")
    media = MessageMedia(message=message, kind=kind, mime_type=mime, file_name=name, size=len(data),
                         state=MessageMedia.State.STORED)
    media.file.save(name or kind, ContentFile(data), save=False)
    media.save()
    return message


def test_an_agent_of_the_team_sees_an_image_inline_with_nosniff(client, agent, team_conversation):
    data = media_files.jpeg()
    message = stored(team_conversation, "image", data, "image/jpeg")
    client.force_login(agent)

    response = client.get(f"/media/{message.pk}/")

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == data
    assert response["Content-Type"] == "image/jpeg"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert not response["Content-Disposition"].startswith("attachment")


def test_an_outsider_gets_not_found_from_the_page_and_the_api(client, api, outsider, team_conversation):
    message = stored(team_conversation, "image", media_files.jpeg(), "image/jpeg")
    client.force_login(outsider)
    api.force_authenticate(outsider)

    assert client.get(f"/media/{message.pk}/").status_code == 404
    assert client.get(f"/media/{message.pk}/thumbnail/").status_code == 404
    response = api.get(f"/api/v1/conversations/{team_conversation.pk}/messages/{message.pk}/media/")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


def test_signed_out_visitors_are_sent_to_sign_in(client, team_conversation):
    message = stored(team_conversation, "image", media_files.jpeg(), "image/jpeg")

    response = client.get(f"/media/{message.pk}/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize(
    ("data", "mime", "name"),
    [(media_files.SVG, "image/svg+xml", "logo.svg"), (media_files.HTML, "text/html", "page.html"),
     (b"<?xml version='1.0'?><a/>", "application/xml", "data.xml"), (b"\x00\x01", "", "mystery")],
    ids=["svg", "html", "xml", "unknown"],
)
def test_svg_html_xml_and_unknown_files_are_sandboxed_downloads(api, agent, team_conversation, data, mime, name):
    message = stored(team_conversation, "document", data, mime, name)
    api.force_authenticate(agent)

    response = api.get(f"/api/v1/conversations/{team_conversation.pk}/messages/{message.pk}/media/")

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert name in response["Content-Disposition"]
    assert response["Content-Security-Policy"] == "sandbox"
    assert response["Content-Type"] == "application/octet-stream"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_a_pdf_downloads_with_its_name_and_the_message_lists_its_size(api, agent, team_conversation):
    message = stored(team_conversation, "document", media_files.pdf(), "application/pdf", "invoice.pdf")
    api.force_authenticate(agent)

    response = api.get(f"/api/v1/conversations/{team_conversation.pk}/messages/{message.pk}/media/")
    [row] = api.get(f"/api/v1/conversations/{team_conversation.pk}/messages/").json()["results"]

    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="invoice.pdf"'
    assert row["media"]["file_name"] == "invoice.pdf"
    assert row["media"]["size"] == len(media_files.pdf())
    assert row["media"]["url"] == f"/media/{message.pk}/"
    assert row["media"]["inline"] is False


def test_a_media_id_from_another_conversation_is_not_served_through_this_one(api, agent, team, number):
    first = ConversationFactory(contact=ContactFactory(number=number), team=team)
    second = ConversationFactory(contact=ContactFactory(number=number), team=team)
    message = stored(first, "image", media_files.jpeg(), "image/jpeg")
    api.force_authenticate(agent)

    assert api.get(f"/api/v1/conversations/{second.pk}/messages/{message.pk}/media/").status_code == 404


# --- sending ---------------------------------------------------------------------------------


def send_url(conversation) -> str:
    return f"/api/v1/conversations/{conversation.pk}/messages/"


def upload(data: bytes, name: str, mime: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=mime)


def test_a_file_is_uploaded_to_graph_then_sent_by_its_id(
    api, agent, team_conversation, graph, number, django_capture_on_commit_callbacks
):
    data = media_files.jpeg()
    graph.route("POST", f"/v23.0/{number.phone_number_id}/media", lambda request: (200, {"id": "UPLOADED-1"}))
    api.force_authenticate(agent)

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            send_url(team_conversation),
            {"file": upload(data, "part.jpg", "image/jpeg"), "caption": "Is this the one?"},
            format="multipart",
        )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["type"] == "image"
    assert body["media"]["file_name"] == "part.jpg"
    [uploaded] = [r for r in graph.requests if r.path.endswith("/media")]
    assert uploaded.headers["Authorization"] == "Bearer test-access-token"
    assert uploaded.headers["Content-Type"].startswith("multipart/form-data")
    assert data in uploaded.raw
    assert b'name="messaging_product"' in uploaded.raw
    [sent] = graph.sent_messages()
    assert sent["type"] == "image"
    assert sent["image"] == {"id": "UPLOADED-1", "caption": "Is this the one?"}
    message = Message.objects.get(pk=body["id"])
    assert message.status == Message.Status.SENT
    assert message.media.media_id == "UPLOADED-1"
    assert message.media.sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    ("kind", "data", "name", "mime", "expected"),
    [
        ("audio", media_files.ogg_opus(), "voice.ogg", "audio/ogg", {"id": "UP"}),
        ("video", media_files.mp4(), "clip.mp4", "video/mp4", {"id": "UP"}),
        ("document", media_files.pdf(), "terms.pdf", "application/pdf", {"id": "UP", "filename": "terms.pdf"}),
        ("sticker", media_files.webp(), "smile.webp", "image/webp", {"id": "UP"}),
    ],
    ids=["audio", "video", "document", "sticker"],
)
def test_every_kind_is_sent_by_id(
    api, agent, team_conversation, graph, number, django_capture_on_commit_callbacks, kind, data, name, mime, expected
):
    graph.route("POST", f"/v23.0/{number.phone_number_id}/media", lambda request: (200, {"id": "UP"}))
    api.force_authenticate(agent)

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(send_url(team_conversation), {"file": upload(data, name, mime)}, format="multipart")

    assert response.status_code == 201, response.content
    [sent] = graph.sent_messages()
    assert (sent["type"], sent[kind]) == (kind, expected)


def _refused(api, conversation, data, name, mime, caption=""):
    form = {"file": upload(data, name, mime)}
    if caption:
        form["caption"] = caption
    return api.post(send_url(conversation), form, format="multipart")


@pytest.mark.parametrize(
    ("data", "name", "mime", "caption", "rule"),
    [
        (media_files.jpeg() + b"\x00" * (5 * 1024 * 1024), "big.jpg", "image/jpeg", "", "at most 5 MB for an image"),
        (media_files.webp() + b"\x00" * (500 * 1024), "big.webp", "image/webp", "", "at most 500 KB for a sticker"),
        (media_files.SVG, "logo.svg", "image/svg+xml", "", "does not take files of type image/svg+xml"),
        (b"MZ\x90\x00" + b"\x00" * 100, "setup.exe", "application/x-msdownload", "", "does not take files of type"),
        (media_files.HTML, "photo.jpg", "image/jpeg", "", "its bytes are not a known type"),
        (media_files.ogg_opus(), "v.ogg", "audio/ogg", "hello", "no caption with an audio"),
        (media_files.jpeg(), "a.jpg", "image/jpeg", "x" * 1025, "at most 1024"),
        (b"", "empty.pdf", "application/pdf", "", "The file is empty"),
    ],
    ids=["image-over-cap", "sticker-over-cap", "svg", "executable", "mime-mismatch", "audio-caption",
         "long-caption", "empty"],
)
def test_files_breaking_whatsapps_rules_are_refused_before_anything_is_stored(
    api, agent, team_conversation, graph, media_root, data, name, mime, caption, rule
):
    api.force_authenticate(agent)

    response = _refused(api, team_conversation, data, name, mime, caption)

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid"
    assert rule in response.json()["detail"]
    assert not Message.objects.filter(direction="out").exists()
    assert not MessageMedia.objects.exists()
    assert not [p for p in media_root.rglob("*") if p.is_file()]
    assert graph.requests == []


def test_outside_the_window_a_file_is_refused_window_closed(api, agent, team_conversation, graph, media_root):
    team_conversation.last_customer_message_at = timezone.now() - timezone.timedelta(hours=25)
    team_conversation.window_expires_at = None
    team_conversation.save()
    api.force_authenticate(agent)

    response = _refused(api, team_conversation, media_files.jpeg(), "a.jpg", "image/jpeg")

    assert (response.status_code, response.json()["code"]) == (409, "window_closed")
    assert not MessageMedia.objects.exists()
    assert not [p for p in media_root.rglob("*") if p.is_file()]


def test_an_outsider_cannot_send_a_file_into_a_conversation_they_do_not_see(api, outsider, team_conversation):
    api.force_authenticate(outsider)

    response = _refused(api, team_conversation, media_files.jpeg(), "a.jpg", "image/jpeg")

    assert response.status_code == 404
    assert not MessageMedia.objects.exists()


def test_an_upload_graph_refuses_fails_the_message_with_graphs_reason(
    api, agent, team_conversation, graph, number, django_capture_on_commit_callbacks
):
    graph.route(
        "POST", f"/v23.0/{number.phone_number_id}/media",
        lambda request: (400, {"error": {"message": "(#131053) Media upload error", "code": 131053,
                                         "error_data": {"details": "Unsupported file"}}}),
    )
    api.force_authenticate(agent)

    with django_capture_on_commit_callbacks(execute=True):
        response = _refused(api, team_conversation, media_files.jpeg(), "a.jpg", "image/jpeg")

    message = Message.objects.get(pk=response.json()["id"])
    assert message.status == Message.Status.FAILED
    assert message.error_code == "131053"
    assert graph.sent_messages() == []


# --- a template's media header from an uploaded file -------------------------------------------


@pytest.fixture
def invoice_template(number):
    from notifications.models import MessageTemplate, TemplateStatus

    return MessageTemplate.objects.create(
        number=number, business_account_id=number.business_account_id, name="invoice_ready", language="en",
        category="UTILITY", status=TemplateStatus.APPROVED,
        components=[{"type": "HEADER", "format": "DOCUMENT"}, {"type": "BODY", "text": "Invoice {{1}} is ready."}],
    )


def _opt_in(conversation):
    from notifications.services.consent import consent_opt_in

    consent_opt_in(contact=conversation.contact, category="utility", source="api", proof="test")


def test_a_template_header_document_is_uploaded_and_sent_by_id_outside_the_window(
    api, agent, team_conversation, graph, number, invoice_template, django_capture_on_commit_callbacks
):
    import json

    _opt_in(team_conversation)
    team_conversation.last_customer_message_at = timezone.now() - timezone.timedelta(days=3)
    team_conversation.window_expires_at = None
    team_conversation.save()
    graph.route("POST", f"/v23.0/{number.phone_number_id}/media", lambda request: (200, {"id": "HDR-1"}))
    api.force_authenticate(agent)

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            send_url(team_conversation),
            {"file": upload(media_files.pdf(), "INV-7.pdf", "application/pdf"),
             "template": json.dumps({"name": "invoice_ready", "language": "en", "parameters": ["INV-7"]})},
            format="multipart",
        )

    assert response.status_code == 201, response.content
    [sent] = graph.sent_messages()
    header, body = sent["template"]["components"]
    assert header == {"type": "header", "parameters": [{"type": "document", "document": {"id": "HDR-1"}}]}
    assert body["parameters"] == [{"type": "text", "text": "INV-7"}]
    assert Message.objects.get(pk=response.json()["id"]).media.file_name == "INV-7.pdf"


def test_a_file_of_the_wrong_kind_for_the_template_header_is_refused(
    api, agent, team_conversation, graph, invoice_template, media_root
):
    import json

    _opt_in(team_conversation)
    api.force_authenticate(agent)

    response = api.post(
        send_url(team_conversation),
        {"file": upload(media_files.jpeg(), "a.jpg", "image/jpeg"),
         "template": json.dumps({"name": "invoice_ready", "language": "en", "parameters": ["INV-7"]})},
        format="multipart",
    )

    assert (response.status_code, response.json()["code"]) == (400, "template_invalid")
    assert "has a document header; the file is an image" in response.json()["detail"]
    assert not [p for p in media_root.rglob("*") if p.is_file()]


def test_a_form_without_a_file_is_still_a_text_reply(api, agent, team_conversation, graph):
    api.force_authenticate(agent)

    response = api.post(send_url(team_conversation), {"text": "Plain form reply"}, format="multipart")

    assert response.status_code == 201, response.content
    assert response.json()["type"] == "text"
    assert response.json()["media"] is None


def test_s3_compatible_storage_is_chosen_by_configuration():
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "MEDIA_"))}
    env.update(DJANGO_SETTINGS_MODULE="config.settings", DEBUG="1", MEDIA_STORAGE="s3", MEDIA_S3_BUCKET="handoff-media",
               MEDIA_S3_ENDPOINT_URL="http://minio.internal:9000")
    code = "import json; from django.conf import settings; print(json.dumps(settings.STORAGES['default']))"
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=Path(__file__).resolve().parents[2],
                         capture_output=True, text=True, check=True, timeout=60)

    default = json.loads(out.stdout.strip().splitlines()[-1])
    assert default["BACKEND"] == "storages.backends.s3.S3Storage"
    assert default["OPTIONS"]["bucket_name"] == "handoff-media"
    assert default["OPTIONS"]["endpoint_url"] == "http://minio.internal:9000"
    assert default["OPTIONS"]["querystring_auth"] is True
