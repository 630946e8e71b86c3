"""Admin → Audit entries: read-only for everyone (superusers included), filtered by action,
actor, date and target type, searchable, and exportable as CSV (the filtered list through
the "Export CSV" button, or the selected rows through the action). Every export is itself
recorded (`audit.export`)."""

from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseBadRequest, StreamingHttpResponse
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from agents.models import AuditEntry
from agents.services.audit import MASKED, audit_record

CSV_HEADER = ["time", "actor", "action", "target type", "target id", "target", "changes", "ip", "user agent", "extra"]
CSV_CHUNK = 1000
DETAIL_FIELDS = ("at", "actor", "actor_username", "action", "target_type", "target_id", "target_repr", "changes_table",
                 "ip", "user_agent", "extra_pretty")
# Spreadsheets run a cell starting with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> str:
    """A cell that a spreadsheet shows as text: formula starts get a leading quote."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True) if value else ""


def audit_csv_row(entry: AuditEntry) -> list[str]:
    target_type = f"{entry.target_type.app_label}.{entry.target_type.model}" if entry.target_type else ""
    cells = [entry.at.isoformat(), entry.actor_username, entry.action, target_type, entry.target_id,
             entry.target_repr, _json(entry.changes), entry.ip or "", entry.user_agent, _json(entry.extra)]
    return [csv_safe(cell) for cell in cells]


class _Line:
    """A file-like object whose write() hands back what csv.writer wrote."""

    def write(self, text: str) -> str:
        return text


def _chunk(queryset: QuerySet[AuditEntry], below_id: int) -> list[AuditEntry]:
    return list(queryset.filter(id__lt=below_id).select_related("target_type").order_by("-id")[:CSV_CHUNK])


async def _csv_lines(queryset: QuerySet[AuditEntry], upto_id: int) -> AsyncIterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(CSV_HEADER)
    below = upto_id + 1
    while True:
        entries = await sync_to_async(_chunk)(queryset, below)
        if not entries:
            return
        for entry in entries:
            yield writer.writerow(audit_csv_row(entry))
        below = entries[-1].id


def audit_csv_response(*, request: HttpRequest, queryset: QuerySet[AuditEntry], source: str) -> StreamingHttpResponse:
    """Record the export, then stream the rows (newest first, in chunks, as they stood
    before this export was recorded)."""
    upto = queryset.order_by("-id").values_list("id", flat=True).first() or 0
    filters = {key: value[:200] for key, value in request.GET.items()}
    audit_record(actor=request.user, action="audit.export", target=AuditEntry, request=request, source=source,
                 rows=queryset.count(), filters=filters)
    response = StreamingHttpResponse(_csv_lines(queryset, upto), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    return response


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["at", "actor_username", "action", "target_type", "target_repr", "changes_summary", "ip"]
    list_filter = [
        "action",
        ("actor", admin.RelatedOnlyFieldListFilter),
        "at",
        ("target_type", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["actor_username", "action", "target_repr", "=target_id"]
    search_help_text = "Username, action, target name, or exact target id."
    date_hierarchy = "at"
    list_select_related = ["target_type"]
    fields = DETAIL_FIELDS
    readonly_fields = DETAIL_FIELDS
    actions = ["export_csv"]
    # The export is recorded as `audit.export`, not as a generic admin action.
    audit_skip_actions = ("delete_selected", "export_csv")
    change_list_template = "admin/agents/auditentry/change_list.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="changes")
    def changes_summary(self, entry: AuditEntry) -> str:
        parts = []
        for field, pair in (entry.changes or {}).items():
            if pair == MASKED or not isinstance(pair, list):
                parts.append(f"{field}: {MASKED}")
            else:
                parts.append(f"{field}: {_short(pair[0])} → {_short(pair[1])}")
        text = "; ".join(parts)
        return text if len(text) <= 120 else text[:119] + "…"

    @admin.display(description="changes")
    def changes_table(self, entry: AuditEntry) -> str:
        rows = []
        for field, pair in (entry.changes or {}).items():
            before, after = ("", MASKED) if pair == MASKED or not isinstance(pair, list) else (_show(pair[0]), _show(pair[1]))
            rows.append((field, before, after))
        if not rows:
            return "—"
        return format_html(
            "<table><thead><tr><th>field</th><th>before</th><th>after</th></tr></thead><tbody>{}</tbody></table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
        )

    @admin.display(description="extra")
    def extra_pretty(self, entry: AuditEntry) -> str:
        return format_html("<pre>{}</pre>", json.dumps(entry.extra, indent=2, ensure_ascii=False)) if entry.extra else "—"

    @admin.action(description="Export selected entries as CSV")
    def export_csv(self, request: HttpRequest, queryset: QuerySet[AuditEntry]) -> StreamingHttpResponse:
        return audit_csv_response(request=request, queryset=queryset, source="selection")

    def get_urls(self):
        return [
            path("export/", self.admin_site.admin_view(self.export_view), name="agents_auditentry_export"),
            *super().get_urls(),
        ]

    def export_view(self, request: HttpRequest):
        """The changelist's filters and search (same query string), as CSV."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            return HttpResponseBadRequest("Unknown filter in the query string.")
        return audit_csv_response(request=request, queryset=changelist.get_queryset(request), source="list")


def _show(value: Any) -> str:
    if value is None:
        return "—"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _short(value: Any) -> str:
    text = _show(value)
    return text if len(text) <= 40 else text[:39] + "…"
