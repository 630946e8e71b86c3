from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "conversations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from conversations.revocation import revocation_signals_connect

        # Open desk sockets re-check at once when their user's access changes.
        revocation_signals_connect()
