"""The default WhatsApp number, kept in step with the settings (and the demo number)."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from conversations.models import WhatsAppNumber


@transaction.atomic
def number_make_default(*, number: WhatsAppNumber) -> None:
    """Make `number` the only default number."""
    WhatsAppNumber.objects.filter(is_default=True).exclude(pk=number.pk).update(is_default=False)
    if not number.is_default:
        number.is_default = True
        number.save(update_fields=["is_default", "updated_at"])


@transaction.atomic
def number_upsert(
    *,
    phone_number_id: str,
    business_account_id: str = "",
    display_phone_number: str = "",
    access_token: str = "",
    app_secret: str = "",
    verify_token: str = "",
    name: str = "",
    api_base: str | None = None,
    is_sandbox: bool | None = None,
) -> WhatsAppNumber:
    """Create or update the number `phone_number_id` and make it the default.

    Empty values leave what is stored alone (a secret changed in the admin is kept);
    `api_base` and `is_sandbox` change only when given.
    """
    number = WhatsAppNumber.objects.select_for_update().filter(phone_number_id=phone_number_id).first()
    if number is None:
        number = WhatsAppNumber(phone_number_id=phone_number_id)
    values: dict[str, object] = {
        "business_account_id": business_account_id,
        "display_phone_number": display_phone_number,
        "access_token": access_token,
        "app_secret": app_secret,
        "verify_token": verify_token,
        "name": name,
    }
    for field, value in values.items():
        if value:
            setattr(number, field, value)
    if api_base is not None:
        number.api_base = api_base
    if is_sandbox is not None:
        number.is_sandbox = is_sandbox
    number.save()
    number_make_default(number=number)
    return number


def number_sync_from_settings() -> WhatsAppNumber | None:
    """Create or update the default number from the WHATSAPP_* settings; None when
    WHATSAPP_PHONE_NUMBER_ID is not set. With WHATSAPP_API_BASE set, the number talks to
    that API (it stops pointing at the sandbox)."""
    if not settings.WHATSAPP_PHONE_NUMBER_ID:
        return None
    pointed = settings.WHATSAPP_API_BASE_IS_SET
    return number_upsert(
        phone_number_id=settings.WHATSAPP_PHONE_NUMBER_ID,
        business_account_id=settings.WHATSAPP_BUSINESS_ACCOUNT_ID,
        display_phone_number=settings.WHATSAPP_DISPLAY_PHONE_NUMBER,
        access_token=settings.WHATSAPP_ACCESS_TOKEN,
        app_secret=settings.WHATSAPP_APP_SECRET,
        verify_token=settings.WHATSAPP_VERIFY_TOKEN,
        api_base="" if pointed else None,
        is_sandbox=False if pointed else None,
    )
