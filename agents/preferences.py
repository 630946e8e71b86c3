"""Each desk user's language and time zone, activated for every request they make.

`LocaleMiddleware` (before this one) picks the language from the browser; a language chosen
in the agent's profile (`AgentProfile.ui_language`) wins over it. The profile's time zone
(`AgentProfile.timezone`, else the `TIME_ZONE` setting) is activated, so every date and
time the templates render is in the agent's zone; the desk's scripts read it from the
page's `desk-config` and format times in it too. Customer texts never follow these: they
are sent in the customer's language (conversations.languages.speaking_to).
"""

from __future__ import annotations

import zoneinfo
from inspect import iscoroutinefunction

from django.utils import timezone, translation
from django.utils.decorators import sync_and_async_middleware

from agents.models import AgentProfile


def _activate(request, preferences: tuple[str, str] | None) -> None:
    language, zone = preferences or ("", "")
    if language:
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()
    if zone:
        try:
            timezone.activate(zoneinfo.ZoneInfo(zone))
            return
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
    timezone.deactivate()


@sync_and_async_middleware
def agent_preferences_middleware(get_response):
    """Activates the signed-in user's desk language and time zone (see the module docstring)."""
    if iscoroutinefunction(get_response):

        async def middleware(request):
            user = await request.auser()
            preferences = None
            if user.is_authenticated:
                preferences = await AgentProfile.objects.filter(user_id=user.pk).values_list(
                    "ui_language", "timezone"
                ).afirst()
            _activate(request, preferences)
            try:
                return await get_response(request)
            finally:
                timezone.deactivate()

    else:

        def middleware(request):  # type: ignore[misc]
            user = request.user
            preferences = None
            if user.is_authenticated:
                preferences = (
                    AgentProfile.objects.filter(user_id=user.pk).values_list("ui_language", "timezone").first()
                )
            _activate(request, preferences)
            try:
                return get_response(request)
            finally:
                timezone.deactivate()

    return middleware
