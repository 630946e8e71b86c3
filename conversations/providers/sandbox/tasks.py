"""Tasks that post the sandbox's signed webhooks to the business's endpoint.

They run after the request that caused them has committed and answered, so the
single-process demo server never waits on a call to itself.
"""

from __future__ import annotations

import logging

import httpx
from celery import shared_task

from config import task_names
from conversations.models import WhatsAppNumber
from conversations.providers.sandbox import hooks, services
from conversations.providers.sandbox.models import PhoneMessage, Template

log = logging.getLogger(__name__)
RETRY = {"autoretry_for": (httpx.TransportError,), "max_retries": 3, "retry_backoff": 1, "retry_backoff_max": 10}


@shared_task(name=task_names.SANDBOX_POST_CUSTOMER_MESSAGE)
def post_customer_message(*, message_id: int) -> None:
    """Post a customer's message as a `messages` webhook and record the endpoint's answer
    (an unreachable endpoint shows on the phone as a failed message)."""
    message = PhoneMessage.objects.select_related("phone__number").filter(pk=message_id).first()
    if message is None or message.status != PhoneMessage.Status.ACCEPTED:
        return
    app_secret = message.phone.number.app_secret
    try:
        status = hooks.webhook_post(url=message.webhook_url, app_secret=app_secret, payload=hooks.message_payload(message))
    except httpx.HTTPError as exc:
        services.customer_message_record_post(
            message_id=message_id, http_status=None, error=f"Could not reach {message.webhook_url}: {exc}"
        )
        return
    services.customer_message_record_post(message_id=message_id, http_status=status)


def _post_status(message: PhoneMessage, status: str) -> None:
    number = message.phone.number
    answer = hooks.webhook_post(
        url=message.webhook_url, app_secret=number.app_secret, payload=hooks.status_payload(message, status)
    )
    if not 200 <= answer < 300:
        log.warning("status webhook %s for %s answered HTTP %s", status, message.wamid, answer)
    services.business_message_advance(message_id=message.pk, status=status)


@shared_task(name=task_names.SANDBOX_POST_DELIVERY_STATUSES, **RETRY)
def post_delivery_statuses(*, message_id: int) -> None:
    """A business message reached the phone: post `sent`, then `delivered`."""
    message = PhoneMessage.objects.select_related("phone__number").filter(pk=message_id).first()
    if message is None:
        return
    for status in (PhoneMessage.Status.SENT, PhoneMessage.Status.DELIVERED):
        message.refresh_from_db(fields=["status"])
        if services.STATUS_RANK.get(message.status, 99) < services.STATUS_RANK[status]:
            _post_status(message, status)


@shared_task(name=task_names.SANDBOX_POST_READ_STATUS, **RETRY)
def post_read_status(*, message_id: int) -> None:
    """The customer saw a business message: post `read`."""
    message = PhoneMessage.objects.select_related("phone__number").filter(pk=message_id).first()
    if message is None or message.status == PhoneMessage.Status.READ:
        return
    _post_status(message, PhoneMessage.Status.READ)


@shared_task(name=task_names.SANDBOX_REVIEW_TEMPLATE, **RETRY)
def review_template(*, template_id: int) -> None:
    """Approve (or reject) a pending template and post `message_template_status_update`.

    A retry after a failed post posts the decided status again; the business stores
    each distinct event once."""
    services.template_review(template_id=template_id)
    template = Template.objects.filter(pk=template_id).exclude(status=Template.Status.PENDING).first()
    number = WhatsAppNumber.objects.filter(business_account_id=template.business_account_id).first() if template else None
    if template is None or number is None or not template.webhook_url:
        return
    hooks.webhook_post(
        url=template.webhook_url, app_secret=number.app_secret, payload=hooks.template_status_payload(template)
    )
