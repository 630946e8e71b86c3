"""Telling open desk sockets at once when their user's access changes.

The check itself is `conversations.access.socket_access` (user, session, roles), which the
desk socket runs on connect, on every client frame, periodically
(`DESK_WS_REVALIDATE_SECONDS`, the safety net) and whenever it is told that its user's
access changed. It is told through the user's own group, ``agent.<id>``, with events that
are consumed by the socket and never forwarded to the browser:

- ``access.changed``: re-check now. Sent when the user is deactivated or deleted, their
  password, superuser flag or groups change, or they gain or lose a team as member or
  supervisor (either side of the relation, the admin's form included, or the team is
  deleted). The socket closes (4403) when the user or the session is no longer valid,
  otherwise it joins the groups of teams gained, leaves the ones lost and drops the
  conversation subscriptions the user may no longer see.
- ``session.revoked`` with a ``session_key``: the socket opened with that session closes.
  Sent when a session row is deleted (logout, flush, `clearsessions`, the admin) and on
  logout for session engines without rows.

A session's natural expiry needs no event: the socket re-checks at the expiry it read.
(With a receiver connected, deleting sessions loads the rows first; desk sessions are few,
one or two per person, so `clearsessions` stays cheap.)

These receivers are infrastructure (like cache invalidation): they change no data and only
publish after the write commits (`broadcast_on_commit`), so a rolled-back change closes
nothing. Changes that bypass model signals (`QuerySet.update`, raw SQL) are caught by the
periodic check.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete, pre_save
from django.utils import timezone
from django.utils.module_loading import import_string

from agents.models import Team
from config.realtime import agent_group, broadcast_on_commit

ACCESS_CHANGED = "access.changed"
SESSION_REVOKED = "session.revoked"

# User fields whose change can end a session or change what the user may see.
WATCHED_USER_FIELDS = ("is_active", "password", "is_superuser")


# --- telling the sockets ---------------------------------------------------------------
def desk_access_changed(*, user_ids: Iterable[int], reason: str) -> None:
    """After commit, make every open desk socket of these users re-check its access."""
    ids = sorted({int(pk) for pk in user_ids if pk is not None})
    if ids:
        broadcast_on_commit([agent_group(pk) for pk in ids], {"type": ACCESS_CHANGED, "reason": reason})


def desk_session_revoked(*, user_id: int, session_key: str) -> None:
    """After commit, close the user's desk sockets opened with this session."""
    if session_key:
        broadcast_on_commit([agent_group(user_id)], {"type": SESSION_REVOKED, "session_key": session_key})


# --- receivers ---------------------------------------------------------------------------
def _user_pre_save(sender, instance, update_fields=None, raw=False, **kwargs) -> None:
    instance._desk_watched_before = None
    if raw or instance.pk is None:
        return
    if update_fields is not None and not set(update_fields) & set(WATCHED_USER_FIELDS):
        return  # e.g. the last_login update on every sign-in
    instance._desk_watched_before = sender.objects.filter(pk=instance.pk).values(*WATCHED_USER_FIELDS).first()


def _user_post_save(sender, instance, created=False, raw=False, **kwargs) -> None:
    before = getattr(instance, "_desk_watched_before", None)
    instance._desk_watched_before = None
    if raw or created or before is None:
        return
    changed = [name for name in WATCHED_USER_FIELDS if before[name] != getattr(instance, name)]
    if changed:
        desk_access_changed(user_ids=[instance.pk], reason=",".join(changed))


def _user_deleted(sender, instance, **kwargs) -> None:
    desk_access_changed(user_ids=[instance.pk], reason="deleted")


def _relation_changed(sender, instance, action, pk_set=None, **kwargs) -> None:
    """A user<->team (member or supervisor) or user<->group relation changed, from either
    side: `team.members.remove(user)` names the users in `pk_set`, `user.teams.remove(team)`
    is the user itself."""
    is_user = isinstance(instance, get_user_model())
    if action == "pre_clear":
        # post_clear carries no ids: remember who is about to be removed.
        if is_user:
            instance._desk_cleared_users = [instance.pk]
        else:
            field = _relation_field(sender, instance)
            instance._desk_cleared_users = list(field.values_list("pk", flat=True)) if field is not None else []
        return
    if action == "post_clear":
        users = getattr(instance, "_desk_cleared_users", [])
        instance._desk_cleared_users = []
    elif action in ("post_add", "post_remove"):
        users = [instance.pk] if is_user else list(pk_set or ())
    else:
        return
    desk_access_changed(user_ids=users, reason="teams" if sender is not get_user_model().groups.through else "groups")


def _relation_field(through, instance) -> Any | None:
    """The related manager on a team or group that holds users, for the given through model."""
    if through is Team.members.through:
        return instance.members
    if through is Team.supervisors.through:
        return instance.supervisors
    if through is get_user_model().groups.through:
        return instance.user_set
    return None


def _team_pre_delete(sender, instance, **kwargs) -> None:
    users = set(instance.members.values_list("pk", flat=True)) | set(instance.supervisors.values_list("pk", flat=True))
    desk_access_changed(user_ids=users, reason="teams")


def _session_deleted(sender, instance, **kwargs) -> None:
    if instance.expire_date <= timezone.now():
        return  # an expired session's sockets closed at its expiry (`clearsessions`)
    try:
        user_id = instance.get_decoded().get(SESSION_KEY)
    except Exception:  # undecodable data: the session had no user the desk knew
        return
    if user_id is not None and str(user_id).isdigit():
        desk_session_revoked(user_id=int(user_id), session_key=instance.session_key)


def _logged_out(sender, request=None, user=None, **kwargs) -> None:
    """Logging out ends the desk sockets opened with that session, in every process (also
    for session engines without database rows)."""
    if user is None:
        return
    session = getattr(request, "session", None)
    key = getattr(session, "session_key", None) or ""
    if key:
        desk_session_revoked(user_id=user.pk, session_key=key)
    else:
        broadcast_on_commit([agent_group(user.pk)], {"type": SESSION_REVOKED, "session_key": ""})


def revocation_signals_connect() -> None:
    """Connect the receivers (from `ConversationsConfig.ready`)."""
    user_model = get_user_model()
    pre_save.connect(_user_pre_save, sender=user_model, dispatch_uid="desk-revocation-user-pre-save")
    post_save.connect(_user_post_save, sender=user_model, dispatch_uid="desk-revocation-user-post-save")
    post_delete.connect(_user_deleted, sender=user_model, dispatch_uid="desk-revocation-user-deleted")
    for through, uid in (
        (Team.members.through, "members"),
        (Team.supervisors.through, "supervisors"),
        (user_model.groups.through, "groups"),
    ):
        m2m_changed.connect(_relation_changed, sender=through, dispatch_uid=f"desk-revocation-{uid}")
    pre_delete.connect(_team_pre_delete, sender=Team, dispatch_uid="desk-revocation-team-deleted")
    engine = import_string(settings.SESSION_ENGINE + ".SessionStore")
    if hasattr(engine, "get_model_class"):  # engines that keep sessions as rows
        post_delete.connect(
            _session_deleted, sender=engine.get_model_class(), dispatch_uid="desk-revocation-session-deleted"
        )
    user_logged_out.connect(_logged_out, dispatch_uid="desk-socket-session-revoked")
