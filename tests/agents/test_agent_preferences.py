"""A desk user's own language and time zone: set through the API, activated per request."""

from __future__ import annotations

import json

import pytest

from agents.models import AgentProfile

pytestmark = pytest.mark.django_db


def desk_config(response) -> dict:
    html = response.content.decode()
    start = html.index('id="desk-config"')
    start = html.index(">", start) + 1
    return json.loads(html[start : html.index("</script>", start)])


def test_agent_sets_desk_language_and_time_zone_through_the_api(api, agent):
    api.force_authenticate(agent)
    response = api.patch("/api/v1/agents/me/", {"ui_language": "es", "timezone": "America/Mexico_City"}, format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["ui_language"], response.json()["timezone"]) == ("es", "America/Mexico_City")
    profile = AgentProfile.objects.get(user=agent)
    assert (profile.ui_language, profile.timezone) == ("es", "America/Mexico_City")
    assert profile.presence == "offline"  # presence untouched when not given


@pytest.mark.parametrize(
    ("body", "field"), [({"ui_language": "klingon"}, "language"), ({"timezone": "Mars/Olympus_Mons"}, "timezone")]
)
def test_unknown_language_or_time_zone_is_refused(api, agent, body, field):
    api.force_authenticate(agent)
    response = api.patch("/api/v1/agents/me/", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert field in response.json()["detail"]


def test_profile_language_wins_over_the_browser_and_its_time_zone_is_active(client, agent):
    AgentProfile.objects.update_or_create(user=agent, defaults={"ui_language": "pt", "timezone": "America/Sao_Paulo"})
    client.force_login(agent)
    response = client.get("/desk/", HTTP_ACCEPT_LANGUAGE="es,en;q=0.5")
    assert response.status_code == 200
    assert response["Content-Language"] == "pt"
    config = desk_config(response)
    assert (config["language"], config["timezone"]) == ("pt", "America/Sao_Paulo")


def test_without_a_preference_the_browser_language_and_server_time_zone_apply(client, agent, settings):
    client.force_login(agent)
    response = client.get("/desk/", HTTP_ACCEPT_LANGUAGE="es-MX,es;q=0.9")
    assert response["Content-Language"] == "es"
    assert desk_config(response)["timezone"] == settings.TIME_ZONE
