"""The notifications app's API (mounted under /api/v1/): consent, templates, notifications,
campaigns, the compliance monitor, alerts and outgoing webhooks."""

from django.urls import path

from notifications import api, api_campaigns, api_compliance, api_webhooks

urlpatterns = [
    path("contacts/<int:contact_id>/consent/", api.ContactConsentApi.as_view(), name="api-contact-consent"),
    path("contacts/<int:contact_id>/consent/history/", api.ContactConsentHistoryApi.as_view(),
         name="api-contact-consent-history"),
    path("contacts/<int:contact_id>/opt-in/", api.ContactOptInApi.as_view(), name="api-contact-opt-in"),
    path("contacts/<int:contact_id>/opt-out/", api.ContactOptOutApi.as_view(), name="api-contact-opt-out"),
    path("templates/", api.TemplateListApi.as_view(), name="api-templates"),
    path("notifications/", api.NotificationApi.as_view(), name="api-notifications"),
    path("campaigns/", api_campaigns.CampaignListApi.as_view(), name="api-campaigns"),
    path("campaigns/<int:campaign_id>/", api_campaigns.CampaignDetailApi.as_view(), name="api-campaign"),
    path("campaigns/<int:campaign_id>/stats/", api_campaigns.CampaignStatsApi.as_view(), name="api-campaign-stats"),
    path("campaigns/<int:campaign_id>/recipients/", api_campaigns.CampaignRecipientsApi.as_view(),
         name="api-campaign-recipients"),
    path("campaigns/<int:campaign_id>/start/", api_campaigns.CampaignStartApi.as_view(), name="api-campaign-start"),
    path("campaigns/<int:campaign_id>/pause/", api_campaigns.CampaignPauseApi.as_view(), name="api-campaign-pause"),
    path("campaigns/<int:campaign_id>/resume/", api_campaigns.CampaignResumeApi.as_view(), name="api-campaign-resume"),
    path("campaigns/<int:campaign_id>/cancel/", api_campaigns.CampaignCancelApi.as_view(), name="api-campaign-cancel"),
    path("compliance/numbers/", api_compliance.ComplianceNumbersApi.as_view(), name="api-compliance-numbers"),
    path("compliance/numbers/<int:number_id>/", api_compliance.ComplianceNumberApi.as_view(),
         name="api-compliance-number"),
    path("compliance/numbers/<int:number_id>/cases/", api_compliance.RemediationCaseOpenApi.as_view(),
         name="api-compliance-case-open"),
    path("compliance/cases/<int:case_id>/resolve/", api_compliance.RemediationCaseResolveApi.as_view(),
         name="api-compliance-case-resolve"),
    path("alerts/", api_compliance.AlertListApi.as_view(), name="api-alerts"),
    path("alerts/<int:alert_id>/close/", api_compliance.AlertCloseApi.as_view(), name="api-alert-close"),
    path("webhooks/endpoints/", api_webhooks.WebhookEndpointListApi.as_view(), name="api-webhook-endpoints"),
    path("webhooks/endpoints/<int:endpoint_id>/", api_webhooks.WebhookEndpointApi.as_view(),
         name="api-webhook-endpoint"),
    path("webhooks/endpoints/<int:endpoint_id>/deliveries/", api_webhooks.WebhookDeliveryListApi.as_view(),
         name="api-webhook-deliveries"),
    path("webhooks/deliveries/<int:delivery_id>/resend/", api_webhooks.WebhookDeliveryResendApi.as_view(),
         name="api-webhook-resend"),
    path("webhooks/events/", api_webhooks.WebhookEventListApi.as_view(), name="api-webhook-events"),
]
