"""Validation of the fallback contact a policy offers when no person is available.

WhatsApp's policy counts a phone number, an email address, a web support form or an
in-store visit as an escalation path; a homepage, a generic help centre or FAQ, an app
store page or another social network or messenger does not. Each function raises
`ValidationError` with a message that says why.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator

# Hosts (and their subdomains) that are social networks, messengers or app stores.
REFUSED_HOSTS: dict[str, str] = {
    "facebook.com": "a social network",
    "fb.com": "a social network",
    "instagram.com": "a social network",
    "twitter.com": "a social network",
    "x.com": "a social network",
    "tiktok.com": "a social network",
    "linkedin.com": "a social network",
    "youtube.com": "a social network",
    "threads.net": "a social network",
    "pinterest.com": "a social network",
    "snapchat.com": "a social network",
    "reddit.com": "a social network",
    "m.me": "a messenger",
    "messenger.com": "a messenger",
    "wa.me": "a messenger",
    "whatsapp.com": "a messenger",
    "t.me": "a messenger",
    "telegram.me": "a messenger",
    "telegram.org": "a messenger",
    "signal.me": "a messenger",
    "line.me": "a messenger",
    "discord.gg": "a messenger",
    "discord.com": "a messenger",
    "apps.apple.com": "an app store",
    "itunes.apple.com": "an app store",
    "play.google.com": "an app store",
    "appgallery.huawei.com": "an app store",
    "galaxystore.samsung.com": "an app store",
    "microsoft.com/store": "an app store",
}
# Path segments and host prefixes that mark a help centre, FAQ or knowledge base.
HELP_CENTRE_SEGMENTS = {
    "help",
    "helpcenter",
    "help-center",
    "helpcentre",
    "help-centre",
    "hc",
    "faq",
    "faqs",
    "kb",
    "knowledge-base",
    "knowledgebase",
    "articles",
    "docs",
    "answers",
    "community",
}
HELP_CENTRE_HOST_PREFIXES = ("help.", "faq.", "kb.", "docs.", "community.", "answers.", "knowledge.")
HELP_CENTRE_HOSTS = ("zendesk.com", "freshdesk.com", "helpscoutdocs.com", "intercom.help")

WHY = (
    "WhatsApp requires a direct path to a person: a phone number, an email address or a web "
    "support form."
)


def validate_fallback_phone(value: str) -> str:
    """A dialable number in international form; returns it as E.164."""
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(
            f"Enter the phone number in international form, starting with + and the country code ({exc})."
        ) from exc
    if not phonenumbers.is_valid_number(parsed):
        raise ValidationError("This is not a valid phone number for its country.")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def validate_fallback_email(value: str) -> str:
    EmailValidator(message="Enter a valid email address.")(value)
    return value.strip()


def validate_fallback_url(value: str) -> str:
    """A web support form: an https/http page that is not a homepage, help centre,
    app store, social network or messenger link."""
    URLValidator(schemes=["http", "https"], message="Enter the full address of the web support form.")(value)
    parts = urlsplit(value)
    host = (parts.hostname or "").lower().removeprefix("www.")
    path = parts.path.lower()
    for refused, what in REFUSED_HOSTS.items():
        refused_host, _, refused_path = refused.partition("/")
        if (host == refused_host or host.endswith("." + refused_host)) and path.startswith("/" + refused_path):
            raise ValidationError(f"This link points to {what}, which does not count as a way to reach a person. {WHY}")
    segments = {s for s in path.split("/") if s}
    if (
        host.startswith(HELP_CENTRE_HOST_PREFIXES)
        or host.endswith(HELP_CENTRE_HOSTS)
        or segments & HELP_CENTRE_SEGMENTS
    ):
        raise ValidationError(
            f"This looks like a help centre, FAQ or knowledge base, which does not count as a way to reach a person. {WHY}"
        )
    if not segments and not parts.query:
        raise ValidationError(f"A homepage does not count as a way to reach a person; link the support form itself. {WHY}")
    return value.strip()
