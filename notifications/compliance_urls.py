"""The compliance monitor's page and evidence reports (mounted at the site root, like the
desk's pages); the compliance and alerts API is in notifications/api_urls.py."""

from django.urls import path

from notifications import compliance_views

urlpatterns = [
    path("desk/compliance/", compliance_views.compliance_page, name="desk-compliance"),
    path("desk/compliance/<int:number_id>/evidence/", compliance_views.evidence_html, name="compliance-evidence"),
    path("desk/compliance/<int:number_id>/evidence.csv", compliance_views.evidence_csv, name="compliance-evidence-csv"),
]
