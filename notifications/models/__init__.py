"""Message templates, the consent ledger, campaigns, the price table, number health, remediation
cases, alerts, idempotency keys and outgoing webhooks."""

from notifications.models.alerts import Alert
from notifications.models.campaigns import Campaign, CampaignRecipient
from notifications.models.compliance import REMEDIATION_DAYS, RemediationCase
from notifications.models.consent import ConsentCategory, ConsentKeywordRule, ConsentRecord, ConsentSource
from notifications.models.health import NumberHealth, NumberHealthEvent
from notifications.models.idempotency import IdempotencyKey
from notifications.models.pricing import MessagePrice, PricingCategory
from notifications.models.templates import MessageTemplate, TemplateCategory, TemplateStatus
from notifications.models.webhooks import (
    OutboxEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEventType,
)

__all__ = [
    "REMEDIATION_DAYS",
    "Alert",
    "Campaign",
    "CampaignRecipient",
    "ConsentCategory",
    "ConsentKeywordRule",
    "ConsentRecord",
    "ConsentSource",
    "IdempotencyKey",
    "MessagePrice",
    "MessageTemplate",
    "NumberHealth",
    "NumberHealthEvent",
    "OutboxEvent",
    "PricingCategory",
    "RemediationCase",
    "TemplateCategory",
    "TemplateStatus",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEventType",
]
