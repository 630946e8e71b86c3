"""Templates and campaigns are created by one service each (message_templates.template_create,
campaigns.campaign_create), whether through the admin's add form or the API: the same rules
refuse the same input with the same sentence, and what is stored is the same."""

from __future__ import annotations

import json

import pytest

from notifications.models import Campaign, MessageTemplate
from tests.factories import NumberFactory

BODY = [{"type": "BODY", "text": "Welcome {{1}}", "example": {"body_text": [["Ana"]]}}]


def admin_add_template(client, number, **fields):
    data = {"number": number.pk, "name": "welcome", "language": "en", "category": "MARKETING",
            "parameter_format": "positional", "components": json.dumps(BODY)}
    data.update({k: json.dumps(v) if k == "components" else v for k, v in fields.items()})
    return client.post("/admin/notifications/messagetemplate/add/", data)


def api_add_template(api, **fields):
    body = {"name": "welcome", "language": "en", "category": "MARKETING", "components": BODY, "submit": False}
    body.update(fields)
    return api.post("/api/v1/templates/", body, format="json")


def form_errors(response) -> dict[str, list[str]]:
    assert response.status_code == 200, "the admin form was not redisplayed with errors"
    form = response.context["adminform"].form
    return {field: list(errors) for field, errors in form.errors.items()}


@pytest.fixture
def staff(client, api, admin_user):
    client.force_login(admin_user)
    api.force_authenticate(admin_user)
    return admin_user


@pytest.mark.parametrize(
    ("fields", "field", "detail"),
    [
        ({"components": [{"type": "FOOTER", "text": "Bye"}]}, "components", "A template needs a BODY component."),
        ({"components": [{"type": "BODY", "text": 5}]}, "components", "The body text must be text."),
        ({"components": [{"type": "BANNER"}, *BODY]}, "components",
         "Component type 'BANNER' is not one of BODY, BUTTONS, FOOTER, HEADER."),
        # WhatsApp's naming rule; the admin used to accept any name.
        ({"name": "Welcome Offer"}, "name", "Use lower case letters, digits and underscores only."),
    ],
)
def test_admin_and_api_refuse_a_template_with_the_same_error(client, api, staff, number, fields, field, detail):
    page = admin_add_template(client, number, **fields)
    answer = api_add_template(api, **fields)

    assert form_errors(page) == {field: [detail]}
    assert answer.status_code == 400
    assert answer.json() == {"code": "invalid", "detail": detail, "fields": {field: [detail]}}
    assert not MessageTemplate.objects.exists()


def test_a_template_that_exists_is_refused_by_both(client, api, staff, number):
    assert api_add_template(api).status_code == 201
    page = admin_add_template(client, number)
    answer = api_add_template(api)

    detail = "A template with this name and language exists already."
    # The admin used to fail on the database's unique constraint instead.
    assert form_errors(page) == {"__all__": [detail]}
    assert answer.status_code == 409 and answer.json() == {"code": "template_exists", "detail": detail}
    assert MessageTemplate.objects.count() == 1


def test_admin_and_api_store_the_same_template(client, api, graph, staff, number, django_capture_on_commit_callbacks):
    graph.route("POST", "/v23.0/2000000002/message_templates", lambda r: (200, {"id": "77", "status": "PENDING"}))
    with django_capture_on_commit_callbacks(execute=True):
        assert admin_add_template(client, number, name="from_admin").status_code == 302
    assert api_add_template(api, name="from_api").status_code == 201

    stored = {t.name: t for t in MessageTemplate.objects.all()}
    for template in stored.values():
        assert template.business_account_id == number.business_account_id and template.number == number
        assert (template.language, template.category, template.components) == ("en", "MARKETING", BODY)
    # The admin submits what it saved for review; the API only when asked (`submit`).
    assert stored["from_admin"].status == "PENDING" and stored["from_admin"].remote_id == "77"
    assert stored["from_api"].status == "DRAFT"


def admin_add_campaign(client, number, template, **fields):
    data = {"name": "Spring", "number": number.pk, "template": template.pk, "audience": "all_opted_in",
            "audience_filter": "{}", "audience_csv": "", "parameter_mapping": "{}",
            "scheduled_at_0": "", "scheduled_at_1": ""}
    data.update({k: json.dumps(v) if k == "parameter_mapping" else v for k, v in fields.items()})
    return client.post("/admin/notifications/campaign/add/", data)


def api_add_campaign(api, number, template, **fields):
    body = {"name": "Spring", "number": number.pk, "template": template.pk}
    body.update(fields)
    return api.post("/api/v1/campaigns/", body, format="json")


@pytest.fixture
def foreign_template(db, graph):
    """A template of another business account, through its own number."""
    other = NumberFactory(api_base=graph.base_url, phone_number_id="999000111", business_account_id="3000000003",
                          display_phone_number="+1 555 000 9999", is_default=False)
    return MessageTemplate.objects.create(number=other, business_account_id=other.business_account_id,
                                          name="elsewhere", language="en", category="MARKETING", components=BODY,
                                          status="APPROVED")


def test_admin_and_api_refuse_a_bad_parameter_mapping_with_the_same_error(client, api, staff, number, promo_template):
    mapping = {"first_name": "contact.password"}
    page = admin_add_campaign(client, number, promo_template, parameter_mapping=mapping)
    answer = api_add_campaign(api, number, promo_template, parameter_mapping=mapping)

    detail = "Unknown source 'contact.password': use contact.<field>, attributes.<key> or =text."
    assert form_errors(page) == {"parameter_mapping": [detail]}
    assert answer.status_code == 400
    assert answer.json() == {"code": "invalid", "detail": detail, "fields": {"parameter_mapping": [detail]}}
    assert not Campaign.objects.exists()


def test_admin_and_api_refuse_another_accounts_template_with_the_same_error(client, api, staff, number,
                                                                          foreign_template):
    page = admin_add_campaign(client, number, foreign_template)
    answer = api_add_campaign(api, number, foreign_template)

    detail = "This template belongs to another business account."
    assert form_errors(page) == {"template": [detail]}
    assert answer.status_code == 400 and answer.json()["fields"] == {"template": [detail]}
    assert not Campaign.objects.exists()


def test_admin_and_api_store_the_same_draft_campaign(client, api, staff, number, promo_template):
    mapping = {"first_name": "contact.first_name", "discount": "=15%"}
    assert admin_add_campaign(client, number, promo_template, name="From admin", parameter_mapping=mapping,
                              audience="filter", audience_filter='{"tags": ["vip"]}').status_code == 302
    assert api_add_campaign(api, number, promo_template, name="From API", parameter_mapping=mapping,
                            audience="filter", audience_filter={"tags": ["vip"]}).status_code == 201

    stored = list(Campaign.objects.order_by("name"))
    assert [c.name for c in stored] == ["From API", "From admin"]
    for campaign in stored:
        assert campaign.state == Campaign.State.DRAFT and campaign.created_by == staff
        assert (campaign.number, campaign.template) == (number, promo_template)
        assert campaign.parameter_mapping == mapping and campaign.audience_filter == {"tags": ["vip"]}
