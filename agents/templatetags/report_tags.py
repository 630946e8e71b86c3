"""Template filters for the report pages: durations and percentages as people read them."""

from __future__ import annotations

from django import template
from django.utils.translation import gettext, gettext_noop

register = template.Library()


@register.filter
def duration(seconds) -> str:
    """`3725` → `1h 2m`; empty for no value."""
    if seconds is None or seconds == "":
        return "—"
    total = max(0, int(round(float(seconds))))
    if total < 60:
        return f"{total}s"
    minutes = total // 60
    if minutes < 60:
        return f"{minutes}m {total % 60}s" if minutes < 10 else f"{minutes}m"
    hours = minutes // 60
    if hours < 48:
        return f"{hours}h {minutes % 60}m"
    return f"{hours // 24}d {hours % 24}h"


@register.filter
def percent(value) -> str:
    return "—" if value is None else f"{float(value):.1f}%"


# The compliance gap kinds, named in the desk user's language.
GAP_LABELS = {
    "unanswered": gettext_noop("Unanswered"),
    "late": gettext_noop("Late"),
    "no_offer": gettext_noop("No offer"),
    "no_fallback_contact": gettext_noop("No fallback contact"),
}


@register.filter
def label(code) -> str:
    """`no_fallback_contact` → `No fallback contact` (translated when it is a known gap kind)."""
    if code in GAP_LABELS:
        return gettext(GAP_LABELS[code])
    return str(code or "").replace("_", " ").capitalize()
