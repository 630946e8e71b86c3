"""Consent, templates and the transactional notification API. Thin: validate, check
access, call one service, shape the answer."""

from __future__ import annotations

from typing import Any, cast

from django.contrib.auth.models import User
from django.db import transaction
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api_errors import ApiError, refusal_body, refusal_status
from conversations.models import Contact, WhatsAppNumber
from conversations.providers.whatsapp import GraphError
from conversations.selectors import contact_for_user, number_for_new_contact, user_is_admin
from conversations.services.contacts import ContactRefused, is_user_id, wa_id_normalize
from conversations.services.message_receive import conversation_for_contact
from conversations.services.message_send import SendRefused
from notifications.models import ConsentSource
from notifications.selectors import templates_for_number
from notifications.serializers import (
    ConsentChangeSerializer,
    ConsentRecordSerializer,
    ContactConsentSerializer,
    NotificationCreateSerializer,
    NotificationResultSerializer,
    TemplateCreateSerializer,
    TemplateFilterSerializer,
    TemplateSerializer,
)
from notifications.services import consent as consent_services
from notifications.services.idempotency import idempotent_call
from notifications.services.template_send import template_message_send
from notifications.services.template_sync import template_submit, templates_sync
from notifications.services.templates import template_create


def valid(serializer_class, data) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def request_user(request: Request) -> User:
    """The signed-in user (every view here requires authentication)."""
    return cast(User, request.user)


def require_admin(request: Request) -> None:
    if not user_is_admin(request.user):
        raise ApiError("forbidden", gettext("Only admins may do this."), status.HTTP_403_FORBIDDEN)


def number_or_default(number_id: int | None) -> WhatsAppNumber:
    number = number_for_new_contact(number_id=number_id)
    if number is None:
        raise ApiError("invalid", gettext("No such WhatsApp number (and no default number)."))
    return number


def _consent_answer(contact: Contact) -> Response:
    return Response(ContactConsentSerializer({"contact": contact.pk,
                                              "consent": consent_services.consent_state(contact=contact)}).data)


class ContactConsentApi(APIView):
    """GET /api/v1/contacts/<id>/consent/: the current state per category."""

    @extend_schema(operation_id="contacts_consent_retrieve", responses={200: ContactConsentSerializer},
                   summary="The contact's current consent per category (contacts the user may see)")
    def get(self, request: Request, contact_id: int) -> Response:
        return _consent_answer(contact_for_user(request.user, contact_id))


class ContactConsentHistoryApi(APIView):
    """GET /api/v1/contacts/<id>/consent/history/: every change, newest first."""

    pagination_class = PageNumberPagination

    @extend_schema(operation_id="contacts_consent_history", responses={200: ConsentRecordSerializer(many=True)},
                   summary="Every consent change of the contact, newest first: source, proof, who recorded it")
    def get(self, request: Request, contact_id: int) -> Response:
        contact = contact_for_user(request.user, contact_id)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(consent_services.consent_history(contact=contact), request, view=self)
        return paginator.get_paginated_response(ConsentRecordSerializer(page, many=True).data)


class _ContactConsentChangeApi(APIView):
    opted_in = True

    def change(self, request: Request, contact_id: int) -> Response:
        # Found first: a contact the user may not see is 404, whatever the body or role.
        contact = contact_for_user(request.user, contact_id)
        data = valid(ConsentChangeSerializer, request.data)
        categories = consent_services.CATEGORIES if data["category"] == "all" else (data["category"],)
        consent_services.consent_change_by_user(  # ConsentRefused propagates to the API's error handler
            contact=contact, categories=categories, opted_in=self.opted_in, proof=data["proof"],
            actor=request_user(request), source=ConsentSource.API,
        )
        return _consent_answer(contact)


class ContactOptInApi(_ContactConsentChangeApi):
    """POST /api/v1/contacts/<id>/opt-in/."""

    @extend_schema(
        operation_id="contacts_opt_in", request=ConsentChangeSerializer,
        responses={200: ContactConsentSerializer,
                   403: OpenApiResponse(description="`forbidden`: recording an opt-in needs the record opt-in "
                                                    "permission (admins have it); or `not_authenticated`.")},
        summary="Record an opt-in (source `api`) with its proof: admins and users granted the permission",
    )
    def post(self, request: Request, contact_id: int) -> Response:
        return self.change(request, contact_id)


class ContactOptOutApi(_ContactConsentChangeApi):
    """POST /api/v1/contacts/<id>/opt-out/: anyone who may see the contact; effective at once."""

    opted_in = False

    @extend_schema(operation_id="contacts_opt_out", request=ConsentChangeSerializer,
                   responses={200: ContactConsentSerializer},
                   summary="Record an opt-out (source `api`), effective at once: anyone who may see the contact")
    def post(self, request: Request, contact_id: int) -> Response:
        return self.change(request, contact_id)


class TemplateListApi(APIView):
    @extend_schema(parameters=[TemplateFilterSerializer],
                   responses={200: TemplateSerializer(many=True),
                              403: OpenApiResponse(description="`forbidden`: `sync=true` is for admins; or "
                                                               "`not_authenticated`."),
                              502: OpenApiResponse(description="`provider_error`: WhatsApp refused the template "
                                                               "list (`sync=true`).")},
                   summary="Message templates (any signed-in user); `sync=true` refreshes from WhatsApp (admins)")
    def get(self, request: Request) -> Response:
        filters = valid(TemplateFilterSerializer, request.query_params)
        if filters.get("sync"):
            require_admin(request)
            try:
                templates_sync(number=number_or_default(filters.get("number")))
            except ValueError as exc:  # a number without a business account
                raise ApiError("invalid", gettext("number: %(problem)s.") % {"problem": exc}) from None
            except GraphError as exc:
                raise ApiError("provider_error", gettext("WhatsApp refused the template list: %(problem)s") % {"problem": exc},
                               status.HTTP_502_BAD_GATEWAY) from None
        templates = templates_for_number(number_id=filters.get("number"))
        if filters.get("status"):
            templates = templates.filter(status=filters["status"].upper())
        return Response(TemplateSerializer(templates, many=True).data)

    @extend_schema(request=TemplateCreateSerializer,
                   responses={201: TemplateSerializer,
                              409: OpenApiResponse(description="`template_exists`: a template with this name and "
                                                               "language exists already.")},
                   summary="Create a template (admins) and submit it to WhatsApp for review")
    def post(self, request: Request) -> Response:
        require_admin(request)
        data = valid(TemplateCreateSerializer, request.data)
        template = template_create(  # TemplateRefused propagates to the API's error handler
            number=number_or_default(data.get("number")), name=data["name"], language=data["language"],
            category=data["category"], components=data["components"], parameter_format=data["parameter_format"],
        )
        if data["submit"]:
            template = template_submit(template=template)
        return Response(TemplateSerializer(template).data, status=status.HTTP_201_CREATED)


def _notification_contact(data: dict[str, Any]) -> Contact:
    if data.get("contact"):
        return get_object_or_404(Contact.objects.select_related("number"), pk=data["contact"])
    number = number_or_default(data.get("number"))
    if is_user_id(data["to"]):  # a customer WhatsApp gives no phone number of
        contact = Contact.objects.filter(number=number, user_id=data["to"].strip()).first()
        if contact is None:
            raise ApiError("not_opted_in", gettext("This user id has no contact and so no opt-in."))
        return contact
    try:
        wa_id = wa_id_normalize(data["to"])
    except ContactRefused as exc:
        raise ApiError("invalid", gettext("to: %(problem)s") % {"problem": exc.detail}) from None
    contact = Contact.objects.filter(number=number, wa_id=wa_id).first()
    if contact is None:
        raise ApiError("not_opted_in", gettext("This phone number has no contact and so no opt-in."))
    return contact


class NotificationApi(APIView):
    """POST /api/v1/notifications/: one transactional template message, idempotent by key."""

    @extend_schema(
        request=NotificationCreateSerializer,
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=True)],
        responses={
            201: NotificationResultSerializer,
            404: OpenApiResponse(description="`not_found`: no such contact."),
            409: OpenApiResponse(description="`not_opted_in`, `template_not_approved`; or "
                                             "`idempotency_key_reused` (the key came with another body) and "
                                             "`idempotency_in_progress` (its first request still runs)."),
        },
        summary="Send one approved template to a contact (admins); a repeated Idempotency-Key returns the first answer",
    )
    def post(self, request: Request) -> Response:
        require_admin(request)
        key = (request.headers.get("Idempotency-Key") or "").strip()
        if not key or len(key) > 255:
            raise ApiError("invalid", gettext("The Idempotency-Key header is required (at most 255 characters)."))
        data = valid(NotificationCreateSerializer, request.data)

        def send() -> tuple[int, dict, int | None]:
            contact = _notification_contact(data)
            template = data["template"]
            try:
                # A refused send leaves nothing behind, not even a newly opened conversation.
                with transaction.atomic():
                    message = template_message_send(
                        conversation=conversation_for_contact(contact=contact), name=template["name"],
                        language=template["language"], parameters=template.get("parameters"), sender_user=None,
                    )
            except SendRefused as refusal:
                # Answered, not raised: the refusal is the answer remembered under the key.
                return refusal_status(refusal.code), refusal_body(refusal), None
            body = {"message": message.pk, "conversation": message.conversation_id, "contact": contact.pk,
                    "status": message.status}
            return status.HTTP_201_CREATED, body, message.pk

        # IdempotencyConflict propagates to the API's error handler (409).
        code, body, replayed = idempotent_call(user=request_user(request), key=key, data=request.data, action=send)
        response = Response(body, status=code)
        if replayed:
            response["Idempotent-Replayed"] = "true"
        return response
