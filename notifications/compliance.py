"""The compliance monitor: per WhatsApp number and period, the evidence that customers had a
prompt, direct path to a person, and the gaps where they did not.

It reads the escalation ledger (first offer of a person, first request, handoff, first reply
by a person), the handoffs (fallback sent, the policy that fired) and the bot sessions,
owned by the bots app; nothing here writes to them.

Definitions, for conversations created in the period on the number:
- *bot conversation*: a bot served it (its bot session names a bot);
- *offered*: a bot conversation where a person was offered (a menu with the human option)
  or the conversation was handed to people;
- *requested*: the customer asked for a person (button or keyword), at `human_requested_at`;
- *answered*: a person replied, at the ledger's `first_human_reply_at`, else the
  conversation's `first_response_at` (the first agent reply after it was queued);
- *valid fallback*: a handoff sent the policy's fallback (nobody available: closed hours or
  nobody online) and the policy has a contact (phone, email or web form).

Gaps (each links to its conversation):
- `late`: answered, but later than the policy's target after the request, without a valid fallback;
- `unanswered`: no answer and no valid fallback, and the target has passed;
- `no_offer`: a bot answered and a person was never offered nor handed the conversation;
- `no_fallback_contact`: the fallback was sent without any contact (the policy has none).

Every figure is a database aggregate: one query over the period's conversations joined to
their ledger and bot session, and one over the few with a fallback handoff. The gap list
holds the newest of each kind (or one page of one kind); on PostgreSQL the first query also
collects their ids (ARRAY_AGG with FILTER), elsewhere one more query finds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.postgres.aggregates import ArrayAgg
from django.contrib.postgres.fields import ArrayField
from django.db import connections
from django.db.models import (
    Avg,
    BooleanField,
    Case,
    Count,
    Exists,
    F,
    FloatField,
    Func,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone, translation
from django.utils.translation import gettext_noop

from bots.models import Handoff
from config.periods import Period, period_aggregates, seconds_between
from conversations.models import Conversation, WhatsAppNumber
from notifications.compliance_cases import number_health, remediation_cases, remediation_checklist
from notifications.compliance_scope import compliance_conversations, number_policy, target_seconds
from notifications.models import RemediationCase

GAP_LIST_LIMIT = 50
# Descriptions kept in English (the evidence CSV, stored case evidence); the pages show them
# translated into the desk user's language.
GAP_KINDS = {
    "unanswered": gettext_noop("Asked for a person and got no answer (and no fallback contact) within the target"),
    "late": gettext_noop("Asked for a person and was answered later than the target, without a fallback contact"),
    "no_offer": gettext_noop("A bot answered and never offered a person"),
    "no_fallback_contact": gettext_noop("Nobody was available and the fallback had no phone, email or web form"),
}


# --- the verdict ---------------------------------------------------------------------------------



_CONTACT = Q(policy__fallback_phone__gt="") | Q(policy__fallback_email__gt="") | Q(policy__fallback_url__gt="")


def _valid_fallback() -> Exists:
    return Exists(Handoff.objects.filter(conversation_id=OuterRef("pk"), fallback_sent=True).filter(_CONTACT))


def _empty_fallback() -> Exists:
    no_contact = Q(policy__isnull=True) | Q(policy__fallback_phone="", policy__fallback_email="", policy__fallback_url="")
    return Exists(Handoff.objects.filter(conversation_id=OuterRef("pk"), fallback_sent=True).filter(no_contact))


def _with_times(qs: QuerySet[Conversation]) -> QuerySet[Conversation]:
    answered = Coalesce(F("escalation_ledger__first_human_reply_at"), F("first_response_at"))
    return qs.annotate(
        requested_at=F("escalation_ledger__human_requested_at"),
        answered_at=answered,
    ).annotate(
        wait=Case(
            When(answered_at__lt=F("requested_at"), then=Value(0.0)),
            default=seconds_between(F("requested_at"), F("answered_at")),
            output_field=FloatField(),
        )
    )


@dataclass(frozen=True)
class _Rules:
    target: int
    now: datetime

    @property
    def requested(self) -> Q:
        return Q(escalation_ledger__human_requested_at__isnull=False)

    @property
    def answered(self) -> Q:
        return self.requested & Q(answered_at__isnull=False)

    @property
    def bot_served(self) -> Q:
        return Q(bot_session__bot__isnull=False)

    @property
    def late(self) -> Q:
        return self.answered & Q(wait__gt=self.target)

    @property
    def unanswered(self) -> Q:
        return self.requested & Q(answered_at__isnull=True) & Q(
            escalation_ledger__human_requested_at__lt=self.now - timedelta(seconds=self.target))

    @property
    def no_offer(self) -> Q:
        return self.bot_served & Q(escalation_ledger__human_offered_at__isnull=True) & Q(
            escalation_ledger__handed_off_at__isnull=True)


class _Newest(Func):
    """The first `limit` ids of an ordered ARRAY_AGG (PostgreSQL): the newest gaps of a kind."""

    template = "(%(expressions)s)[%(first)s:%(last)s]"

    def __init__(self, expression: Any, *, limit: int, offset: int = 0) -> None:
        super().__init__(expression, first=int(offset) + 1, last=int(offset) + int(limit),
                         output_field=ArrayField(IntegerField()))


def _newest_ids(condition: Q, limit: int, offset: int = 0) -> _Newest:
    return _Newest(ArrayAgg("pk", filter=condition, order_by=("-created_at", "-pk"), default=[]),
                   limit=limit, offset=offset)


class _InArrayOf(Func):
    """`expression = ANY(ARRAY(subquery))` (PostgreSQL): the subquery runs once, and the ids it
    gives are looked up by index instead of scanning the period for them."""

    arg_joiner = " = ANY(ARRAY("
    template = "(%(expressions)s)))"
    output_field = BooleanField()


def _with_fallback_sent(qs: QuerySet[Conversation]) -> Any:
    """The condition: a handoff of the conversation sent the fallback. On PostgreSQL the few
    such conversations (partial index `handoff_fallback_idx`) are fetched by id."""
    if connections[qs.db].vendor == "postgresql":
        return _InArrayOf(F("pk"), Subquery(Handoff.objects.filter(fallback_sent=True).values("conversation_id")))
    return Exists(Handoff.objects.filter(conversation_id=OuterRef("pk"), fallback_sent=True))


def _gaps_in_one_scan(qs: QuerySet[Conversation]) -> bool:
    """On PostgreSQL the verdict's scan also collects the newest gaps of each kind
    (ARRAY_AGG); elsewhere they are found by a query of their own (`_gap_candidates`)."""
    return connections[qs.db].vendor == "postgresql"


def _verdict_counts(qs: QuerySet[Conversation], rules: _Rules, *, gap_limit: int | None = None,
                    gap_offset: int = 0, gap_kinds: tuple[str, ...] = tuple(GAP_KINDS)) -> dict[str, Any]:
    """The verdict's counts; with `gap_limit` (PostgreSQL only) also, for each of `gap_kinds`,
    the ids of its gaps newest first, `gap_limit` of them after the first `gap_offset`, as
    `newest_<kind>`."""
    r = rules
    conditions = {
        # The fallback check inline (last in the condition: only for late or unanswered
        # requests), not as an annotation, which would make a subquery of the scan.
        "late": r.late & Q(~_valid_fallback()),
        "unanswered": r.unanswered & Q(~_valid_fallback()),
        "no_offer": r.no_offer,
    }
    newest: dict[str, Any] = {}
    fallback_newest: dict[str, Any] = {}
    if gap_limit is not None:
        newest = {f"newest_{kind}": _newest_ids(condition, gap_limit, gap_offset)
                  for kind, condition in conditions.items() if kind in gap_kinds}
        if "no_fallback_contact" in gap_kinds:
            fallback_newest = {"newest_no_fallback_contact": _newest_ids(Q(empty=True), gap_limit, gap_offset)}
    with period_aggregates(qs.db):
        return {**dict.fromkeys((f"newest_{kind}" for kind in gap_kinds), None),
                **_aggregates(qs, r, newest, fallback_newest)}


def _aggregates(qs: QuerySet[Conversation], r: _Rules, newest: dict[str, Any],
                fallback_newest: dict[str, Any]) -> dict[str, Any]:
    main = _with_times(qs).aggregate(
        **newest,
        conversations=Count("pk"),
        bot_conversations=Count("pk", filter=r.bot_served),
        offered=Count("pk", filter=r.bot_served & (
            Q(escalation_ledger__human_offered_at__isnull=False) | Q(escalation_ledger__handed_off_at__isnull=False))),
        handed_off=Count("pk", filter=Q(escalation_ledger__handed_off_at__isnull=False)),
        requested=Count("pk", filter=r.requested),
        answered=Count("pk", filter=r.answered),
        answered_in_time=Count("pk", filter=r.answered & Q(wait__lte=r.target)),
        wait_average=Avg("wait", filter=r.answered),
        wait_longest=Max("wait", filter=r.answered),
        late=Count("pk", filter=r.late),
        unanswered=Count("pk", filter=r.unanswered),
        waiting=Count("pk", filter=r.requested & Q(answered_at__isnull=True) & Q(
            escalation_ledger__human_requested_at__gte=r.now - timedelta(seconds=r.target))),
        no_offer=Count("pk", filter=r.no_offer),
    )
    # The few conversations whose handoff sent the fallback: which had a contact, and how
    # many of the late or unanswered requests that covers.
    fallback = (
        _with_times(qs.filter(_with_fallback_sent(qs)))
        .annotate(valid=_valid_fallback(), empty=_empty_fallback())
        .aggregate(
            requested_valid=Count("pk", filter=r.requested & Q(valid=True)),
            requested_valid_unanswered=Count("pk", filter=r.requested & Q(valid=True, answered_at__isnull=True)),
            late_valid=Count("pk", filter=r.late & Q(valid=True)),
            unanswered_valid=Count("pk", filter=r.unanswered & Q(valid=True)),
            no_contact=Count("pk", filter=Q(empty=True)),
            **fallback_newest,
        )
    )
    return {**main, **fallback}


def _rate(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def compliance_verdict(*, qs: QuerySet[Conversation], target: int, now: datetime | None = None) -> dict[str, Any]:
    """The verdict over `qs` (conversations of one number and period): counts, rates, the
    average and longest wait for a person, and the number of gaps of each kind."""
    rules = _Rules(target=target, now=now or timezone.now())
    return _verdict(_verdict_counts(qs, rules), target)


def _verdict(c: dict[str, Any], target: int) -> dict[str, Any]:
    gaps = {
        "unanswered": c["unanswered"] - c["unanswered_valid"],
        "late": c["late"] - c["late_valid"],
        "no_offer": c["no_offer"],
        "no_fallback_contact": c["no_contact"],
    }
    reached = c["answered"] + c["requested_valid_unanswered"]
    return {
        "conversations": c["conversations"],
        "bot_conversations": c["bot_conversations"],
        "human_offered": c["offered"],
        "human_offered_rate": _rate(c["offered"], c["bot_conversations"]),
        "handed_off": c["handed_off"],
        "requested": c["requested"],
        "reached": reached,
        "reached_rate": _rate(reached, c["requested"]),
        "answered": c["answered"],
        "answered_in_time": c["answered_in_time"],
        "valid_fallback": c["requested_valid"],
        "waiting": c["waiting"],
        "wait_average_seconds": round(c["wait_average"], 1) if c["wait_average"] is not None else None,
        "wait_longest_seconds": round(c["wait_longest"], 1) if c["wait_longest"] is not None else None,
        "target_seconds": target,
        "gaps": gaps,
        "gap_total": sum(gaps.values()),
        "status": "gaps" if any(gaps.values()) else "clear",
    }


# --- the gaps ----------------------------------------------------------------------------------


def _gap_candidates(qs: QuerySet[Conversation], rules: _Rules) -> list[tuple[int, datetime, str]]:
    """(id, created, kind) of every gap, in two queries and without ordering in the
    database: one scan of the conversations with their ledger and bot session, where the
    fallback check runs only for the few late or unanswered requests (it sits behind them
    in the condition), and one semi-join on the handoffs that sent a fallback. Ordering
    and limiting are left to the caller, so no plan walks an index hoping to meet rare gaps."""
    waiting_too_long = (rules.late | rules.unanswered) & ~Q(valid_fallback=True)
    rows = (
        _with_times(qs)
        .alias(valid_fallback=_valid_fallback())
        .filter(waiting_too_long | rules.no_offer)
        .annotate(
            is_late=Case(When(rules.late, then=Value(True)), default=Value(False)),
            is_unanswered=Case(When(rules.unanswered, then=Value(True)), default=Value(False)),
            is_no_offer=Case(When(rules.no_offer, then=Value(True)), default=Value(False)),
        )
        .values_list("pk", "created_at", "is_late", "is_unanswered", "is_no_offer")
    )
    found: list[tuple[int, datetime, str]] = []
    for pk, created, late, unanswered, no_offer in rows:
        if late:
            found.append((pk, created, "late"))
        if unanswered:
            found.append((pk, created, "unanswered"))
        if no_offer:
            found.append((pk, created, "no_offer"))
    found += [(pk, created, "no_fallback_contact")
              for pk, created in qs.filter(_empty_fallback()).values_list("pk", "created_at")]
    return found


GAP_FIELDS = ("pk", "created_at", "contact__profile_name", "team__name", "requested_at", "answered_at", "wait")


def compliance_gaps(*, qs: QuerySet[Conversation], target: int, now: datetime | None = None,
                    limit: int = GAP_LIST_LIMIT, offset: int = 0, kind: str | None = None) -> list[dict[str, Any]]:
    """The newest `limit` gaps of each kind (of `kind` only, when given) after the first
    `offset` of that kind, newest first; a conversation with several kinds appears once per kind."""
    rules = _Rules(target=target, now=now or timezone.now())
    newest: dict[str, list[tuple[int, datetime, str]]] = {}
    for gap in sorted(_gap_candidates(qs, rules), key=lambda g: (g[1], g[0]), reverse=True):
        newest.setdefault(gap[2], []).append(gap)
    kinds = [kind] if kind else list(GAP_KINDS)
    return _gap_items([(pk, k) for k in kinds for pk, _, _ in newest.get(k, [])[offset:offset + limit]])


def _gap_items(chosen: list[tuple[int, str]]) -> list[dict[str, Any]]:
    """The gaps `chosen` ((conversation id, kind), in the order of GAP_KINDS) with what the
    list shows, newest first (a conversation's kinds in that order)."""
    details = {
        row["pk"]: row
        for row in _with_times(Conversation.objects.filter(pk__in={pk for pk, _ in chosen})).values(*GAP_FIELDS)
    }
    items: list[dict[str, Any]] = []
    for pk, kind in chosen:
        row = details[pk]
        items.append({
            "conversation": pk,
            "kind": kind,
            "description": GAP_KINDS[kind],
            "created_at": row["created_at"],
            "contact_name": row["contact__profile_name"] or "",
            "team": row["team__name"] or "",
            "requested_at": row["requested_at"],
            "answered_at": row["answered_at"],
            "wait_seconds": round(row["wait"], 1) if row["wait"] is not None else None,
        })
    items.sort(key=lambda item: (item["created_at"], item["conversation"]), reverse=True)
    return items


def compliance_evidence_rows(*, qs: QuerySet[Conversation], target: int, now: datetime | None = None,
                             limit: int = 2000) -> list[dict[str, Any]]:
    """The first `limit` conversations of `qs` by id with their escalation evidence, as
    dicts (the CSV evidence report reads them in chunks: `qs.filter(pk__gt=last)`)."""
    rules = _Rules(target=target, now=now or timezone.now())
    rows = (
        _with_times(qs)
        .annotate(valid=_valid_fallback(), empty=_empty_fallback())
        .annotate(
            gap_late=Case(When(rules.late & Q(valid=False), then=Value(True)), default=Value(False)),
            gap_unanswered=Case(When(rules.unanswered & Q(valid=False), then=Value(True)), default=Value(False)),
            gap_no_offer=Case(When(rules.no_offer, then=Value(True)), default=Value(False)),
        )
        .order_by("pk")
        .values(
            "pk", "created_at", "status", "team__name", "bot_session__bot__name",
            "escalation_ledger__human_offered_at", "requested_at", "escalation_ledger__handed_off_at",
            "answered_at", "wait", "valid", "empty", "gap_late", "gap_unanswered", "gap_no_offer",
        )
    )
    return [dict(row) for row in rows[:limit]]


def case_evidence(*, case: RemediationCase, now: datetime | None = None) -> dict[str, Any]:
    """The verdict for every conversation of the case's number since it opened (until it
    closed), with the checklist: kept on the case when it closes."""
    now = now or timezone.now()
    end = case.closed_at or now
    qs = compliance_conversations(user=None, number=case.number, start=case.opened_at, end=end)
    policy = number_policy(case.number)
    verdict = compliance_verdict(qs=qs, target=target_seconds(case.number, policy), now=now)
    with translation.override("en"):  # kept on the case: in English whoever closes it
        checklist = remediation_checklist(number=case.number, policy=policy, verdict=verdict)
    return {
        "from": case.opened_at.isoformat(),
        "to": end.isoformat(),
        "verdict": verdict,
        "checklist": checklist,
    }


def compliance_report(*, user: Any, number: WhatsAppNumber, period: Period, now: datetime | None = None,
                      gap_limit: int = GAP_LIST_LIMIT, gap_kind: str | None = None,
                      gap_page: int = 1) -> dict[str, Any]:
    """Everything the compliance page and API show for one number and period. The gap list
    holds the newest `gap_limit` gaps of each kind; with `gap_kind`, page `gap_page` of
    that kind's gaps (`gap_list` says which page of how many)."""
    if gap_kind is not None and gap_kind not in GAP_KINDS:
        raise ValueError(f"No such kind of gap: {gap_kind}")
    now = now or timezone.now()
    policy = number_policy(number)
    target = target_seconds(number, policy)
    qs = compliance_conversations(user=user, number=number, start=period.start, end=period.end)
    kinds = (gap_kind,) if gap_kind else tuple(GAP_KINDS)
    page = max(1, gap_page) if gap_kind else 1
    offset = (page - 1) * gap_limit
    if _gaps_in_one_scan(qs):
        counts = _verdict_counts(qs, _Rules(target=target, now=now), gap_limit=gap_limit, gap_offset=offset,
                                 gap_kinds=kinds)
        verdict = _verdict(counts, target)
        gaps = _gap_items([(pk, kind) for kind in kinds for pk in counts[f"newest_{kind}"] or ()])
    else:
        verdict = compliance_verdict(qs=qs, target=target, now=now)
        gaps = compliance_gaps(qs=qs, target=target, now=now, limit=gap_limit, offset=offset, kind=gap_kind)
    total = verdict["gaps"][gap_kind] if gap_kind else verdict["gap_total"]
    cases = remediation_cases(number=number)
    return {
        "number": number,
        "period": period,
        "policy": policy,
        "target_seconds": target,
        "verdict": verdict,
        "gaps": gaps,
        "gap_list": {"kind": gap_kind, "page": page, "pages": max(1, -(-total // gap_limit)) if gap_kind else 1,
                     "shown": len(gaps), "total": total},
        "health": number_health(number=number, period=period),
        "checklist": remediation_checklist(number=number, policy=policy, verdict=verdict),
        "cases": cases,
        "open_case": next((case for case in cases if case.state == RemediationCase.State.OPEN), None),
    }
