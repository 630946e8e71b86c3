"""Bots, escalation policies and handoffs."""

from .flows import HUMAN_OPTION_ID, Bot, DemoOrder, FaqEntry, FlowStep, StepOption
from .policies import EscalationPolicy
from .records import BotSession, EscalationLedger, Handoff

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
    "StepOption",
]
