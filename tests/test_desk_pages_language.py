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
