from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from conversations.erasure_parts import register_erasure_part
        from conversations.failure_hooks import register_failure_hook
        from conversations.inbound_hooks import register_inbound_hook
        from conversations.outreach import register_conversation_initiator, register_template_sender
        from conversations.providers.errors import Action
        from notifications.services.consent_keywords import keyword_consent_handle
        from notifications.services.contact_erasure import notifications_contact_erase
        from notifications.services.delivery_failures import provider_error_alert, provider_error_opt_out
        from notifications.services.outreach import conversation_initiate
        from notifications.services.template_send import template_message_send

        # STOP, BAJA, START, ... are honoured whoever owns the conversation, never by a bot.
        register_inbound_hook("consent_keywords", keyword_consent_handle, order=20)
        # POST /api/v1/conversations/: an agent writes first with an approved template.
        register_conversation_initiator(conversation_initiate)
        # POST /api/v1/conversations/<id>/messages/ with a template.
        register_template_sender(template_message_send)
        # A failed message's provider error: token and account errors alert the admins,
        # 131050 records the contact's marketing opt-out.
        register_failure_hook(Action.ALERT_ADMIN, "alert", provider_error_alert)
        register_failure_hook(Action.OPT_OUT, "consent", provider_error_opt_out)
        # A contact's erasure: consent proofs, campaign lists and API keys; any opt-in is closed.
        register_erasure_part("notifications", notifications_contact_erase, order=10)
