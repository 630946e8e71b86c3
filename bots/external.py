"""External bots over HTTP, speaking Rasa's REST channel.

Request: POST `{"sender": <contact id>, "message": <text or tapped button's payload>,
"metadata": {...}}`. Answer: a JSON list of `{"text", "buttons": [{"title", "payload"}],
"image", "attachment", "custom"}`. An `image` (a URL) or an `attachment` (a URL, or
`{"type": "image"|"video"|"audio"|"file", "payload": {"src"|"url", "title"?}}`) is sent as
WhatsApp media by link, with the answer's text as its caption where WhatsApp allows one.
A `custom` of `{"handoff": {"team": <slug>, "reason": <text>, "skills": [<skill>, …]}}`
hands the conversation to a person who has those skills. An answer that is late, not JSON,
or not a list raises
`ExternalBotError`, which the engine turns into a `bot_error` handoff.

Button payloads can be longer than WhatsApp's reply ids, so buttons are sent with short
ids (`ext:<n>`) and the session keeps the payload for each.
"""

from __future__ import annotations

from typing import Any

import httpx
from django.utils.translation import gettext

from agents.models import Team
from bots.actions import Action, HandOff, MenuOption, SendMedia, SendMenu, SendText, clean_skills
from bots.inbound import Inbound
from bots.models import Bot, BotSession, Handoff
from conversations.media_types import CAPTION_KINDS
from conversations.models import Conversation

MAX_ANSWERS = 10
# Rasa's attachment types, as WhatsApp media kinds.
ATTACHMENT_KINDS = {"image": "image", "video": "video", "audio": "audio", "file": "document", "document": "document"}


def _media_of(answer: dict[str, Any]) -> SendMedia | None:
    """The media an answer carries (`image`, or `attachment`), or None."""
    image = answer.get("image")
    if isinstance(image, str) and image.strip():
        return SendMedia("image", image.strip())
    attachment = answer.get("attachment")
    if isinstance(attachment, str) and attachment.strip():
        link = attachment.strip()
        return SendMedia("document", link, filename=link.rsplit("/", 1)[-1].split("?", 1)[0][:240])
    if isinstance(attachment, dict):
        kind = ATTACHMENT_KINDS.get(str(attachment.get("type") or "file"), "document")
        payload = attachment.get("payload")
        payload = payload if isinstance(payload, dict) else {}
        link = str(payload.get("src") or payload.get("url") or payload.get("link") or "").strip()
        if link:
            filename = str(payload.get("title") or payload.get("filename") or "")[:240] if kind == "document" else ""
            return SendMedia(kind, link, filename=filename)
    return None


class ExternalBotError(Exception):
    pass


class ExternalRunner:
    def __init__(self, *, bot: Bot, conversation: Conversation) -> None:
        self.bot = bot
        self.conversation = conversation

    def request_body(self, *, session: BotSession, inbound: Inbound) -> dict[str, Any]:
        buttons = session.state.get("buttons", {})
        message = buttons.get(inbound.payload, inbound.payload) if inbound.payload else inbound.text
        contact = self.conversation.contact
        return {
            "sender": str(contact.pk),
            "message": message,
            "metadata": {
                "conversation_id": self.conversation.pk,
                "wa_id": contact.wa_id,
                "user_id": contact.user_id,
                "name": contact.profile_name,
                "language": contact.language or self.conversation.language,
            },
        }

    def call(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        headers = {"Authorization": self.bot.auth_header} if self.bot.auth_header else {}
        try:
            response = httpx.post(self.bot.endpoint_url, json=body, headers=headers, timeout=self.bot.timeout_seconds)
        except httpx.TimeoutException as exc:
            raise ExternalBotError(f"no answer within {self.bot.timeout_seconds:g} s") from exc
        except httpx.HTTPError as exc:
            raise ExternalBotError(f"could not reach the bot: {exc.__class__.__name__}") from exc
        if response.status_code >= 300:
            raise ExternalBotError(f"the bot answered HTTP {response.status_code}")
        try:
            answers = response.json()
        except ValueError as exc:
            raise ExternalBotError("the bot's answer is not JSON") from exc
        if not isinstance(answers, list) or not all(isinstance(a, dict) for a in answers):
            raise ExternalBotError("the bot's answer is not a list of messages")
        return answers[:MAX_ANSWERS]

    def respond(self, *, session: BotSession, inbound: Inbound) -> list[Action]:
        if not inbound.text and not inbound.payload:
            # Media and other non-text messages: Rasa's REST channel carries text only.
            return [SendText(gettext("Sorry, I can only read text messages."))]
        answers = self.call(self.request_body(session=session, inbound=inbound))
        if inbound.payload:
            session.last_intent = session.state.get("buttons", {}).get(inbound.payload, inbound.payload)[:200]
        actions: list[Action] = []
        buttons_map: dict[str, str] = {}
        for answer in answers:
            custom = answer.get("custom")
            if isinstance(custom, dict) and isinstance(custom.get("handoff"), dict):
                handoff = custom["handoff"]
                team = Team.objects.filter(slug=str(handoff.get("team", ""))).first() if handoff.get("team") else None
                if answer.get("text"):
                    actions.append(SendText(str(answer["text"])))
                actions.append(
                    HandOff(
                        Handoff.Reason.EXTERNAL_BOT,
                        str(handoff.get("reason", ""))[:500],
                        team,
                        skills=clean_skills(handoff.get("skills")),
                    )
                )
                break
            if isinstance(custom, dict) and custom.get("intent"):
                session.last_intent = str(custom["intent"])[:200]
            text = str(answer.get("text") or "")
            raw_buttons = answer.get("buttons")
            buttons: list[Any] = raw_buttons if isinstance(raw_buttons, list) else []
            options = []
            for button in buttons:
                if not isinstance(button, dict) or not button.get("title"):
                    continue
                button_id = f"ext:{len(buttons_map) + 1}"
                buttons_map[button_id] = str(button.get("payload") or button["title"])
                options.append(MenuOption(button_id, str(button["title"])))
            media = _media_of(answer)
            if options:
                actions.append(SendMenu(body=text, options=options))
                if media is not None:
                    actions.append(media)
            elif media is not None:
                if text and media.kind not in CAPTION_KINDS:
                    actions.append(SendText(text))
                    text = ""
                actions.append(SendMedia(media.kind, media.link, caption=text, filename=media.filename))
            elif text:
                actions.append(SendText(text))
        session.state = {**session.state, "buttons": buttons_map}
        return actions
