"""Opt-out and opt-in keywords in chat (STOP, BAJA, STOPP, ARRÊT, START, ALTA, …).

Every inbound text is checked: a message that is exactly a keyword (case, accents and
trailing punctuation aside) changes the contact's consent for every category at once,
and a confirmation goes back in the contact's language. Keywords and confirmations are
configurable per number and language (ConsentKeywordRule); built-in defaults cover the
common languages.
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q

from config.batch_scope import batch_cached
from conversations.models import Message
from conversations.services.message_send import SendRefused, message_send_text
from notifications.models import ConsentKeywordRule, ConsentSource
from notifications.services.consent import CATEGORIES, consent_opt_in, consent_opt_out

log = logging.getLogger(__name__)

OPT_OUT = ConsentKeywordRule.Action.OPT_OUT
OPT_IN = ConsentKeywordRule.Action.OPT_IN
FALLBACK_LANGUAGE = "en"

DEFAULT_KEYWORDS: dict[str, dict[str, list[str]]] = {
    "en": {OPT_OUT: ["STOP", "STOP ALL", "UNSUBSCRIBE", "OPT OUT", "OPTOUT"],
           OPT_IN: ["START", "UNSTOP", "SUBSCRIBE", "OPT IN", "OPTIN"]},
    "es": {OPT_OUT: ["PARAR", "BAJA", "CANCELAR", "DETENER", "DARSE DE BAJA"], OPT_IN: ["ALTA", "INICIAR", "COMENZAR"]},
    "pt": {OPT_OUT: ["PARAR", "SAIR", "CANCELAR", "DESCADASTRAR"], OPT_IN: ["VOLTAR", "INICIAR", "CADASTRAR"]},
    "de": {OPT_OUT: ["STOPP", "ABMELDEN", "ABBESTELLEN"], OPT_IN: ["ANMELDEN", "STARTEN"]},
    "fr": {OPT_OUT: ["ARRÊT", "ARRET", "DÉSABONNER", "DESABONNER", "DÉSINSCRIRE"], OPT_IN: ["DÉMARRER", "REPRENDRE"]},
    "it": {OPT_OUT: ["DISISCRIVI", "ANNULLA ISCRIZIONE"], OPT_IN: ["ISCRIVI", "RIPRENDI"]},
    "nl": {OPT_OUT: ["AFMELDEN", "UITSCHRIJVEN"], OPT_IN: ["AANMELDEN"]},
    "hi": {OPT_OUT: ["रोकें", "रोको", "बंद करें", "सदस्यता समाप्त करें"], OPT_IN: ["शुरू करें", "फिर से शुरू करें"]},
}

DEFAULT_CONFIRMATIONS: dict[str, dict[str, str]] = {
    "en": {OPT_OUT: "You have been unsubscribed and will not receive further messages from us. Reply START to subscribe again.",
           OPT_IN: "You are subscribed again. Reply STOP at any time to unsubscribe."},
    "es": {OPT_OUT: "Te has dado de baja y no recibirás más mensajes nuestros. Responde ALTA para volver a suscribirte.",
           OPT_IN: "Te has vuelto a suscribir. Responde BAJA en cualquier momento para darte de baja."},
    "pt": {OPT_OUT: "Você foi descadastrado e não receberá mais mensagens nossas. Responda VOLTAR para se inscrever novamente.",
           OPT_IN: "Você está inscrito novamente. Responda SAIR a qualquer momento para cancelar."},
    "de": {OPT_OUT: "Sie wurden abgemeldet und erhalten keine weiteren Nachrichten von uns. Antworten Sie ANMELDEN, um sich wieder anzumelden.",
           OPT_IN: "Sie sind wieder angemeldet. Antworten Sie jederzeit STOPP, um sich abzumelden."},
    "fr": {OPT_OUT: "Vous êtes désabonné et ne recevrez plus de messages de notre part. Répondez DÉMARRER pour vous réabonner.",
           OPT_IN: "Vous êtes de nouveau abonné. Répondez ARRÊT à tout moment pour vous désabonner."},
    "it": {OPT_OUT: "Hai annullato l'iscrizione e non riceverai altri messaggi da noi. Rispondi ISCRIVI per iscriverti di nuovo.",
           OPT_IN: "Sei di nuovo iscritto. Rispondi DISISCRIVI in qualsiasi momento per annullare l'iscrizione."},
    "nl": {OPT_OUT: "U bent afgemeld en ontvangt geen berichten meer van ons. Antwoord AANMELDEN om u opnieuw aan te melden.",
           OPT_IN: "U bent weer aangemeld. Antwoord AFMELDEN om u af te melden."},
    "hi": {OPT_OUT: "आपकी सदस्यता समाप्त कर दी गई है और अब आपको हमारी ओर से संदेश नहीं मिलेंगे। फिर से सदस्यता लेने के लिए "
                    "शुरू करें लिखें।",
           OPT_IN: "आपकी सदस्यता फिर से शुरू हो गई है। सदस्यता समाप्त करने के लिए कभी भी रोकें लिखें।"},
}


def normalise(text: str) -> str:
    """Upper case, accents removed, inner spaces collapsed, surrounding punctuation dropped."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    words = plain.upper().split()
    return " ".join(words).strip(" .!¡?¿,;:'\"()[]-_*।")


# The built-in keywords as `normalise` leaves them, per (language, action): made once, not
# for every inbound message.
_DEFAULT_TABLE: dict[tuple[str, str], frozenset[str]] = {
    (lang, action): frozenset(normalise(w) for w in words)
    for lang, actions in DEFAULT_KEYWORDS.items()
    for action, words in actions.items()
}


@dataclass(frozen=True)
class KeywordMatch:
    action: str
    languages: tuple[str, ...]


def _rules(number_id: int | None) -> list[ConsentKeywordRule]:
    """The rules for `number_id` and for every number (read once per batch of webhooks)."""
    scope = Q(number__isnull=True) | (Q(number_id=number_id) if number_id is not None else Q(pk__in=[]))
    return batch_cached(("consent_keyword_rules", number_id), lambda: list(ConsentKeywordRule.objects.filter(scope)))


def keyword_match(*, text: str, number_id: int | None) -> KeywordMatch | None:
    """Which consent action `text` asks for, and in which language(s), if any. A rule for
    the number replaces the default keywords of its language and action."""
    wanted = normalise(text)
    if not wanted or len(wanted) > 40:
        return None
    table = dict(_DEFAULT_TABLE)
    # Global rules first, then the number's, so the most specific one wins.
    for rule in sorted(_rules(number_id), key=lambda r: r.number_id is not None):
        table[(rule.language, rule.action)] = frozenset(normalise(w) for w in rule.keyword_list())
    for action in (OPT_OUT, OPT_IN):
        languages = tuple(lang for (lang, act), words in table.items() if act == action and wanted in words)
        if languages:
            return KeywordMatch(action, languages)
    return None


def keyword_confirmation(*, action: str, language: str, number_id: int | None) -> str:
    """The confirmation for `action` in `language`: the number's rule, a global rule, the
    built-in text, else English."""
    base = (language or "").split("-")[0].split("_")[0].lower()
    rules = {(r.number_id, r.language.lower(), r.action): r.confirmation for r in _rules(number_id)}
    for key in ((number_id, base, action), (None, base, action)):
        if rules.get(key):
            return rules[key]
    if base in DEFAULT_CONFIRMATIONS:
        return DEFAULT_CONFIRMATIONS[base][action]
    for key in ((number_id, FALLBACK_LANGUAGE, action), (None, FALLBACK_LANGUAGE, action)):
        if rules.get(key):
            return rules[key]
    return DEFAULT_CONFIRMATIONS[FALLBACK_LANGUAGE][action]


def keyword_consent_handle(*, message: Message) -> bool:
    """If `message` (an inbound text) is an opt-out or opt-in keyword: record the change for
    every category (source `keyword`, the message as proof) and send the confirmation in
    the contact's language. Returns True when handled, so the caller skips the bot turn.
    A repeated keyword is confirmed again but writes no new consent row."""
    if message.direction != Message.Direction.INBOUND or message.type != "text" or message.internal:
        return False
    conversation = message.conversation
    contact = conversation.contact
    match = keyword_match(text=message.text, number_id=conversation.number_id)
    if match is None:
        return False
    preferred = (contact.language or conversation.language or "").split("-")[0].split("_")[0].lower()
    # The contact's own language when we can answer in it, else the keyword's language.
    known = preferred in match.languages or preferred in DEFAULT_CONFIRMATIONS or any(
        r.language.lower() == preferred for r in _rules(conversation.number_id)
    )
    language = preferred if preferred and known else match.languages[0]
    proof = f"Message {message.provider_message_id or message.pk}: {message.text[:200]}"
    with transaction.atomic():
        change = consent_opt_out if match.action == OPT_OUT else consent_opt_in
        for category in CATEGORIES:
            change(contact=contact, category=category, source=ConsentSource.KEYWORD, proof=proof)
        text = keyword_confirmation(action=match.action, language=language, number_id=conversation.number_id)
        _confirm(conversation=conversation, text=text)
    log.info("consent keyword %s from contact %s handled (%s)", match.action, contact.pk, language)
    return True


def _confirm(*, conversation, text: str) -> None:
    try:
        message_send_text(conversation=conversation, text=text, sender_kind="system")
    except SendRefused as exc:  # the consent change stands even if the confirmation cannot go out
        log.warning("consent confirmation to conversation %s refused: %s", conversation.pk, exc.detail)

