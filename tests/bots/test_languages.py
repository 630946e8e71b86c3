"""System texts in the customer's language, routing by language, and skills asked for by
bots (flow steps and Rasa's `custom.handoff.skills`), through the real webhook."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import translation
from django.utils.translation import gettext

from agents.services.csat import CHOICES, csat_request
from agents.services.queue_messages import queue_message_text
from bots.menus import DEFAULT_BUTTON_LABEL, DEFAULT_SECTION_TITLE, MAX_BUTTON_TITLE, MAX_ROW_TITLE
from bots.models import Bot, FlowStep, PolicyTranslation, StepOption
from bots.models.policies import DEFAULT_FALLBACK_TEXT, DEFAULT_HANDOFF_TEXT, DEFAULT_HUMAN_OPTION
from conversations.languages import SHIPPED_LANGUAGES
from conversations.models import Conversation
from tests.agents.conftest import make_agent
from tests.bots.conftest import menus, texts
from tests.factories import ContactFactory, ConversationFactory, TeamFactory

pytestmark = pytest.mark.django_db(transaction=True)

HANDOFF_ES = "Gracias, te paso con una persona de nuestro equipo."
FALLBACK_ES = "Nuestro equipo no está disponible ahora mismo."


def button_titles(reply: dict) -> list[str]:
    interactive = reply["interactive"]
    if interactive["type"] == "button":
        return [b["reply"]["title"] for b in interactive["action"]["buttons"]]
    return [row["title"] for section in interactive["action"]["sections"] for row in section["rows"]]


@pytest.mark.parametrize("language", list(SHIPPED_LANGUAGES))
def test_every_shipped_language_keeps_whatsapp_title_limits(language):
    with translation.override(language):
        human = gettext(DEFAULT_HUMAN_OPTION)
        ratings = [gettext(title) for _, title in CHOICES]
        label = gettext(DEFAULT_BUTTON_LABEL)
        section = gettext(DEFAULT_SECTION_TITLE)
        handoff = gettext(DEFAULT_HANDOFF_TEXT)
        fallback = gettext(DEFAULT_FALLBACK_TEXT)
    assert 0 < len(human) <= MAX_BUTTON_TITLE
    assert all(0 < len(title) <= MAX_BUTTON_TITLE for title in ratings)
    assert 0 < len(label) <= 20
    assert 0 < len(section) <= MAX_ROW_TITLE
    if language != "en":
        assert handoff != DEFAULT_HANDOFF_TEXT, f"{language} catalogue lacks the handoff text"
        assert fallback != DEFAULT_FALLBACK_TEXT, f"{language} catalogue lacks the fallback text"
        assert human != DEFAULT_HUMAN_OPTION


def test_spanish_contact_is_offered_a_person_in_spanish(customer, demo_bot, agent_online):
    replies = customer.says("hola, buenos días, tengo una pregunta")
    assert customer.conversation.contact.language == "es"
    menu = menus(replies)[0]
    assert "Hablar con alguien" in button_titles(menu)


def test_spanish_contact_gets_the_spanish_handoff_text_and_the_spanish_speaking_agent(
    customer, demo_bot, policy, team
):
    english = make_agent(team, "english_only", capacity=5, languages=["en"])
    spanish = make_agent(team, "habla_espanol", capacity=5, languages=["es", "en"])
    # The English speaker is idle longest and would win a tie without the language rule.
    replies = customer.says("quiero hablar con un humano, por favor")
    assert texts(replies)[0].startswith(HANDOFF_ES)
    conversation = customer.conversation
    assert conversation.status == Conversation.Status.ASSIGNED
    assert conversation.language == "es"
    assert conversation.assignee == spanish
    assert conversation.assignee != english


def test_typing_the_translated_human_option_hands_off(customer, demo_bot, agent_online):
    customer.says("hola, necesito ayuda con mi pedido")
    replies = customer.says("Hablar con alguien")
    assert texts(replies)[0].startswith(HANDOFF_ES)
    assert customer.conversation.handoffs.get().reason_code == "customer_request"


def test_spanish_fallback_when_nobody_is_online(customer, demo_bot, policy):
    replies = customer.says("quiero hablar con un humano")
    notice = texts(replies)[0]
    assert notice.startswith(FALLBACK_ES)
    assert "También puedes contactarnos directamente:" in notice
    assert customer.conversation.status == Conversation.Status.QUEUED


def test_policy_translation_from_the_admin_replaces_the_built_in_text(customer, demo_bot, policy, agent_online):
    PolicyTranslation.objects.create(policy=policy, language="es", handoff_text="¡Enseguida te atiende Marta!")
    replies = customer.says("quiero hablar con un humano")
    assert texts(replies)[0] == "¡Enseguida te atiende Marta!"


def test_an_admins_own_wording_goes_out_as_written_without_a_translation(customer, demo_bot, policy, agent_online):
    policy.handoff_text = "One moment, a colleague takes over."
    policy.save()
    replies = customer.says("quiero hablar con un humano")
    assert texts(replies)[0] == "One moment, a colleague takes over."


def test_unexpected_script_falls_back_to_the_numbers_default_language(customer, demo_bot, number, agent_online):
    number.default_language = "pt"
    number.save()
    replies = customer.says("Здравствуйте! agent")
    assert customer.conversation.contact.language == ""
    assert texts(replies)[0].startswith("Obrigado, vou passar você para alguém da nossa equipe.")


def test_hindi_contact_gets_hindi_texts(customer, demo_bot, agent_online):
    replies = customer.says("नमस्ते, मेरा ऑर्डर कहाँ है?")
    assert customer.conversation.contact.language == "hi"
    assert "व्यक्ति से बात करें" in button_titles(menus(replies)[0])
    replies = customer.says("एजेंट")
    assert texts(replies)[0].startswith("धन्यवाद")


def test_spanish_contact_gets_the_rating_question_in_spanish(graph, number, team):
    agent = make_agent(team, "rater_es")
    contact = ContactFactory(number=number, language="es")
    conversation = ConversationFactory(contact=contact, number=number, team=team, status="resolved",
                                       assignee=agent)
    Conversation.objects.filter(pk=conversation.pk).update(
        last_customer_message_at=conversation.created_at, window_expires_at=conversation.created_at + timedelta(days=1)
    )
    with translation.override("pt"):  # the person who resolved it works in Portuguese: no matter
        assert csat_request(conversation_id=conversation.pk)
    interactive = graph.sent_messages()[-1]["interactive"]
    assert interactive["body"]["text"] == "¿Qué tal lo hicimos? Por favor, valora la ayuda que recibiste."
    assert [b["reply"]["title"] for b in interactive["action"]["buttons"]] == ["Bien", "Regular", "Mal"]


def test_queue_message_is_written_in_the_active_language():
    with translation.override("pt"):
        text = queue_message_text(position=3, estimate=240)
    assert text == "Você está na posição 3 da fila. O tempo estimado de espera é de cerca de 4 minutos."
    with translation.override("fr"):
        assert queue_message_text(position=1, estimate=None) == (
            "Vous êtes le prochain dans la file d'attente. Un conseiller vous répondra dès que possible."
        )


def test_hindi_stop_keyword_is_confirmed_in_hindi(customer, number):
    replies = customer.says("रोकें")
    assert texts(replies)[0].startswith("आपकी सदस्यता समाप्त कर दी गई है")


# --- skills asked for by bots ---------------------------------------------------------------


def test_flow_handoff_step_skills_reach_routing(customer, number, policy, team):
    bot = Bot.objects.create(name="Flow", kind=Bot.Kind.FLOW, number=number)
    refund = FlowStep.objects.create(
        bot=bot, key="refund", kind=FlowStep.Kind.HANDOFF, text="A refunds expert takes over.", handoff_skills=["refunds"]
    )
    main = FlowStep.objects.create(bot=bot, key="main", kind=FlowStep.Kind.MENU, text="How can I help?")
    StepOption.objects.create(step=main, title="Refund", payload="refund", next_step=refund, position=1)
    bot.start_step = main
    bot.save()
    make_agent(team, "generalist", capacity=5)
    expert = make_agent(team, "refunds_expert", capacity=5, skills=["refunds"])
    customer.says("hello there, I need some help")
    customer.taps("refund", "Refund")
    conversation = customer.conversation
    assert conversation.required_skills == ["refunds"]
    assert conversation.assignee == expert
    assert conversation.handoffs.get().as_context()["skills"] == ["refunds"]


def test_rasa_custom_handoff_skills_reach_routing(customer, number, policy, rasa, team):
    Bot.objects.create(name="Rasa", kind=Bot.Kind.EXTERNAL, number=number, endpoint_url=rasa.url, timeout_seconds=1.0)
    billing = TeamFactory(name="Billing", slug="billing")
    rasa.reply = lambda body: (200, [{"text": "A specialist will help.", "custom": {"handoff": {
        "team": "billing", "reason": "chargeback", "skills": [" chargebacks ", "vip", "chargebacks", None]}}}], 0.0)
    make_agent(billing, "plain_billing", capacity=5)
    make_agent(billing, "chargebacks_only", capacity=5, skills=["chargebacks"])
    specialist = make_agent(billing, "chargeback_vip", capacity=5, skills=["chargebacks", "vip"])
    customer.says("my card was charged twice")
    conversation = customer.conversation
    assert conversation.required_skills == ["chargebacks", "vip"]
    assert conversation.team == billing
    assert conversation.assignee == specialist
    assert conversation.handoffs.get().skills == ["chargebacks", "vip"]


def test_rasa_skills_of_the_wrong_shape_ask_for_nothing(customer, number, policy, rasa, agent):
    Bot.objects.create(name="Rasa", kind=Bot.Kind.EXTERNAL, number=number, endpoint_url=rasa.url, timeout_seconds=1.0)
    rasa.reply = lambda body: (200, [{"custom": {"handoff": {"skills": {"not": "a list"}}}}], 0.0)
    customer.says("hello, anyone there?")
    assert customer.conversation.handoffs.get().skills == []
    assert customer.conversation.required_skills == []

