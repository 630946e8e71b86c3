"""Canned responses: which ones a user may use and manage, their writes, and rendering
their variables for one conversation.

Who may manage what: an agent manages their own personal responses; a supervisor also
manages their teams' responses; admins manage every response, global ones included.
Everyone uses the global ones, their teams' and their own.
"""

from __future__ import annotations

import re
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils.translation import gettext

from agents.models import CannedResponse, Team
from conversations.access import Roles, roles_for

VARIABLE = re.compile(r"\{\{\s*([a-z_]+)\.([a-z_]+)\s*\}\}")


def canned_responses_for(user: User, *, query: str = "") -> QuerySet[CannedResponse]:
    """The responses `user` may insert: global, their teams' (as member or supervisor) and
    their own; `query` matches the start of a shortcut or any part of the title."""
    teams = Team.objects.filter(Q(members=user) | Q(supervisors=user)).values("pk")
    qs = CannedResponse.objects.filter(
        Q(scope=CannedResponse.Scope.GLOBAL)
        | Q(scope=CannedResponse.Scope.TEAM, team__in=teams)
        | Q(scope=CannedResponse.Scope.PERSONAL, owner=user)
    ).select_related("team", "owner")
    query = query.strip().lstrip("/")
    if query:
        qs = qs.filter(Q(shortcut__istartswith=query) | Q(title__icontains=query))
    return qs.order_by("shortcut", "scope", "id")


def canned_response_may_manage(user: User, response: CannedResponse, *, roles: Roles | None = None) -> bool:
    """Whether `user` (whose `roles` the caller may pass, read once) may change `response`."""
    roles = roles or roles_for(user)
    if roles.admin:
        return True
    if response.scope == CannedResponse.Scope.PERSONAL:
        return roles.user_id is not None and response.owner_id == roles.user_id
    if response.scope == CannedResponse.Scope.TEAM:
        return response.team_id in roles.supervises
    return False


def _place(*, actor: User, scope: str, team: Team | None) -> tuple[Team | None, Any]:
    """Check `actor` may own a response of `scope`; return its (team, owner)."""
    if scope == CannedResponse.Scope.PERSONAL:
        return None, actor
    if scope == CannedResponse.Scope.TEAM:
        if team is None:
            raise ValidationError({"team": gettext("A team response needs a team.")})
        roles = roles_for(actor)
        if not (roles.admin or team.pk in roles.supervises):
            raise PermissionDenied("Only the team's supervisors manage its responses.")
        return team, None
    if scope == CannedResponse.Scope.GLOBAL:
        if not roles_for(actor).admin:
            raise PermissionDenied("Only admins manage responses for everyone.")
        return None, None
    raise ValidationError({"scope": gettext("Unknown scope %(scope)s.") % {"scope": repr(scope)}})


def _save(response: CannedResponse, update_fields: list[str] | None = None) -> CannedResponse:
    response.full_clean(exclude=["team", "owner", "created_by"], validate_constraints=False)
    try:
        with transaction.atomic():
            response.save(update_fields=update_fields)
    except IntegrityError:
        raise ValidationError({"shortcut": gettext("/%(shortcut)s is already taken here.") % {"shortcut": response.shortcut}}) from None
    return response


def canned_response_create(
    *,
    actor: User,
    shortcut: str,
    title: str,
    body: str,
    scope: str = CannedResponse.Scope.PERSONAL,
    team: Team | None = None,
) -> CannedResponse:
    """Create a response in `scope` (personal by default). Raises `PermissionDenied` when
    `actor` may not manage that scope and `ValidationError` for a taken shortcut."""
    team, owner = _place(actor=actor, scope=scope, team=team)
    response = CannedResponse(
        scope=scope, team=team, owner=owner, shortcut=shortcut.strip().lstrip("/"), title=title.strip(),
        body=body, created_by=actor,
    )
    return _save(response)


def canned_response_update(*, actor: User, response: CannedResponse, **changes: Any) -> CannedResponse:
    """Change `shortcut`, `title` or `body` of a response `actor` may manage."""
    if not canned_response_may_manage(actor, response):
        raise PermissionDenied("You may not change this response.")
    allowed = {"shortcut", "title", "body"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationError(dict.fromkeys(unknown, gettext("Cannot be changed.")))
    if "shortcut" in changes:
        changes["shortcut"] = str(changes["shortcut"]).strip().lstrip("/")
    for name, value in changes.items():
        setattr(response, name, value)
    return _save(response, update_fields=[*changes, "updated_at"])


def canned_response_delete(*, actor: User, response: CannedResponse) -> None:
    if not canned_response_may_manage(actor, response):
        raise PermissionDenied("You may not delete this response.")
    response.delete()


def _display_name(user: User | None) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()


def canned_variables(*, conversation: Any = None, agent: User | None = None) -> dict[tuple[str, str], str]:
    contact = getattr(conversation, "contact", None)
    name = (contact.profile_name if contact else "") or ""
    return {
        ("contact", "first_name"): name.split(" ")[0] if name else "",
        ("contact", "name"): name,
        ("agent", "name"): _display_name(agent),
        ("agent", "first_name"): (getattr(agent, "first_name", "") or _display_name(agent)) if agent else "",
    }


def canned_render(*, body: str, conversation: Any = None, agent: User | None = None) -> str:
    """Fill `{{contact.first_name}}`, `{{contact.name}}`, `{{agent.name}}` and
    `{{agent.first_name}}`; unknown variables are left as written so the agent sees them."""
    values = canned_variables(conversation=conversation, agent=agent)

    def fill(match: re.Match[str]) -> str:
        key = (match.group(1), match.group(2))
        return values[key] if key in values else match.group(0)

    return VARIABLE.sub(fill, body)
