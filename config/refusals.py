"""The one refusal type: a service declines a request that breaks a rule.

Services raise `Refused(code, detail)` (or a subclass naming where it comes from, such as
`SendRefused` or `CampaignRefused`); `code` is a stable machine word, `detail` a sentence
for the person asking, in their language (gettext, named placeholders), and `field` the input it concerns when there is one. Nothing is
written when a service refuses.

The API maps each code to its one HTTP status in `config.api_errors.REFUSAL_STATUS`, so a
view lets refusals propagate; the admin and the desk show `detail`.
"""

from __future__ import annotations

from django.utils.translation import gettext


class Refused(Exception):
    """A request the rules do not allow: `code` (`invalid`, `forbidden`, `window_closed`, …),
    `detail` (a sentence naming the rule) and, for invalid input, the `field` it concerns."""

    def __init__(self, code: str, detail: str, *, field: str = "") -> None:
        # A sentence from the catalogue (a constant marked with gettext_noop) reads in the
        # asker's language; one translated at the raise site, or WhatsApp's own words, stay.
        detail = gettext(detail) if detail else detail
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.field = field

    def __str__(self) -> str:
        return self.detail
