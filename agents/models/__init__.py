"""Agents' models, one module per concern."""

from .teams import Team

__all__ = ["Team"]
