"""POST {"template": ...} to /api/v1/conversations/<id>/messages/: the template rules through the API."""

from __future__ import annotations

import pytest
from django.utils import timezone

from conversations.models import Message
from notifications.models import MessageTemplate, TemplateStatus
from notifications.services.consent import consent_category_for_template, consent_opt_in


def url(conversation) -> str:
    return f"/api/v1/conversations/{conversation.id}/messages/"


@pytest.fixture
def shipped_template(number):
    return MessageTemplate.objects.create(
        number=number,
        business_account_id=number.business_account_id,
        name="order_shipped",
        language="en",
        category="UTILITY",
        components=[{"type": "BODY", "text": "Your order {{1}} has shipped."}],
        status=TemplateStatus.APPROVED,
    )


def post_template(api, conversation, name="order_shipped", parameters=("A-100",)):
    return api.post(
        url(conversation),
        {"template": {"name": name, "language": "en", "parameters": list(parameters)}},
        format="json",
    )


def test_unknown_template_is_refused_not_approved(api, agent, graph, team_conversation):
    api.force_authenticate(agent)

    response = post_template(api, team_conversation, name="no_such_template")

    assert response.status_code == 409
    assert response.json()["code"] == "template_not_approved"
    assert not Message.objects.exists()


def test_template_without_opt_in_is_refused(api, agent, graph, team_conversation, shipped_template):
    api.force_authenticate(agent)

    response = post_template(api, team_conversation)

    assert response.status_code == 409
    assert response.json()["code"] == "not_opted_in"
    assert not Message.objects.exists()


def test_approved_template_goes_out_after_the_window_closed(
    api, agent, graph, team_conversation, shipped_template, django_capture_on_commit_callbacks
):
    team_conversation.last_customer_message_at = timezone.now() - timezone.timedelta(hours=25)
    team_conversation.save()
    consent_opt_in(
        contact=team_conversation.contact,
        category=consent_category_for_template(shipped_template.category),
        source="api",
    )
    api.force_authenticate(agent)

    with django_capture_on_commit_callbacks(execute=True):
        response = post_template(api, team_conversation)

    assert response.status_code == 201
    assert response.json()["business_initiated"] is True
    sent = graph.sent_messages()
    assert [body["template"]["name"] for body in sent] == ["order_shipped"]


def test_template_parameters_that_do_not_fit_are_invalid(api, agent, graph, team_conversation, shipped_template):
    consent_opt_in(
        contact=team_conversation.contact,
        category=consent_category_for_template(shipped_template.category),
        source="api",
    )
    api.force_authenticate(agent)

    response = post_template(api, team_conversation, parameters=())

    assert response.status_code == 400
    assert response.json()["code"] == "template_invalid"
