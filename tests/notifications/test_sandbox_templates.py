"""Template sync and submission against the sandbox's stand-in Graph API (served live)."""

from __future__ import annotations

import pytest

from conversations.providers.sandbox.models import Template
from notifications.models import MessageTemplate
from notifications.services.template_sync import PAGE_SIZE, template_submit, templates_sync
from tests.factories import NumberFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_sync_pages_through_the_sandbox_and_submission_creates_a_pending_template(live_server):
    number = NumberFactory(api_base=f"{live_server.url}/sandbox/graph/v23.0", is_sandbox=True)
    Template.objects.bulk_create([
        Template(business_account_id=number.business_account_id, name=f"t{i:03d}", language="en", category="UTILITY",
                 status="APPROVED", components=[{"type": "BODY", "text": "Hi {{1}}"}])
        for i in range(PAGE_SIZE + 5)
    ])
    counts = templates_sync(number=number)
    assert counts["fetched"] == PAGE_SIZE + 5 and counts["created"] == PAGE_SIZE + 5
    assert MessageTemplate.objects.filter(status="APPROVED").count() == PAGE_SIZE + 5
    draft = MessageTemplate.objects.create(
        number=number, business_account_id=number.business_account_id, name="fresh_offer", language="en",
        category="MARKETING", components=[{"type": "BODY", "text": "Offer {{1}}", "example": {"body_text": [["x"]]}}],
    )
    template_submit(template=draft)
    draft.refresh_from_db()
    assert draft.submit_error == "" and draft.remote_id and draft.status in ("PENDING", "APPROVED")
    assert Template.objects.get(name="fresh_offer").category == "MARKETING"
