"""The compliance monitor's page, evidence reports and API, and the alerts API (mounted at
the site root, like the desk's own URLs)."""

from django.urls import path

from . import api_compliance, compliance_views

urlpatterns = [
    path("desk/compliance/", compliance_views.compliance_page, name="desk-compliance"),
    path("desk/compliance/<int:number_id>/evidence/", compliance_views.evidence_html, name="compliance-evidence"),
    path("desk/compliance/<int:number_id>/evidence.csv", compliance_views.evidence_csv, name="compliance-evidence-csv"),
    path("api/v1/compliance/numbers/", api_compliance.ComplianceNumbersApi.as_view(), name="api-compliance-numbers"),
    path("api/v1/compliance/numbers/<int:number_id>/", api_compliance.ComplianceNumberApi.as_view(),
         name="api-compliance-number"),
    path("api/v1/compliance/numbers/<int:number_id>/cases/", api_compliance.RemediationCaseOpenApi.as_view(),
         name="api-compliance-case-open"),
    path("api/v1/compliance/cases/<int:case_id>/resolve/", api_compliance.RemediationCaseResolveApi.as_view(),
         name="api-compliance-case-resolve"),
    path("api/v1/alerts/", api_compliance.AlertListApi.as_view(), name="api-alerts"),
    path("api/v1/alerts/<int:alert_id>/close/", api_compliance.AlertCloseApi.as_view(), name="api-alert-close"),
]
