"""Sending one approved template into a conversation (desk, API, transactional API, campaigns)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils.translation import gettext

from conversations.media_types import a_kind
from conversations.models import Conversation, Message, WhatsAppNumber
from conversations.services.media_send import MediaFile, media_row_for
from conversations.services.message_send import SendRefused, message_queue_outbound
from notifications.models import MessageTemplate, TemplateStatus
from notifications.models.templates import ParameterFormat
from notifications.services.consent import consent_category_for_template, consent_is_current
from notifications.template_params import (
    MEDIA_FORMATS,
    TemplateParameterError,
    template_components_build,
    template_render,
    template_slots,
)


def template_for(*, conversation: Conversation, name: str, language: str) -> MessageTemplate | None:
    return template_for_number(number=conversation.number, name=name, language=language)


def template_for_number(*, number: WhatsAppNumber, name: str, language: str) -> MessageTemplate | None:
    """The template of that name and language the number may send: its business account's,
    else one kept for the number itself."""
    return (
        MessageTemplate.objects.filter(name=name, language=language)
        .filter(business_account_id=number.business_account_id or "")
        .first()
        or MessageTemplate.objects.filter(name=name, language=language, number=number).first()
    )


def template_content_build(*, template: MessageTemplate, parameters: Any) -> tuple[dict[str, Any], str]:
    """The Graph `template` content and its rendered text. Raises SendRefused
    (`template_invalid`) when the parameters do not fit the template's components."""
    try:
        components, texts = template_components_build(
            components=template.components,
            parameters=parameters,
            named=template.parameter_format == ParameterFormat.NAMED,
        )
    except TemplateParameterError as exc:
        raise SendRefused("template_invalid", gettext("Template %(template)s: %(problem)s")
                          % {"template": f"{template.name} [{template.language}]", "problem": exc}) from exc
    body: dict[str, Any] = {"name": template.name, "language": {"code": template.language, "policy": "deterministic"}}
    if components:
        body["components"] = components
    return {"type": "template", "template": body}, template_render(template.components, texts)


def template_check_sendable(*, template: MessageTemplate | None, conversation: Conversation, name: str, language: str) -> MessageTemplate:
    if template is None:
        raise SendRefused(
            "template_not_approved",
            gettext("There is no template %(name)s in language %(language)s for this number; sync the templates or "
                    "create it.") % {"name": name, "language": language},
        )
    if template.status != TemplateStatus.APPROVED:
        raise SendRefused(
            "template_not_approved",
            gettext("Template %(template)s is %(status)s; only approved templates can be sent.")
            % {"template": f"{template.name} [{template.language}]", "status": gettext(template.get_status_display()).lower()},
        )
    category = consent_category_for_template(template.category)
    if not consent_is_current(contact=conversation.contact, category=category):
        raise SendRefused(
            "not_opted_in",
            gettext("The contact has not opted in to %(category)s messages (or has opted out); a %(template_category)s "
                    "template needs a current opt-in.")
            % {"category": gettext(category), "template_category": template.category.lower()},
        )
    return template


def template_message_send(
    *,
    conversation: Conversation,
    name: str,
    language: str,
    parameters: list | dict | None,
    sender_user: User | None = None,
    header_file: MediaFile | None = None,
) -> Message:
    """Queue an approved template to the conversation's contact. `header_file`: a checked
    file (conversations.services.media_send.media_file_check) for a template whose header
    is an image, video or document; it is stored, uploaded by the delivery and sent by id.

    Refuses (SendRefused) before anything is queued: `template_not_approved` (unknown or not
    approved), `not_opted_in` (no current consent for the template's category; utility
    templates need it too, also inside an open window), `template_invalid` (parameters do
    not fit: count, names, types, lengths)."""
    template = template_check_sendable(
        template=template_for(conversation=conversation, name=name, language=language),
        conversation=conversation,
        name=name,
        language=language,
    )
    if header_file is not None:
        parameters = _with_header_file(template, parameters, header_file)
    content, text = template_content_build(template=template, parameters=parameters)
    media = media_row_for(header_file) if header_file is not None else None
    try:
        with transaction.atomic():
            return message_queue_outbound(
                conversation=conversation,
                type="template",
                content=content,
                text=text,
                sender_kind=Message.SenderKind.AGENT if sender_user is not None else Message.SenderKind.SYSTEM,
                sender_user=sender_user,
                business_initiated=True,
                media=media,
            )
    except BaseException:
        if media is not None:
            media.file.storage.delete(media.file.name or "")
        raise


def _with_header_file(template: MessageTemplate, parameters: Any, file: MediaFile) -> dict[str, Any]:
    """The parameters with the header's media taken from an uploaded file: its id is filled
    in when the delivery has uploaded it. Refused `template_invalid` when the template's
    header is not media of the file's kind, or a header parameter was given as well."""
    header = next((slot for slot in template_slots(template.components) if slot.component == "header"), None)
    kind = MEDIA_FORMATS.get(header.fmt) if header is not None else None
    where = f"Template {template.name} [{template.language}]"
    if kind is None:
        raise SendRefused("template_invalid", gettext("%(where)s has no image, video or document header to put a file in.")
                          % {"where": where})
    if kind != file.kind:
        raise SendRefused("template_invalid", gettext("%(where)s has %(kind)s header; the file is %(file_kind)s.")
                          % {"where": where, "kind": a_kind(kind), "file_kind": a_kind(file.kind)})
    if isinstance(parameters, dict):
        if parameters.get("header"):
            raise SendRefused("template_invalid", gettext("%(where)s: give the header as a file or as a parameter, not both.")
                              % {"where": where})
        given = dict(parameters)
    else:
        given = {"body": list(parameters or [])}
    given["header"] = [{"type": kind, kind: {"id": ""}}]
    return given
