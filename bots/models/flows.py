"""Bots and what they say: flow bots with their steps, menu options and FAQ entries,
external bots reached over HTTP, and the demo order table the lookup step reads."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

HUMAN_OPTION_ID = "handoff:human"


class Bot(models.Model):
    """A bot that answers customers first. It serves a number, or a team, or (default)
    every conversation that has neither a number nor a team bot."""

    class Kind(models.TextChoices):
        FLOW = "flow", "Flow bot (steps edited here)"
        EXTERNAL = "external", "External bot over HTTP (Rasa REST channel)"

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.FLOW)
    is_active = models.BooleanField(default=True)
    number = models.ForeignKey(
        "conversations.WhatsAppNumber",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="bots",
        help_text="Answer conversations on this number.",
    )
    team = models.ForeignKey(
        "agents.Team",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="bots",
        help_text="Answer conversations of this team (when the number has no bot).",
    )
    is_default = models.BooleanField(default=False, help_text="Answer conversations that no number or team bot serves.")
    start_step = models.ForeignKey(
        "FlowStep",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Flow bots: the first step of a conversation.",
    )
    endpoint_url = models.URLField(
        blank=True, help_text="External bots: the REST channel URL, e.g. http://rasa:5005/webhooks/rest/webhook"
    )
    timeout_seconds = models.FloatField(
        default=5.0, help_text="External bots: no answer within this many seconds hands the customer to a person."
    )
    auth_header = models.CharField(
        max_length=500, blank=True, help_text="External bots: optional Authorization header value sent with each call."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["number"], condition=Q(is_active=True), name="one_active_bot_per_number"),
            models.UniqueConstraint(fields=["team"], condition=Q(is_active=True), name="one_active_bot_per_team"),
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_active=True, is_default=True), name="one_active_default_bot"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.kind == self.Kind.EXTERNAL:
            if not self.endpoint_url:
                raise ValidationError({"endpoint_url": "An external bot needs the URL of its REST channel."})
            URLValidator(schemes=["http", "https"])(self.endpoint_url)
        if not 0 < self.timeout_seconds <= 30:
            raise ValidationError({"timeout_seconds": "Use a timeout between 0 and 30 seconds."})
        if self.start_step_id and self.pk and self.start_step and self.start_step.bot_id != self.pk:
            raise ValidationError({"start_step": "The start step must belong to this bot."})


class FlowStep(models.Model):
    """One step of a flow bot. Steps that wait for the customer: menu, question, FAQ."""

    class Kind(models.TextChoices):
        MESSAGE = "message", "Send a message"
        MENU = "menu", "Show a menu"
        QUESTION = "question", "Ask a question"
        FAQ = "faq", "Answer from the FAQ"
        LOOKUP = "lookup", "Look a value up"
        HANDOFF = "handoff", "Hand off to a team"
        END = "end", "End"

    class Validation(models.TextChoices):
        TEXT = "text", "Any text"
        REGEX = "regex", "Regular expression"
        NUMBER = "number", "Number"
        EMAIL = "email", "Email address"
        CHOICE = "choice", "One of the choices"

    class Lookup(models.TextChoices):
        ORDER_STATUS = "order_status", "Order status (demo orders)"

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="steps")
    key = models.SlugField(max_length=64, help_text="A short name, unique within the bot.")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    text = models.TextField(
        blank=True,
        help_text="What the bot says (menu body, question, message). {name} inserts a collected value.",
    )
    next_step = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="Where to go next."
    )
    else_step = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Lookups: where to go when nothing is found.",
    )
    # menus
    button_label = models.CharField(max_length=20, blank=True, default="Choose", help_text="List menus: the button.")
    header = models.CharField(max_length=60, blank=True)
    footer = models.CharField(max_length=60, blank=True)
    # questions
    value_name = models.SlugField(max_length=64, blank=True, help_text="Questions and lookups: the collected value.")
    validation = models.CharField(max_length=16, choices=Validation.choices, default=Validation.TEXT)
    pattern = models.CharField(max_length=200, blank=True, help_text="Regular expression the whole answer must match.")
    choices = models.CharField(max_length=500, blank=True, help_text="Comma-separated accepted answers.")
    invalid_text = models.TextField(blank=True, help_text="Said when the answer is not valid (then the question again).")
    # lookups
    lookup = models.CharField(max_length=32, choices=Lookup.choices, blank=True)
    not_found_text = models.TextField(blank=True, help_text="Lookups: said when nothing is found.")
    # hand off
    handoff_team = models.ForeignKey("agents.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    handoff_reason = models.CharField(max_length=200, blank=True)
    handoff_skills = models.JSONField(
        default=list,
        blank=True,
        help_text='Skills the agent taking the conversation must have, e.g. ["billing"]; with the customer\'s '
        "language, routing matches them against agents' profiles.",
    )

    class Meta:
        ordering = ["bot", "id"]
        constraints = [models.UniqueConstraint(fields=["bot", "key"], name="flow_step_key_unique_per_bot")]

    def __str__(self) -> str:
        return f"{self.bot}: {self.key}"

    @property
    def waits_for_customer(self) -> bool:
        return self.kind in {self.Kind.MENU, self.Kind.QUESTION, self.Kind.FAQ}

    def clean(self) -> None:
        import re

        errors: dict[str, str] = {}
        if self.kind in {self.Kind.MENU, self.Kind.QUESTION, self.Kind.MESSAGE} and not self.text.strip():
            errors["text"] = "This step needs text to send."
        if self.kind == self.Kind.QUESTION:
            if not self.value_name:
                errors["value_name"] = "Name the value the answer is stored in."
            if self.validation == self.Validation.REGEX:
                try:
                    re.compile(self.pattern)
                except re.error as exc:
                    errors["pattern"] = f"Not a valid regular expression: {exc}."
                if not self.pattern:
                    errors["pattern"] = "Give the pattern the answer must match."
            if self.validation == self.Validation.CHOICE and not self.choice_list():
                errors["choices"] = "List the accepted answers, separated by commas."
        if self.kind == self.Kind.LOOKUP and (not self.lookup or not self.value_name):
            errors["lookup"] = "Choose what to look up and the collected value to look it up by."
        skills = self.handoff_skills
        if skills and (not isinstance(skills, list) or not all(isinstance(k, str) and k.strip() for k in skills)):
            errors["handoff_skills"] = 'Give a list of skill names, e.g. ["billing", "refunds"].'
        for field in ("next_step", "else_step"):
            target = getattr(self, field)
            if target is not None and target.bot_id != self.bot_id:
                errors[field] = "Link only to steps of the same bot."
        if errors:
            raise ValidationError(errors)

    def choice_list(self) -> list[str]:
        return [c.strip() for c in self.choices.split(",") if c.strip()]


class StepOption(models.Model):
    """A menu choice; a tap (or typing its title or number) moves to its next step."""

    step = models.ForeignKey(FlowStep, on_delete=models.CASCADE, related_name="options")
    title = models.CharField(max_length=24, help_text="Up to 20 characters shows as a button; up to 24 in a list.")
    description = models.CharField(max_length=72, blank=True)
    payload = models.SlugField(max_length=64, help_text="Identifier sent back when tapped; also the last intent.")
    next_step = models.ForeignKey(FlowStep, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["step", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["step", "payload"], name="step_option_payload_unique")]

    def __str__(self) -> str:
        return self.title

    def clean(self) -> None:
        if self.next_step is not None and self.step_id and self.next_step.bot_id != self.step.bot_id:
            raise ValidationError({"next_step": "Link only to steps of the same bot."})


class FaqEntry(models.Model):
    """A question the bot answers when the customer's words fuzzily match its keywords."""

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="faq_entries")
    question = models.CharField(max_length=200)
    keywords = models.TextField(help_text="Comma-separated words or phrases that mean this question.")
    answer = models.TextField()
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["bot", "position", "id"]
        verbose_name = "FAQ entry"
        verbose_name_plural = "FAQ entries"

    def __str__(self) -> str:
        return self.question

    def keyword_list(self) -> list[str]:
        return [k.strip() for k in self.keywords.split(",") if k.strip()]


class DemoOrder(models.Model):
    """Orders the demo bot's order-status lookup answers from."""

    order_number = models.CharField(max_length=32, unique=True)
    status = models.CharField(max_length=100)
    detail = models.CharField(max_length=300, blank=True)
    customer_wa_id = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["order_number"]

    def __str__(self) -> str:
        return f"{self.order_number} ({self.status})"
