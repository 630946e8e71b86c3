from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from conversations.inbound_hooks import register_inbound_hook
        from notifications.services.consent_keywords import keyword_consent_handle

        # STOP, BAJA, START, ... are honoured whoever owns the conversation, never by a bot.
        register_inbound_hook("consent_keywords", keyword_consent_handle, order=20)
