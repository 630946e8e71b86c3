"""Bots and what they say: flow bots with their steps, menu options and FAQ entries,
external bots reached over HTTP, the business APIs a lookup step calls, and the demo's order
table (the data of the order endpoint the demo serves itself)."""

from __future__ import annotations

import json

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from encrypted_model_fields.fields import EncryptedTextField

from config.outbound_http import OutboundRefused, url_check

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
        HTTP = "http", "Call a lookup service (the business's API)"

    class Method(models.TextChoices):
        GET = "GET", "GET (values as query parameters)"
        POST = "POST", "POST (values as a JSON body)"

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
    lookup_service = models.ForeignKey(
        "LookupService", null=True, blank=True, on_delete=models.PROTECT, related_name="steps",
        help_text="Lookups: the API called (its base URL and headers).",
    )
    lookup_method = models.CharField(max_length=4, choices=Method.choices, default=Method.GET)
    lookup_path = models.CharField(
        max_length=300, blank=True,
        help_text="Lookups: the path after the service's base URL; {name} inserts a collected value "
        "(URL-encoded), e.g. orders/{order_number}.",
    )
    lookup_params = models.CharField(
        max_length=300, blank=True,
        help_text="Lookups: comma-separated collected values sent as query parameters (GET) or a JSON body (POST).",
    )
    lookup_map = models.JSONField(
        default=dict, blank=True,
        help_text='Lookups: collected value -> path in the JSON answer, e.g. {"order_status": "order.status", '
        '"first_item": "items[0].name"}.',
    )
    lookup_found_path = models.CharField(
        max_length=200, blank=True,
        help_text="Lookups: found when this path of the answer holds a value (empty: when the answer is not "
        "empty). A 404 answer is always not found.",
    )
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
        if self.kind == self.Kind.LOOKUP:
            if self.lookup != self.Lookup.HTTP or self.lookup_service_id is None:
                errors["lookup_service"] = "Choose the lookup service this step calls."
            if not isinstance(self.lookup_map, dict) or not all(
                isinstance(k, str) and isinstance(v, str) and k and v for k, v in self.lookup_map.items()
            ):
                errors["lookup_map"] = 'Map collected value names to answer paths: {"order_status": "order.status"}.'
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


class LookupService(models.Model):
    """A business API that flow lookup steps may call: the allow-listed base URL (steps add
    only a path to it) and the headers sent with every call, stored encrypted."""

    name = models.CharField(max_length=100, unique=True)
    base_url = models.URLField(
        max_length=500, help_text="Every call goes under this URL (https in production; LOOKUP_ALLOWED_BASES "
        "restricts it when set)."
    )
    headers = EncryptedTextField(
        blank=True, default="",
        help_text='A JSON object of headers sent with each call, e.g. {"Authorization": "Bearer …"}; stored encrypted.',
    )
    timeout_seconds = models.FloatField(
        default=5.0, help_text="No complete answer within this many seconds hands the customer to a person."
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def header_dict(self) -> dict[str, str]:
        try:
            value = json.loads(self.headers or "{}")
        except ValueError:
            return {}
        return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}

    def clean(self) -> None:
        errors: dict[str, str] = {}
        try:
            url_check(self.base_url)
        except OutboundRefused as exc:
            errors["base_url"] = exc.detail
        allowed = [base for base in getattr(settings, "LOOKUP_ALLOWED_BASES", []) if base]
        if allowed and not any(self.base_url.startswith(base) for base in allowed):
            errors["base_url"] = "This base URL is not in LOOKUP_ALLOWED_BASES."
        try:
            parsed = json.loads(self.headers or "{}")
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
            errors["headers"] = 'Give the headers as a JSON object of strings: {"Authorization": "Bearer …"}.'
        if not 0 < self.timeout_seconds <= 30:
            errors["timeout_seconds"] = "Use a timeout between 0 and 30 seconds."
        if errors:
            raise ValidationError(errors)


class DemoOrder(models.Model):
    """The orders the demo's own order endpoint (bots.demo_views) answers from."""

    order_number = models.CharField(max_length=32, unique=True)
    status = models.CharField(max_length=100)
    detail = models.CharField(max_length=300, blank=True)
    customer_wa_id = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["order_number"]

    def __str__(self) -> str:
        return f"{self.order_number} ({self.status})"
