"""The desk in the agent's own language (their profile's choice, whatever the browser says),
and a Spanish-speaking customer handled in Spanish, in a real browser against a real server."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import DEMO_PASSWORD, Customer, screenshot

pytestmark = pytest.mark.e2e

SETUP = f"""
from django.contrib.auth.models import User
from agents.models import AgentProfile, Team
from agents.roles import SUPERVISOR, role_grant
user, _ = User.objects.get_or_create(username="marta_es", defaults={{"first_name": "Marta"}})
user.set_password("{DEMO_PASSWORD}")
user.save()
role_grant(user=user, role=SUPERVISOR)
team = Team.objects.get(slug="support")
team.members.add(user)
team.supervisors.add(user)
AgentProfile.objects.update_or_create(user=user, defaults={{
    "ui_language": "es", "timezone": "America/Mexico_City", "languages": ["es"], "capacity": 3}})
"""


@pytest.fixture
def marta(server):
    """A Spanish-speaking supervisor of Support, offline again after the test (the server is
    shared: an online Marta would take the next tests' handoffs)."""
    server.shell(SETUP)
    yield "marta_es"
    server.shell("from agents.models import AgentProfile\n"
                 "AgentProfile.objects.filter(user__username='marta_es').update(presence='offline')")


def test_desk_renders_in_spanish_for_an_agent_who_chose_it(server, sign_in, sandbox, marta):
    page = sign_in(marta)

    assert page.get_attribute("html", "lang") == "es"
    expect(page.locator("#tab-mine")).to_contain_text("Mías")
    expect(page.locator("#tab-team")).to_contain_text("Cola del equipo")
    expect(page.locator("#new-conversation")).to_have_text("Nueva conversación")
    expect(page.locator("#connection-status")).to_have_text("en directo")  # from the JS catalogue
    expect(page.locator("#presence-select option[value=online]")).to_have_text("Disponible")
    config = page.evaluate("JSON.parse(document.getElementById('desk-config').textContent)")
    assert (config["language"], config["timezone"]) == ("es", "America/Mexico_City")

    page.select_option("#presence-select", "online")
    page.wait_for_timeout(300)
    customer = Customer(sandbox, "Lucía Pérez", "15557770391")
    customer.says("Hola, quiero hablar con un humano por favor")
    page.click("#tab-all")
    row = page.locator("#conversation-list li", has_text="Lucía Pérez")
    expect(row).to_be_visible(timeout=20000)
    row.click()
    expect(page.locator("#handoff-card")).to_contain_text("Traspasada por el bot")
    expect(page.locator("#contact-language")).to_have_value("es", timeout=10000)
    expect(page.locator("#contact-language-source")).to_have_text("detectado en sus mensajes")
    told = [m["text"] for m in customer.received() if m.get("text")]
    assert any(text.startswith("Gracias, te paso con una persona de nuestro equipo.") for text in told), told

    # The agent corrects the customer's language in the desk.
    page.select_option("#contact-language", "pt")
    expect(page.locator("#contact-language-source")).to_have_text("fijado por una persona")
    language = server.shell(
        "from conversations.models import Contact\n"
        "c = Contact.objects.get(wa_id='15557770391')\n"
        "print(c.language, c.language_source)"
    )
    assert language.strip().splitlines()[-1] == "pt agent"

    # The composer's attachment and the media texts come from the JavaScript catalogue too.
    page.set_input_files("#composer-file", files=[{"name": "factura.pdf", "mimeType": "application/pdf",
                                                   "buffer": b"%PDF-1.4 test"}])
    expect(page.locator("#composer-text")).to_have_attribute(
        "placeholder", "Añade un pie de foto (opcional) y pulsa Enviar")
    page.click("#attachment-remove")
    expect(page.locator("#composer-text")).not_to_have_attribute(
        "placeholder", "Añade un pie de foto (opcional) y pulsa Enviar")
    screenshot(page, "desk-spanish")

    # The report pages: the template's texts, the server's labels and the page script's badge.
    page.goto(f"{server.base}/desk/reports/")
    expect(page.locator("#totals-title")).to_have_text("Resumen")
    expect(page.locator("#reasons-title")).to_have_text("Motivos de escalado y traspasos por equipo")
    expect(page.locator("#handoffs-by-team")).to_contain_text("El cliente")  # Lucía's handoff reason
    expect(page.locator("#connection-status")).to_have_text("en directo")
    page.goto(f"{server.base}/desk/compliance/")
    expect(page.locator("#compliance h1")).to_have_text("Cumplimiento")
    assert page.errors == []
