from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.models import Message, PlatformEvent
from notifications.models import Campaign, CampaignRecipient, NumberHealth
from notifications.selectors import campaign_stats
from notifications.services import campaign_sending
from notifications.services.campaigns import CampaignRefused, campaign_pause, campaign_resume, campaign_start
from notifications.services.consent import consent_opt_in, consent_opt_out
from notifications.tasks import apply_platform_event, campaigns_tick
from tests.factories import ContactFactory, ConversationFactory
from tests.support import webhooks

PROMO_MAPPING = {"first_name": "contact.first_name", "discount": "attributes.discount|10%"}


def make_contacts(number, n, *, opted_in=True, tags=("vip",), prefix="1555300"):
    contacts = []
    for i in range(n):
        contact = ContactFactory(number=number, wa_id=f"{prefix}{i:04d}", profile_name=f"Person {i}",
                                 tags=list(tags))
        if opted_in:
            consent_opt_in(contact=contact, category="marketing", source="import")
        contacts.append(contact)
    return contacts


def promo_campaign(number, template, **extra):
    fields = {"name": "Spring promo", "number": number, "template": template, "audience": "filter",
              "audience_filter": {"tags": ["vip"]}, "parameter_mapping": PROMO_MAPPING}
    fields.update(extra)
    return Campaign.objects.create(**fields)


def sent_to(graph):
    return [m["to"] for m in graph.sent_messages() if m.get("type") == "template"]


def run(campaign, callbacks):
    with callbacks(execute=True):
        campaign_start(campaign=campaign)
    campaign.refresh_from_db()
    return campaign


def test_opted_out_contacts_in_the_audience_are_never_messaged(
    graph, number, promo_template, django_capture_on_commit_callbacks
):
    yes = make_contacts(number, 3, prefix="1555301")
    out = make_contacts(number, 2, prefix="1555302")
    for contact in out:
        consent_opt_out(contact=contact, category="marketing", source="keyword")
    never = make_contacts(number, 1, opted_in=False, prefix="1555303")
    late = make_contacts(number, 1, prefix="1555304")[0]
    campaign = promo_campaign(number, promo_template)
    from notifications.campaign_audience import campaign_recipients_build

    campaign_recipients_build(campaign=campaign)
    assert campaign.recipients.count() == 7
    consent_opt_out(contact=late, category="marketing", source="api")  # after the audience was built
    campaign = run(campaign, django_capture_on_commit_callbacks)
    assert campaign.state == "completed"
    assert sorted(sent_to(graph)) == sorted(c.wa_id for c in yes)
    skipped = set(campaign.recipients.filter(state="skipped").values_list("contact__wa_id", flat=True))
    assert skipped == {c.wa_id for c in [*out, *never, late]}
    assert set(campaign.recipients.filter(state="skipped").values_list("error_code", flat=True)) == {"not_opted_in"}
    first = graph.sent_messages()[0]["template"]
    assert first["name"] == "promo"
    assert first["components"][0]["parameters"][1] == {"type": "text", "text": "10%", "parameter_name": "discount"}


def test_all_opted_in_audience_and_stats(graph, number, promo_template, django_capture_on_commit_callbacks):
    contacts = make_contacts(number, 3, tags=(), prefix="1555310")
    make_contacts(number, 2, opted_in=False, tags=(), prefix="1555311")
    campaign = run(promo_campaign(number, promo_template, audience="all_opted_in"), django_capture_on_commit_callbacks)
    assert sorted(sent_to(graph)) == sorted(c.wa_id for c in contacts)
    rows = list(campaign.recipients.select_related("message"))
    Message.objects.filter(pk=rows[0].message_id).update(status="read")
    Message.objects.filter(pk=rows[1].message_id).update(status="failed", error_code="131026", error_text="Undeliverable")
    Message.objects.create(conversation=rows[0].message.conversation, direction="in", sender_kind="contact",
                           text="Thanks!", status="received", provider_message_id="wamid.reply1")
    stats = campaign_stats(campaign=campaign)
    assert stats["total"] == 3 and stats["progress_percent"] == 100.0
    assert stats["delivery"]["read"] == 1 and stats["delivery"]["failed"] == 1 and stats["delivery"]["sent"] == 1
    assert stats["replied"] == 1 and stats["failure_codes"] == {"131026": 1}


def test_csv_audience_reports_rejected_lines(graph, number, promo_template, django_capture_on_commit_callbacks):
    known = make_contacts(number, 1, tags=(), prefix="1555320")[0]
    csv = f"phone\n+{known.wa_id}\nnot-a-number\n+1 555\n\n+{known.wa_id}\n"
    campaign = run(promo_campaign(number, promo_template, audience="csv", audience_csv=csv),
                   django_capture_on_commit_callbacks)
    assert sent_to(graph) == [known.wa_id]
    assert [r["line"] for r in campaign.audience_rejected] == [3, 4]
    assert campaign.recipients.count() == 1


def test_pause_on_quality_webhook_then_resume_after_recovery(graph, number, promo_template,
                                                             django_capture_on_commit_callbacks):
    contacts = make_contacts(number, 4, prefix="1555330")
    campaign = promo_campaign(number, promo_template, state="running")
    event = PlatformEvent.objects.create(field="phone_number_quality_update", number=number, dedupe_key="q1",
                                         payload={"display_phone_number": webhooks.DISPLAY_NUMBER, "event": "FLAGGED"})
    apply_platform_event(event.pk)
    campaign.refresh_from_db()
    assert campaign.state == "paused" and "red" in campaign.pause_reason.lower()
    with django_capture_on_commit_callbacks(execute=True):
        campaigns_tick()
    assert sent_to(graph) == []
    with pytest.raises(CampaignRefused) as info:
        campaign_resume(campaign=campaign)
    assert info.value.code == "quality_red"
    event = PlatformEvent.objects.create(field="phone_number_quality_update", number=number, dedupe_key="q2",
                                         payload={"display_phone_number": webhooks.DISPLAY_NUMBER, "event": "UNFLAGGED"})
    apply_platform_event(event.pk)
    with django_capture_on_commit_callbacks(execute=True):
        campaign_resume(campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.state == "completed" and campaign.pause_reason == ""
    assert sorted(sent_to(graph)) == sorted(c.wa_id for c in contacts)


def test_manual_pause_stops_sending_and_resume_finishes(graph, number, promo_template,
                                                        django_capture_on_commit_callbacks):
    contacts = make_contacts(number, 3, prefix="1555340")
    campaign = promo_campaign(number, promo_template, state="running")
    campaign_pause(campaign=campaign, reason="Checking the copy")
    with django_capture_on_commit_callbacks(execute=True):
        campaigns_tick()
    assert sent_to(graph) == [] and campaign.recipients.count() == 0
    with django_capture_on_commit_callbacks(execute=True):
        campaign_resume(campaign=campaign)
    assert sorted(sent_to(graph)) == sorted(c.wa_id for c in contacts)


def test_worker_killed_mid_campaign_no_duplicate_and_none_missed(graph, number, promo_template,
                                                                 django_capture_on_commit_callbacks):
    contacts = make_contacts(number, 6, prefix="1555350")
    campaign = promo_campaign(number, promo_template, state="running")
    from notifications.campaign_audience import campaign_recipients_build

    campaign_recipients_build(campaign=campaign)
    rows = list(campaign.recipients.order_by("pk"))
    # A first worker sent two rows, then claimed two more and died before their sends committed.
    with django_capture_on_commit_callbacks(execute=True):
        token, ids, _ = campaign_sending._claim_batch(campaign, 4)
        for row_id in ids[:2]:
            assert campaign_sending.recipient_send(row_id=row_id, token=token, campaign=campaign) == "sent"
    stale = timezone.now() - timedelta(hours=1)
    CampaignRecipient.objects.filter(pk__in=ids[2:]).update(claimed_at=stale)
    assert sorted(sent_to(graph)) == sorted(r.contact.wa_id for r in rows[:2])
    # The restarted worker: the periodic tick sweeps the stale claims and sends the rest.
    with django_capture_on_commit_callbacks(execute=True):
        campaigns_tick()
    campaign.refresh_from_db()
    assert campaign.state == "completed"
    delivered = sent_to(graph)
    assert sorted(delivered) == sorted(c.wa_id for c in contacts)
    assert len(delivered) == len(set(delivered))
    assert Message.objects.filter(business_initiated=True).count() == 6
    # The dead worker's token can no longer send its rows.
    assert campaign_sending.recipient_send(row_id=ids[2], token=token, campaign=campaign) == "lost"


def test_recent_claims_are_not_taken_from_a_live_worker(number, promo_template):
    make_contacts(number, 2, prefix="1555360")
    campaign = promo_campaign(number, promo_template, state="running")
    from notifications.campaign_audience import campaign_recipients_build

    campaign_recipients_build(campaign=campaign)
    campaign_sending._claim_batch(campaign, 2)
    assert campaign_sending.recipients_sweep_stale() == 0
    assert campaign.recipients.filter(state="sending").count() == 2


def test_token_error_pauses_the_campaign_with_the_reason(graph, number, promo_template,
                                                         django_capture_on_commit_callbacks):
    make_contacts(number, 4, prefix="1555370")
    campaign = promo_campaign(number, promo_template, state="running")
    from notifications.campaign_audience import campaign_recipients_build

    campaign_recipients_build(campaign=campaign)
    graph.error(190, "Error validating access token: Session has expired", status=401)
    with django_capture_on_commit_callbacks(execute=True):
        token, ids, _ = campaign_sending._claim_batch(campaign, 1)
        campaign_sending.recipient_send(row_id=ids[0], token=token, campaign=campaign)
    assert Message.objects.get().error_code == "190"
    with django_capture_on_commit_callbacks(execute=True):
        campaigns_tick()
    campaign.refresh_from_db()
    assert campaign.state == "paused" and "access token" in campaign.pause_reason
    assert len(graph.sent_messages()) == 1
    assert campaign.recipients.filter(state="queued").count() == 3
    stats = campaign_stats(campaign=campaign)
    assert stats["failure_codes"] == {"190": 1} and stats["state"] == "paused"


def test_transient_error_is_retried_and_the_recipient_is_sent_once(graph, number, promo_template,
                                                                   django_capture_on_commit_callbacks):
    [contact] = make_contacts(number, 1, prefix="1555380")
    graph.error(131000, "Something went wrong")
    campaign = run(promo_campaign(number, promo_template), django_capture_on_commit_callbacks)
    row = campaign.recipients.get()
    row.message.refresh_from_db()
    assert row.message.status == "sent" and row.message.attempts == 2
    assert sent_to(graph) == [contact.wa_id, contact.wa_id]  # one failed attempt, one accepted
    assert Message.objects.filter(business_initiated=True).count() == 1


def test_messaging_limit_stops_claims_at_the_tier(graph, number, promo_template, django_capture_on_commit_callbacks):
    number.messaging_limit = "TIER_250"
    number.save()
    earlier = make_contacts(number, 248, tags=(), prefix="1555390")
    for contact in earlier:
        conversation = ConversationFactory(contact=contact, last_customer_message_at=None, window_expires_at=None)
        Message.objects.create(conversation=conversation, direction="out", sender_kind="system", type="template",
                               business_initiated=True, status="delivered", text="earlier")
    contacts = make_contacts(number, 5, prefix="1555391")
    campaign = run(promo_campaign(number, promo_template), django_capture_on_commit_callbacks)
    assert len(sent_to(graph)) == 2
    assert campaign.state == "running" and campaign.recipients.filter(state="queued").count() == 3
    assert {c.wa_id for c in contacts} >= set(sent_to(graph))


def test_recipient_messaged_seconds_ago_is_deferred(graph, number, promo_template, django_capture_on_commit_callbacks):
    [contact] = make_contacts(number, 1, prefix="1555400")
    conversation = ConversationFactory(contact=contact)
    Message.objects.create(conversation=conversation, direction="out", sender_kind="agent", status="sent", text="hi")
    campaign = run(promo_campaign(number, promo_template), django_capture_on_commit_callbacks)
    row = campaign.recipients.get()
    assert row.state == "queued" and row.next_attempt_at > timezone.now()
    assert sent_to(graph) == []


def test_start_refuses_an_unapproved_template(number, promo_template):
    promo_template.status = "PAUSED"
    promo_template.save()
    with pytest.raises(CampaignRefused) as info:
        campaign_start(campaign=promo_campaign(number, promo_template))
    assert info.value.code == "template_not_approved"


def test_scheduled_campaign_starts_when_due(graph, number, promo_template, django_capture_on_commit_callbacks):
    make_contacts(number, 1, prefix="1555410")
    campaign = promo_campaign(number, promo_template, scheduled_at=timezone.now() + timedelta(hours=1))
    campaign = run(campaign, django_capture_on_commit_callbacks)
    assert campaign.state == "scheduled"
    Campaign.objects.filter(pk=campaign.pk).update(scheduled_at=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        campaigns_tick()
    campaign.refresh_from_db()
    assert campaign.state == "completed" and len(sent_to(graph)) == 1


def test_restricted_account_blocks_resume(number, promo_template):
    campaign = promo_campaign(number, promo_template, state="paused", pause_reason="x")
    NumberHealth.objects.create(number=number, restricted=True, restriction="RESTRICTED_BUSINESS_INITIATED_MESSAGING")
    with pytest.raises(CampaignRefused) as info:
        campaign_resume(campaign=campaign)
    assert info.value.code == "account_restricted"


def test_a_pause_reason_reads_in_the_admins_language(client, admin_user, graph, number, promo_template,
                                                     django_capture_on_commit_callbacks):
    from agents.models import AgentProfile
    from notifications.campaign_audience import campaign_recipients_build

    make_contacts(number, 2, prefix="1555371")
    campaign = promo_campaign(number, promo_template, state="running")
    campaign_recipients_build(campaign=campaign)
    graph.error(190, "Error validating access token: Session has expired", status=401)
    with django_capture_on_commit_callbacks(execute=True):
        token, ids, _ = campaign_sending._claim_batch(campaign, 1)
        campaign_sending.recipient_send(row_id=ids[0], token=token, campaign=campaign)
    with django_capture_on_commit_callbacks(execute=True):
        campaigns_tick()
    campaign.refresh_from_db()
    assert campaign.pause_reason.startswith("The number's access token is invalid or expired (WhatsApp error 190:")

    AgentProfile.objects.update_or_create(user=admin_user, defaults={"ui_language": "es"})
    client.force_login(admin_user)
    listed = next(c for c in client.get("/api/v1/campaigns/").json()["results"] if c["id"] == campaign.pk)
    assert listed["pause_reason"].startswith(
        "El token de acceso del número no es válido o caducó (error de WhatsApp 190:")
    assert "Session has expired" in listed["pause_reason"]  # WhatsApp's own words as given
    stats = client.get(f"/api/v1/campaigns/{campaign.pk}/stats/").json()
    assert stats["pause_reason"] == listed["pause_reason"]


def test_a_reason_someone_typed_is_shown_as_written(client, admin_user, number, promo_template):
    from agents.models import AgentProfile

    campaign = promo_campaign(number, promo_template, state="paused", pause_reason="Paused by ana.")
    typed = promo_campaign(number, promo_template, name="Typed", state="paused", pause_reason="Esperando al equipo")
    AgentProfile.objects.update_or_create(user=admin_user, defaults={"ui_language": "pt"})
    client.force_login(admin_user)
    reasons = {c["id"]: c["pause_reason"] for c in client.get("/api/v1/campaigns/").json()["results"]}
    assert reasons[campaign.pk] == "Pausada por ana." and reasons[typed.pk] == "Esperando al equipo"
