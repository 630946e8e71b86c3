"""The engine's parts on their own: menus within WhatsApp's limits, trigger detection,
matching, lookups."""

from __future__ import annotations

import pytest

from bots.actions import HandOff, MenuOption, SendMenu, SendText, SetValue
from bots.demo import demo_flow_create, demo_lookup_service, demo_orders_load
from bots.flow import FlowRunner
from bots.inbound import Inbound
from bots.matching import answer_validate, faq_match
from bots.menus import render
from bots.models import (
    HUMAN_OPTION_ID,
    BotSession,
    EscalationPolicy,
    FaqEntry,
    FlowStep,
    Handoff,
)
from bots.triggers import first_trigger, is_platform_test_message
from conversations.services.message_send import message_send_interactive
from tests.factories import ContactFactory, ConversationFactory

HUMAN = "Talk to a person"


def options(n: int, title: str = "Option") -> list[MenuOption]:
    return [MenuOption(f"o{i}", f"{title} {i}") for i in range(1, n + 1)]


def test_two_options_become_three_buttons_with_the_person_last():
    menu = render(SendMenu(body="Pick", options=options(2)), human_title=HUMAN)

    assert menu.sections is None
    assert [b["id"] for b in menu.buttons] == ["o1", "o2", HUMAN_OPTION_ID]


def test_three_options_switch_to_a_list_to_fit_the_person():
    menu = render(SendMenu(body="Pick", options=options(3)), human_title=HUMAN)

    assert menu.buttons is None
    assert [r["id"] for r in menu.sections[0]["rows"]] == ["o1", "o2", "o3", HUMAN_OPTION_ID]


def test_long_titles_switch_to_a_list_and_are_cut_to_24_characters():
    menu = render(SendMenu(body="Pick", options=[MenuOption("a", "A rather long option title here")]), human_title=HUMAN)

    rows = menu.sections[0]["rows"]
    assert rows[0]["title"] == "A rather long option ti…"
    assert len(rows[0]["title"]) == 24


def test_twelve_options_keep_nine_and_the_person():
    menu = render(SendMenu(body="Pick", options=options(12)), human_title=HUMAN)

    ids = [r["id"] for r in menu.sections[0]["rows"]]
    assert len(ids) == 10
    assert ids[-1] == HUMAN_OPTION_ID
    assert ids[:9] == [f"o{i}" for i in range(1, 10)]


def test_a_menu_that_already_offers_a_person_is_left_alone():
    menu = render(SendMenu(body="Pick", options=[MenuOption(HUMAN_OPTION_ID, "Agent"), *options(1)]), human_title=HUMAN)

    assert [b["title"] for b in menu.buttons] == ["Agent", "Option 1"]


@pytest.mark.django_db
@pytest.mark.parametrize("count", [0, 1, 2, 3, 9, 10, 15])
def test_every_rendered_menu_passes_the_sending_limits(count, number):
    conversation = ConversationFactory(contact__number=number)
    menu = render(SendMenu(body="x" * 2000, options=options(count, "A very long option title indeed"),
                           header="h" * 100, footer="f" * 100, button_label="A label longer than twenty"),
                  human_title=HUMAN)

    sent = message_send_interactive(conversation=conversation, **menu.kwargs())

    assert HUMAN_OPTION_ID in str(sent.payload)


@pytest.mark.parametrize(
    "text",
    [
        "Hi, this is a message from WhatsApp. We are testing your bot experience.",
        "Hello! I'm with the Meta team reviewing automated customer experiences. Can I talk to a human?",
        "This is WhatsApp. We are checking how your chatbot escalates.",
    ],
)
def test_whatsapp_test_messages_are_recognised(text):
    assert is_platform_test_message(text)


@pytest.mark.parametrize(
    "text",
    ["I sent you the photo from whatsapp web", "Is your bot any good?", "I bought a Meta Quest from you, testing it now"],
)
def test_ordinary_messages_are_not_taken_for_whatsapp_tests(text):
    assert not is_platform_test_message(text)


@pytest.mark.django_db
def test_keywords_match_whole_words_without_accents_or_case(number):
    policy = EscalationPolicy(name="p")
    contact = ContactFactory(number=number)

    assert first_trigger(inbound=Inbound("OPERADOR por favor"), contact=contact, policy=policy).reason == "keyword"
    assert first_trigger(inbound=Inbound("conseillere"), contact=contact, policy=policy).reason == "keyword"
    assert first_trigger(inbound=Inbound("my agentic workflow"), contact=contact, policy=policy) is None


@pytest.mark.django_db
def test_a_tapped_option_is_never_taken_for_a_keyword(number):
    policy = EscalationPolicy(name="p")
    contact = ContactFactory(number=number)

    assert first_trigger(inbound=Inbound("Agent status", payload="x", kind="reply"), contact=contact, policy=policy) is None


@pytest.mark.django_db
def test_faq_match_picks_the_best_entry_and_ignores_unrelated_text(number):
    bot = demo_flow_create(number=number)
    entries = list(FaqEntry.objects.filter(bot=bot))

    assert faq_match(entries, "I need my reciept please").question == "How do I get an invoice?"
    assert faq_match(entries, "¿Cuándo llega mi reembolso?").question == "How do refunds work?"
    assert faq_match(entries, "what's the weather like") is None


@pytest.mark.parametrize(
    ("validation", "extra", "answer", "stored"),
    [
        (FlowStep.Validation.NUMBER, {}, "3,5", "3.5"),
        (FlowStep.Validation.NUMBER, {}, "three", None),
        (FlowStep.Validation.EMAIL, {}, "ana@example.com", "ana@example.com"),
        (FlowStep.Validation.EMAIL, {}, "ana@", None),
        (FlowStep.Validation.CHOICE, {"choices": "Small, Medium, Large"}, "medum", "Medium"),
        (FlowStep.Validation.CHOICE, {"choices": "Small, Medium, Large"}, "huge", None),
        (FlowStep.Validation.REGEX, {"pattern": r"[A-Z]\d{4}"}, "a1001", "a1001"),
        (FlowStep.Validation.REGEX, {"pattern": r"[A-Z]\d{4}"}, "a10011", None),
    ],
)
def test_question_answers_are_validated(validation, extra, answer, stored):
    step = FlowStep(kind=FlowStep.Kind.QUESTION, validation=validation, **extra)

    assert answer_validate(step, answer) == stored


@pytest.mark.django_db
def test_a_flow_linking_back_to_itself_without_waiting_hands_off(number):
    bot = demo_flow_create(number=number)
    a = FlowStep.objects.create(bot=bot, key="a", kind=FlowStep.Kind.MESSAGE, text="A")
    b = FlowStep.objects.create(bot=bot, key="b", kind=FlowStep.Kind.MESSAGE, text="B", next_step=a)
    a.next_step = b
    a.save()
    bot.start_step = a
    session = BotSession(conversation=ConversationFactory(contact__number=number))

    actions = FlowRunner(bot=bot, policy=EscalationPolicy(name="p")).respond(session=session, inbound=Inbound("hi"))

    assert isinstance(actions[-1], HandOff)
    assert actions[-1].reason == Handoff.Reason.LOOP


@pytest.mark.django_db
def test_order_lookup_accepts_spacing_case_and_hash(number, order_api):
    demo_orders_load()
    bot = demo_flow_create(number=number, lookup_service=demo_lookup_service(base_url=f"{order_api.url}/demo/"))
    ask = bot.steps.get(key="ask-order")
    session = BotSession(conversation=ConversationFactory(contact__number=number), current_step=ask)

    actions = FlowRunner(bot=bot, policy=EscalationPolicy(name="p")).respond(session=session, inbound=Inbound("# a 1004"))

    said = [a.text for a in actions if isinstance(a, SendText)]
    assert said[0].startswith("Order A1004 is cancelled.")
    assert SetValue("order_status", "cancelled") in actions


def test_a_menu_option_leading_to_a_person_counts_as_the_human_option():
    menu = render(SendMenu(body="Pick", options=[MenuOption("billing-person", "Billing team", human=True)]),
                  human_title=HUMAN)

    assert [b["id"] for b in menu.buttons] == ["billing-person"]


def test_a_long_list_keeps_the_flow_s_own_person_option():
    menu = render(SendMenu(body="Pick", options=[*options(12), MenuOption("sales-person", "Sales", human=True)]),
                  human_title=HUMAN)

    ids = [r["id"] for r in menu.sections[0]["rows"]]
    assert len(ids) == 10
    assert ids[-1] == "sales-person"
    assert HUMAN_OPTION_ID not in ids


@pytest.mark.django_db
def test_the_number_s_policy_and_bot_win_over_the_team_s_and_the_default(number, team):
    from bots.models import Bot
    from bots.selectors import bot_for, policy_for

    conversation = ConversationFactory(contact__number=number, team=team)
    assert policy_for(conversation).name == "Built-in defaults"
    assert bot_for(conversation) is None
    EscalationPolicy.objects.create(name="Default", is_default=True, fallback_email="a@example.com")
    Bot.objects.create(name="Default bot", is_default=True)
    assert policy_for(conversation).name == "Default"
    assert bot_for(conversation).name == "Default bot"
    EscalationPolicy.objects.create(name="Team", team=team, fallback_email="a@example.com")
    Bot.objects.create(name="Team bot", team=team)
    assert policy_for(conversation).name == "Team"
    assert bot_for(conversation).name == "Team bot"
    EscalationPolicy.objects.create(name="Number", number=number, fallback_email="a@example.com")
    Bot.objects.create(name="Number bot", number=number)
    Bot.objects.create(name="Old number bot", number=number, is_active=False)
    assert policy_for(conversation).name == "Number"
    assert bot_for(conversation).name == "Number bot"


@pytest.mark.django_db
def test_finding_the_bot_and_the_policy_takes_one_query_each(number, team, django_assert_num_queries):
    from bots.models import Bot
    from bots.selectors import bot_for, policy_for

    conversation = ConversationFactory(contact__number=number, team=team)
    EscalationPolicy.objects.create(name="Default", is_default=True, fallback_email="a@example.com")
    Bot.objects.create(name="Team bot", team=team)

    with django_assert_num_queries(1):
        assert bot_for(conversation).name == "Team bot"
    with django_assert_num_queries(1):
        assert policy_for(conversation).name == "Default"
