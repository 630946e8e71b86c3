"""The notifications app's part of a failed message's error policy, registered as failure
hooks (`conversations.failure_hooks`) from `NotificationsConfig.ready()`."""

from __future__ import annotations

from conversations.models import Message
from conversations.providers.errors import ErrorRule
from notifications.services.alerts import alert_provider_error
from notifications.services.consent import consent_opt_out


def provider_error_alert(*, message: Message, rule: ErrorRule, code: str, title: str, said: str) -> None:
    """Token, payment and account errors: the admins' and supervisors' alert on the number
    (desk banner and email, once per incident)."""
    alert_provider_error(number=message.conversation.number, code=code, explanation=rule.explanation, title=title)


def provider_error_opt_out(*, message: Message, rule: ErrorRule, code: str, title: str, said: str) -> None:
    """WhatsApp's "user stopped marketing messages" (131050): the contact's marketing opt-out."""
    consent_opt_out(
        contact=message.conversation.contact, category="marketing", source="error_131050", proof=f"({code}) {said}"
    )
