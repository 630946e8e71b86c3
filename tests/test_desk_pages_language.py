"""The report pages and the sign-in page in the desk user's language: Spanish and Portuguese
for an agent who chose them, English (the default) otherwise."""

from __future__ import annotations

import pytest

from agents.models import AgentProfile


@pytest.fixture
def spanish_supervisor(supervisor):
    AgentProfile.objects.update_or_create(user=supervisor, defaults={"ui_language": "es"})
    return supervisor


def test_reports_page_is_in_the_supervisors_language(client, spanish_supervisor):
    client.force_login(spanish_supervisor)
    html = client.get("/desk/reports/", {"tz": "UTC"}).content.decode()
    assert '<html lang="es">' in html
    assert "Primera respuesta (media)" in html and "Satisfacción del cliente" in html
    assert 'id="total-conversations"' in html and "First response (average)" not in html


def test_compliance_page_is_in_the_supervisors_language(client, spanish_supervisor, number):
    client.force_login(spanish_supervisor)
    html = client.get("/desk/compliance/", {"tz": "UTC"}).content.decode()
    assert "Lo que WhatsApp revisa" in html and "Informe de evidencias" in html
    assert "Cada menú del bot ofrece una persona" in html  # a checklist label built in Python
    assert 'id="verdict-status"' in html and "What WhatsApp looks for" not in html


def test_report_pages_stay_in_english_by_default(client, supervisor, number):
    client.force_login(supervisor)
    assert "At a glance" in client.get("/desk/reports/", {"tz": "UTC"}).content.decode()
    assert "What WhatsApp looks for" in client.get("/desk/compliance/", {"tz": "UTC"}).content.decode()


def test_sign_in_page_follows_the_browsers_language(client):
    assert "Contraseña" in client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "Senha" in client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="pt-BR").content.decode()
    assert "Password" in client.get("/accounts/login/").content.decode()


def test_the_compliance_checklist_details_are_in_the_supervisors_language(client, spanish_supervisor, number):
    client.force_login(spanish_supervisor)
    html = client.get("/desk/compliance/", {"tz": "UTC"}).content.decode()
    assert "a cada menú (política: valores predeterminados (sin política configurada))" in html
    assert "Objetivo: " in html and "Se detecta y se transfiere con la máxima prioridad" in html
    assert "Target " not in html and "Detected and handed off" not in html
    api = client.get(f"/api/v1/compliance/numbers/{number.pk}/").json()
    details = {item["key"]: item["detail"] for item in api["checklist"]}
    assert details["platform_test"] == "Se detecta y se transfiere con la máxima prioridad"


def test_case_evidence_stays_english_when_a_spanish_supervisor_closes_it(spanish_supervisor, number):
    from django.utils import translation

    from notifications.compliance import case_evidence
    from notifications.models import RemediationCase
    from notifications.services.remediation import remediation_case_open

    case, _ = remediation_case_open(number=number, trigger=RemediationCase.Trigger.ADMIN, reason="test")
    with translation.override("es"):
        evidence = case_evidence(case=case)
    details = {item["key"]: item["detail"] for item in evidence["checklist"]}
    assert details["platform_test"] == "Detected and handed off at top priority"
