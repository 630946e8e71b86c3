"""The desk's pages (mounted at the site root); its API is in agents/api_urls.py."""

from django.contrib.auth.decorators import login_required
from django.urls import path
from django.views.i18n import JavaScriptCatalog

from agents import desk_views, report_views

urlpatterns = [
    path("desk/", desk_views.desk_page, name="desk"),
    path("desk/c/<int:conversation_id>/", desk_views.desk_page, name="desk-conversation"),
    path("desk/monitor/", desk_views.monitor_page, name="desk-monitor"),
    # The desk scripts' translations (gettext in agents/static/desk/*.js), in the desk user's language.
    path("desk/jsi18n/", login_required(JavaScriptCatalog.as_view()), name="desk-jsi18n"),
    path("desk/reports/", report_views.reports_page, name="desk-reports"),
    path("desk/reports/conversations.csv", report_views.reports_csv, name="desk-reports-csv"),
]
