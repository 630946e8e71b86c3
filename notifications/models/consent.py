"""The consent ledger: every opt-in and opt-out is a row; the current state is the latest row."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class ConsentCategory(models.TextChoices):
    MARKETING = "marketing", "Marketing"
    UTILITY = "utility", "Utility"


class ConsentSource(models.TextChoices):
    WEB_FORM = "web_form", "Web form"
    KEYWORD = "keyword", "Keyword in chat"
    IMPORT = "import", "Import"
    API = "api", "API"
    ADMIN = "admin", "Admin"
    WHATSAPP_PREFERENCE = "whatsapp_preference", "WhatsApp preference"
    ERROR_131050 = "error_131050", "WhatsApp error 131050 (user stopped marketing)"


class ConsentRecord(models.Model):
    """One change of a contact's consent for one category on one number. Rows are never
    updated or deleted: the latest row (highest id) per contact and category is current."""

    contact = models.ForeignKey("conversations.Contact", on_delete=models.CASCADE, related_name="consent_records")
    number = models.ForeignKey("conversations.WhatsAppNumber", on_delete=models.CASCADE, related_name="+")
    category = models.CharField(max_length=16, choices=ConsentCategory.choices)
    opted_in = models.BooleanField()
    source = models.CharField(max_length=32, choices=ConsentSource.choices)
    proof = models.TextField(blank=True, help_text="Evidence: the form, message, file or event that carried it.")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["contact", "category", "-id"], name="consent_latest_idx")]
        # Opt-outs are recorded by anyone who may see the contact; opt-ins only by admins
        # and the users or groups granted this (notifications.services.consent.OPT_IN_PERMISSION).
        permissions = [("record_opt_in", "Can record an opt-in (with proof) for a contact")]

    def __str__(self) -> str:
        verb = "opt-in" if self.opted_in else "opt-out"
        return f"{self.category} {verb} for {self.contact} ({self.source})"


class ConsentKeywordRule(models.Model):
    """Keywords that opt a contact out or in, and the confirmation sent back, per number and
    language. A rule without a number applies to every number; built-in defaults cover the
    common languages when no rule matches."""

    class Action(models.TextChoices):
        OPT_OUT = "opt_out", "Opt out"
        OPT_IN = "opt_in", "Opt in"

    number = models.ForeignKey(
        "conversations.WhatsAppNumber",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Empty: every number.",
    )
    language = models.CharField(max_length=16, help_text="Language code, e.g. en, es, pt, de, fr.")
    action = models.CharField(max_length=8, choices=Action.choices)
    keywords = models.TextField(help_text="One keyword or phrase per line; matched against the whole message.")
    confirmation = models.TextField(help_text="Sent back to the customer when a keyword is handled.")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["number", "language", "action"],
                condition=models.Q(number__isnull=False),
                name="consent_keyword_rule_per_number",
            ),
            models.UniqueConstraint(
                fields=["language", "action"],
                condition=models.Q(number__isnull=True),
                name="consent_keyword_rule_global",
            ),
        ]

    def __str__(self) -> str:
        scope = str(self.number) if self.number_id else "all numbers"
        return f"{self.get_action_display()} [{self.language}] on {scope}"

    def keyword_list(self) -> list[str]:
        return [line.strip() for line in self.keywords.splitlines() if line.strip()]
