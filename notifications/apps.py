from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from conversations.inbound_hooks import register_inbound_hook
        from conversations.outreach import register_conversation_initiator
        from notifications.services.consent_keywords import keyword_consent_handle
        from notifications.services.outreach import conversation_initiate

        # STOP, BAJA, START, ... are honoured whoever owns the conversation, never by a bot.
        register_inbound_hook("consent_keywords", keyword_consent_handle, order=20)
        # POST /api/v1/conversations/: an agent writes first with an approved template.
        register_conversation_initiator(conversation_initiate)
