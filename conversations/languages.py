"""The customer's language: the languages Handoff speaks to customers, and detecting which
one a customer writes in.

Detection uses Lingua (`lingua-language-detector`), whose n-gram models ship inside the
package: nothing is downloaded at run time. It is restricted to the languages Handoff ships
texts for (`CUSTOMER_LANGUAGES`), which is what makes it reliable on the short texts
customers send ("hola", "oi, cadê meu pedido?"). The models of those languages are loaded
on the first detection in a process (about a second, about 150 MB) and kept.

Text in a script none of those languages is written in (Cyrillic, Chinese, emoji only,
digits only) gives no language: the contact keeps what it had, and the texts they get
fall back to their number's default language.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils import translation
from lingua import IsoCode639_1, LanguageDetectorBuilder

if TYPE_CHECKING:
    from conversations.models import Contact

# The languages whose customer-facing texts ship with Handoff (locale/<code>/LC_MESSAGES).
SHIPPED_LANGUAGES: dict[str, str] = {
    "en": "English",
    "es": "Español",
    "pt": "Português",
    "de": "Deutsch",
    "fr": "Français",
    "hi": "हिन्दी",
}
LANGUAGE_CHOICES = list(SHIPPED_LANGUAGES.items())

# Scripts of the shipped languages, by the first word of Unicode character names.
_SCRIPT_LANGUAGES = {"LATIN": {"en", "es", "pt", "de", "fr"}, "DEVANAGARI": {"hi"}}
_URL_OR_EMAIL = re.compile(r"(https?://\S+|www\.\S+|\S+@\S+)", re.IGNORECASE)


@dataclass(frozen=True)
class Detection:
    language: str
    confidence: float


def language_base(code: str | None) -> str:
    """`es` for `es`, `es-MX`, `es_MX` or `ES`; "" for nothing."""
    return (code or "").replace("_", "-").split("-")[0].strip().lower()


def customer_languages() -> list[str]:
    """The languages detection may answer and customer texts are chosen from, in order."""
    configured = [language_base(code) for code in getattr(settings, "CUSTOMER_LANGUAGES", SHIPPED_LANGUAGES)]
    return [code for code in dict.fromkeys(configured) if code in SHIPPED_LANGUAGES] or ["en"]


def supported_language(code: str | None) -> str:
    """The shipped language `code` names (its base), or "" when Handoff does not speak it."""
    base = language_base(code)
    return base if base in SHIPPED_LANGUAGES else ""


def _script(char: str) -> str:
    try:
        return unicodedata.name(char).split(" ")[0]
    except ValueError:
        return ""


def _letters_by_script(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for char in text:
        if char.isalpha():
            script = _script(char)
            counts[script] = counts.get(script, 0) + 1
    return counts


@functools.lru_cache(maxsize=8)
def _detector(languages: tuple[str, ...]):
    """A Lingua detector for these ISO 639-1 codes (built once per process and set)."""
    wanted = [IsoCode639_1.from_str(code) for code in languages]
    return LanguageDetectorBuilder.from_iso_codes_639_1(*wanted).build()


def detect_language(
    text: str, *, languages: list[str] | None = None, min_confidence: float | None = None
) -> Detection | None:
    """The language `text` is written in, among `languages` (default: `customer_languages()`),
    or None when the text is too short, in another script, or not clearly one of them.

    The script decides first: Devanagari is Hindi; letters of a script none of the languages
    uses give None. Among Latin-script languages Lingua decides, and its confidence must reach
    `min_confidence` (`LANGUAGE_DETECTION_MIN_CONFIDENCE`)."""
    candidates = [code for code in (languages or customer_languages()) if code in SHIPPED_LANGUAGES]
    threshold = settings.LANGUAGE_DETECTION_MIN_CONFIDENCE if min_confidence is None else min_confidence
    cleaned = _URL_OR_EMAIL.sub(" ", text or "")
    scripts = _letters_by_script(cleaned)
    total = sum(scripts.values())
    if total < 2:
        return None
    script, count = max(scripts.items(), key=lambda item: item[1])
    if count * 2 <= total:
        return None  # no script holds most of the letters: a mix we cannot call
    in_script = [code for code in candidates if code in _SCRIPT_LANGUAGES.get(script, set())]
    if not in_script:
        return None
    if len(in_script) == 1:
        return Detection(in_script[0], 1.0)
    values = _detector(tuple(sorted(in_script))).compute_language_confidence_values(cleaned)
    if not values:
        return None
    best = values[0]
    code = best.language.iso_code_639_1.name.lower()
    if best.value < threshold or code not in in_script:
        return None
    return Detection(code, round(float(best.value), 3))


def text_language(contact: Contact) -> str:
    """The language system texts to `contact` are written in: theirs when Handoff speaks it
    (and it is among `CUSTOMER_LANGUAGES`), else their number's default language, else the
    first of `CUSTOMER_LANGUAGES`."""
    allowed = customer_languages()
    own = supported_language(contact.language)
    if own and own in allowed:
        return own
    default = supported_language(contact.number.default_language)
    if default and default in allowed:
        return default
    return allowed[0]


@contextmanager
def speaking_to(contact: Contact) -> Iterator[str]:
    """Translate (gettext) into the contact's text language inside the block, whatever
    language the request or task had active (a desk user's own language, for one)."""
    language = text_language(contact)
    with translation.override(language):
        yield language
