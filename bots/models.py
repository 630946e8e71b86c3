"""Bots, escalation policies and handoffs."""
