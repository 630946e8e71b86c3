"""Escalation policies in the admin: fallback contacts validated as a direct way to a
person, and the bot and handoff pages."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from bots.demo import demo_flow_create
from bots.models import Bot, EscalationPolicy, FlowStep, Handoff
from tests.factories import ConversationFactory


def policy_with(**fields) -> EscalationPolicy:
    return EscalationPolicy(name="Support policy", **fields)


def errors_of(policy: EscalationPolicy) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        policy.clean()
    return caught.value.message_dict


def test_valid_phone_email_and_form_are_accepted_and_the_phone_normalised(db):
    policy = policy_with(
        fallback_phone="+34 910 00 00 00", fallback_email="help@shop.example", fallback_url="https://shop.example/support/contact"
    )

    policy.clean()

    assert policy.fallback_phone == "+34910000000"


def test_a_policy_needs_at_least_one_fallback_contact(db):
    assert "at least one way to reach a person" in errors_of(policy_with())["fallback_phone"][0]


@pytest.mark.parametrize("phone", ["12345", "+1 000 000 0000", "call us"])
def test_an_invalid_phone_is_refused(db, phone):
    assert "fallback_phone" in errors_of(policy_with(fallback_phone=phone))


def test_an_invalid_email_is_refused(db):
    assert errors_of(policy_with(fallback_email="support at shop"))["fallback_email"] == ["Enter a valid email address."]


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://www.facebook.com/shop", "a social network"),
        ("https://instagram.com/shop", "a social network"),
        ("https://m.me/shop", "a messenger"),
        ("https://wa.me/15550001111", "a messenger"),
        ("https://t.me/shopbot", "a messenger"),
        ("https://apps.apple.com/app/id123", "an app store"),
        ("https://play.google.com/store/apps/details?id=shop", "an app store"),
        ("https://help.shop.example/contact", "help centre"),
        ("https://shop.example/faq", "help centre"),
        ("https://shop.zendesk.com/hc/en-us", "help centre"),
        ("https://shop.example/", "homepage"),
    ],
)
def test_help_centre_app_and_social_links_are_refused_with_an_explanation(db, url, why):
    message = errors_of(policy_with(fallback_url=url))["fallback_url"][0]

    assert why in message
    assert "phone number, an email address or a web support form" in message


def test_admin_form_shows_why_a_fallback_link_is_refused(client, admin_user):
    client.force_login(admin_user)

    response = client.post(
        reverse("admin:bots_escalationpolicy_add"),
        {
            "name": "Support",
            "human_option_title": "Talk to a person",
            "keywords": "agent",
            "max_not_understood": 2,
            "loop_limit": 3,
            "escalate_on_bot_error": "on",
            "vip_priority": 50,
            "bot_replies_per_minute": 12,
            "transcript_lines": 12,
            "human_reply_target_minutes": 30,
            "handoff_text": "Passing you on.",
            "fallback_text": "Nobody is here.",
            "fallback_url": "https://www.instagram.com/shop",
        },
    )

    assert response.status_code == 200
    assert "points to a social network, which does not count as a way to reach a person" in response.content.decode()
    assert not EscalationPolicy.objects.exists()


def test_admin_saves_a_policy_with_a_support_form(client, admin_user, team):
    client.force_login(admin_user)

    response = client.post(
        reverse("admin:bots_escalationpolicy_add"),
        {
            "name": "Support",
            "is_default": "on",
            "target_team": team.pk,
            "human_option_title": "Talk to a person",
            "keywords": "agent, humano",
            "max_not_understood": 2,
            "loop_limit": 3,
            "vip_priority": 50,
            "bot_replies_per_minute": 12,
            "transcript_lines": 12,
            "human_reply_target_minutes": 30,
            "handoff_text": "Passing you on.",
            "fallback_text": "Nobody is here.",
            "fallback_phone": "+44 20 7946 0000",
            "translations-TOTAL_FORMS": 1,
            "translations-INITIAL_FORMS": 0,
            "translations-0-language": "es",
            "translations-0-human_option_title": "Hablar con alguien",
            "translations-0-handoff_text": "Te paso con una persona.",
        },
    )

    assert response.status_code == 302
    assert EscalationPolicy.objects.get().fallback_phone == "+442079460000"
    assert EscalationPolicy.objects.get().human_reply_target_minutes == 30
    translation = EscalationPolicy.objects.get().translations.get()
    assert (translation.language, translation.human_option_title) == ("es", "Hablar con alguien")


def test_external_bot_needs_its_url(db):
    with pytest.raises(ValidationError) as caught:
        Bot(name="Rasa", kind=Bot.Kind.EXTERNAL).clean()
    assert "endpoint_url" in caught.value.message_dict


def test_question_with_a_broken_pattern_is_refused(db, number):
    bot = Bot.objects.create(name="Flow", number=number)
    step = FlowStep(bot=bot, key="q", kind=FlowStep.Kind.QUESTION, text="Order?", value_name="order",
                    validation=FlowStep.Validation.REGEX, pattern="([A-Z")

    with pytest.raises(ValidationError) as caught:
        step.clean()
    assert "Not a valid regular expression" in caught.value.message_dict["pattern"][0]


def test_admin_pages_for_bots_steps_and_handoffs_render(client, admin_user, number, team):
    bot = demo_flow_create(number=number)
    conversation = ConversationFactory(contact__number=number)
    Handoff.objects.create(conversation=conversation, reason_code="keyword", transcript=["Customer: <b>agent</b>"])
    client.force_login(admin_user)

    assert client.get(reverse("admin:bots_bot_change", args=[bot.pk])).status_code == 200
    step_page = client.get(reverse("admin:bots_flowstep_change", args=[bot.start_step.pk]))
    assert step_page.status_code == 200
    assert "Order status" in step_page.content.decode()
    handoff_page = client.get(reverse("admin:bots_handoff_change", args=[Handoff.objects.get().pk]))
    assert "Customer: &lt;b&gt;agent&lt;/b&gt;" in handoff_page.content.decode()


def test_step_links_offer_only_steps_of_the_same_bot(client, admin_user, number):
    bot = demo_flow_create(number=number)
    other = demo_flow_create(name="Other", team=None, is_default=True)
    client.force_login(admin_user)

    page = client.get(reverse("admin:bots_flowstep_change", args=[bot.start_step.pk])).content.decode()

    assert f'value="{bot.steps.get(key="bye").pk}"' in page
    assert f'value="{other.steps.get(key="bye").pk}"' not in page
