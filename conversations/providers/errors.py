"""What to do about each WhatsApp Cloud API error code, as data.

Decisions are made on Graph's numeric `code`, never on the HTTP status. The same table
applies to errors returned by a send and to errors carried later by a `failed` status
webhook. Each rule says what delivery does and gives the agent a plain explanation.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from django.utils.translation import gettext, gettext_noop


class Action(StrEnum):
    RETRY = "retry"  # transient: retry with capped exponential backoff
    RETRY_RECIPIENT_LATER = "retry_recipient_later"  # too many messages to this one user
    FAIL = "fail"  # permanent: no retry
    FAIL_WINDOW = "fail_window"  # the 24-hour window closed: the agent should send a template
    OPT_OUT = "opt_out"  # the user stopped marketing messages: record the opt-out, never retry
    FREQUENCY_CAP = "frequency_cap"  # per-user marketing cap: no retry; a later campaign may reach them
    ALERT_ADMIN = "alert_admin"  # token, parameter or account problem: an admin must act
    TEMPLATE_ERROR = "template_error"  # template missing, paused, disabled or wrong parameters


@dataclass(frozen=True)
class ErrorRule:
    code: int | None
    action: Action
    explanation: str
    # Shortest wait before another attempt (seconds); the backoff never goes below it.
    min_delay: float = 0.0
    # For ALERT_ADMIN: a short name of the alert shown to admins.
    alert: str = ""

    @property
    def transient(self) -> bool:
        return self.action in (Action.RETRY, Action.RETRY_RECIPIENT_LATER)


# The stored error code of a timeout or network failure (Graph gave no code).
NETWORK = "network"


def _rules(*rules: ErrorRule) -> dict[int | None, ErrorRule]:
    return {rule.code: rule for rule in rules}


_TRANSIENT = gettext_noop("WhatsApp had a temporary problem accepting the message; it is retried automatically.")

ERROR_RULES: dict[int | None, ErrorRule] = _rules(
    # Network errors and timeouts have no Graph code.
    ErrorRule(None, Action.RETRY, gettext_noop("WhatsApp could not be reached; the message is retried automatically.")),
    ErrorRule(1, Action.RETRY, _TRANSIENT),
    ErrorRule(2, Action.RETRY, _TRANSIENT),
    ErrorRule(4, Action.RETRY, gettext_noop("Too many API calls for this app; the message is retried after a pause."), 10),
    ErrorRule(80007, Action.RETRY, gettext_noop("The account's API rate limit was reached; the message is retried after a pause."), 10),
    ErrorRule(130429, Action.RETRY, gettext_noop("The number's throughput limit was reached; the message is retried shortly."), 2),
    ErrorRule(131000, Action.RETRY, _TRANSIENT),
    ErrorRule(131016, Action.RETRY, gettext_noop("WhatsApp's service is temporarily unavailable; the message is retried."), 5),
    ErrorRule(131057, Action.RETRY, gettext_noop("The WhatsApp account is in maintenance mode; the message is retried."), 30),
    ErrorRule(
        131048,
        Action.RETRY,
        gettext_noop(
            "WhatsApp limited this number for spam-like sending; the message is retried slowly. Check the number's quality."
        ),
        120,
    ),
    ErrorRule(
        131056,
        Action.RETRY_RECIPIENT_LATER,
        gettext_noop(
            "Too many messages to this customer in a short time; it is retried for this customer a little later."
        ),
        6,
    ),
    # The per-user marketing cap (frequency cap): WhatsApp limits how many marketing
    # messages one person receives from all businesses. Retrying soon fails again and
    # counts against the number's quality, so the message is not retried; the person can
    # be reached by a later campaign (a campaign messages each recipient once).
    ErrorRule(
        131049,
        Action.FREQUENCY_CAP,
        gettext_noop(
            "Frequency cap: WhatsApp held this marketing message back because the customer already received "
            "their share of marketing messages; it is not retried. A later campaign may reach them."
        ),
    ),
    ErrorRule(
        131047,
        Action.FAIL_WINDOW,
        gettext_noop(
            "More than 24 hours have passed since the customer's last message, so WhatsApp only accepts an approved "
            "template. Send a template to reopen the conversation."
        ),
    ),
    ErrorRule(
        131050,
        Action.OPT_OUT,
        gettext_noop(
            "The customer has stopped marketing messages from this business; it is recorded as an opt-out and not retried."
        ),
    ),
    ErrorRule(
        131026,
        Action.FAIL,
        gettext_noop(
            "The message could not be delivered: the customer may not use WhatsApp, may need to update the app, "
            "or has not accepted the latest terms."
        ),
    ),
    ErrorRule(131021, Action.FAIL, gettext_noop("The recipient is the business number itself.")),
    ErrorRule(131051, Action.FAIL, gettext_noop("WhatsApp does not support this message type.")),
    ErrorRule(131052, Action.FAIL, gettext_noop("WhatsApp could not download the media of this message.")),
    ErrorRule(131053, Action.FAIL, gettext_noop("WhatsApp could not upload the media of this message.")),
    ErrorRule(131008, Action.FAIL, gettext_noop("A required part of the message is missing.")),
    ErrorRule(131009, Action.FAIL, gettext_noop("A value in the message is not valid.")),
    ErrorRule(131030, Action.FAIL, gettext_noop("The recipient is not in the test number's list of allowed recipients.")),
    ErrorRule(132000, Action.TEMPLATE_ERROR, gettext_noop("The template's parameter count does not match its definition.")),
    ErrorRule(132001, Action.TEMPLATE_ERROR, gettext_noop("The template does not exist in this language or is not approved yet.")),
    ErrorRule(132005, Action.TEMPLATE_ERROR, gettext_noop("The template's text is too long once its parameters are filled in.")),
    ErrorRule(132007, Action.TEMPLATE_ERROR, gettext_noop("The template's content breaks a WhatsApp policy.")),
    ErrorRule(132012, Action.TEMPLATE_ERROR, gettext_noop("A template parameter has the wrong format.")),
    ErrorRule(132015, Action.TEMPLATE_ERROR, gettext_noop("The template is paused because of low quality.")),
    ErrorRule(132016, Action.TEMPLATE_ERROR, gettext_noop("The template is disabled because of low quality.")),
    ErrorRule(
        190,
        Action.ALERT_ADMIN,
        gettext_noop(
            "The number's access token expired or was revoked; an admin must renew it. Nothing is sent until then."
        ),
        alert="access_token_invalid",
    ),
    ErrorRule(
        100,
        Action.ALERT_ADMIN,
        gettext_noop(
            "WhatsApp rejected a parameter of the request (or the number's configuration); an admin should check it."
        ),
        alert="invalid_parameter",
    ),
    ErrorRule(
        368,
        Action.ALERT_ADMIN,
        gettext_noop(
            "The WhatsApp account is temporarily restricted for policy violations; an admin should check it."
        ),
        alert="account_restricted",
    ),
    ErrorRule(
        131031,
        Action.ALERT_ADMIN,
        gettext_noop(
            "The WhatsApp business account is locked; an admin must resolve it in Meta's Business Manager."
        ),
        alert="account_locked",
    ),
    ErrorRule(
        10,
        Action.ALERT_ADMIN,
        gettext_noop(
            "The app lacks a permission for this number; an admin should check its access."
        ),
        alert="permission_denied",
    ),
    ErrorRule(
        131005,
        Action.ALERT_ADMIN,
        gettext_noop(
            "Access to this number was denied; an admin should check the token's permissions."
        ),
        alert="permission_denied",
    ),
    ErrorRule(
        131042,
        Action.ALERT_ADMIN,
        gettext_noop(
            "There is a problem with the business account's payment method; an admin must fix it."
        ),
        alert="payment_problem",
    ),
    ErrorRule(
        133010,
        Action.ALERT_ADMIN,
        gettext_noop(
            "The phone number is not registered on the Cloud API; an admin must register it."
        ),
        alert="number_not_registered",
    ),
)


def rule_for(code: int | str | None) -> ErrorRule:
    """The rule for a Graph error code (an int, or its string form from a status webhook;
    None or "network" for timeouts and network failures).

    Unknown codes fail without retry: retrying an error we do not understand risks
    sending a message twice or hammering the API."""
    if code == NETWORK:
        code = None
    if code is not None and not isinstance(code, int):
        try:
            code = int(code)
        except (TypeError, ValueError):
            code = -1
    rule = ERROR_RULES.get(code)
    if rule is not None:
        return rule
    return ErrorRule(code, Action.FAIL, gettext_noop("WhatsApp refused the message."))


def failure_text_translated(code: str, text: str) -> str:
    """A stored failure text in the active language (the reader's): the explanation of
    WhatsApp's code that starts it is translated, WhatsApp's own words after it stay as
    WhatsApp wrote them; a whole text from the catalogue (our own reasons) is translated."""
    if not text:
        return text
    explanation = rule_for(code or None).explanation
    if text.startswith(explanation):
        return gettext(explanation) + text[len(explanation):]
    return gettext(text)
