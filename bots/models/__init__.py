"""Bots, escalation policies and handoffs."""

from bots.models.flows import HUMAN_OPTION_ID, Bot, DemoOrder, FaqEntry, FlowStep, LookupService, StepOption
from bots.models.policies import EscalationPolicy, PolicyTranslation
from bots.models.records import BotSession, EscalationLedger, Handoff

__all__ = [
    "HUMAN_OPTION_ID",
    "Bot",
    "BotSession",
    "DemoOrder",
    "EscalationLedger",
    "EscalationPolicy",
    "FaqEntry",
    "FlowStep",
    "Handoff",
    "LookupService",
    "PolicyTranslation",
    "StepOption",
]
