from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from agents.desk_parts import register_new_conversation_part, register_panel_part
        from agents.report_sections import register_campaign_report
        from conversations.erasure_parts import register_erasure_part
        from conversations.failure_hooks import register_failure_hook
        from conversations.inbound_hooks import register_inbound_hook
        from conversations.merge_parts import register_merge_part
        from conversations.outreach import register_conversation_initiator, register_template_sender
        from conversations.providers.errors import Action
        from notifications.campaign_reports import campaign_delivery_report
        from notifications.desk_offers import (
            desk_consent,
            desk_templates,
            new_conversation_may_record_opt_in,
            new_conversation_templates,
        )
        from notifications.services.consent_keywords import keyword_consent_handle
        from notifications.services.contact_erasure import notifications_contact_erase
        from notifications.services.contact_merge import notifications_contact_merge
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
        # Two contacts found to be one customer: consent and campaign rows follow the survivor.
        register_merge_part("notifications", notifications_contact_merge)
        # The desk's side panel and New conversation form: consent, templates, opt-in recording.
        register_panel_part("consent", desk_consent)
        register_panel_part("templates", desk_templates)
        register_new_conversation_part("templates", new_conversation_templates)
        register_new_conversation_part("may_record_opt_in", new_conversation_may_record_opt_in)
        # The reports page: campaign delivery (admins).
        register_campaign_report(campaign_delivery_report)
