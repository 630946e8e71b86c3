"""Demo history for `manage.py load_demo`: a few hundred past conversations over the last 30
days, so the compliance and reports pages show something on `make run`.

- The demo support line: mostly bot conversations that offered a person, customers who
  asked for one and got an agent within minutes, requests at night answered with the
  fallback contact, and a few gaps (a late answer, an unanswered request, a bot answer
  without the human option).
- A second number, the "Demo sales line", whose escalation policy has no fallback contact
  and whose bot answers without offering a person more often: WhatsApp flagged it two days
  ago (a real-shaped `phone_number_quality_update` through notifications.services.number_health), so its
  quality is red, a remediation case is counting down and alerts are open.

Every status change goes through conversations.services.conversations (start, assign, resolve), then the
conversation's times, its timeline and its messages are moved into the past.
Idempotent: nothing is added when the history exists. Messages are stored as delivered
and never sent anywhere; the alerts' emails go to the demo's console email backend.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any, TextIO

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from agents.models import Team
from bots.models import Bot, BotSession, EscalationLedger, EscalationPolicy, Handoff
from conversations.demo import demo_number_find
from conversations.models import (
    Contact,
    Conversation,
    ConversationEvent,
    Message,
    Participant,
    WhatsAppNumber,
)
from conversations.services import conversations as lifecycle
from conversations.services.timeline import conversation_event_record
from notifications.models import NumberHealthEvent, RemediationCase
from notifications.services.number_health import number_quality_apply

SALES_NUMBER = {"name": "Demo sales line", "phone_number_id": "100000000000002",
                "display_phone_number": "15550100002"}
WA_PREFIX = "1555020"
SUPPORT_CONVERSATIONS = 200
SALES_CONVERSATIONS = 50
FIRST_NAMES = ["Ana", "Ben", "Carla", "Dev", "Elif", "Farid", "Grace", "Hugo", "Ines", "Jon", "Kemal", "Lina",
               "Marta", "Nadia", "Omar", "Pia", "Quinn", "Rui", "Sara", "Tomas", "Uma", "Vera", "Wen", "Yara"]
LAST_NAMES = ["Silva", "Keller", "Miller", "Rossi", "Nguyen", "Costa", "Haddad", "Novak", "Lopez", "Sato"]
ISSUES = ["Where is my order?", "I was charged twice", "Can I change my delivery address?", "Refund please",
          "My invoice is wrong", "The app won't let me pay", "Do you ship to Portugal?", "Order A1002 is late"]

# Kinds of conversation and their weights, per number.
SUPPORT_MIX = {"contained": 44, "answered": 38, "night_fallback": 6, "late": 4, "unanswered": 3, "no_offer": 3,
               "requested_bot_error": 2}
SALES_MIX = {"contained": 25, "answered": 30, "no_offer": 20, "late": 10, "unanswered": 8, "night_fallback": 7}


def _sales_number(like: WhatsAppNumber) -> WhatsAppNumber:
    number, _ = WhatsAppNumber.objects.get_or_create(
        phone_number_id=SALES_NUMBER["phone_number_id"],
        # One business account and Meta app with the support line: the same secrets.
        defaults={**SALES_NUMBER, "business_account_id": like.business_account_id, "api_base": like.api_base,
                  "is_sandbox": like.is_sandbox, "quality_rating": "GREEN", "messaging_limit": "TIER_1K",
                  "access_token": like.access_token, "app_secret": like.app_secret,
                  "verify_token": like.verify_token},
    )
    return number


def _sales_policy(number: WhatsAppNumber, team: Team | None) -> EscalationPolicy:
    """The sales line's own policy, saved before fallback contacts were required (the admin
    form now refuses it until a phone, email or web form is added): what the flag is about."""
    policy, _ = EscalationPolicy.objects.get_or_create(
        number=number, defaults={"name": "Sales line (no fallback contact yet)", "target_team": team,
                                 "human_reply_target_minutes": 30})
    return policy


class _Builder:
    def __init__(self, *, now: datetime, rng: random.Random, bot: Bot | None, agents: dict[str, Any],
                 teams: dict[str, Team]) -> None:
        self.now, self.rng, self.bot, self.agents, self.teams = now, rng, bot, agents, teams
        self.sequence = 0

    def _contact(self, number: WhatsAppNumber) -> Contact:
        self.sequence += 1
        name = f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(LAST_NAMES)}"
        return Contact.objects.create(number=number, wa_id=f"{WA_PREFIX}{self.sequence:04d}", profile_name=name,
                                      language=self.rng.choice(["en", "en", "es", "pt", "de"]), tags=["demo-history"])

    def _message(self, conversation: Conversation, at: datetime, text: str, *, inbound: bool,
                 sender: str = "contact", user: Any = None, kind: str = "text") -> Message:
        self.sequence += 1
        return Message(
            conversation=conversation, direction="in" if inbound else "out", sender_kind=sender, sender_user=user,
            type=kind, text=text, status="received" if inbound else "read", created_at=at,
            provider_message_id=f"wamid.demo-history-{conversation.number_id}-{self.sequence}",
            sent_at=None if inbound else at, delivered_at=None if inbound else at + timedelta(seconds=2),
            read_at=None if inbound else at + timedelta(seconds=30),
        )

    def conversation(self, number: WhatsAppNumber, kind: str, started: datetime, policy: EscalationPolicy) -> None:
        rng = self.rng
        team = self.teams["support"] if rng.random() < 0.6 else self.teams["billing"]
        agent = self.agents["agent1" if team.slug == "support" and rng.random() < 0.6 else
                            "agent2" if rng.random() < 0.5 else "agent3"]
        if kind == "night_fallback":
            started = started.replace(hour=rng.choice([21, 22, 23]), minute=rng.randrange(60))
        issue = rng.choice(ISSUES)
        offered = kind != "no_offer"
        requested = kind in ("answered", "night_fallback", "late", "unanswered", "requested_bot_error")
        t_request = started + timedelta(minutes=rng.randint(1, 4))
        answer_after = {
            "answered": timedelta(minutes=rng.randint(1, 14)),
            "late": timedelta(hours=rng.randint(2, 5)),
            "night_fallback": timedelta(hours=rng.randint(9, 11)),
            "requested_bot_error": timedelta(minutes=rng.randint(2, 9)),
        }.get(kind)
        answered = t_request + answer_after if answer_after else None
        ended = (answered or t_request if requested else started) + timedelta(minutes=rng.randint(5, 40))

        with transaction.atomic():
            contact = self._contact(number)
            conversation = lifecycle.conversation_start(contact=contact)
            messages = [self._message(conversation, started, issue, inbound=True)]
            if offered:
                messages.append(self._message(conversation, started + timedelta(seconds=3),
                                              "How can I help? Order status · Billing · Talk to a person",
                                              inbound=False, sender="bot", kind="interactive"))
            else:
                messages.append(self._message(conversation, started + timedelta(seconds=3),
                                              "You can find prices and delivery times on our website.",
                                              inbound=False, sender="bot"))
            BotSession.objects.create(conversation=conversation, bot=self.bot, started_at=started, updated_at=ended,
                                      handed_off_at=t_request if requested else None)
            if requested:
                messages.append(self._message(conversation, t_request, "Talk to a person", inbound=True))
                fallback = kind == "night_fallback"
                messages.append(self._message(
                    conversation, t_request + timedelta(seconds=2),
                    policy.fallback_text if fallback else policy.handoff_text, inbound=False, sender="bot"))
                reason = "bot_error" if kind == "requested_bot_error" else rng.choice(
                    ["customer_request", "customer_request", "keyword"])
                Handoff.objects.create(
                    conversation=conversation, reason_code=reason, policy=policy, policy_name=policy.name,
                    bot_name=self.bot.name if self.bot else "", suggested_team=team, agents_available=not fallback,
                    fallback_sent=fallback, transcript=[f"Customer: {issue}", "Customer: Talk to a person"],
                    created_at=t_request,
                )
                EscalationLedger.objects.create(
                    conversation=conversation, human_offered_at=started + timedelta(seconds=3),
                    human_requested_at=t_request if reason != "bot_error" else None,
                    handed_off_at=t_request, handoff_count=1,
                )
                # The team is recorded with the handoff; the history never waits in a live queue
                # (no queue messages or routing for conversations that ended long ago).
                Conversation.objects.filter(pk=conversation.pk).update(team=team)
                conversation.team = team
                conversation_event_record(conversation=conversation, kind="handoff", actor_kind="bot",
                                          reason=reason.replace("_", " "), data={"team": team.pk})
                if answered is not None:
                    lifecycle.conversation_assign(conversation=conversation, user=agent, reason="demo history")
                    messages.append(self._message(conversation, answered, f"Hi {contact.first_name}, I'm on it.",
                                                  inbound=False, sender="agent", user=agent))
                    messages.append(self._message(conversation, answered + timedelta(minutes=2), "Thanks!",
                                                  inbound=True))
            elif offered:
                EscalationLedger.objects.create(conversation=conversation, human_offered_at=started + timedelta(seconds=3))
            lifecycle.conversation_resolve(conversation=conversation, actor=agent if answered else None,
                                           note="demo history")
            Message.objects.bulk_create(messages)
            last_in = max(m.created_at for m in messages if m.direction == "in")
            rated = answered is not None and rng.random() < 0.7
            fields: dict[str, Any] = {
                "created_at": started, "last_activity_at": ended, "last_customer_message_at": last_in,
                "window_expires_at": last_in + timedelta(hours=24), "resolved_at": ended,
                "last_message_preview": messages[-1].text[:200],
                "queued_at": t_request if requested else None,
                "assigned_at": t_request + timedelta(seconds=20) if answered else None,
                "first_response_at": answered, "last_agent_message_at": answered,
                "first_response_due_at": t_request + timedelta(minutes=5) if requested else None,
                "sla_breached_at": t_request + timedelta(minutes=5) if requested and (
                    answered is None or answered - t_request > timedelta(minutes=5)) else None,
                "csat_requested_at": ended if rated else None,
                "csat_score": rng.choices([3, 2, 1], weights=[7, 2, 1])[0] if rated and rng.random() < 0.75 else None,
            }
            Conversation.objects.filter(pk=conversation.pk).update(**fields)
            when = {"created": started, "handoff": t_request, "assigned": t_request + timedelta(seconds=20),
                    "resolved": ended}
            for event_kind, at in when.items():
                ConversationEvent.objects.filter(conversation=conversation, kind=event_kind).update(created_at=at)
            Participant.objects.filter(conversation=conversation).update(
                joined_at=t_request + timedelta(seconds=20), left_at=ended)
            BotSession.objects.filter(conversation=conversation).update(
                last_message_id=max(m.pk or 0 for m in messages if m.direction == "in"))


def _flag(number: WhatsAppNumber, now: datetime) -> None:
    """WhatsApp's history for the sales line: an upgrade 25 days ago, flagged 2 days ago."""
    for days, value in ((25, {"display_phone_number": number.display_phone_number, "event": "UPGRADE",
                              "current_limit": "TIER_1K"}),
                        (2, {"display_phone_number": number.display_phone_number, "event": "FLAGGED",
                             "current_limit": "TIER_1K"})):
        at = now - timedelta(days=days)
        event = number_quality_apply(number=number, value=value)
        NumberHealthEvent.objects.filter(pk=event.pk).update(created_at=at)
    case = RemediationCase.objects.filter(number=number, state=RemediationCase.State.OPEN).first()
    if case is not None:
        opened = now - timedelta(days=2)
        RemediationCase.objects.filter(pk=case.pk).update(
            opened_at=opened, deadline_at=RemediationCase.deadline_for(opened), days_left=5)
        number.alerts.filter(closed_at__isnull=True).update(opened_at=opened, last_seen_at=opened)


def load(stdout: TextIO, *, now: datetime | None = None) -> bool:
    """Add the history once; False (nothing done) when it exists or the demo number is missing."""
    support_number = demo_number_find()
    if support_number is None or Contact.objects.filter(wa_id__startswith=WA_PREFIX).exists():
        return False
    now = now or timezone.now()
    users = {u.username: u for u in get_user_model().objects.filter(username__in=["agent1", "agent2", "agent3"])}
    teams = {t.slug: t for t in Team.objects.filter(slug__in=["support", "billing"])}
    if len(users) < 3 or len(teams) < 2:
        stdout.write("Demo history skipped: the demo agents and teams are missing.\n")
        return False
    rng = random.Random(14)
    bot = Bot.objects.filter(is_active=True).order_by("-is_default", "pk").first()
    support_policy = EscalationPolicy.objects.filter(is_default=True).first() or EscalationPolicy.objects.first()
    if support_policy is None:
        stdout.write("Demo history skipped: no escalation policy.\n")
        return False
    sales_number = _sales_number(support_number)
    sales_policy = _sales_policy(sales_number, teams["support"])
    builder = _Builder(now=now, rng=rng, bot=bot, agents=users, teams=teams)
    for number, count, mix, policy in ((support_number, SUPPORT_CONVERSATIONS, SUPPORT_MIX, support_policy),
                                       (sales_number, SALES_CONVERSATIONS, SALES_MIX, sales_policy)):
        kinds = rng.choices(list(mix), weights=list(mix.values()), k=count)
        for kind in kinds:
            # Two to 29 days back (inside the pages' default 30 days), in office hours (night
            # requests move to the evening): every answer, even the next morning's, is past.
            started = (now - timedelta(days=rng.randint(2, 29))).replace(
                hour=rng.randint(8, 18), minute=rng.randrange(60), second=0, microsecond=0)
            builder.conversation(number, kind, started, policy)
    _flag(sales_number, now)
    stdout.write(
        f"Demo history: {SUPPORT_CONVERSATIONS + SALES_CONVERSATIONS} past conversations over 30 days on "
        f"{support_number} and {sales_number} (flagged 2 days ago: quality red, a remediation case open); "
        "see /desk/compliance/ and /desk/reports/.\n"
    )
    return True
