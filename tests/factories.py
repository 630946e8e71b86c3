"""factory_boy factories for the core models."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from agents.models import Team
from conversations.models import Contact, Conversation, Message, WhatsAppNumber
from tests.support import webhooks


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "pw")


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Team {n}")
    slug = factory.Sequence(lambda n: f"team-{n}")


class NumberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WhatsAppNumber
        django_get_or_create = ("phone_number_id",)

    name = "Support"
    phone_number_id = webhooks.PHONE_NUMBER_ID
    display_phone_number = webhooks.DISPLAY_NUMBER
    business_account_id = webhooks.WABA_ID
    access_token = "test-access-token"
    app_secret = webhooks.APP_SECRET
    verify_token = "test-verify-token"
    is_default = True


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    number = factory.SubFactory(NumberFactory)
    wa_id = factory.Sequence(lambda n: f"1555100{n:04d}")
    profile_name = factory.Faker("name")


class ConversationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Conversation

    contact = factory.SubFactory(ContactFactory)
    number = factory.LazyAttribute(lambda o: o.contact.number)
    status = Conversation.Status.BOT
    # Database constraints: an assigned conversation has an assignee, a resolved one its
    # resolution time.
    assignee = factory.Maybe(
        factory.LazyAttribute(lambda o: o.status == Conversation.Status.ASSIGNED),
        yes_declaration=factory.SubFactory(UserFactory),
        no_declaration=None,
    )
    resolved_at = factory.LazyAttribute(lambda o: timezone.now() if o.status == Conversation.Status.RESOLVED else None)
    last_customer_message_at = factory.LazyFunction(timezone.now)
    window_expires_at = factory.LazyAttribute(
        lambda o: o.last_customer_message_at + timezone.timedelta(hours=24) if o.last_customer_message_at else None
    )


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    conversation = factory.SubFactory(ConversationFactory)
    direction = Message.Direction.INBOUND
    sender_kind = Message.SenderKind.CONTACT
    type = "text"
    text = factory.Faker("sentence")
    status = Message.Status.RECEIVED
    provider_message_id = factory.Sequence(lambda n: f"wamid.FACTORY{n:08d}")
