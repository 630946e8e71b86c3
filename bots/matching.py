"""Understanding free text: FAQ entries, menu options and question answers.

Fuzzy matching uses rapidfuzz: a keyword matches when it appears in the customer's words
with small typos (`partial_ratio`), a menu option when the words are close to its title.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from rapidfuzz import fuzz

from bots.inbound import Inbound, normalize
from bots.models import FaqEntry, FlowStep, StepOption

FAQ_CUTOFF = 85.0
TITLE_CUTOFF = 85.0


def faq_match(entries: Iterable[FaqEntry], text: str) -> FaqEntry | None:
    """The entry whose keyword best matches `text` (ties: the first entry), if any scores
    at least FAQ_CUTOFF."""
    query = normalize(text)
    if len(query) < 3:
        return None
    best: tuple[float, FaqEntry] | None = None
    for entry in entries:
        for keyword in entry.keyword_list():
            kw = normalize(keyword)
            if not kw:
                continue
            # A keyword longer than the question cannot be "contained" in it; compare whole.
            scorer = fuzz.partial_ratio if len(kw) <= len(query) else fuzz.ratio
            score = scorer(kw, query, score_cutoff=FAQ_CUTOFF)
            if score and (best is None or score > best[0]):
                best = (score, entry)
    return best[1] if best else None


def option_match(options: list[StepOption], inbound: Inbound) -> StepOption | None:
    """A tapped option by its id; or typed: its number in the menu, or its title."""
    if inbound.payload:
        found = next((o for o in options if o.payload == inbound.payload), None)
        if found or inbound.kind == "reply":
            return found
    text = normalize(inbound.text)
    if not text:
        return None
    if text.isdigit() and 1 <= int(text) <= len(options):
        return options[int(text) - 1]
    exact = next((o for o in options if normalize(o.title) == text), None)
    if exact:
        return exact
    scored = [(fuzz.ratio(normalize(o.title), text), o) for o in options]
    scored = [s for s in scored if s[0] >= TITLE_CUTOFF]
    return max(scored, key=lambda s: s[0])[1] if scored else None


def answer_validate(step: FlowStep, text: str) -> str | None:
    """The answer as stored, or None when it is not valid for the step."""
    answer = " ".join(text.split())
    if not answer:
        return None
    kind = step.validation
    if kind == FlowStep.Validation.REGEX:
        return answer if re.fullmatch(step.pattern, answer, flags=re.IGNORECASE) else None
    if kind == FlowStep.Validation.NUMBER:
        try:
            number = Decimal(answer.replace(",", "."))
        except InvalidOperation:
            return None
        return str(number) if number.is_finite() else None
    if kind == FlowStep.Validation.EMAIL:
        try:
            EmailValidator()(answer)
        except ValidationError:
            return None
        return answer
    if kind == FlowStep.Validation.CHOICE:
        choices = step.choice_list()
        wanted = normalize(answer)
        exact = next((c for c in choices if normalize(c) == wanted), None)
        if exact:
            return exact
        scored = [(fuzz.ratio(normalize(c), wanted), c) for c in choices]
        scored = [s for s in scored if s[0] >= TITLE_CUTOFF]
        return max(scored, key=lambda s: s[0])[1] if scored else None
    return answer
