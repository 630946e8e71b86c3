"""`POST /api/v1/contacts/<id>/erase/`: erase a contact's personal data (admins only)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api_errors import ApiError
from conversations.access import user_is_admin
from conversations.models import Contact, ContactErasure
from conversations.serializers import ErrorSerializer
from conversations.services.contact_erasure import contact_erase


class ContactErasureSerializer(serializers.ModelSerializer):
    contact = serializers.IntegerField(source="contact_ref", read_only=True)
    erased_by = serializers.CharField(source="actor_username", read_only=True)
    already_erased = serializers.SerializerMethodField()
    counts = serializers.DictField(
        child=serializers.IntegerField(), read_only=True, help_text="Rows changed, per kind of data."
    )

    class Meta:
        model = ContactErasure
        fields = ["contact", "erased_at", "erased_by", "via", "already_erased", "counts"]
        read_only_fields = fields

    def get_already_erased(self, erasure: ContactErasure) -> bool:
        return bool(self.context.get("already_erased"))


class ContactEraseApi(APIView):
    @extend_schema(
        operation_id="contacts_erase",
        summary="Erase a contact's personal data everywhere it is kept (admins only)",
        description=(
            "GDPR Art. 17. Messages, raw webhook bodies, statuses, handoff context, consent proofs, "
            "campaign rows and the contact's own fields are anonymised; conversations and messages stay "
            "as rows so reports keep counting them. Idempotent: erasing again changes nothing and answers "
            "with the first erasure and `already_erased: true`."
        ),
        request=None,
        responses={
            200: ContactErasureSerializer,
            403: OpenApiResponse(ErrorSerializer, description="`not_authenticated`, or `forbidden`: not an admin."),
            404: OpenApiResponse(ErrorSerializer, description="`not_found`: no such contact."),
        },
    )
    def post(self, request: Request, contact_id: int) -> Response:
        if not user_is_admin(request.user):
            raise ApiError("forbidden", gettext("Only admins may erase a contact."), status.HTTP_403_FORBIDDEN)
        contact = get_object_or_404(Contact, pk=contact_id)
        result = contact_erase(contact=contact, actor=request.user, via=ContactErasure.Via.API)  # type: ignore[arg-type]
        body = ContactErasureSerializer(result.erasure, context={"already_erased": result.already_erased}).data
        return Response(body, status=status.HTTP_200_OK)
