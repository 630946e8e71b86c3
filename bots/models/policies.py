"""Escalation policies: when a bot conversation goes to a person, to which team, and
what the customer is offered when nobody can answer."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from bots.fallback import validate_fallback_email, validate_fallback_phone, validate_fallback_url
from conversations.languages import LANGUAGE_CHOICES

DEFAULT_KEYWORDS = ", ".join(
    [
        # English
        "agent", "human", "person", "representative", "operator", "talk to someone", "real person",
        # Spanish / Portuguese
        "humano", "persona", "agente", "asesor", "operador", "atendente", "atendimento", "pessoa",
        # German
        "mensch", "mitarbeiter", "berater",
        # French
        "humain", "conseiller", "conseillère", "opérateur",
        # Italian
        "umano", "operatore", "persona reale",
        # Dutch
        "medewerker",
        # Hindi
        "एजेंट", "इंसान से बात", "व्यक्ति से बात",
    ]
)

DEFAULT_NEGATIVE_WORDS = ", ".join(
    [
        "angry", "furious", "terrible", "awful", "horrible", "useless", "worst", "ridiculous",
        "frustrated", "disappointed", "unacceptable", "scam", "complaint", "hate",
        "pésimo", "terrible", "inútil", "enfadado", "furioso",
        "péssimo", "inútil", "absurdo",
        "schrecklich", "nutzlos", "unverschämt", "wütend",
        "nul", "inadmissible", "furieux",
        "pessimo", "inutile", "arrabbiato",
    ]
)

# In English; the shipped catalogues (locale/) translate them for customers in other languages.
DEFAULT_HANDOFF_TEXT = gettext_noop(
    "Thanks, I'm passing you to a member of our team. They will answer here in this chat; "
    "you don't need to do anything else."
)
DEFAULT_FALLBACK_TEXT = gettext_noop(
    "Our team isn't available right now. Your conversation stays in the queue and a person "
    "will answer here as soon as someone is available."
)
DEFAULT_HUMAN_OPTION = gettext_noop("Talk to a person")
# The policy texts a translation may replace, per language.
TRANSLATABLE_FIELDS = ("human_option_title", "handoff_text", "fallback_text")


class EscalationPolicy(models.Model):
    """Scoped to a number, a team, or (default) everything else."""

    name = models.CharField(max_length=100)
    number = models.ForeignKey(
        "conversations.WhatsAppNumber", null=True, blank=True, on_delete=models.CASCADE, related_name="escalation_policies"
    )
    team = models.ForeignKey(
        "agents.Team",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="escalation_policies",
        help_text="Applies to conversations of this team (when the number has no policy).",
    )
    is_default = models.BooleanField(default=False, help_text="Applies where no number or team policy does.")
    target_team = models.ForeignKey(
        "agents.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The team whose queue receives handed-off conversations.",
    )
    human_reply_target_minutes = models.PositiveIntegerField(
        default=60,
        help_text="A customer who asks for a person should have one (or the fallback contact) within this "
        "many minutes; the compliance monitor lists longer waits as gaps.",
    )

    human_option_title = models.CharField(
        max_length=20, default=DEFAULT_HUMAN_OPTION, help_text="Added to every bot menu that lacks a way to a person."
    )
    keywords = models.TextField(
        default=DEFAULT_KEYWORDS, blank=True, help_text="Comma-separated words that hand off at once, in any language."
    )
    max_not_understood = models.PositiveSmallIntegerField(
        default=2, help_text="Consecutive answers the bot does not understand before a person takes over."
    )
    loop_limit = models.PositiveSmallIntegerField(
        default=3, help_text="Times the same step may repeat in a row before a person takes over."
    )
    escalate_on_bot_error = models.BooleanField(default=True, help_text="A bot error or timeout hands off.")
    vip_attribute = models.CharField(
        max_length=64, blank=True, default="vip", help_text="Contact attribute that marks a VIP (empty: no VIP rule)."
    )
    vip_value = models.CharField(max_length=100, blank=True, default="true")
    vip_priority = models.SmallIntegerField(default=50)
    negative_words = models.TextField(
        default=DEFAULT_NEGATIVE_WORDS, blank=True, help_text="Comma-separated words of anger or frustration."
    )
    detect_platform_test = models.BooleanField(
        default=True, help_text="WhatsApp's own bot-quality test message hands off at top priority."
    )
    bot_replies_per_minute = models.PositiveSmallIntegerField(
        default=12, help_text="Bot replies per conversation and minute; messages beyond are stored, not answered."
    )
    transcript_lines = models.PositiveSmallIntegerField(default=12)

    handoff_text = models.TextField(default=DEFAULT_HANDOFF_TEXT)
    fallback_text = models.TextField(default=DEFAULT_FALLBACK_TEXT)
    fallback_phone = models.CharField(max_length=32, blank=True, help_text="International form, e.g. +34 910 000 000.")
    fallback_email = models.EmailField(blank=True)
    fallback_url = models.URLField(blank=True, help_text="A web support form (not a homepage, help centre or app).")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "escalation policies"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["number"], name="one_policy_per_number"),
            models.UniqueConstraint(fields=["team"], name="one_policy_per_team"),
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="one_default_policy"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        for field, validate in (
            ("fallback_phone", validate_fallback_phone),
            ("fallback_email", validate_fallback_email),
            ("fallback_url", validate_fallback_url),
        ):
            value = getattr(self, field)
            if not value:
                continue
            try:
                setattr(self, field, validate(value))
            except ValidationError as exc:
                errors[field] = exc.messages
        if not (self.fallback_phone or self.fallback_email or self.fallback_url) and not errors:
            errors["fallback_phone"] = [
                "Give at least one way to reach a person when nobody is available: phone, email or web support form."
            ]
        if self.max_not_understood < 1:
            errors["max_not_understood"] = ["Use 1 or more."]
        if self.loop_limit < 2:
            errors["loop_limit"] = ["Use 2 or more."]
        if errors:
            raise ValidationError(errors)

    def keyword_list(self) -> list[str]:
        return [k.strip() for k in self.keywords.split(",") if k.strip()]

    def negative_word_list(self) -> list[str]:
        return [k.strip() for k in self.negative_words.split(",") if k.strip()]

    def fallback_lines(self) -> list[str]:
        """The fallback contact, one line each, in the active language."""
        lines = []
        if self.fallback_phone:
            lines.append(gettext("Phone: %(phone)s") % {"phone": self.fallback_phone})
        if self.fallback_email:
            lines.append(gettext("Email: %(email)s") % {"email": self.fallback_email})
        if self.fallback_url:
            lines.append(gettext("Web form: %(url)s") % {"url": self.fallback_url})
        return lines


class PolicyTranslation(models.Model):
    """A policy's customer texts in one language. An empty field falls back to the policy's
    own text (translated by the shipped catalogues when it is a built-in default)."""

    policy = models.ForeignKey(EscalationPolicy, on_delete=models.CASCADE, related_name="translations")
    language = models.CharField(max_length=8, choices=LANGUAGE_CHOICES)
    human_option_title = models.CharField(
        max_length=20, blank=True, help_text="At most 20 characters: WhatsApp's limit for a reply button."
    )
    handoff_text = models.TextField(blank=True)
    fallback_text = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["policy", "language"], name="one_policy_translation_per_language"),
        ]

    def __str__(self) -> str:
        return f"{self.policy} ({self.language})"
