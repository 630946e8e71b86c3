"""Agents' tasks: take ids, call one service; every one is safe to run twice."""

from __future__ import annotations

from celery import shared_task

from agents.services import audit, csat, overflow, presence, queue_messages, routing, sla
from config import task_names


@shared_task(name=task_names.QUEUE_DRAIN)
def queue_drain(team_id: int | None = None) -> int:
    return routing.queue_drain(team_id=team_id)


@shared_task(name=task_names.QUEUE_DRAIN_FOR_AGENT)
def queue_drain_for_agent(user_id: int) -> int:
    return routing.queue_drain_for_user(user_id=user_id)


@shared_task(name=task_names.ROUTING_SWEEP)
def routing_sweep() -> int:
    """Periodic: overflow timed-out conversations, then assign whatever can be assigned."""
    overflow.overflow_sweep()
    return routing.queue_drain_all()


@shared_task(name=task_names.PRESENCE_SWEEP)
def presence_sweep() -> int:
    return presence.presence_sweep()


@shared_task(name=task_names.SLA_SWEEP)
def sla_sweep() -> int:
    return sla.sla_sweep()


@shared_task(name=task_names.QUEUE_MESSAGE_SEND)
def queue_message_send(conversation_id: int) -> bool:
    return queue_messages.queue_message_send(conversation_id=conversation_id)


@shared_task(name=task_names.QUEUE_MESSAGES_SWEEP)
def queue_messages_sweep() -> int:
    return queue_messages.queue_messages_sweep()


@shared_task(name=task_names.CSAT_REQUEST)
def csat_request(conversation_id: int) -> bool:
    return csat.csat_request(conversation_id=conversation_id)


@shared_task(name=task_names.AUDIT_PRUNE)
def audit_prune() -> int:
    """Daily: delete audit entries older than AUDIT_RETENTION_DAYS."""
    return audit.audit_prune()
