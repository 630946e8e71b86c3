"""What a bot decides to do in one turn; the engine carries the actions out in order."""

from __future__ import annotations

from dataclasses import dataclass, field

from agents.models import Team


@dataclass(frozen=True)
class MenuOption:
    id: str
    title: str
    description: str = ""
    human: bool = False  # leads to a person (a flow option to a hand-off step)


@dataclass(frozen=True)
class SendText:
    text: str


@dataclass(frozen=True)
class SendMedia:
    """An image, video, audio or document by public link (WhatsApp fetches it, we never do)."""

    kind: str
    link: str
    caption: str = ""
    filename: str = ""


@dataclass(frozen=True)
class SendMenu:
    body: str
    options: list[MenuOption] = field(default_factory=list)
    button_label: str = "Choose"
    header: str = ""
    footer: str = ""


@dataclass(frozen=True)
class SetValue:
    name: str
    value: str


@dataclass(frozen=True)
class HandOff:
    reason: str
    detail: str = ""
    team: Team | None = None
    priority: int = 0
    requested: bool = False  # the customer chose it (ledger: human_requested_at)
    skills: tuple[str, ...] = ()  # the agent must have them (routing)


@dataclass(frozen=True)
class End:
    pass


Action = SendText | SendMedia | SendMenu | SetValue | HandOff | End


MAX_SKILLS = 10
MAX_SKILL_LENGTH = 64


def clean_skills(raw: object) -> tuple[str, ...]:
    """Skills asked for by a flow step or an external bot: a list of names (or one
    comma-separated string), trimmed, without empties or repeats, at most MAX_SKILLS.
    Anything else (a number, an object) asks for no skills rather than failing the handoff."""
    if isinstance(raw, str):
        items: list[object] = list(raw.split(","))
    elif isinstance(raw, list | tuple):
        items = list(raw)
    else:
        return ()
    names = [item.strip()[:MAX_SKILL_LENGTH] for item in items if isinstance(item, str)]
    return tuple(dict.fromkeys(name for name in names if name))[:MAX_SKILLS]
