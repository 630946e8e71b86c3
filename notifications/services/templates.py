"""Creating message templates: the rules a new template must meet, for the admin and the API.

`template_check` says what is wrong with a template as given (the admin form calls it to
show the error on its field); `template_create` checks again and stores the draft. Both
raise `TemplateRefused`: `invalid` with the `field` it concerns, or `template_exists`.
Submitting a draft to WhatsApp for review is `template_sync.template_submit`.
"""

from __future__ import annotations

import re
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext

from config.refusals import Refused
from conversations.models import WhatsAppNumber
from notifications.models import MessageTemplate
from notifications.models.templates import ParameterFormat, TemplateCategory
from notifications.template_params import template_preview_html

# WhatsApp's rule for template names.
NAME = re.compile(r"^[a-z0-9_]{1,512}$")
COMPONENT_TYPES = {"HEADER", "BODY", "FOOTER", "BUTTONS"}


class TemplateRefused(Refused):
    """A template that cannot be created as given: `invalid` (with its `field`) or
    `template_exists` (this name and language exist already in the business account)."""


def _components_problem(components: Any) -> str:
    if not isinstance(components, list) or not components or not all(isinstance(c, dict) for c in components):
        return "Components must be a JSON list of objects (header, body, footer, buttons)."
    for component in components:
        kind = component.get("type")
        if not isinstance(kind, str) or kind.upper() not in COMPONENT_TYPES:
            return f"Component type {kind!r} is not one of {', '.join(sorted(COMPONENT_TYPES))}."
        if "text" in component and not isinstance(component["text"], str):
            return f"The {kind.lower()} text must be text."
        buttons = component.get("buttons")
        if kind.upper() == "BUTTONS" and (
            not isinstance(buttons, list) or not all(isinstance(b, dict) for b in buttons)
        ):
            return "Buttons must be a list of objects."
    bodies = [c for c in components if str(c.get("type")).upper() == "BODY"]
    if not bodies:
        return "A template needs a BODY component."
    if not (bodies[0].get("text") or "").strip():
        return "The BODY component needs a text."
    try:
        template_preview_html(components)
    except (AttributeError, TypeError, ValueError, IndexError) as exc:
        return f"The components cannot be rendered: {exc}."
    return ""


def template_check(
    *,
    number: WhatsAppNumber,
    name: str,
    language: str,
    category: str,
    parameter_format: str,
    components: Any,
    template: MessageTemplate | None = None,
) -> None:
    """Raise TemplateRefused for the first rule the template breaks: a WhatsApp name (lower
    case letters, digits, underscores), a language, a known category and parameter format,
    components with a BODY text, and a name and language not yet used in the number's
    business account (`template`, when editing one, is left out of that comparison)."""
    if not NAME.match(name or ""):
        raise TemplateRefused("invalid", gettext("Use lower case letters, digits and underscores only."), field="name")
    if not (language or "").strip():
        raise TemplateRefused("invalid", gettext("Give the template's language code, such as en_US."), field="language")
    if category not in TemplateCategory.values:
        raise TemplateRefused("invalid", gettext("%(value)s is not a template category.") % {"value": repr(category)}, field="category")
    if parameter_format not in ParameterFormat.values:
        raise TemplateRefused("invalid", gettext("%(value)s is not a parameter format.") % {"value": repr(parameter_format)}, field="parameter_format")
    problem = _components_problem(components)
    if problem:
        raise TemplateRefused("invalid", problem, field="components")
    same = MessageTemplate.objects.filter(
        business_account_id=number.business_account_id, name=name, language=language.strip()
    )
    if template is not None and template.pk:
        same = same.exclude(pk=template.pk)
    if same.exists():
        raise TemplateRefused("template_exists", gettext("A template with this name and language exists already."))


def template_create(
    *,
    number: WhatsAppNumber,
    name: str,
    language: str,
    category: str,
    components: list[dict[str, Any]],
    parameter_format: str = ParameterFormat.POSITIONAL,
) -> MessageTemplate:
    """Store a new draft template of `number`'s business account after `template_check`.
    Two concurrent creations of one name and language store one; the other is refused
    `template_exists`."""
    language = language.strip()
    template_check(number=number, name=name, language=language, category=category,
                   parameter_format=parameter_format, components=components)
    try:
        with transaction.atomic():
            return MessageTemplate.objects.create(
                number=number, business_account_id=number.business_account_id, name=name, language=language,
                category=category, components=components, parameter_format=parameter_format,
            )
    except IntegrityError:
        raise TemplateRefused("template_exists", gettext("A template with this name and language exists already.")) from None
