"""Sending a campaign: claimed batches, a shared pacer, and recovery after a crash.

How one slice runs (`campaign_run_slice`, called by the `campaign_run` task):
1. At most CAMPAIGN_PARALLEL_SLICES slices of a campaign run at once (short cache
   locks), on any workers; every slice, campaign and process shares the number's pacer.
2. Pre-flight: the template must be approved, the number not red, the account not
   restricted, and no earlier send may have failed with a pausing error (token, account,
   template paused or disabled); otherwise the campaign pauses with the reason.
3. A batch is claimed in one transaction holding the number's health row (or, for a
   number in a business portfolio, the portfolio's row): queued rows become `sending`
   with this batch's token (compare-and-set), no more than the messaging limit's
   headroom (unique users reached in the rolling 24 h plus rows other batches hold in
   flight). A portfolio's limit is one budget for all its numbers: users reached and
   rows in flight are counted over every number of the portfolio, so campaigns on
   several of its numbers together stay within it.
4. Each claimed row takes a slot of the campaign's pacer (the number's throughput times
   CAMPAIGN_THROUGHPUT_SHARE, in Redis when REDIS_URL is set), then the batch is
   prepared (`recipients_send`): per-recipient spacing and each message's content read
   and built first, then in ONE transaction consent checked again for all its contacts
   at once (opted-out contacts are skipped), the template messages queued together
   through conversations.services.message_send and linked to their rows, the rows'
   states written together. After the commit one task delivers the
   batch's messages, each paced by the number's pacer and claimed like any delivery. A
   worker killed before that commit leaves the rows `sending` without a Message; the
   sweep puts them back after CAMPAIGN_CLAIM_STALE_SECONDS. After the commit, each row
   is `sent` with its Message (whose delivery is idempotent and swept if lost), so it is
   never sent twice.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F, Min, OuterRef, Subquery
from django.utils import timezone
from django.utils.translation import gettext_noop

from config import task_names
from config.bulk_rows import rows_update
from config.tasking import enqueue_on_commit
from conversations import throttle
from conversations.models import (
    MESSAGING_LIMIT_USERS,
    BusinessPortfolio,
    Contact,
    Message,
    QualityRating,
    WhatsAppNumber,
)
from conversations.services.conversations_open import conversations_for_contacts
from conversations.services.message_send import SendRefused, messages_queue_templates
from conversations.services.webhook_outbox import webhook_campaign_event
from notifications import pause_reasons
from notifications.campaign_audience import MappingError, campaign_parameters, campaign_recipients_build
from notifications.models import Campaign, CampaignRecipient, NumberHealth, TemplateStatus
from notifications.pause_reasons import PAUSING_CODES
from notifications.services.campaigns import campaign_pause
from notifications.services.consent import consent_category_for_template, contacts_opted_in
from notifications.services.template_send import template_content_build

log = logging.getLogger(__name__)

R = CampaignRecipient.State
# Stored in English; pages and the API show them in the reader's language.
NO_OPT_IN = {
    "marketing": gettext_noop("No current marketing opt-in at send time."),
    "utility": gettext_noop("No current utility opt-in at send time."),
}
LIMIT_RETRY_SECONDS = 60.0
# The campaign's pacer sets the pace at which its messages are queued (its share of the
# number's throughput); it lets a campaign run this many batches ahead, so that one batch
# is prepared while the one before is being sent. What reaches Graph is paced by the
# number's own pacer, per send (conversations.throttle.number_throughput_acquire), which
# holds every one-second window within the number's limit.
PACER_BATCHES = 2


def _reached_last_24h(number_ids: list[int]) -> int:
    """Unique users reached by business-initiated messages on the numbers in the last 24 h
    (failed sends do not count; one person reached from two numbers of a portfolio counts
    once, by phone or user id). Messages inside an open window count too: an overestimate
    that keeps the numbers safely under their limit."""
    since = timezone.now() - timedelta(hours=24)
    return (
        Message.objects.filter(
            conversation__number_id__in=number_ids,
            direction=Message.Direction.OUTBOUND,
            business_initiated=True,
            created_at__gte=since,
        )
        .exclude(status=Message.Status.FAILED)
        .values("conversation__contact__wa_id", "conversation__contact__user_id")
        .distinct()
        .count()
    )


def _limit_budget(campaign: Campaign) -> tuple[int | None, list[int]]:
    """(The limit in users, the numbers sharing it), with the budget's row locked: the
    portfolio's for a number in one, else the number's health row. Requires a transaction."""
    number = campaign.number
    if number.portfolio_id is not None:
        portfolio = BusinessPortfolio.objects.select_for_update().filter(pk=number.portfolio_id).first()
        if portfolio is not None:
            ids = list(WhatsAppNumber.objects.filter(portfolio=portfolio).values_list("pk", flat=True))
            return MESSAGING_LIMIT_USERS.get(portfolio.messaging_limit), ids
    NumberHealth.objects.get_or_create(number=number)
    NumberHealth.objects.select_for_update().filter(number=number).first()
    return MESSAGING_LIMIT_USERS.get(number.messaging_limit), [number.pk]


def _preflight(campaign: Campaign) -> str:
    """The reason the campaign must pause now, or ""."""
    template, number = campaign.template, campaign.number
    if template.status != TemplateStatus.APPROVED:
        return pause_reasons.TEMPLATE_STOPPED % {"template": f"{template.name} [{template.language}]",
                                                 "status": template.status.lower()}
    if number.quality_rating == QualityRating.RED:
        return pause_reasons.QUALITY_RED
    health = NumberHealth.objects.filter(number=number).first()
    if health is not None and health.is_restricted():
        return pause_reasons.ACCOUNT_RESTRICTED % {"restriction": health.restriction or health.last_event or "banned"}
    failed = (
        Message.objects.filter(campaign_recipient__campaign=campaign, status=Message.Status.FAILED,
                               error_code__in=list(PAUSING_CODES))
        .values_list("error_code", "error_text")
        .first()
    )
    if failed:
        return pause_reasons.WHATSAPP_ERROR % {"why": PAUSING_CODES[failed[0]], "code": failed[0],
                                               "said": failed[1][:200]}
    return ""


def recipients_sweep_stale(*, campaign_id: int | None = None) -> int:
    """Put back rows claimed (`sending`) longer than CAMPAIGN_CLAIM_STALE_SECONDS ago that
    have no Message: their worker died before its send committed. Rows with a Message
    were sent; they are completed instead. Returns the rows put back."""
    stale_before = timezone.now() - timedelta(seconds=settings.CAMPAIGN_CLAIM_STALE_SECONDS)
    rows = CampaignRecipient.objects.filter(state=R.SENDING, claimed_at__lt=stale_before)
    if campaign_id is not None:
        rows = rows.filter(campaign_id=campaign_id)
    rows.filter(message__isnull=False).update(state=R.SENT, claim_token="")
    return rows.filter(message__isnull=True).update(state=R.QUEUED, claim_token="", claimed_at=None)


def _claim_batch(campaign: Campaign, size: int) -> tuple[str, list[int], bool]:
    """Claim up to `size` due rows. Returns (token, ids, limited) where `limited` says the
    messaging limit stopped the claim."""
    token = uuid.uuid4().hex
    now = timezone.now()
    with transaction.atomic():
        # One claimer per budget (portfolio or number) at a time, so headroom is not spent twice.
        limit, number_ids = _limit_budget(campaign)
        limited = False
        if limit is not None:
            in_flight = CampaignRecipient.objects.filter(campaign__number_id__in=number_ids, state=R.SENDING).count()
            headroom = limit - _reached_last_24h(number_ids) - in_flight
            if headroom < size:
                limited = True
                size = max(headroom, 0)
        if size <= 0:
            return token, [], limited
        due = (
            CampaignRecipient.objects.select_for_update(skip_locked=True)
            .filter(campaign=campaign, state=R.QUEUED)
            .exclude(next_attempt_at__gt=now)
            .order_by("pk")
            .values_list("pk", flat=True)[:size]
        )
        ids = list(due)
        CampaignRecipient.objects.filter(pk__in=ids, state=R.QUEUED).update(
            state=R.SENDING, claim_token=token, claimed_at=now, attempts=F("attempts") + 1
        )
        claimed = list(CampaignRecipient.objects.filter(claim_token=token).order_by("pk").values_list("pk", flat=True))
    return token, claimed, limited


def _release(token: str, ids: list[int]) -> None:
    CampaignRecipient.objects.filter(pk__in=ids, claim_token=token, state=R.SENDING).update(
        state=R.QUEUED, claim_token="", claimed_at=None
    )


def _release_after_error(token: str, row_id: int, exc: Exception) -> None:
    """An unexpected error: retried a few times (the row goes back to the queue), then failed."""
    rows = CampaignRecipient.objects.filter(pk=row_id, claim_token=token, state=R.SENDING)
    if rows.filter(attempts__gte=settings.CAMPAIGN_MAX_ATTEMPTS).update(
        state=R.FAILED, claim_token="", error_code="error", error_reason=f"{type(exc).__name__}: {exc}"[:2000]
    ):
        return
    rows.update(state=R.QUEUED, claim_token="", claimed_at=None,
                next_attempt_at=timezone.now() + timedelta(seconds=LIMIT_RETRY_SECONDS / 4))


def recipient_send(*, row_id: int, token: str, campaign: Campaign) -> str:
    """Send one claimed row (see `recipients_send`). Returns the row's new state."""
    return recipients_send(ids=[row_id], token=token, campaign=campaign)[row_id]


def recipients_send(*, ids: list[int], token: str, campaign: Campaign) -> dict[int, str]:
    """Queue the template messages of claimed rows (see the module docstring). First the
    reads, outside the write transaction (SQLite's writers wait on it): the rows still
    held by `token` with their contacts and each contact's last outbound message, each
    message's content. Then ONE transaction: the rows locked again (those the sweep took
    back meanwhile are left out), consent read for all of them (rows without are
    skipped), the conversations opened together,
    the messages written together (conversations.services.message_send), the rows' states
    written together; after commit one task delivers the batch. Returns each row's new
    state ("lost" for a row the sweep took back)."""
    spacing = settings.CAMPAIGN_RECIPIENT_SPACING_SECONDS
    category = consent_category_for_template(campaign.template.category)
    states = dict.fromkeys(ids, "lost")
    last_outbound = (
        Message.objects.filter(
            conversation__contact=OuterRef("contact_id"), direction=Message.Direction.OUTBOUND, internal=False
        )
        .order_by("-created_at")
        .values("created_at")[:1]
    )
    rows = list(
        CampaignRecipient.objects.select_related("contact")
        .annotate(last_outbound_at=Subquery(last_outbound))
        .filter(pk__in=ids, state=R.SENDING, claim_token=token)
        .order_by("pk")
    )
    now = timezone.now()
    contents: dict[int, tuple[dict, str]] = {}
    for row in rows:
        states[row.pk] = _prepare(row, campaign, now=now, spacing=spacing, contents=contents)
    with transaction.atomic():
        held = set(
            CampaignRecipient.objects.select_for_update()
            .filter(pk__in=[row.pk for row in rows], state=R.SENDING, claim_token=token)
            .values_list("pk", flat=True)
        )
        for row in rows:
            if row.pk not in held:
                states[row.pk] = "lost"
        rows = [row for row in rows if row.pk in held]
        # Consent as it stands now, inside the transaction that writes the messages.
        opted_in = set(
            contacts_opted_in(queryset=Contact.objects.filter(pk__in=[row.contact_id for row in rows]),
                              category=category).values_list("pk", flat=True)
        )
        for row in rows:
            if row.contact_id not in opted_in:
                row.state, row.error_code = R.SKIPPED, "not_opted_in"
                row.error_reason = NO_OPT_IN.get(category, NO_OPT_IN["marketing"])
                states[row.pk] = R.SKIPPED
                contents.pop(row.pk, None)
        ready = [row for row in rows if row.pk in contents]
        conversations = conversations_for_contacts(contacts=[row.contact for row in ready])
        try:
            messages = messages_queue_templates(
                items=[(conversations[row.contact_id], *contents[row.pk]) for row in ready]
            )
        except SendRefused as exc:
            if len(ready) > 1:
                raise  # the caller sends the rows one by one, so only the refused one fails
            messages = []
            for row in ready:
                row.state, row.error_code, row.error_reason = R.FAILED, exc.code[:32], exc.detail[:2000]
                states[row.pk] = R.FAILED
        for row, message in zip(ready, messages, strict=True):
            row.message, row.state, row.sent_at = message, R.SENT, now
            row.error_code = row.error_reason = ""
            states[row.pk] = R.SENT
        _rows_write(rows, states, now)
        if messages:
            enqueue_on_commit(task_names.MESSAGES_DELIVER, message_ids=[message.pk for message in messages])
    return states


def _rows_write(rows: Sequence[CampaignRecipient], states: dict[int, str], now) -> None:
    """The rows' outcomes: sent rows and skipped ones each in one update (their values are
    shared but for the message, written by a CASE of `rows_update`), the rare others row by
    row."""
    rows_update(CampaignRecipient, "id", {
        row.pk: {"message": row.message_id, "state": R.SENT, "sent_at": now, "claim_token": "", "error_code": "",
                 "error_reason": ""}
        for row in rows if states[row.pk] == R.SENT
    })
    skipped = [row.pk for row in rows if states[row.pk] == R.SKIPPED]
    if skipped:
        first = next(row for row in rows if states[row.pk] == R.SKIPPED)
        CampaignRecipient.objects.filter(pk__in=skipped).update(
            state=R.SKIPPED, claim_token="", error_code=first.error_code, error_reason=first.error_reason
        )
    for row in rows:
        if states[row.pk] not in (R.SENT, R.SKIPPED):
            row.save(update_fields=["state", "claim_token", "next_attempt_at", "error_code", "error_reason"])


def _too_soon(row: CampaignRecipient, now, spacing: float) -> bool:
    last = row.last_outbound_at  # type: ignore[attr-defined]
    return last is not None and (now - last).total_seconds() < spacing


def _prepare(row: CampaignRecipient, campaign: Campaign, *, now, spacing: float,
             contents: dict[int, tuple[dict, str]]) -> str:
    """One row's outcome, set on the row (written by the caller, who checks consent
    first): queued again when the contact was messaged less than `spacing` ago, failed
    when its parameters or the template refuse them; else its message's content goes in
    `contents` (the row is `sent` once the message is written)."""
    row.claim_token = ""
    if _too_soon(row, now, spacing):
        row.state = R.QUEUED
        row.next_attempt_at = row.last_outbound_at + timedelta(seconds=spacing)  # type: ignore[attr-defined]
        return R.QUEUED
    try:
        parameters = campaign_parameters(mapping=campaign.parameter_mapping, contact=row.contact)
    except MappingError as exc:
        row.state, row.error_code, row.error_reason = R.FAILED, "template_invalid", str(exc)[:2000]
        return R.FAILED
    try:
        contents[row.pk] = template_content_build(template=campaign.template, parameters=parameters)
    except SendRefused as exc:
        row.state, row.error_code, row.error_reason = R.FAILED, exc.code[:32], exc.detail[:2000]
        return R.FAILED
    return R.SENDING


def _pacer_key(campaign: Campaign) -> str:
    return f"campaign:mps:{campaign.number.phone_number_id}"


def _complete_if_done(campaign: Campaign) -> bool:
    if CampaignRecipient.objects.filter(campaign=campaign, state__in=[R.QUEUED, R.SENDING]).exists():
        return False
    with transaction.atomic():
        completed = bool(
            Campaign.objects.filter(pk=campaign.pk, state=Campaign.State.RUNNING).update(
                state=Campaign.State.COMPLETED, completed_at=timezone.now()
            )
        )
        if completed:
            webhook_campaign_event(Campaign.objects.get(pk=campaign.pk))
    return completed


def _still_running(campaign_id: int) -> bool:
    return Campaign.objects.filter(pk=campaign_id, state=Campaign.State.RUNNING).exists()


def campaign_run_slice(*, campaign_id: int, budget_seconds: float | None = None) -> float | None:
    """Send batches of a running campaign for up to `budget_seconds`. Returns None when
    there is nothing more to do now (completed, paused, not running, or another slice is
    running), else the seconds after which the next slice should run."""
    budget = settings.CAMPAIGN_SLICE_SECONDS if budget_seconds is None else budget_seconds
    for slot in range(max(settings.CAMPAIGN_PARALLEL_SLICES, 1)):
        lock = f"campaign-run:{campaign_id}:{slot}"
        if cache.add(lock, 1, timeout=int(budget * 3) + 30):
            break
    else:
        return None  # as many slices as allowed are running already
    try:
        return _run(campaign_id, time.monotonic() + budget)
    finally:
        cache.delete(lock)


def _pace(campaign: Campaign, ids: list[int], rate: float, deadline: float) -> int:
    """Take a slot of the campaign's pacer per row; returns how many rows got one before
    the slice's deadline. The pacer lets a campaign run PACER_BATCHES batches ahead of its
    rate, so the next batch is prepared while the last is still being sent."""
    burst = PACER_BATCHES * max(settings.CAMPAIGN_BATCH_SIZE, 1)
    for index in range(len(ids)):
        timeout = max(deadline - time.monotonic(), 0.0)
        if not throttle.throughput_acquire(key=_pacer_key(campaign), rate_per_second=rate, timeout=timeout,
                                           burst=burst):
            return index
    return len(ids)


def _send_batch(campaign: Campaign, token: str, ids: list[int]) -> None:
    """The batch in one transaction; should it fail, row by row, so that one bad row is
    retried (and in the end failed) alone."""
    if not ids:
        return
    try:
        recipients_send(ids=ids, token=token, campaign=campaign)
        return
    except Exception:
        log.exception("campaign %s: a batch of %s rows could not be sent; sending them one by one",
                      campaign.pk, len(ids))
    for row_id in ids:
        try:
            recipient_send(row_id=row_id, token=token, campaign=campaign)
        except Exception as exc:
            log.exception("campaign %s: recipient row %s could not be sent", campaign.pk, row_id)
            _release_after_error(token, row_id, exc)


def _run(campaign_id: int, deadline: float) -> float | None:
    campaign = Campaign.objects.select_related("template", "number").filter(pk=campaign_id).first()
    if campaign is None or campaign.state != Campaign.State.RUNNING:
        return None
    campaign_recipients_build(campaign=campaign)
    recipients_sweep_stale(campaign_id=campaign.pk)
    rate = (campaign.number.throughput_mps or throttle.DEFAULT_THROUGHPUT_MPS) * settings.CAMPAIGN_THROUGHPUT_SHARE
    while time.monotonic() < deadline:
        reason = _preflight(campaign)
        if reason:
            campaign_pause(campaign=campaign, reason=reason)
            return None
        token, ids, limited = _claim_batch(campaign, settings.CAMPAIGN_BATCH_SIZE)
        if not ids:
            if _complete_if_done(campaign):
                return None
            if limited:
                return LIMIT_RETRY_SECONDS
            nxt = CampaignRecipient.objects.filter(campaign=campaign, state=R.QUEUED).aggregate(at=Min("next_attempt_at"))
            if nxt["at"] is not None:
                return max((nxt["at"] - timezone.now()).total_seconds(), 0.5)
            # Only rows held by another claimer remain: look again once their claim can go stale.
            return float(settings.CAMPAIGN_CLAIM_STALE_SECONDS)
        if not _still_running(campaign.pk):
            _release(token, ids)
            return None
        paced = _pace(campaign, ids, rate, deadline)
        if paced < len(ids):
            _release(token, ids[paced:])
        _send_batch(campaign, token, ids[:paced])
        if paced < len(ids):
            return 0.0
        campaign.template.refresh_from_db(fields=["status"])
        campaign.number.refresh_from_db(fields=["quality_rating", "messaging_limit", "throughput_mps", "portfolio"])
    return 0.0
