"""The texts a policy gives customers, in the customer's language.

For each of the policy's texts (`TRANSLATABLE_FIELDS`: the human option's title, the handoff
and the fallback texts) the customer's language's translation in the admin wins; else the
policy's own text, translated by the shipped catalogues when it is one of the built-in
defaults (an admin's own wording is sent as written). Call inside
`conversations.languages.speaking_to(contact)`, which activates the customer's language.
"""

from __future__ import annotations

from django.utils import translation
from django.utils.translation import gettext

from bots.models import EscalationPolicy, PolicyTranslation
from bots.models.policies import TRANSLATABLE_FIELDS
from conversations.languages import SHIPPED_LANGUAGES, language_base


def policy_text(policy: EscalationPolicy, field: str, language: str | None = None) -> str:
    """`policy`'s text `field` in `language` (default: the active language)."""
    if field not in TRANSLATABLE_FIELDS:
        raise ValueError(f"{field} is not a translatable policy text")
    language = language_base(language or translation.get_language())
    if policy.pk:
        translated = (
            PolicyTranslation.objects.filter(policy=policy, language=language).values_list(field, flat=True).first()
        )
        if translated:
            return translated
    own = getattr(policy, field)
    if language and language != translation.get_language():
        with translation.override(language):
            return gettext(own) if own else own
    return gettext(own) if own else own


def human_option_titles(policy: EscalationPolicy) -> set[str]:
    """The human option's title in every shipped language (a customer may type any of them)."""
    titles = {policy.human_option_title}
    if policy.pk:
        titles.update(PolicyTranslation.objects.filter(policy=policy).values_list("human_option_title", flat=True))
    for language in SHIPPED_LANGUAGES:
        with translation.override(language):
            titles.add(gettext(policy.human_option_title) if policy.human_option_title else "")
    return {title for title in titles if title}
