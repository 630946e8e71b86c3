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


@dataclass(frozen=True)
class End:
    pass


Action = SendText | SendMenu | SetValue | HandOff | End
