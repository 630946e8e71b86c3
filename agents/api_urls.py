"""The agents app's API (mounted under /api/v1/): agents and presence, desk actions and
conference actions on a conversation, the desk's lists and context, canned responses, reports."""

from django.urls import path

from agents import api, api_canned, api_conference, api_reports, desk_views

urlpatterns = [
    path("agents/", api.AgentListApi.as_view(), name="api-agents"),
    path("agents/me/", api.AgentMeApi.as_view(), name="api-agents-me"),
    # Desk actions.
    path("conversations/<int:conversation_id>/assign/", api.ConversationAssignApi.as_view(),
         name="api-conversation-assign"),
    path("conversations/<int:conversation_id>/transfer/", api.ConversationTransferApi.as_view(),
         name="api-conversation-transfer"),
    path("conversations/<int:conversation_id>/resolve/", api.ConversationResolveApi.as_view(),
         name="api-conversation-resolve"),
    path("conversations/<int:conversation_id>/reopen/", api.ConversationReopenApi.as_view(),
         name="api-conversation-reopen"),
    path("conversations/<int:conversation_id>/hold/", api.ConversationHoldApi.as_view(),
         name="api-conversation-hold"),
    path("conversations/<int:conversation_id>/unhold/", api.ConversationUnholdApi.as_view(),
         name="api-conversation-unhold"),
    path("conversations/<int:conversation_id>/handback/", api.ConversationHandbackApi.as_view(),
         name="api-conversation-handback"),
    # Conference actions.
    path("conversations/<int:conversation_id>/join/", api_conference.JoinApi.as_view(),
         name="api-conversation-join"),
    path("conversations/<int:conversation_id>/leave/", api_conference.LeaveApi.as_view(),
         name="api-conversation-leave"),
    path("conversations/<int:conversation_id>/whisper/", api_conference.WhisperApi.as_view(),
         name="api-conversation-whisper"),
    path("conversations/<int:conversation_id>/takeover/", api_conference.TakeoverApi.as_view(),
         name="api-conversation-takeover"),
    path("conversations/<int:conversation_id>/watch/", api_conference.WatchApi.as_view(),
         name="api-conversation-watch"),
    path("conversations/<int:conversation_id>/seen/", api_conference.SeenApi.as_view(),
         name="api-conversation-seen"),
    # The desk's own reads.
    path("desk/conversations/", desk_views.DeskConversationsApi.as_view(), name="api-desk-conversations"),
    path("desk/conversations/<int:conversation_id>/context/", desk_views.DeskConversationContextApi.as_view(),
         name="api-desk-context"),
    path("desk/monitor/", desk_views.MonitorApi.as_view(), name="api-desk-monitor"),
    path("desk/new-conversation/", desk_views.DeskNewConversationApi.as_view(), name="api-desk-new-conversation"),
    path("canned-responses/", api_canned.CannedListApi.as_view(), name="api-canned"),
    path("canned-responses/<int:pk>/", api_canned.CannedDetailApi.as_view(), name="api-canned-detail"),
    path("reports/summary/", api_reports.ReportSummaryApi.as_view(), name="api-reports-summary"),
    path("reports/campaigns/", api_reports.ReportCampaignsApi.as_view(), name="api-reports-campaigns"),
]
