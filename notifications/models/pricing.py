"""The price table: what WhatsApp charges per delivered message, by pricing category and
the recipient's country, for the cost estimates of campaigns and reports. WhatsApp's
status webhooks say which category a message was charged in, never the amount, so the
amounts come from here (copy them from Meta's rate card)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class PricingCategory(models.TextChoices):
    MARKETING = "marketing", "Marketing"
    MARKETING_LITE = "marketing_lite", "Marketing (lite)"
    UTILITY = "utility", "Utility"
    AUTHENTICATION = "authentication", "Authentication"
    AUTHENTICATION_INTERNATIONAL = "authentication_international", "Authentication (international)"
    SERVICE = "service", "Service"


class MessagePrice(models.Model):
    """One rate: a category in a country (ISO 3166 alpha-2, e.g. "BR"), or in every
    country without its own rate (country empty)."""

    category = models.CharField(max_length=40, choices=PricingCategory.choices)
    country = models.CharField(
        max_length=2, blank=True, help_text="ISO country code of the recipient's phone number; empty: any other country."
    )
    price = models.DecimalField(max_digits=10, decimal_places=5, help_text="Per charged message.")
    currency = models.CharField(max_length=3, default="USD")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["category", "country"]
        constraints = [
            models.UniqueConstraint(fields=["category", "country"], name="one_price_per_category_country"),
        ]

    def __str__(self) -> str:
        return f"{self.category} {self.country or '*'}: {self.price} {self.currency}"
