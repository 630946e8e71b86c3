"""The desk's pages and the desk's own API calls (mounted at the site root)."""

from django.urls import path

from agents import api_canned, api_conference, api_reports, desk_views, report_views

conversation_actions = [
    ("join", api_conference.JoinApi),
    ("leave", api_conference.LeaveApi),
    ("whisper", api_conference.WhisperApi),
    ("takeover", api_conference.TakeoverApi),
    ("watch", api_conference.WatchApi),
    ("seen", api_conference.SeenApi),
]

urlpatterns = [
    path("desk/", desk_views.desk_page, name="desk"),
    path("desk/c/<int:conversation_id>/", desk_views.desk_page, name="desk-conversation"),
    path("desk/monitor/", desk_views.monitor_page, name="desk-monitor"),
    path("desk/reports/", report_views.reports_page, name="desk-reports"),
    path("desk/reports/conversations.csv", report_views.reports_csv, name="desk-reports-csv"),
    path("api/v1/reports/summary/", api_reports.ReportSummaryApi.as_view(), name="api-reports-summary"),
    path("api/v1/reports/campaigns/", api_reports.ReportCampaignsApi.as_view(), name="api-reports-campaigns"),
    path("api/v1/desk/conversations/", desk_views.DeskConversationsApi.as_view(), name="api-desk-conversations"),
    path(
        "api/v1/desk/conversations/<int:conversation_id>/context/",
        desk_views.DeskConversationContextApi.as_view(),
        name="api-desk-context",
    ),
    path("api/v1/desk/monitor/", desk_views.MonitorApi.as_view(), name="api-desk-monitor"),
    path("api/v1/canned-responses/", api_canned.CannedListApi.as_view(), name="api-canned"),
    path("api/v1/canned-responses/<int:pk>/", api_canned.CannedDetailApi.as_view(), name="api-canned-detail"),
    *(
        path(f"api/v1/conversations/<int:conversation_id>/{name}/", view.as_view(), name=f"api-conversation-{name}")
        for name, view in conversation_actions
    ),
]
