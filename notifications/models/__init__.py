"""Message templates, the consent ledger, campaigns, number health, remediation cases, alerts
and idempotency keys."""

from .alerts import Alert
from .campaigns import Campaign, CampaignRecipient
from .compliance import REMEDIATION_DAYS, RemediationCase
from .consent import ConsentCategory, ConsentKeywordRule, ConsentRecord, ConsentSource
from .health import NumberHealth, NumberHealthEvent
from .idempotency import IdempotencyKey
from .templates import MessageTemplate, TemplateCategory, TemplateStatus

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
