from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "conversations.providers.sandbox"
    label = "sandbox"
    verbose_name = "Sandbox (demo phone and stand-in Graph API)"
    default_auto_field = "django.db.models.BigAutoField"
