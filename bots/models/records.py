"""What the bot keeps per conversation: its session, the escalation ledger, and the
handoffs with their context."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class BotSession(models.Model):
    """Where a conversation is in its bot: the step waited on, collected values, counters.

    `last_message_id` is the newest inbound message handled; a turn claims its message by
    moving it forward with a compare-and-set update, so a message is answered at most once
    and an older message arriving late is not answered after a newer one."""

    conversation = models.OneToOneField(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="bot_session"
    )
    bot = models.ForeignKey("bots.Bot", null=True, blank=True, on_delete=models.SET_NULL, related_name="sessions")
    current_step = models.ForeignKey(
        "bots.FlowStep", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    values = models.JSONField(default=dict, blank=True)
    state = models.JSONField(default=dict, blank=True, help_text="Bot-specific state, e.g. an external bot's buttons.")
    misunderstood_count = models.PositiveSmallIntegerField(default=0)
    repeat_step_key = models.CharField(max_length=64, blank=True)
    repeat_count = models.PositiveSmallIntegerField(default=0)
    last_intent = models.CharField(max_length=200, blank=True)
    last_message_id = models.BigIntegerField(default=0)
    started_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    handed_off_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"bot session of #{self.conversation_id}"


class EscalationLedger(models.Model):
    """Evidence that the customer could reach a person, and how fast: first offered,
    first asked, handed off, first answered by a person. Each is the first occurrence."""

    conversation = models.OneToOneField(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="escalation_ledger"
    )
    human_offered_at = models.DateTimeField(null=True, blank=True)
    human_requested_at = models.DateTimeField(null=True, blank=True)
    handed_off_at = models.DateTimeField(null=True, blank=True)
    first_human_reply_at = models.DateTimeField(null=True, blank=True)
    handoff_count = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"escalation ledger of #{self.conversation_id}"

    def as_dict(self) -> dict[str, Any]:
        def iso(value):
            return value.isoformat() if value else None

        return {
            "human_offered_at": iso(self.human_offered_at),
            "human_requested_at": iso(self.human_requested_at),
            "handed_off_at": iso(self.handed_off_at),
            "first_human_reply_at": iso(self.first_human_reply_at),
            "handoff_count": self.handoff_count,
        }


class Handoff(models.Model):
    """A conversation handed from the bot to people, with the context they need."""

    class Reason(models.TextChoices):
        # Labels in the desk user's language (the desk's handoff card, reports).
        CUSTOMER_REQUEST = "customer_request", _("The customer chose to talk to a person")
        KEYWORD = "keyword", _("The customer asked for a person in words")
        NOT_UNDERSTOOD = "not_understood", _("The bot did not understand the customer")
        BOT_ERROR = "bot_error", _("The bot failed or timed out")
        VIP = "vip", _("VIP contact")
        NEGATIVE_SENTIMENT = "negative_sentiment", _("The customer is upset")
        PLATFORM_TEST = "platform_test", _("WhatsApp's bot-quality test message")
        LOOP = "loop", _("The bot was going round in circles")
        FLOW = "flow", _("The bot flow hands off here")
        EXTERNAL_BOT = "external_bot", _("The external bot asked for a person")
        NO_BOT = "no_bot", _("No bot serves this conversation")

    conversation = models.ForeignKey("conversations.Conversation", on_delete=models.CASCADE, related_name="handoffs")
    reason_code = models.CharField(max_length=32, choices=Reason.choices)
    detail = models.TextField(blank=True)
    policy = models.ForeignKey(
        "bots.EscalationPolicy", null=True, blank=True, on_delete=models.SET_NULL, related_name="handoffs"
    )
    policy_name = models.CharField(max_length=100, blank=True)
    bot_name = models.CharField(max_length=100, blank=True)
    collected_values = models.JSONField(default=dict, blank=True)
    last_intent = models.CharField(max_length=200, blank=True)
    transcript = models.JSONField(default=list, blank=True, help_text='Lines "Customer: …" / "Bot: …", oldest first.')
    suggested_team = models.ForeignKey("agents.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    priority = models.SmallIntegerField(default=0)
    skills = models.JSONField(default=list, blank=True, help_text="Skills the bot asked of the agent.")
    agents_available = models.BooleanField(default=True)
    fallback_sent = models.BooleanField(default=False)
    trigger_message = models.ForeignKey(
        "conversations.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The few handoffs that sent the fallback, by conversation (the compliance monitor).
            models.Index(fields=["conversation"], condition=models.Q(fallback_sent=True), name="handoff_fallback_idx"),
        ]

    def __str__(self) -> str:
        return f"handoff of #{self.conversation_id} ({self.reason_code})"

    @property
    def transcript_summary(self) -> str:
        return "\n".join(self.transcript)

    def as_context(self) -> dict[str, Any]:
        return {
            "id": self.pk,
            "reason": self.reason_code,
            "reason_label": str(self.get_reason_code_display()),  # in the active (desk user's) language
            "detail": self.detail,
            "policy": self.policy_name,
            "policy_id": self.policy_id,
            "bot": self.bot_name,
            "collected_values": dict(self.collected_values),
            "last_intent": self.last_intent,
            "transcript": list(self.transcript),
            "transcript_summary": self.transcript_summary,
            "suggested_team": (
                {"id": self.suggested_team.pk, "name": self.suggested_team.name, "slug": self.suggested_team.slug}
                if self.suggested_team
                else None
            ),
            "priority": self.priority,
            "skills": list(self.skills or []),
            "agents_available": self.agents_available,
            "fallback_sent": self.fallback_sent,
            "created_at": self.created_at.isoformat(),
        }
