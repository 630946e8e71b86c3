"""The conversations REST API: thin views over selectors (reads, access) and services (writes).

Every view requires an authenticated user (session with CSRF, or `Authorization: Token <key>`);
a conversation the user may not see answers 404, exactly like one that does not exist.
"""

from __future__ import annotations

from typing import cast

from django.contrib.auth.models import User
from django.http import FileResponse, Http404
from django.utils.translation import gettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api_actions import ActionView, acting_user
from config.api_errors import ApiError
from config.refusals import Refused
from conversations.access import contact_for_user, contacts_visible_to, conversation_for_user, request_roles
from conversations.media_views import media_for_user, media_response
from conversations.models import Message
from conversations.outreach import conversation_initiator, template_sender
from conversations.selectors import (
    conversation_detail,
    conversation_list,
    message_in_conversation,
    messages_for_conversation,
    number_for_new_contact,
)
from conversations.serializers import (
    ContactCreateSerializer,
    ContactFilterSerializer,
    ContactSerializer,
    ContactUpdateSerializer,
    ConversationCreateSerializer,
    ConversationDetailSerializer,
    ConversationFilterSerializer,
    ConversationSerializer,
    ConversationStartedSerializer,
    ErrorSerializer,
    MessageCreateSerializer,
    MessageFilterSerializer,
    MessageSerializer,
    MessageUploadSerializer,
)
from conversations.services.contact_language import contact_language_set
from conversations.services.contacts import contact_create
from conversations.services.media_download import media_download_retry
from conversations.services.media_send import media_file_check, message_send_media
from conversations.services.message_send import (
    check_channel,
    check_window,
    message_send_note,
    message_send_text,
    reply_permission_check,
)


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(response=ErrorSerializer, description=description)


INVALID = _error("`invalid`: the request or a parameter is malformed; `fields` says which.")
NOT_ALLOWED = _error(
    "`not_authenticated`: no valid session or token; `forbidden`: signed in but not allowed "
    "(also a session request without its CSRF token)."
)
NOT_FOUND = _error("`not_found`: no such conversation, or not one this user may see.")


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


def _paginated(view: APIView, request: Request, queryset, serializer_class) -> Response:
    paginator = view.pagination_class()  # type: ignore[attr-defined]
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


def _user(request: Request) -> User:
    """The signed-in user (every view here requires authentication)."""
    return cast(User, request.user)


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class ConversationListApi(APIView):
    pagination_class = Pagination

    @extend_schema(
        operation_id="conversations_list",
        summary="Conversations this user may see, newest activity first",
        parameters=[ConversationFilterSerializer],
        responses={200: ConversationSerializer(many=True), 400: INVALID, 403: NOT_ALLOWED},
    )
    def get(self, request: Request) -> Response:
        filters = _valid(ConversationFilterSerializer, request.query_params)
        assignee = filters.get("assignee")
        assignee_id: int | None = None
        if assignee == "me":
            assignee_id = request.user.pk
        elif assignee and assignee != "none":
            assignee_id = int(assignee)
        conversations = conversation_list(
            user=acting_user(request),
            status=filters.get("status"),
            team_id=filters.get("team"),
            assignee_id=assignee_id,
            unassigned=assignee == "none",
            since=filters.get("since"),
        )
        return _paginated(self, request, conversations, ConversationSerializer)

    @extend_schema(
        operation_id="conversations_create",
        summary="Start a conversation: write first to a contact or a phone number with an approved template",
        description="For every desk user. The contact must be one you may see; a phone number new to the WhatsApp "
        "number creates its contact. The contact's open conversation is reused (200) rather than duplicated; a "
        "new one (201) is assigned to you. Only approved templates, and only with a current opt-in for the "
        "template's category (marketing templates a marketing opt-in; utility and authentication a utility one).",
        request=ConversationCreateSerializer,
        responses={
            200: ConversationStartedSerializer,
            201: ConversationStartedSerializer,
            400: _error("`invalid` (e.g. `to` is not a phone number in international format) or "
                        "`template_invalid` (the parameters do not fit the template)."),
            403: _error("`forbidden`: the contact's open conversation is assigned to someone else and you may not "
                        "reply there, or an opt-in was given without the permission to record it; or "
                        "`not_authenticated`."),
            404: _error("`not_found`: no such contact, or not one this user may see."),
            409: _error("`not_opted_in` (no current opt-in for the template's category), `template_not_approved`, "
                        "`contact_exists` (the phone number belongs to a contact you may not see), `conflict` (the "
                        "contact has an open conversation you may not see) or `over_capacity`."),
        },
    )
    def post(self, request: Request) -> Response:
        data = _valid(ConversationCreateSerializer, request.data)
        contact = contact_for_user(request.user, data["contact"]) if "contact" in data else None
        number = None
        if contact is None or data.get("number") is not None:
            number = number_for_new_contact(number_id=data.get("number"))
            if number is None:
                raise Refused("invalid", gettext("number: no such WhatsApp number (and no default number is set)."),
                              field="number")
        template = data["template"]
        outreach = conversation_initiator()(  # refusals propagate to the API's error handler
            actor=_user(request), contact=contact, to=data.get("to", ""), number=number,
            template_name=template["name"], language=template["language"],
            parameters=template.get("parameters") or [], opt_in_proof=data.get("opt_in_proof", ""),
        )
        body = {
            "conversation": conversation_detail(user=acting_user(request), conversation_id=outreach.conversation.pk),
            "message": outreach.message,
            "created": outreach.created,
            "contact_created": outreach.contact_created,
        }
        return Response(ConversationStartedSerializer(body).data,
                        status=status.HTTP_201_CREATED if outreach.created else status.HTTP_200_OK)


class ConversationDetailApi(APIView):
    @extend_schema(
        operation_id="conversations_retrieve",
        summary="One conversation with its participants, window, SLA times and handoff context",
        responses={200: ConversationDetailSerializer, 403: NOT_ALLOWED, 404: NOT_FOUND},
    )
    def get(self, request: Request, conversation_id: int) -> Response:
        conversation = conversation_detail(user=acting_user(request), conversation_id=conversation_id)
        return Response(ConversationDetailSerializer(conversation).data)


class ConversationMessagesApi(APIView):
    pagination_class = Pagination

    @extend_schema(
        operation_id="conversations_messages_list",
        summary="The conversation's messages, oldest first, internal notes included and marked",
        parameters=[MessageFilterSerializer],
        responses={200: MessageSerializer(many=True), 400: INVALID, 403: NOT_ALLOWED, 404: NOT_FOUND},
    )
    def get(self, request: Request, conversation_id: int) -> Response:
        conversation = conversation_for_user(request.user, conversation_id)
        filters = _valid(MessageFilterSerializer, request.query_params)
        messages = messages_for_conversation(conversation, after_id=filters.get("after"))
        return _paginated(self, request, messages, MessageSerializer)

    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(
        operation_id="conversations_messages_create",
        summary="Send a text reply, add an internal note, send an approved template, or send a file",
        description="JSON for text, notes and templates; `multipart/form-data` with `file` (and `caption`) "
        "to send an image, audio, video, document or sticker. The file is checked against WhatsApp's "
        "type and size rules before anything is stored, uploaded to WhatsApp and sent by its media id.",
        request={"application/json": MessageCreateSerializer, "multipart/form-data": MessageUploadSerializer},
        responses={
            201: MessageSerializer,
            400: _error("`invalid` or `template_invalid`: the message cannot be sent as given."),
            403: _error(
                "`forbidden`: a text reply to a conversation assigned to someone else, from a user "
                "who is not its participant, a supervisor of its team or an admin; or `not_authenticated`."
            ),
            404: NOT_FOUND,
            409: _error(
                "Refused by a messaging rule: `window_closed` (more than 24 h since the customer's "
                "last message: send a template), `not_opted_in` or `template_not_approved`."
            ),
        },
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        # The sender's roles are read once for the access check and the reply rule.
        conversation = conversation_for_user(request_roles(request), conversation_id)
        if "file" in request.FILES:
            return self._send_file(request, conversation)
        data = _valid(MessageCreateSerializer, request.data)
        # The sending services' refusals (SendRefused) propagate to the API's error handler.
        if "note" in data:
            message = message_send_note(conversation=conversation, text=data["note"], author=_user(request))
        elif "template" in data:
            template = data["template"]
            message = template_sender()(
                conversation=conversation,
                name=template["name"],
                language=template["language"],
                parameters=template.get("parameters") or [],
                sender_user=_user(request),
            )
        else:
            reply_to = _reply_to(conversation, data.get("reply_to"))
            message = message_send_text(
                conversation=conversation,
                text=data["text"],
                sender_kind="agent",
                sender_user=_user(request),
                reply_to=reply_to,
                roles=request_roles(request),
            )
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)

    def _send_file(self, request: Request, conversation) -> Response:
        data = _valid(MessageUploadSerializer, request.data)
        upload = data["file"]
        if "template" in data:
            template = data["template"]
            header_file = media_file_check(data=upload, name=upload.name or "", content_type=upload.content_type or "")
            message = template_sender()(
                conversation=conversation,
                name=template["name"],
                language=template["language"],
                parameters=template.get("parameters") or [],
                sender_user=_user(request),
                header_file=header_file,
            )
            return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)
        reply_to = _reply_to(conversation, data.get("reply_to"))
        caption = data.get("caption") or ""
        # Who may reply and whether the window is open are refused before the file is read.
        reply_permission_check(user=_user(request), conversation=conversation, roles=request_roles(request))
        check_channel(conversation)
        check_window(conversation)
        checked = media_file_check(
            data=upload, name=upload.name or "", content_type=upload.content_type or "", caption=caption
        )
        message = message_send_media(
            conversation=conversation, file=checked, caption=caption, sender_user=_user(request), reply_to=reply_to,
            roles=request_roles(request),
        )
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)


def _reply_to(conversation, reply_to_id: int | None):
    if reply_to_id is None:
        return None
    reply_to = message_in_conversation(conversation, reply_to_id)
    if reply_to is None:
        raise Refused("invalid", gettext("reply_to: no such message in this conversation."), field="reply_to")
    return reply_to


class MessageMediaApi(APIView):
    @extend_schema(
        operation_id="conversations_messages_media_retrieve",
        summary="The file of a media message (inline for images, audio and video; else a download)",
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                response=OpenApiTypes.BINARY, description="The file (its own content type)."
            ),
            403: NOT_ALLOWED,
            404: _error("`not_found`: no such message or stored file, or not one this user may see."),
        },
    )
    def get(self, request: Request, conversation_id: int, message_id: int) -> FileResponse:
        return media_response(media_for_user(request.user, message_id, conversation_id))


class MessageMediaRetryApi(ActionView):
    """`POST …/messages/<id>/media/retry/`: download a failed inbound file again."""

    @extend_schema(
        operation_id="conversations_messages_media_retry",
        summary="Download a customer's file again after its download failed",
        request=None,
        responses={
            200: MessageSerializer,
            400: _error("`invalid`: the message has no failed download to retry."),
            403: NOT_ALLOWED,
            404: NOT_FOUND,
        },
    )
    def post(self, request: Request, **kwargs) -> Response:
        return super().post(request, **kwargs)

    def target(self, request: Request, **kwargs) -> Message:
        conversation = conversation_for_user(request.user, kwargs["conversation_id"])
        message = message_in_conversation(conversation, kwargs["message_id"])
        if message is None:
            raise Http404("No such message.")
        return message

    def perform(self, request: Request, target: Message, values: dict) -> Message:
        media_download_retry(user=acting_user(request), message=target)
        return message_in_conversation(target.conversation, target.pk) or target

    def respond(self, request: Request, target: Message, result: Message) -> Response:
        return Response(MessageSerializer(result).data)


class ContactListApi(APIView):
    pagination_class = Pagination

    @extend_schema(
        operation_id="contacts_list",
        summary="Contacts this user may see (of their visible conversations, or created by them), newest first",
        parameters=[ContactFilterSerializer],
        responses={200: ContactSerializer(many=True), 400: INVALID, 403: NOT_ALLOWED},
    )
    def get(self, request: Request) -> Response:
        filters = _valid(ContactFilterSerializer, request.query_params)
        return _paginated(self, request, contacts_visible_to(request.user, q=filters.get("q", "")), ContactSerializer)

    @extend_schema(
        operation_id="contacts_create",
        summary="Create a contact by phone number (international format) or business-scoped user id",
        description="Any desk user may create a contact; it is visible to its creator (and admins) until it has "
        "a conversation, then to whoever sees that conversation.",
        request=ContactCreateSerializer,
        responses={
            201: ContactSerializer,
            400: INVALID,
            403: NOT_ALLOWED,
            409: _error("`contact_exists`: this number already has a contact with that id (which one is not said)."),
        },
    )
    def post(self, request: Request) -> Response:
        data = _valid(ContactCreateSerializer, request.data)
        number = number_for_new_contact(number_id=data.get("number"))
        if number is None:
            raise ApiError("invalid", gettext("number: no such WhatsApp number (and no default number is set)."))
        contact = contact_create(  # ContactRefused propagates to the API's error handler
            number=number,
            wa_id=data.get("wa_id", ""),
            user_id=data.get("user_id", ""),
            profile_name=data.get("profile_name", ""),
            language=data.get("language", ""),
            attributes=data.get("attributes"),
            created_by=_user(request),
        )
        return Response(ContactSerializer(contact).data, status=status.HTTP_201_CREATED)


class ContactDetailApi(APIView):
    @extend_schema(
        operation_id="contacts_retrieve",
        summary="One contact this user may see",
        responses={200: ContactSerializer, 403: NOT_ALLOWED,
                   404: _error("`not_found`: no such contact, or not one this user may see.")},
    )
    def get(self, request: Request, contact_id: int) -> Response:
        return Response(ContactSerializer(contact_for_user(request.user, contact_id)).data)

    @extend_schema(
        operation_id="contacts_partial_update",
        summary="Correct a contact's language (anyone who may see the contact)",
        request=ContactUpdateSerializer,
        responses={200: ContactSerializer, 400: INVALID, 403: NOT_ALLOWED,
                   404: _error("`not_found`: no such contact, or not one this user may see.")},
    )
    def patch(self, request: Request, contact_id: int) -> Response:
        contact = contact_for_user(request.user, contact_id)
        data = _valid(ContactUpdateSerializer, request.data)
        contact = contact_language_set(contact=contact, language=data["language"], actor=_user(request))
        return Response(ContactSerializer(contact).data)
