"""The customer's language: detected from their first messages (short, real-looking ones, in
every shipped language), kept on the contact with who set it, corrected by a person, and
left alone for text in a script Handoff does not speak."""

from __future__ import annotations

import pytest
from django.test import override_settings

from conversations.languages import detect_language
from conversations.models import Contact
from tests.support import webhooks

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hi, where is my order?", "en"),
        ("my parcel never arrived", "en"),
        ("hola, necesito ayuda con mi pedido", "es"),
        ("¿dónde está mi paquete?", "es"),
        ("gracias", "es"),
        ("oi, cadê meu pedido?", "pt"),
        ("não recebi a encomenda", "pt"),
        ("obrigado", "pt"),
        ("Hallo, wo ist meine Bestellung?", "de"),
        ("ich möchte mein Paket zurückschicken", "de"),
        ("danke", "de"),
        ("bonjour, où est ma commande ?", "fr"),
        ("je n'ai pas reçu mon colis", "fr"),
        ("मेरा ऑर्डर कहाँ है?", "hi"),
        ("नमस्ते", "hi"),
    ],
)
def test_short_messages_are_detected_in_every_shipped_language(text, expected):
    detection = detect_language(text)
    assert detection is not None
    assert detection.language == expected


@pytest.mark.parametrize(
    "text",
    ["Привет, где мой заказ?", "你好，我的订单在哪里", "مرحبا", "👍👍", "12345", "ok", "?", "https://example.com/x"],
)
def test_text_in_another_script_or_without_words_gives_no_language(text):
    assert detect_language(text) is None


def test_detection_only_answers_the_configured_languages():
    assert detect_language("hola, necesito ayuda con mi pedido", languages=["en", "de"]) is None or (
        detect_language("hola, necesito ayuda con mi pedido", languages=["en", "de"]).language in {"en", "de"}
    )
    with override_settings(CUSTOMER_LANGUAGES=["en", "pt"]):
        detection = detect_language("hola, necesito ayuda con mi pedido")
    assert detection is None or detection.language in {"en", "pt"}


def _says(client, text: str, wa_id: str = "15551234567") -> None:
    response = webhooks.post(client, webhooks.text_payload(text, wa_id=wa_id))
    assert response.status_code == 200


def test_first_message_sets_the_contact_language_as_detected(client, number):
    _says(client, "hola, necesito ayuda con mi pedido")
    contact = Contact.objects.get(wa_id="15551234567")
    assert contact.language == "es"
    assert contact.language_source == "detected"
    assert contact.language_set_by is None
    assert contact.language_set_at is not None
    assert 0.5 <= contact.language_confidence <= 1


def test_a_vague_first_message_is_settled_by_the_next_ones(client, number):
    _says(client, "ok")
    contact = Contact.objects.get(wa_id="15551234567")
    assert contact.language == ""
    _says(client, "não recebi a encomenda ainda")
    contact.refresh_from_db()
    assert (contact.language, contact.language_samples) == ("pt", 2)


@override_settings(LANGUAGE_DETECTION_MESSAGES=2)
def test_detection_stops_after_the_first_messages(client, number):
    _says(client, "hello, my order has not arrived")
    _says(client, "the tracking number does not work")
    _says(client, "hola hola hola, necesito ayuda con mi pedido por favor")
    contact = Contact.objects.get(wa_id="15551234567")
    assert contact.language == "en"
    assert contact.language_samples == 2


def test_text_in_an_unexpected_script_is_stored_and_leaves_the_language_unknown(client, number):
    _says(client, "Здравствуйте, где мой заказ?")
    contact = Contact.objects.get(wa_id="15551234567")
    assert contact.language == ""
    assert contact.language_source == ""
    assert contact.conversations.get().messages.filter(sender_kind="contact").get().text == "Здравствуйте, где мой заказ?"


def test_agent_corrects_the_language_through_the_api_and_detection_keeps_off(api, client, number, admin_user):
    _says(client, "hola, necesito ayuda con mi pedido")
    contact = Contact.objects.get(wa_id="15551234567")
    api.force_authenticate(admin_user)
    response = api.patch(f"/api/v1/contacts/{contact.pk}/", {"language": "pt-BR"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["language"] == "pt"
    assert response.json()["language_source"] == "agent"
    contact.refresh_from_db()
    assert contact.language_set_by == admin_user
    assert contact.conversations.get().language == "pt"  # an open conversation is routed by it
    _says(client, "hola otra vez, sigo esperando mi pedido")
    contact.refresh_from_db()
    assert (contact.language, contact.language_source) == ("pt", "agent")


def test_language_correction_refuses_what_is_not_a_language_code(api, client, number, admin_user):
    _says(client, "hello there, my order is late")
    contact = Contact.objects.get(wa_id="15551234567")
    api.force_authenticate(admin_user)
    response = api.patch(f"/api/v1/contacts/{contact.pk}/", {"language": "Spanish please"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    contact.refresh_from_db()
    assert contact.language == "en"


def test_outsider_cannot_correct_a_contact_they_cannot_see(api, client, number, outsider):
    _says(client, "hola, necesito ayuda con mi pedido")
    contact = Contact.objects.get(wa_id="15551234567")
    api.force_authenticate(outsider)
    response = api.patch(f"/api/v1/contacts/{contact.pk}/", {"language": "en"}, format="json")
    assert response.status_code == 404
    contact.refresh_from_db()
    assert contact.language == "es"


def test_admin_correction_is_recorded_as_a_person(client, number, admin_user):
    _says(client, "hallo, wo ist meine Bestellung?")
    contact = Contact.objects.get(wa_id="15551234567")
    client.force_login(admin_user)
    page = client.get(f"/admin/conversations/contact/{contact.pk}/change/")
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data.update({"language": "fr", "attributes": "{}", "tags": "[]"})
    response = client.post(f"/admin/conversations/contact/{contact.pk}/change/", data)
    assert response.status_code == 302, response.content[:2000]
    contact.refresh_from_db()
    assert (contact.language, contact.language_source, contact.language_set_by) == ("fr", "agent", admin_user)
