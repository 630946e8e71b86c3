from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.db.models.signals import post_migrate


class AgentsConfig(AppConfig):
    name = "agents"
    default_auto_field = "django.db.models.BigAutoField"
    default = True

    def ready(self) -> None:
        from agents.roles import roles_after_migrate
        from agents.services.audit import audit_signals_connect, erasure_audit_record, merge_audit_record
        from agents.services.csat import csat_rated_conversation, csat_record_reply
        from agents.services.presence import agent_seen, inbox_away
        from conversations.erasure_parts import register_erasure_recorder
        from conversations.inbound_hooks import register_inbound_hook
        from conversations.merge_parts import register_merge_recorder
        from conversations.providers.webchat import register_away_check
        from conversations.socket_checks import register_presence_recorder

        # Permissions exist only after each app's post_migrate; ensuring the role groups
        # after every app keeps them complete on a fresh database.
        post_migrate.connect(roles_after_migrate, dispatch_uid="agents.roles_ensure")
        audit_signals_connect()
        # A contact's erasure is written to the audit log.
        register_erasure_recorder("audit", erasure_audit_record)
        # So is a merge of two contacts found to be one customer.
        register_merge_recorder("audit", merge_audit_record)
        # A tap on a rating button is stored on the resolved conversation it rates.
        register_inbound_hook("csat", csat_record_reply, order=10, claim=csat_rated_conversation)
        # A web chat inbox offers its offline form when its team is closed and nobody is online.
        register_away_check(inbox_away)
        # Desk socket activity (connect, heartbeat, disconnect) is the agent's presence.
        register_presence_recorder(agent_seen)


class HandoffAdminConfig(admin_apps.AdminConfig):
    """Django's admin, with the audited site (agents.admin_site) as `admin.site`. Listed in
    INSTALLED_APPS in place of `django.contrib.admin`."""

    default = False
    default_site = "agents.admin_site.AuditedAdminSite"
