"""Roles as Django groups: `agent`, `supervisor` and `admin`, each with model permissions
for the admin site. The groups say what the admin site lets someone change; who sees and
does what on the desk, the API and the socket is `conversations.access`, from team
membership and supervision (and the `admin` group, which is everything).

`roles_ensure()` is idempotent; it runs after every migrate and from the demo loader.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission, User
from django.db.models import Q

from conversations.access import ADMIN_GROUP

AGENT = "agent"
SUPERVISOR = "supervisor"
ADMIN = ADMIN_GROUP

_AGENT_PERMS = [
    ("conversations", "view_conversation"),
    ("conversations", "view_contact"),
    ("conversations", "view_message"),
    ("conversations", "add_message"),
    ("agents", "view_team"),
    ("agents", "view_agentprofile"),
    ("agents", "view_cannedresponse"),
    ("agents", "add_cannedresponse"),
]
_SUPERVISOR_PERMS = [
    *_AGENT_PERMS,
    ("conversations", "change_conversation"),
    ("conversations", "view_conversationevent"),
    ("agents", "change_agentprofile"),
    ("agents", "change_team"),
    ("agents", "view_businesshours"),
    ("agents", "view_holiday"),
    ("agents", "view_teamoverflow"),
    ("agents", "view_slapolicy"),
    ("agents", "view_slabreach"),
    ("agents", "change_cannedresponse"),
    ("agents", "delete_cannedresponse"),
]
_ADMIN_APPS = ["conversations", "agents", "bots", "notifications", "auth", "authtoken"]


def _perms(pairs: list[tuple[str, str]]) -> list[Permission]:
    query = Q(pk__in=[])
    for app, codename in pairs:
        query |= Q(content_type__app_label=app, codename=codename)
    return list(Permission.objects.filter(query))


def roles_ensure() -> dict[str, Group]:
    """Create the three groups (if missing) and give each its permissions."""
    groups = {name: Group.objects.get_or_create(name=name)[0] for name in (AGENT, SUPERVISOR, ADMIN)}
    groups[AGENT].permissions.add(*_perms(_AGENT_PERMS))
    groups[SUPERVISOR].permissions.add(*_perms(_SUPERVISOR_PERMS))
    groups[ADMIN].permissions.add(*Permission.objects.filter(content_type__app_label__in=_ADMIN_APPS))
    return groups


def role_grant(*, user: User, role: str) -> None:
    """Put the user in the role's group (and, for supervisors and admins, let them use the
    admin site)."""
    group = roles_ensure()[role]
    user.groups.add(group)
    if role in (SUPERVISOR, ADMIN) and not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])


def roles_after_migrate(sender: Any, **kwargs: Any) -> None:
    roles_ensure()
