"""Agents' models, one module per concern."""

from .canned import CannedResponse
from .teams import Team

__all__ = ["CannedResponse", "Team"]
