"""The desk's pages (mounted at the site root); its API is in agents/api_urls.py."""

from django.urls import path

from agents import desk_views, report_views

urlpatterns = [
    path("desk/", desk_views.desk_page, name="desk"),
    path("desk/c/<int:conversation_id>/", desk_views.desk_page, name="desk-conversation"),
    path("desk/monitor/", desk_views.monitor_page, name="desk-monitor"),
    path("desk/reports/", report_views.reports_page, name="desk-reports"),
    path("desk/reports/conversations.csv", report_views.reports_csv, name="desk-reports-csv"),
]
