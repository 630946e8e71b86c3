"""Message templates, the consent ledger, campaigns, number health and idempotency keys."""

from .campaigns import Campaign, CampaignRecipient
from .consent import ConsentCategory, ConsentKeywordRule, ConsentRecord, ConsentSource
from .health import NumberHealth, NumberHealthEvent
from .idempotency import IdempotencyKey
from .templates import MessageTemplate, TemplateCategory, TemplateStatus

__all__ = [
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
    "TemplateCategory",
    "TemplateStatus",
]
