"""Who may see and do what with conversations and contacts: the one owner of the rule that
pages, the REST API, the desk's reads, the services and the desk socket all apply.

Three layers, each built on the one before:

1. `Roles`: what a user is, read once (`roles_for`: admin?, teams they are a member of,
   teams they supervise). A frozen value: a request or a socket computes it once and
   passes it on; a socket recomputes it on every re-check.
2. Pure rules over `Roles` and a `ConversationShape` (team, assignee, active participants,
   status, hold), no queries: `may_see`, `oversees`, `refusal` / `may_act` (who may do an
   action) and `allowed_actions` (who may, and the state allows: the list the desk shows).
3. Queries built from the same rule: `conversations_visible_to`, `contacts_visible_to`,
   `conversation_for_user` / `contact_for_user` (404 when out of sight), and the desk
   socket's re-check (`socket_access`: user, session and roles in one read).

The rule (README, design.md): admins (superusers and the `admin` group) see and do
everything. Supervisors see the conversations of the teams they supervise and those
without a team, and oversee them: every desk action, assigning to others, take-over and
silent watch. Agents see the conversations of their teams, those assigned to them and
those where they take part; on their teams' conversations they may take one nobody holds,
and only its assignee (or an overseer) transfers, resolves, holds or hands it back; a
resolved one any member reopens. Replying to the customer (text or template) in a
conversation assigned to someone else needs a part in it (assignee, participant or
watcher) or oversight; internal notes need only sight; whispers need a part or oversight.
Being in the `supervisor` group alone supervises no team: the groups say what the admin
site lets someone change (agents.roles), teams say what they see.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeGuard

from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db.models import BooleanField, Exists, OuterRef, Q, QuerySet, Value
from django.http import Http404
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.module_loading import import_string
from django.utils.translation import gettext_noop

from agents.models import Team
from conversations.models import Contact, Conversation, Participant

Status = Conversation.Status
OPEN = frozenset({Status.BOT, Status.QUEUED, Status.ASSIGNED})
OWNER = Participant.Role.OWNER
PARTICIPANT = Participant.Role.PARTICIPANT
WATCHER = Participant.Role.WATCHER
# The group that makes a user an admin of the desk (agents.roles sets its permissions up).
ADMIN_GROUP = "admin"


# --- 1. roles ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Roles:
    """What a user is, for every access decision. `NOBODY` for anonymous and inactive users."""

    user_id: int | None
    admin: bool = False
    member_of: frozenset[int] = frozenset()
    supervises: frozenset[int] = frozenset()

    @property
    def supervisor(self) -> bool:
        """Admins, and supervisors of at least one team."""
        return self.admin or bool(self.supervises)

    @property
    def teams(self) -> frozenset[int]:
        """Teams worked in as member or supervisor (their queues are the user's)."""
        return self.member_of | self.supervises

    def works_in(self, team_id: int | None) -> bool:
        """May hold a conversation of this team (members and supervisors; any user for
        a conversation without a team)."""
        return team_id is None or team_id in self.teams


NOBODY = Roles(user_id=None)


def _signed_in(user: object) -> TypeGuard[User]:
    return user is not None and bool(getattr(user, "is_authenticated", False)) and bool(getattr(user, "is_active", False))


def user_is_admin(user: User | AnonymousUser | None) -> bool:
    """Superusers and members of the `admin` group (remembered on the user object)."""
    if not _signed_in(user):
        return False
    if user.is_superuser:
        return True
    cached = getattr(user, "_handoff_is_admin", None)
    if cached is None:
        cached = user.groups.filter(name=ADMIN_GROUP).exists()
        setattr(user, "_handoff_is_admin", cached)  # noqa: B010 - remembered on the object
    return bool(cached)


def roles_for(user: User | AnonymousUser | None) -> Roles:
    """The user's roles, read now: one query for the teams (and one for the `admin` group,
    unless a superuser or already known)."""
    if not _signed_in(user):
        return NOBODY
    flag = BooleanField()
    member = Team.members.through.objects.filter(user_id=user.pk).values_list("team_id", Value(True, output_field=flag))
    supervised = Team.supervisors.through.objects.filter(user_id=user.pk).values_list(
        "team_id", Value(False, output_field=flag)
    )
    rows = list(member.union(supervised, all=True))
    return Roles(
        user_id=user.pk,
        admin=user_is_admin(user),
        member_of=frozenset(team for team, is_member in rows if is_member),
        supervises=frozenset(team for team, is_member in rows if not is_member),
    )


def request_roles(request: Any) -> Roles:
    """The signed-in user's roles, read once per request (kept on the underlying
    `HttpRequest`, which a DRF `Request` wraps)."""
    http = getattr(request, "_request", request)
    roles = getattr(http, "_handoff_roles", None)
    if roles is None:
        roles = roles_for(request.user)
        http._handoff_roles = roles
    return roles


def _roles(who: Any) -> Roles:
    return who if isinstance(who, Roles) else roles_for(who)


def desk_team_ids(roles: Roles) -> list[int]:
    """Teams whose queues the desk follows: worked in, or every team for admins."""
    if roles.admin:
        return list(Team.objects.order_by("pk").values_list("pk", flat=True))
    return sorted(roles.teams)


def supervised_team_ids(roles: Roles) -> list[int]:
    """Teams the monitor shows: supervised, or every team for admins."""
    if roles.admin:
        return list(Team.objects.order_by("pk").values_list("pk", flat=True))
    return sorted(roles.supervises)


# --- 2. pure rules -------------------------------------------------------------------------
@dataclass(frozen=True)
class ConversationShape:
    """What the rules look at in a conversation. `participants`: active participations,
    user id -> role (owner, participant, watcher)."""

    team_id: int | None
    assignee_id: int | None = None
    participants: Mapping[int, str] = field(default_factory=dict)
    status: str = Status.QUEUED
    on_hold: bool = False


def may_see(roles: Roles, shape: ConversationShape) -> bool:
    if roles.user_id is None:
        return False
    return (
        roles.admin
        or shape.assignee_id == roles.user_id
        or roles.user_id in shape.participants
        or (shape.team_id is not None and shape.team_id in roles.teams)
        or (shape.team_id is None and bool(roles.supervises))
    )


def oversees(roles: Roles, shape: ConversationShape) -> bool:
    """Admins; supervisors of the conversation's team, and every supervisor for one
    without a team (they see those to route them)."""
    if roles.user_id is None:
        return False
    if roles.admin:
        return True
    return shape.team_id in roles.supervises if shape.team_id is not None else bool(roles.supervises)


# Desk actions: the REST endpoints under /api/v1/conversations/<id>/ plus `reply` (text or
# template to the customer) and `note` (internal) through …/messages/.
ACTIONS = (
    "reply", "note", "whisper", "assign", "transfer", "hold", "unhold", "handback", "resolve", "reopen",
    "join", "leave", "takeover", "watch",
)
# The statuses each action needs (the services refuse others with `invalid_status`).
ACTION_STATUSES: dict[str, frozenset[str]] = {
    "assign": OPEN,
    "transfer": frozenset({Status.QUEUED, Status.ASSIGNED}),
    "hold": frozenset({Status.ASSIGNED}),
    "unhold": frozenset({Status.ASSIGNED}),
    "handback": frozenset({Status.QUEUED, Status.ASSIGNED}),
    "resolve": OPEN,
    "reopen": frozenset({Status.RESOLVED}),
    "join": OPEN,
    "takeover": frozenset({Status.QUEUED, Status.ASSIGNED}),
    "watch": OPEN,
}
_HOLDER_ACTIONS = {"assign", "transfer", "hold", "unhold", "handback", "resolve"}
NOT_VISIBLE = gettext_noop("You may not see this conversation.")
NOT_IN_TEAM = gettext_noop("This conversation belongs to a team you are not in.")
NOT_HOLDER = gettext_noop("Only the assignee, a supervisor or an admin may do this.")
NOT_OVERSEER = gettext_noop("Only the team's supervisors and admins may do this.")
NOT_SENDER = gettext_noop("This conversation is assigned to someone else: join it or ask its team's supervisor.")
NOT_IN_CONFERENCE = gettext_noop("Only the people in this conversation, its team's supervisors and admins may whisper.")
NOT_ASSIGNER = gettext_noop("Only a supervisor or an admin may assign to somebody else.")


def refusal(roles: Roles, shape: ConversationShape, action: str) -> str | None:
    """Why `roles` may not do `action` on the conversation, or None when they may. Only
    who, not state: the statuses are `ACTION_STATUSES`, checked by the services under
    the row lock. `leave` is anyone's who takes part (its own refusals are about state)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if action == "leave":
        return None
    if not may_see(roles, shape):
        return NOT_VISIBLE
    if oversees(roles, shape):
        return None
    mine = shape.assignee_id == roles.user_id
    takes_part = mine or roles.user_id in shape.participants
    in_team = shape.team_id is not None and shape.team_id in roles.member_of
    if action in ("note", "join"):
        return None
    if action == "reply":
        return None if shape.assignee_id is None or takes_part else NOT_SENDER
    if action == "whisper":
        return None if takes_part else NOT_IN_CONFERENCE
    if action in ("takeover", "watch"):
        return NOT_OVERSEER
    if not in_team and not mine:
        return NOT_IN_TEAM
    if action == "reopen" or shape.assignee_id is None or mine:
        return None
    return NOT_HOLDER


def may_act(roles: Roles, shape: ConversationShape, action: str) -> bool:
    return refusal(roles, shape, action) is None


def assign_refusal(roles: Roles, shape: ConversationShape, target: Roles) -> str | None:
    """Why `roles` may not give the conversation to `target` (themselves when taking it),
    or None: only overseers give to somebody else, and the holder rule of `refusal`
    applies. Whether the target may hold it is `may_give_to`."""
    if target.user_id != roles.user_id and may_see(roles, shape) and not oversees(roles, shape):
        return NOT_ASSIGNER
    return refusal(roles, shape, "assign")


def may_give_to(roles: Roles, team_id: int | None, target: Roles) -> bool:
    """Whether `roles` may give a conversation of `team_id` to `target` (assign or
    transfer): members and supervisors of its team hold it; admins give it to anyone."""
    return roles.admin or target.works_in(team_id)


def allowed_actions(roles: Roles, shape: ConversationShape) -> list[str]:
    """The actions the desk offers: who may (`refusal`) and what the state allows
    (`ACTION_STATUSES`, hold for `hold`/`unhold`), minus those that would change nothing
    (taking what you hold, joining what you are in, leaving what you are not in)."""
    if not may_see(roles, shape):
        return []
    mine = shape.assignee_id == roles.user_id
    role = shape.participants.get(roles.user_id) if roles.user_id is not None else None
    allowed = []
    for action in ACTIONS:
        statuses = ACTION_STATUSES.get(action)
        if statuses is not None and shape.status not in statuses:
            continue
        if refusal(roles, shape, action) is not None:
            continue
        if action == "hold" and shape.on_hold or action == "unhold" and not shape.on_hold:
            continue
        if action == "assign" and mine and shape.status == Status.ASSIGNED:
            continue
        if action in ("join", "watch", "takeover") and mine:
            continue
        if action == "join" and role in (OWNER, PARTICIPANT):
            continue
        if action == "watch" and role is not None:
            continue
        if action == "leave" and (mine or role not in (PARTICIPANT, WATCHER)):
            continue
        allowed.append(action)
    return allowed


# --- shapes from the database ------------------------------------------------------------
def conversation_shape(conversation: Conversation, participants: Iterable[Participant] | None = None) -> ConversationShape:
    """The conversation as the rules see it; its active participations are read unless
    given (or prefetched as `active_participants`)."""
    if participants is None:
        participants = getattr(conversation, "active_participants", None)
    if participants is None:
        pairs = dict(
            Participant.objects.filter(conversation_id=conversation.pk, left_at__isnull=True).values_list("user_id", "role")
        )
    else:
        pairs = {p.user_id: p.role for p in participants if p.left_at is None}
    return ConversationShape(
        team_id=conversation.team_id,
        assignee_id=conversation.assignee_id,
        participants=pairs,
        status=conversation.status,
        on_hold=conversation.on_hold,
    )


def require(user: User | AnonymousUser | None, conversation: Conversation, action: str, *, target: Roles | None = None) -> Roles:
    """`PermissionDenied` (with the rule's sentence) unless `user` may do `action` (for
    `assign`, give it to `target` when that is somebody else: `assign_refusal`); returns
    the user's roles, for the caller's further checks."""
    roles = roles_for(user)
    if roles.user_id is None:
        raise PermissionDenied(gettext_noop("Sign in first."))
    shape = conversation_shape(conversation)
    reason = assign_refusal(roles, shape, target) if target is not None else refusal(roles, shape, action)
    if reason is not None:
        raise PermissionDenied(reason)
    return roles


def user_may(user: User | AnonymousUser | None, conversation: Conversation, action: str) -> bool:
    """`may_act` for a user and a conversation read from the database."""
    return may_act(roles_for(user), conversation_shape(conversation), action)



# --- 3. querysets ---------------------------------------------------------------------------
def conversations_visible_to(who: Any) -> QuerySet[Conversation]:
    """Every conversation a user (or `Roles`) may see: `may_see` as a filter, without joins
    that could duplicate rows (participations are matched through a subquery)."""
    roles = _roles(who)
    if roles.user_id is None:
        return Conversation.objects.none()
    if roles.admin:
        return Conversation.objects.all()
    active = Participant.objects.filter(user_id=roles.user_id, left_at__isnull=True).values("conversation_id")
    rule = Q(assignee_id=roles.user_id) | Q(pk__in=active)
    if roles.teams:
        rule |= Q(team_id__in=sorted(roles.teams))
    if roles.supervises:
        rule |= Q(team__isnull=True)
    return Conversation.objects.filter(rule)


def contacts_visible_to(who: Any, *, q: str = "") -> QuerySet[Contact]:
    """Contacts a user may see, newest first: admins all; everyone else the contacts of the
    conversations they may see (checked with EXISTS, so a contact with many conversations
    is one row) and the contacts they created themselves. `q` searches name, WhatsApp id
    and business-scoped user id."""
    roles = _roles(who)
    if roles.user_id is None:
        return Contact.objects.none()
    qs = Contact.objects.select_related("number").order_by("-created_at", "-id")
    if not roles.admin:
        seen = Exists(conversations_visible_to(roles).filter(contact_id=OuterRef("pk")))
        qs = qs.filter(seen | Q(created_by_id=roles.user_id))
    q = q.strip()
    if q:
        digits = q.lstrip("+").replace(" ", "")
        qs = qs.filter(Q(profile_name__icontains=q) | Q(wa_id__icontains=digits or q) | Q(user_id__icontains=q))
    return qs


def _id(value: int | str) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def conversation_for_user(who: Any, conversation_id: int | str) -> Conversation:
    """The conversation, if it exists and the user may see it; `Http404` otherwise (whether
    it exists is never revealed)."""
    pk = _id(conversation_id)
    conversation = (
        conversations_visible_to(who).select_related("contact", "number", "team", "assignee").filter(pk=pk).first()
        if pk is not None
        else None
    )
    if conversation is None:
        raise Http404(gettext_noop("No such conversation."))
    return conversation


def contact_for_user(who: Any, contact_id: int | str) -> Contact:
    """The contact, if it exists and the user may see it; `Http404` otherwise."""
    pk = _id(contact_id)
    contact = contacts_visible_to(who).filter(pk=pk).first() if pk is not None else None
    if contact is None:
        raise Http404(gettext_noop("No such contact."))
    return contact


def visible_conversation_ids(roles: Roles, conversation_ids: Iterable[int]) -> set[int]:
    """Which of these conversations the roles may see, in one query."""
    ids = sorted(set(conversation_ids))
    if not ids:
        return set()
    return set(conversations_visible_to(roles).filter(pk__in=ids).values_list("pk", flat=True))


# --- the desk socket ----------------------------------------------------------------------
@dataclass(frozen=True)
class SocketAccess:
    """What an open desk socket may do now: its (active) user, their roles, the teams whose
    groups it joins, and when its session expires (None when the engine does not say)."""

    user: User
    name: str
    roles: Roles
    teams: tuple[int, ...]
    session_expires: datetime | None


def _session(session_key: str) -> tuple[dict[str, Any], datetime | None]:
    """The session's data ({} when it is gone or expired) and, for engines that keep
    sessions in the database, when it expires."""
    engine = import_string(settings.SESSION_ENGINE + ".SessionStore")
    store = engine(session_key=session_key)
    model_class = getattr(engine, "get_model_class", None)
    if model_class is None:
        return store.load(), None
    row = model_class().objects.filter(session_key=session_key, expire_date__gt=timezone.now()).first()
    if row is None:
        return {}, None
    return store.decode(row.session_data), row.expire_date


def session_expiry(user: User, session_key: str | None) -> tuple[bool, datetime | None]:
    """Whether the session still exists and still belongs to `user` with the same password
    hash (what `django.contrib.auth.get_user` checks), and when it expires if known."""
    if not session_key:
        return False, None
    data, expires = _session(session_key)
    if str(data.get(SESSION_KEY, "")) != str(user.pk):
        return False, None
    stored_hash = data.get(HASH_SESSION_KEY, "")
    valid = bool(stored_hash) and constant_time_compare(stored_hash, user.get_session_auth_hash())
    return valid, expires if valid else None


def socket_access(user_id: int, session_key: str | None) -> SocketAccess | None:
    """The desk socket's check on connect, on every frame, periodically and when told its
    access changed: None when the user or the session is no longer valid."""
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return None
    valid, expires = session_expiry(user, session_key)
    if not valid:
        return None
    roles = roles_for(user)
    return SocketAccess(
        user=user,
        name=user.get_full_name() or user.get_username(),
        roles=roles,
        teams=tuple(desk_team_ids(roles)),
        session_expires=expires,
    )


def event_may_reach(roles: Roles, event: Mapping[str, Any]) -> bool | None:
    """Whether a desk event may be forwarded to a socket with these roles: True or False
    when the event says enough, None when it names a conversation only by id (the caller
    looks its visibility up). Agents only join groups that carry what they may see; the
    `supervisors` group carries every conversation, so for supervisors who are not admins
    the event's conversation (team, assignee, participants) or team decides."""
    if roles.admin or not roles.supervisor:
        return True
    conversation = event.get("conversation")
    if isinstance(conversation, dict):
        cid = conversation.get("id")
        people = [p for p in conversation.get("participants") or () if isinstance(p, dict)]
        shape = ConversationShape(
            team_id=conversation.get("team"),
            assignee_id=conversation.get("assignee"),
            participants={p["id"]: str(p.get("role", "")) for p in people if isinstance(p.get("id"), int)},
        )
        if isinstance(cid, int) and may_see(roles, shape):
            return True
        conversation = cid
    if isinstance(conversation, int):
        return None
    team = event.get("team")
    if isinstance(team, dict):
        team = team.get("id")
    return not isinstance(team, int) or team in roles.teams
