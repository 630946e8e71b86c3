from django.urls import path

from . import api, api_campaigns

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
]
for _action in ("start", "pause", "resume", "cancel"):
    _view = api_campaigns.CampaignPauseApi if _action == "pause" else api_campaigns.CampaignActionApi
    urlpatterns.append(
        path(f"campaigns/<int:campaign_id>/{_action}/", _view.as_view(action_name=_action),
             name=f"api-campaign-{_action}")
    )
