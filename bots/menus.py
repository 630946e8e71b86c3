"""Menus as WhatsApp interactive messages, always with a way to a person.

Reply buttons hold at most 3 options with titles up to 20 characters; a list holds at
most 10 rows with titles up to 24 and descriptions up to 72 (whatsapp.md). The human
option is added when the menu lacks it; when it no longer fits as buttons the menu
becomes a list, and a list keeps its first 9 options so the human option always fits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext, gettext_noop

from bots.actions import MenuOption, SendMenu
from bots.models import HUMAN_OPTION_ID

MAX_BUTTONS = 3
MAX_BUTTON_TITLE = 20
MAX_ROWS = 10
MAX_ROW_TITLE = 24
MAX_ROW_DESCRIPTION = 72
MAX_BODY = 1024
MAX_LABEL = 20
MAX_HEADER = 60
MAX_FOOTER = 60
MAX_SECTION_TITLE = 24
DEFAULT_BODY = gettext_noop("Please choose an option.")
DEFAULT_BUTTON_LABEL = gettext_noop("Choose")
DEFAULT_SECTION_TITLE = gettext_noop("Options")


@dataclass
class RenderedMenu:
    body: str
    buttons: list[dict[str, str]] | None = None
    sections: list[dict[str, Any]] | None = None
    button_label: str = "Choose"
    header: str = ""
    footer: str = ""
    option_ids: list[str] = field(default_factory=list)

    def kwargs(self) -> dict[str, Any]:
        return {
            "body": self.body,
            "buttons": self.buttons,
            "sections": self.sections,
            "button_label": self.button_label,
            "header": self.header,
            "footer": self.footer,
        }


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def with_human_option(options: list[MenuOption], human_title: str) -> list[MenuOption]:
    if any(o.id == HUMAN_OPTION_ID or o.human for o in options):
        return list(options)
    return [*options, MenuOption(id=HUMAN_OPTION_ID, title=human_title)]


def render(menu: SendMenu, *, human_title: str) -> RenderedMenu:
    options = with_human_option(menu.options, human_title)
    body = _cut(menu.body or gettext(DEFAULT_BODY), MAX_BODY)
    header = _cut(menu.header, MAX_HEADER)
    footer = _cut(menu.footer, MAX_FOOTER)
    fits_buttons = len(options) <= MAX_BUTTONS and all(len(o.title) <= MAX_BUTTON_TITLE for o in options)
    fits_buttons = fits_buttons and not any(o.description for o in options)
    if fits_buttons:
        return RenderedMenu(
            body=body,
            buttons=[{"id": o.id, "title": o.title} for o in options],
            header=header,
            footer=footer,
            option_ids=[o.id for o in options],
        )
    if len(options) > MAX_ROWS:
        human = [o for o in options if o.id == HUMAN_OPTION_ID or o.human][:1]
        options = [o for o in options if o not in human][: MAX_ROWS - len(human)] + human
    rows = []
    for o in options:
        row = {"id": o.id[:200], "title": _cut(o.title, MAX_ROW_TITLE)}
        if o.description:
            row["description"] = _cut(o.description, MAX_ROW_DESCRIPTION)
        rows.append(row)
    return RenderedMenu(
        body=body,
        sections=[{"title": _cut(menu.header or gettext(DEFAULT_SECTION_TITLE), MAX_SECTION_TITLE), "rows": rows}],
        # "Choose" (the default in flow steps and actions) in the active language.
        button_label=_cut(gettext(menu.button_label or DEFAULT_BUTTON_LABEL), MAX_LABEL),
        header=header,
        footer=footer,
        option_ids=[o.id for o in options],
    )
