"""The API's refusals in the asker's desk language: the `code` stays the contract, the
`detail` sentence is Spanish for an agent who works in Spanish, English otherwise."""

from __future__ import annotations

import pytest

from agents.models import AgentProfile
from tests.api.test_messages_api import close_window, url

pytestmark = pytest.mark.django_db


@pytest.fixture
def spanish(agent):
    AgentProfile.objects.update_or_create(user=agent, defaults={"ui_language": "es"})
    return agent


def test_a_closed_window_is_refused_in_spanish_with_the_same_code(client, spanish, graph, team_conversation):
    close_window(team_conversation)
    client.force_login(spanish)
    response = client.post(url(team_conversation), {"text": "¿Sigues ahí?"}, content_type="application/json")
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "window_closed"
    assert body["detail"].startswith("Han pasado más de 24 horas desde el último mensaje del cliente.")
    assert graph.requests == []


def test_interpolated_and_access_refusals_read_in_spanish(client, spanish, team_conversation, other_conversation):
    client.force_login(spanish)
    resolve = f"/api/v1/conversations/{team_conversation.pk}/resolve/"
    assert client.post(resolve, {}, content_type="application/json").status_code == 200
    again = client.post(resolve, {}, content_type="application/json")
    assert again.status_code == 409
    assert again.json() == {"code": "invalid_status",
                            "detail": "No es posible con la conversación resuelta."}
    leave = client.post(f"/api/v1/conversations/{team_conversation.pk}/leave/", {}, content_type="application/json")
    assert leave.json() == {"code": "not_participant", "detail": "No estás en esta conversación."}
    hidden = client.post(url(other_conversation), {"text": "hola"}, content_type="application/json")
    assert hidden.status_code == 404
    assert hidden.json() == {"code": "not_found", "detail": "No existe esa conversación."}


def test_an_english_agent_keeps_english_refusals(client, agent, team_conversation):
    close_window(team_conversation)
    client.force_login(agent)
    body = client.post(url(team_conversation), {"text": "Still there?"}, content_type="application/json").json()
    assert body["code"] == "window_closed" and body["detail"].startswith("More than 24 hours have passed")


def test_validation_sentences_read_in_portuguese(client, agent, team_conversation):
    AgentProfile.objects.update_or_create(user=agent, defaults={"ui_language": "pt"})
    client.force_login(agent)
    response = client.post(url(team_conversation), {"text": "oi", "note": "x"}, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "Informe exatamente um de text, note ou template." in response.json()["detail"]
