"""Message templates, the consent ledger, campaigns, number health, remediation cases, alerts
and idempotency keys."""

from notifications.models.alerts import Alert
from notifications.models.campaigns import Campaign, CampaignRecipient
from notifications.models.compliance import REMEDIATION_DAYS, RemediationCase
from notifications.models.consent import ConsentCategory, ConsentKeywordRule, ConsentRecord, ConsentSource
from notifications.models.health import NumberHealth, NumberHealthEvent
from notifications.models.idempotency import IdempotencyKey
from notifications.models.templates import MessageTemplate, TemplateCategory, TemplateStatus

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
    "MessageTemplate",
    "NumberHealth",
    "NumberHealthEvent",
    "RemediationCase",
    "TemplateCategory",
    "TemplateStatus",
]
