"""The widget's HTTP side: the script, the frame and its CSP, sessions checked against the
inbox's origins, the pre-chat form validated on the server, identity verification, the
offline form and transcripts by email."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client, override_settings

from conversations.models import Channel, Contact, Conversation, Message
from conversations.providers.webchat import HUMAN_OPTION_ID, inbox_away
from conversations.providers.webchat.tokens import identity_hash
from conversations.services.webchat import webchat_message_receive, webchat_visitor
from tests.webchat.conftest import FOREIGN, SITE, new_visitor, visitor_call

pytestmark = pytest.mark.django_db(transaction=True)


def test_widget_script_is_served_as_javascript(db):
    response = Client().get("/widget.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert b"__loaded" in response.content  # loads once even when pasted twice


def test_frame_may_be_embedded_only_by_allowed_sites(inbox):
    response = Client().get(f"/webchat/{inbox.key}/", {"origin": SITE})
    assert response.status_code == 200
    assert response["Content-Security-Policy"] == f"frame-ancestors {SITE} https://www.shop.example"
    assert "X-Frame-Options" not in response

    refused = Client().get(f"/webchat/{inbox.key}/", {"origin": FOREIGN})
    assert refused.status_code == 403
    assert refused["Content-Security-Policy"] == "frame-ancestors 'none'"


def test_inbox_texts_are_escaped_in_the_frame(inbox):
    inbox.title = "<script>alert(1)</script>"
    inbox.greeting = "<img src=x onerror=alert(1)>"
    inbox.color = "</style"  # not a colour (the field holds 7 characters)
    inbox.save()
    body = Client().get(f"/webchat/{inbox.key}/", {"origin": SITE}).content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "<img src=x" not in body
    assert "--accent: #1f6feb" in body


def test_session_for_a_foreign_origin_is_refused(inbox):
    assert visitor_call(inbox, "session", {"origin": FOREIGN}).status_code == 403
    # A cross-site call from a foreign page is refused whatever it claims.
    assert visitor_call(inbox, "session", {"origin": SITE}, origin=FOREIGN).status_code == 403
    assert visitor_call(inbox, "session", {"origin": SITE}, origin=SITE).status_code == 200


def test_session_resumes_the_same_visitor_with_a_fresh_token(inbox):
    token = new_visitor(inbox)
    again = visitor_call(inbox, "session", {"origin": SITE, "token": token}).json()
    assert webchat_visitor(inbox=inbox, token=again["token"]) == webchat_visitor(inbox=inbox, token=token)
    assert again["prechat"] is False


def test_a_forged_token_starts_a_new_visitor(inbox):
    token = new_visitor(inbox)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    fresh = visitor_call(inbox, "session", {"origin": SITE, "token": forged}).json()
    assert webchat_visitor(inbox=inbox, token=fresh["token"]) != webchat_visitor(inbox=inbox, token=token)
    assert fresh["prechat"] is True
    assert visitor_call(inbox, "prechat", {"token": forged, "name": "x", "email": "x@example.com"}).status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "", "email": "ann@example.com"}, "name"),
        ({"name": "Ann", "email": "not an email"}, "email"),
        ({"name": "Ann", "email": ""}, "email"),
        ({"name": "Ann", "email": "ann@example.com", "consent": False}, "consent"),
    ],
)
def test_prechat_form_is_validated_on_the_server(inbox, body, field):
    inbox.consent_text = "I agree to the <b>privacy policy</b>"
    inbox.save()
    token = visitor_call(inbox, "session", {"origin": SITE}).json()["token"]
    response = visitor_call(inbox, "prechat", {"token": token, **body})
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert not Contact.objects.exclude(attributes={}).exists()


def test_prechat_keeps_html_as_text_and_the_consent(inbox):
    inbox.consent_text = "I agree"
    inbox.save()
    token = visitor_call(inbox, "session", {"origin": SITE}).json()["token"]
    response = visitor_call(
        inbox, "prechat", {"token": token, "name": "<script>x</script>", "email": "a@example.com", "consent": True}
    )
    assert response.status_code == 200
    contact = Contact.objects.get(webchat_inbox=inbox)
    assert contact.profile_name == "<script>x</script>"
    assert contact.attributes["consent"]["text"] == "I agree"


def test_verified_identity_gets_its_own_contact_and_a_claim_never_joins_it(inbox):
    token = new_visitor(inbox)
    verified = visitor_call(
        inbox, "identify", {"token": token, "user_id": "42", "user_hash": identity_hash("s3cret", "42"), "name": "Ann"}
    ).json()
    assert verified["verified"] is True
    other = new_visitor(inbox, name="Mallory")
    claimed = visitor_call(inbox, "identify", {"token": other, "user_id": "42", "user_hash": "bad"}).json()
    assert claimed["verified"] is False
    verified_contact = Contact.objects.get(user_id=f"webchat:{inbox.pk}:u:42")
    mallory = Contact.objects.get(profile_name="Mallory")
    assert mallory.pk != verified_contact.pk
    assert mallory.attributes["claimed_user_id"] == "42"
    # The same verified user on another device reaches the same contact.
    third = new_visitor(inbox, name="Ann again")
    again = visitor_call(
        inbox, "identify", {"token": third, "user_id": "42", "user_hash": identity_hash("s3cret", "42")}
    ).json()
    assert webchat_visitor(inbox=inbox, token=again["token"]).contact_user_id == verified_contact.user_id


def test_the_human_option_hands_the_visitor_to_the_queue(inbox):
    visitor = webchat_visitor(inbox=inbox, token=new_visitor(inbox))
    webchat_message_receive(inbox=inbox, visitor=visitor, client_id="client-h001", text="hello")
    webchat_message_receive(inbox=inbox, visitor=visitor, client_id="client-h002", reply=HUMAN_OPTION_ID)
    conversation = Conversation.objects.get(channel=Channel.WEBCHAT)
    assert conversation.status in (Conversation.Status.QUEUED, Conversation.Status.ASSIGNED)
    assert conversation.team_id == inbox.team_id


def test_away_when_team_is_closed_and_nobody_is_online(inbox):
    from agents.models import BusinessHours

    # The team opens one minute a week: closed now (nearly always).
    BusinessHours.objects.create(team=inbox.team, weekday=0, opens="03:00", closes="03:01")
    assert inbox_away(inbox) is True
    assert visitor_call(inbox, "session", {"origin": SITE}).json()["offline"] is True


def test_offline_form_queues_a_conversation_and_sends_a_confirmation(inbox):
    token = visitor_call(inbox, "session", {"origin": SITE}).json()["token"]
    body = {"token": token, "name": "Ann", "email": "ann@example.com", "text": "Call me <b>back</b>",
            "client_id": "offline-0001"}
    response = visitor_call(inbox, "offline", body)
    assert response.status_code == 200, response.content
    conversation = Conversation.objects.get(pk=response.json()["conversation"])
    assert conversation.status == Conversation.Status.QUEUED
    assert conversation.channel == Channel.WEBCHAT
    assert Message.objects.filter(conversation=conversation, text="Call me <b>back</b>").count() == 1
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ann@example.com"]
    # The same form again changes nothing.
    visitor_call(inbox, "offline", body)
    assert Message.objects.filter(conversation=conversation, direction="in").count() == 1
    assert len(mail.outbox) == 1


def test_offline_form_needs_an_email(inbox):
    token = visitor_call(inbox, "session", {"origin": SITE}).json()["token"]
    response = visitor_call(inbox, "offline", {"token": token, "text": "hi", "client_id": "offline-0002"})
    assert response.status_code == 400 and response.json()["field"] == "email"
    assert not Conversation.objects.exists()


@override_settings(DEFAULT_FROM_EMAIL="help@shop.example")
def test_transcript_is_emailed_without_internal_notes(inbox, agent):
    from conversations.services.message_send import message_send_note

    token = new_visitor(inbox)
    visitor = webchat_visitor(inbox=inbox, token=token)
    webchat_message_receive(inbox=inbox, visitor=visitor, client_id="client-t001", text="my order")
    conversation = Conversation.objects.get(channel=Channel.WEBCHAT)
    message_send_note(conversation=conversation, text="secret note", author=agent)
    response = visitor_call(inbox, "transcript", {"token": token})
    assert response.status_code == 200
    sent = mail.outbox[-1]
    assert sent.to == ["ann@example.com"] and sent.from_email == "help@shop.example"
    assert "my order" in sent.body and "secret note" not in sent.body


def test_campaign_audiences_leave_web_chat_visitors_out(inbox):
    from notifications.campaign_audience import audience_contact_ids
    from tests.factories import ContactFactory

    whatsapp = ContactFactory(number=inbox.number)
    visitor = webchat_visitor(inbox=inbox, token=new_visitor(inbox))
    webchat_message_receive(inbox=inbox, visitor=visitor, client_id="client-c001", text="hi")

    class _Campaign:
        number = inbox.number
        audience = "filter"
        audience_filter: dict = {}

    ids, _ = audience_contact_ids(campaign=_Campaign())  # type: ignore[arg-type]
    assert ids == [whatsapp.pk]


PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360000002000001"
    "e221bc330000000049454e44ae426082"
)


def _upload(inbox, token, data, name, content_type, client_id="upload-0001"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return Client().post(
        f"/webchat/{inbox.key}/upload/",
        {"token": token, "client_id": client_id, "file": SimpleUploadedFile(name, data, content_type=content_type)},
        HTTP_ORIGIN="http://testserver",
    )


def test_a_visitors_file_is_stored_and_shown_in_the_desk_like_a_whatsapp_file(inbox):
    from conversations.models import MessageMedia

    token = new_visitor(inbox)
    response = _upload(inbox, token, PNG, "dot.png", "image/png")
    assert response.status_code == 200, response.content
    message = Message.objects.get(pk=response.json()["message"])
    assert message.type == "image" and message.conversation.channel == Channel.WEBCHAT
    media = MessageMedia.objects.get(message=message)
    assert media.state == MessageMedia.State.STORED and media.size == len(PNG)
    # The same upload again is stored once.
    assert _upload(inbox, token, PNG, "dot.png", "image/png").json()["message"] is None
    assert MessageMedia.objects.count() == 1


def test_a_file_against_the_media_rules_is_refused(inbox):
    token = new_visitor(inbox)
    html = _upload(inbox, token, b"<html><script>alert(1)</script></html>", "x.html", "text/html")
    assert html.status_code == 400 and html.json()["code"] == "invalid"
    lying = _upload(inbox, token, b"not a png at all", "x.png", "image/png", client_id="upload-0002")
    assert lying.status_code == 400
    assert not Message.objects.exists()


def test_an_upload_with_a_forged_token_is_refused(inbox):
    new_visitor(inbox)
    assert _upload(inbox, "forged", PNG, "dot.png", "image/png").status_code == 403
    assert not Message.objects.exists()
