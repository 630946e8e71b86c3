"""Agents' tasks: take ids, call one service; every one is safe to run twice."""

from __future__ import annotations

from celery import shared_task

from agents import audit, csat, overflow, presence, queue_messages, routing, sla


@shared_task(name="agents.tasks.queue_drain")
def queue_drain(team_id: int | None = None) -> int:
    return routing.queue_drain(team_id=team_id)


@shared_task(name="agents.tasks.queue_drain_for_agent")
def queue_drain_for_agent(user_id: int) -> int:
    return routing.queue_drain_for_user(user_id=user_id)


@shared_task(name="agents.tasks.routing_sweep")
def routing_sweep() -> int:
    """Periodic: overflow timed-out conversations, then assign whatever can be assigned."""
    overflow.overflow_sweep()
    return routing.queue_drain_all()


@shared_task(name="agents.tasks.presence_sweep")
def presence_sweep() -> int:
    return presence.presence_sweep()


@shared_task(name="agents.tasks.sla_sweep")
def sla_sweep() -> int:
    return sla.sla_sweep()


@shared_task(name="agents.tasks.queue_message_send")
def queue_message_send(conversation_id: int) -> bool:
    return queue_messages.queue_message_send(conversation_id=conversation_id)


@shared_task(name="agents.tasks.queue_messages_sweep")
def queue_messages_sweep() -> int:
    return queue_messages.queue_messages_sweep()


@shared_task(name="agents.tasks.csat_request")
def csat_request(conversation_id: int) -> bool:
    return csat.csat_request(conversation_id=conversation_id)


@shared_task(name="agents.tasks.audit_prune")
def audit_prune() -> int:
    """Daily: delete audit entries older than AUDIT_RETENTION_DAYS."""
    return audit.audit_prune()
