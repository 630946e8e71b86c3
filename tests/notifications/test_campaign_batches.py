"""A campaign's batch: prepared in one transaction and delivered by one task. Whatever
fails or dies on the way, no recipient is messaged twice and none is lost."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from conversations.models import Conversation, ConversationEvent, Message
from conversations.services.message_delivery import messages_redispatch_due
from notifications.campaign_audience import campaign_recipients_build
from notifications.models import CampaignRecipient
from notifications.services import campaign_sending
from notifications.services.consent import consent_opt_out
from notifications.tasks import campaigns_tick
from tests.factories import ConversationFactory
from tests.notifications.test_campaigns import make_contacts, promo_campaign, sent_to


def _built(number, template):
    campaign = promo_campaign(number, template, state="running")
    campaign_recipients_build(campaign=campaign)
    return campaign


def test_a_batch_is_prepared_together_and_each_recipient_gets_one_message(graph, number, promo_template,
                                                                          django_capture_on_commit_callbacks):
    contacts = make_contacts(number, 5, prefix="1555500")
    consent_opt_out(contact=contacts[4], category="marketing", source="keyword")
    open_one = ConversationFactory(contact=contacts[0], status="assigned", last_customer_message_at=None,
                                   window_expires_at=None)
    campaign = _built(number, promo_template)
    with django_capture_on_commit_callbacks(execute=True):
        token, ids, _ = campaign_sending._claim_batch(campaign, 10)
        states = campaign_sending.recipients_send(ids=ids, token=token, campaign=campaign)

    assert sorted(states.values()) == ["sent", "sent", "sent", "sent", "skipped"]
    assert sorted(sent_to(graph)) == sorted(c.wa_id for c in contacts[:4])
    # The open conversation carries its message; the others were opened, one each, with their entry.
    assert Message.objects.get(conversation=open_one, business_initiated=True)
    for contact in contacts[1:4]:
        conversation = Conversation.objects.get(contact=contact)
        assert conversation.status == "bot"
        assert ConversationEvent.objects.filter(conversation=conversation, kind="created").count() == 1
    assert not Conversation.objects.filter(contact=contacts[4]).exists()
    assert campaign.recipients.filter(state="sent", message__isnull=False).count() == 4


def test_a_row_that_breaks_its_batch_is_retried_alone_and_the_others_go_once(graph, number, promo_template,
                                                                            django_capture_on_commit_callbacks,
                                                                            monkeypatch):
    contacts = make_contacts(number, 4, prefix="1555510")
    campaign = _built(number, promo_template)
    broken = contacts[2].pk
    real = campaign_sending.messages_queue_templates

    def queue(*, items):
        if any(conversation.contact_id == broken for conversation, _content, _text in items):
            raise RuntimeError("disk full")
        return real(items=items)

    monkeypatch.setattr(campaign_sending, "messages_queue_templates", queue)
    with django_capture_on_commit_callbacks(execute=True):
        token, ids, _ = campaign_sending._claim_batch(campaign, 10)
        campaign_sending._send_batch(campaign, token, ids)

    assert sorted(sent_to(graph)) == sorted(c.wa_id for c in contacts if c.pk != broken)
    row = campaign.recipients.get(contact_id=broken)
    assert row.state == "queued" and row.message_id is None and row.next_attempt_at is not None
    assert Message.objects.filter(business_initiated=True).count() == 3

    monkeypatch.setattr(campaign_sending, "messages_queue_templates", real)
    CampaignRecipient.objects.filter(pk=row.pk).update(next_attempt_at=None)
    with django_capture_on_commit_callbacks(execute=True):
        campaigns_tick()
    delivered = sent_to(graph)
    assert sorted(delivered) == sorted(c.wa_id for c in contacts) and len(delivered) == len(set(delivered))


def test_worker_dying_after_the_batch_committed_sends_each_message_once(graph, number, promo_template,
                                                                       django_capture_on_commit_callbacks):
    contacts = make_contacts(number, 3, prefix="1555520")
    campaign = _built(number, promo_template)
    # The batch commits, then its worker dies before the delivery task runs.
    with django_capture_on_commit_callbacks(execute=False):
        token, ids, _ = campaign_sending._claim_batch(campaign, 10)
        campaign_sending.recipients_send(ids=ids, token=token, campaign=campaign)
    assert sent_to(graph) == []
    assert campaign.recipients.filter(state="sent").count() == 3
    # The campaign does not send those rows again; the delivery sweep sends each message once.
    with django_capture_on_commit_callbacks(execute=True):
        campaigns_tick()
    assert sent_to(graph) == []
    Message.objects.filter(business_initiated=True).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert messages_redispatch_due() == 3
    delivered = sent_to(graph)
    assert sorted(delivered) == sorted(c.wa_id for c in contacts)
    with django_capture_on_commit_callbacks(execute=True):
        assert messages_redispatch_due() == 0
    assert len(sent_to(graph)) == 3
