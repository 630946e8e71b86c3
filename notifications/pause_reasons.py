"""Why a campaign paused: stored in English as the pausing service wrote it (the API,
exports and outgoing webhooks keep it so), read by each person in their desk language.

A reason is a sentence of `PATTERNS` with its parameters filled in, or words someone typed
(an admin's or an API caller's own reason, shown as written). `pause_reason_translated`
recognises the sentence, translates it and fills the same parameters back in; parameters
that are catalogue entries themselves (a template status, WhatsApp error explanations) are
translated too."""

from __future__ import annotations

import re

from django.utils.translation import gettext, gettext_noop

# WhatsApp errors on a campaign's messages that stop the whole campaign (by code).
PAUSING_CODES = {
    "190": gettext_noop("The number's access token is invalid or expired"),
    "368": gettext_noop("The WhatsApp account is restricted"),
    "131031": gettext_noop("The WhatsApp business account is locked"),
    "132001": gettext_noop("The template does not exist in this language or is not approved"),
    "132015": gettext_noop("The template is paused for low quality"),
    "132016": gettext_noop("The template is disabled for low quality"),
}
TEMPLATE_STOPPED = gettext_noop("Template %(template)s is %(status)s.")
ACCOUNT_RESTRICTED = gettext_noop("The number's account is restricted (%(restriction)s).")
WHATSAPP_ERROR = gettext_noop("%(why)s (WhatsApp error %(code)s: %(said)s).")
QUALITY_RED = gettext_noop("The number's quality rating is red.")
QUALITY_TURNED_RED = gettext_noop("The number's quality rating turned red (FLAGGED).")
PAUSED_BY = gettext_noop("Paused by %(user)s.")
ACCOUNT_UPDATE = gettext_noop("Account update %(event)s")
# Template statuses as a pause reason names them (lower case).
STATUS_WORDS = (gettext_noop("paused"), gettext_noop("disabled"), gettext_noop("rejected"),
                gettext_noop("pending"), gettext_noop("pending_deletion"), gettext_noop("deleted"),
                gettext_noop("archived"), gettext_noop("limit_exceeded"), gettext_noop("in_appeal"),
                gettext_noop("draft"))

PATTERNS = (TEMPLATE_STOPPED, ACCOUNT_RESTRICTED, WHATSAPP_ERROR, QUALITY_RED, QUALITY_TURNED_RED, PAUSED_BY,
            ACCOUNT_UPDATE)
_PLACEHOLDER = re.compile(r"%\\\((\w+)\\\)s")
_MATCHERS = [(msgid, re.compile(_PLACEHOLDER.sub(r"(?P<\1>.+?)", re.escape(msgid)), re.S)) for msgid in PATTERNS]


def pause_reason_translated(reason: str) -> str:
    """`reason` in the active language (the reader's); anything not from `PATTERNS` as written."""
    for msgid, matcher in _MATCHERS:
        found = matcher.fullmatch(reason or "")
        if found:
            params = {key: gettext(value) if value else value for key, value in found.groupdict().items()}
            try:
                return gettext(msgid) % params
            except (KeyError, TypeError, ValueError):
                return reason
    return reason
