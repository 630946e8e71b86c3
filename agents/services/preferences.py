"""A desk user's own preferences: the desk's language and their time zone."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext

from agents.models import AgentProfile
from agents.models.profiles import validate_time_zone
from agents.services.presence import profile_for
from config.refusals import Refused


class PreferencesRefused(Refused):
    """A language the desk does not speak or an unknown time zone (`code`: `invalid`)."""


def agent_preferences_set(*, user: User, language: str | None = None, time_zone: str | None = None) -> AgentProfile:
    """Set the user's desk language (one of `LANGUAGES`, "" for the browser's) and time zone
    (an IANA name, "" for the `TIME_ZONE` setting); None leaves a preference as it is."""
    fields: list[str] = []
    profile_for(user)
    with transaction.atomic():
        profile = AgentProfile.objects.select_for_update().get(user_id=user.pk)
        if language is not None:
            if language and language not in dict(settings.LANGUAGES):
                codes = ", ".join(code for code, _ in settings.LANGUAGES)
                raise PreferencesRefused("invalid", gettext("language: the desk speaks %(codes)s (or empty for the browser's).")
                                         % {"codes": codes})
            profile.ui_language = language
            fields.append("ui_language")
        if time_zone is not None:
            try:
                validate_time_zone(time_zone)
            except ValidationError as exc:
                raise PreferencesRefused("invalid", gettext("timezone: %(problem)s") % {"problem": exc.messages[0]}) from None
            profile.timezone = time_zone
            fields.append("timezone")
        if fields:
            profile.save(update_fields=fields)
    return profile
