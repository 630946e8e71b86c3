"""Flow bots: run the steps edited in the admin.

`FlowRunner.respond` reads the customer's input against the step the session waits on,
moves through the flow until the next step that waits for the customer, and returns the
actions. It changes the session in memory (step, counters, intent); the engine saves it.

Loops: following links without waiting for the customer more than MAX_HOPS times in one
turn hands off; so does entering the same waiting step the same way (same step, same
intent) `policy.loop_limit` times in a row.
"""

from __future__ import annotations

import re

from django.utils.translation import gettext, gettext_noop

from bots.actions import Action, End, HandOff, MenuOption, SendMenu, SendText, SetValue, clean_skills
from bots.inbound import Inbound
from bots.lookups import FAILED, NOT_FOUND, lookup_run
from bots.matching import answer_validate, faq_match, option_match
from bots.models import Bot, BotSession, EscalationPolicy, FlowStep, Handoff

MAX_HOPS = 20
DEFAULT_NOT_UNDERSTOOD = gettext_noop("Sorry, I didn't understand that.")
DEFAULT_FAQ_PROMPT = gettext_noop("What is your question?")
DEFAULT_NOT_FOUND = gettext_noop("Sorry, I couldn't find that.")


def fill(text: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(values.get(m.group(1), m.group(0))), text)


class FlowRunner:
    def __init__(self, *, bot: Bot, policy: EscalationPolicy) -> None:
        self.bot = bot
        self.policy = policy

    def respond(self, *, session: BotSession, inbound: Inbound) -> list[Action]:
        turn = _Turn(self.bot, self.policy, session)
        step = session.current_step
        if step is None or step.bot_id != self.bot.pk or not step.waits_for_customer:
            if self.bot.start_step is None:
                turn.actions.append(HandOff(Handoff.Reason.BOT_ERROR, f"flow bot {self.bot.name} has no start step"))
            else:
                turn.enter(self.bot.start_step)
            return turn.actions
        turn.answer(step, inbound)
        return turn.actions


class _Turn:
    def __init__(self, bot: Bot, policy: EscalationPolicy, session: BotSession) -> None:
        self.bot = bot
        self.policy = policy
        self.session = session
        self.values: dict[str, str] = dict(session.values)
        self.actions: list[Action] = []
        self.hops = 0

    # -- output ------------------------------------------------------------------------
    def say(self, text: str) -> None:
        if text.strip():
            self.actions.append(SendText(fill(text, self.values)))

    def set_value(self, name: str, value: str) -> None:
        self.values[name] = value
        self.actions.append(SetValue(name, value))

    def hand_off(
        self, reason: str, detail: str = "", team=None, requested: bool = False, skills: tuple[str, ...] = ()
    ) -> None:
        self.session.current_step = None
        self.actions.append(HandOff(reason, detail, team, requested=requested, skills=skills))

    def show(self, step: FlowStep) -> None:
        """Display a waiting step (again); every prompt carries the human option."""
        if step.kind == FlowStep.Kind.MENU:
            options = [
                MenuOption(
                    o.payload,
                    o.title,
                    o.description,
                    human=o.next_step is not None and o.next_step.kind == FlowStep.Kind.HANDOFF,
                )
                for o in step.options.select_related("next_step")
            ]
            self.actions.append(
                SendMenu(
                    body=fill(step.text, self.values),
                    options=options,
                    button_label=step.button_label or "Choose",
                    header=step.header,
                    footer=step.footer,
                )
            )
        else:
            prompt = step.text or (gettext(DEFAULT_FAQ_PROMPT) if step.kind == FlowStep.Kind.FAQ else "")
            self.actions.append(SendMenu(body=fill(prompt, self.values), header=step.header, footer=step.footer))
        self.session.current_step = step

    # -- moving through the flow ---------------------------------------------------------
    def enter(self, step: FlowStep | None, *, chosen: bool = False) -> None:
        """Follow the flow from `step`; `chosen`: the customer picked `step` from a menu."""
        intent = self.session.last_intent
        while step is not None:
            self.hops += 1
            if self.hops > MAX_HOPS:
                self.hand_off(Handoff.Reason.LOOP, f"the flow links back to step {step.key} without waiting")
                return
            kind = step.kind
            if step.waits_for_customer:
                signature = f"{step.key}|{intent}"
                if signature == self.session.repeat_step_key:
                    self.session.repeat_count += 1
                else:
                    self.session.repeat_step_key, self.session.repeat_count = signature, 1
                if self.session.repeat_count >= self.policy.loop_limit:
                    self.hand_off(Handoff.Reason.LOOP, f"step {step.key} repeated {self.session.repeat_count} times")
                    return
                self.show(step)
                return
            if kind == FlowStep.Kind.MESSAGE:
                self.say(step.text)
                step = step.next_step
            elif kind == FlowStep.Kind.LOOKUP:
                result = lookup_run(step, self.values)
                if result.outcome == FAILED:  # the business's API let us down: a person takes over
                    self.hand_off(Handoff.Reason.BOT_ERROR, result.detail)
                    return
                if result.outcome == NOT_FOUND:
                    self.say(step.not_found_text or gettext(DEFAULT_NOT_FOUND))
                    step = step.else_step
                else:
                    for name, value in result.values.items():
                        self.set_value(name, value)
                    self.say(step.text)
                    step = step.next_step
            elif kind == FlowStep.Kind.HANDOFF:
                self.say(step.text)
                self.hand_off(
                    Handoff.Reason.FLOW,
                    step.handoff_reason or f"flow step {step.key}",
                    step.handoff_team,
                    requested=chosen and self.hops == 1,
                    skills=clean_skills(step.handoff_skills),
                )
                return
            else:  # END
                self.say(step.text)
                break
        self.session.current_step = None
        self.actions.append(End())

    def understood(self, intent: str) -> None:
        self.session.misunderstood_count = 0
        self.session.last_intent = intent

    def not_understood(self, step: FlowStep, text: str = "") -> None:
        self.session.misunderstood_count += 1
        if self.session.misunderstood_count >= self.policy.max_not_understood:
            self.hand_off(
                Handoff.Reason.NOT_UNDERSTOOD,
                f"{self.session.misunderstood_count} answers in a row not understood at step {step.key}",
            )
            return
        self.say(text or gettext(DEFAULT_NOT_UNDERSTOOD))
        self.show(step)

    def answer(self, step: FlowStep, inbound: Inbound) -> None:
        if step.kind == FlowStep.Kind.MENU:
            option = option_match(list(step.options.all()), inbound)
            if option is not None:
                self.understood(option.payload)
                if option.next_step is None:
                    self.session.current_step = None
                    self.actions.append(End())
                else:
                    self.enter(option.next_step, chosen=True)
                return
            entry = faq_match(self.bot.faq_entries.all(), inbound.text) if inbound.kind == "text" else None
            if entry is not None:
                self.understood(f"faq:{entry.question}")
                self.say(entry.answer)
                self.show(step)
                return
            self.not_understood(step)
        elif step.kind == FlowStep.Kind.QUESTION:
            value = answer_validate(step, inbound.text) if inbound.kind != "media" else None
            if value is None:
                self.not_understood(step, step.invalid_text)
                return
            self.understood(step.value_name)
            self.set_value(step.value_name, value)
            self.enter(step.next_step)
        else:  # FAQ
            entry = faq_match(self.bot.faq_entries.all(), inbound.text) if inbound.kind == "text" else None
            if entry is None:
                self.not_understood(step, step.invalid_text)
                return
            self.understood(f"faq:{entry.question}")
            self.say(entry.answer)
            if step.next_step is not None:
                self.enter(step.next_step)
