from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AgentsConfig(AppConfig):
    name = "agents"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from agents.roles import roles_after_migrate

        # Permissions exist only after each app's post_migrate; ensuring the role groups
        # after every app keeps them complete on a fresh database.
        post_migrate.connect(roles_after_migrate, dispatch_uid="agents.roles_ensure")
