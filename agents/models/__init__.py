"""Agents' models, one module per concern."""

from agents.models.audit import AuditEntry
from agents.models.canned import CannedResponse
from agents.models.profiles import AgentProfile
from agents.models.queueing import ConversationRouting
from agents.models.sla import SlaBreach, SlaPolicy
from agents.models.teams import BusinessHours, Holiday, Team, TeamOverflow

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
