"""Routing state of a queued conversation: where it came from, how far it overflowed,
and when the customer was last told their place in the queue."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class ConversationRouting(models.Model):
    conversation = models.OneToOneField(
        "conversations.Conversation", on_delete=models.CASCADE, primary_key=True, related_name="routing"
    )
    home_team = models.ForeignKey(
        "agents.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The team whose overflow list applies.",
    )
    overflow_step = models.PositiveSmallIntegerField(default=0, help_text="Overflow steps taken so far.")
    step_entered_at = models.DateTimeField(default=timezone.now)
    any_agent = models.BooleanField(default=False, help_text="Overflowed to any online agent with room.")
    reason = models.TextField(blank=True)
    last_queue_message_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "conversation routing"

    def __str__(self) -> str:
        return f"routing of #{self.conversation_id}"
