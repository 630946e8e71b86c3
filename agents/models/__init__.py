"""Agents' models, one module per concern."""

from .audit import AuditEntry
from .canned import CannedResponse
from .profiles import AgentProfile
from .queueing import ConversationRouting
from .sla import SlaBreach, SlaPolicy
from .teams import BusinessHours, Holiday, Team, TeamOverflow

__all__ = [
    "AgentProfile",
    "AuditEntry",
    "BusinessHours",
    "CannedResponse",
    "ConversationRouting",
    "Holiday",
    "SlaBreach",
    "SlaPolicy",
    "Team",
    "TeamOverflow",
]
