from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from notifications.models import Campaign, CampaignRecipient, ConsentRecord, MessageTemplate
from notifications.services.consent import consent_is_current
from tests.factories import ContactFactory


def test_template_change_form_shows_an_escaped_preview(client, admin_user, number):
    template = MessageTemplate.objects.create(
        number=number, business_account_id=number.business_account_id, name="evil", language="en",
        category="UTILITY", status="APPROVED",
        components=[{"type": "BODY", "text": "Hi {{1}}", "example": {"body_text": [["<img src=x onerror=alert(1)>"]]}}],
    )
    client.force_login(admin_user)
    page = client.get(f"/admin/notifications/messagetemplate/{template.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Hi &lt;img src=x onerror=alert(1)&gt;" in html and "<img src=x" not in html


def test_template_list_has_sync_button_and_needs_staff(client, admin_user, agent, order_template):
    client.force_login(agent)
    assert client.get("/admin/notifications/messagetemplate/").status_code == 302
    client.force_login(admin_user)
    page = client.get("/admin/notifications/messagetemplate/")
    assert page.status_code == 200 and "Sync templates from WhatsApp" in page.content.decode()


def test_campaign_list_and_form_show_progress(client, admin_user, number, order_template):
    campaign = Campaign.objects.create(name="Ships", number=number, template=order_template, state="running",
                                       pause_reason="")
    for i in range(4):
        CampaignRecipient.objects.create(campaign=campaign, contact=ContactFactory(number=number),
                                         state="skipped" if i < 1 else "queued", error_code="not_opted_in")
    client.force_login(admin_user)
    listing = client.get("/admin/notifications/campaign/").content.decode()
    assert 'class="campaign-progress"' in listing and "1 / 4" in listing and 'title="25.0% done"' in listing
    form = client.get(f"/admin/notifications/campaign/{campaign.pk}/change/").content.decode()
    assert "Skipped (no opt-in)" in form and "not_opted_in" in form


def test_admin_consent_import_reports_rejected_rows(client, admin_user, number):
    client.force_login(admin_user)
    upload = SimpleUploadedFile("list.csv", b"phone,action\n+44 7700 900123,opt_in\nbad,opt_in\n")
    page = client.post("/admin/notifications/consentrecord/import/",
                       {"number": number.pk, "default_category": "marketing", "file": upload})
    html = page.content.decode()
    assert page.status_code == 200 and "Recorded 1 change(s)" in html and "<td>3</td><td>bad</td>" in html
    assert ConsentRecord.objects.get().source == "import"


def test_admin_adds_consent_as_a_ledger_row_with_the_admin_as_actor(client, admin_user, number):
    contact = ContactFactory(number=number)
    client.force_login(admin_user)
    response = client.post("/admin/notifications/consentrecord/add/",
                           {"contact": contact.pk, "category": "utility", "opted_in": "on", "proof": "phone call"})
    assert response.status_code == 302
    row = ConsentRecord.objects.get()
    assert row.source == "admin" and row.actor == admin_user and consent_is_current(contact=contact, category="utility")
