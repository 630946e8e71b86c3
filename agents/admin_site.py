"""The admin site every admin in the project registers on: each ModelAdmin is given
`AuditedAdminMixin`, so additions, changes (with before and after of the changed fields,
inlines included), deletions and admin actions are written to the audit log, in the same
transaction as the change, without each admin having to remember it.

The site is the admin app's default site (`agents.apps.HandoffAdminConfig` in
INSTALLED_APPS), so `admin.site` and `@admin.register` use it."""

from __future__ import annotations

import functools
from typing import Any

from django import forms
from django.contrib import admin
from django.db import models
from django.http import HttpRequest
from django.template.response import TemplateResponse

from agents.services.audit import audit_changes, audit_record, audit_repr, field_is_secret

MAX_ACTION_IDS = 100


def _form_value(field: forms.Field | None, value: Any) -> Any:
    """A form value as the log shows it: related objects by name (ids looked up)."""
    related = field.queryset.model if isinstance(field, forms.ModelChoiceField) and field.queryset is not None else None
    if related is not None and isinstance(field, forms.ModelMultipleChoiceField):
        items = list(value or [])
        objects = [item for item in items if isinstance(item, models.Model)]
        ids = [item for item in items if not isinstance(item, models.Model)]
        if ids:
            objects += list(related._default_manager.filter(pk__in=ids))
        return sorted(audit_repr(obj) for obj in objects)
    if related is not None and value not in (None, "") and not isinstance(value, models.Model):
        key = getattr(field, "to_field_name", None) or "pk"
        found = related._default_manager.filter(**{key: value}).first()
        return audit_repr(found) if found is not None else value
    return value


def _form_model(form: forms.BaseForm) -> Any:
    meta = getattr(form, "_meta", None)
    return getattr(meta, "model", None)


def form_changes(form: forms.BaseForm, *, prefix: str = "", skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Before and after of each changed field of a saved form, masked for the form's model."""
    model = _form_model(form)
    changes: dict[str, Any] = {}
    for name in form.changed_data:
        if name in skip:
            continue
        field = form.fields.get(name)
        before = form.initial.get(name, field.initial if field is not None else None)
        after = getattr(form, "cleaned_data", {}).get(name)
        pair = [_form_value(field, before), _form_value(field, after)]
        changes.update(audit_changes(model, {f"{prefix}{name}": pair}))
    return changes


def admin_form_changes(form: forms.BaseForm, formsets: Any = None) -> dict[str, Any]:
    """The changes of an admin save: the main form's fields, and per inline object its
    changed fields (`"business hours #4.opens_at"`), additions and deletions."""
    changes = form_changes(form)
    for formset in formsets or ():
        opts = formset.model._meta
        pk_name = opts.pk.name
        fk = getattr(formset, "fk", None)
        skip = ("DELETE", "ORDER", pk_name, fk.name if fk is not None else "")
        for inline in formset.forms:
            deleted = formset.can_delete and getattr(inline, "cleaned_data", {}).get("DELETE")
            if not deleted and not inline.has_changed():
                continue
            pk = inline.instance.pk if inline.instance.pk is not None else inline.initial.get(pk_name)
            label = f"{opts.verbose_name} #{pk}"
            if deleted:
                changes[label] = [audit_repr(inline.instance), None]
                continue
            if inline.initial.get(pk_name) is None:
                changes[label] = [None, audit_repr(inline.instance)]
            changes.update(form_changes(inline, prefix=f"{label}.", skip=skip))
    return changes


def object_snapshot(obj: models.Model) -> dict[str, Any]:
    """A deleted object's field values as `[before, None]` (related objects by id, so a
    bulk delete costs no extra queries)."""
    snapshot: dict[str, Any] = {}
    for field in obj._meta.concrete_fields:
        if field.primary_key:
            continue
        value = getattr(obj, field.attname, None)
        if field.is_relation and value is not None and field.related_model is not None:
            value = f"{field.related_model._meta.verbose_name} #{value}"
        snapshot[field.name] = [value, None]
    return audit_changes(type(obj), snapshot)


class AuditedAdminMixin:
    """Writes admin additions, changes, deletions and actions to the audit log.

    Django calls `construct_change_message` with the saved form and inline formsets just
    before `log_addition` / `log_change`, inside the change view's transaction; the
    before/after computed there is written by the log call. Actions are recorded after
    they run, with the number of objects and their ids, unless they answer with a page
    (a confirmation step: the confirmed run is recorded); `delete_selected` is recorded
    per object as deletions instead. An admin lists other actions it records itself in
    `audit_skip_actions` (looked up on the admin class: the mixin comes first in the MRO
    and so defines no default of its own)."""

    def construct_change_message(self, request, form, formsets, add=False):
        message = super().construct_change_message(request, form, formsets, add)  # type: ignore[misc]
        setattr(request, "_audit_changes", admin_form_changes(form, formsets))  # noqa: B010
        return message

    def _audit_saved(self, request: HttpRequest, obj: models.Model, action: str) -> None:
        changes = request.__dict__.pop("_audit_changes", None) or {}
        audit_record(actor=request.user, action=action, target=obj, changes=changes, request=request)

    def log_addition(self, request, obj, message):
        entry = super().log_addition(request, obj, message)  # type: ignore[misc]
        self._audit_saved(request, obj, "admin.add")
        return entry

    def log_change(self, request, obj, message):
        entry = super().log_change(request, obj, message)  # type: ignore[misc]
        self._audit_saved(request, obj, "admin.change")
        return entry

    def log_deletions(self, request, queryset):
        entries = super().log_deletions(request, queryset)  # type: ignore[misc]
        for obj in queryset:
            audit_record(actor=request.user, action="admin.delete", target=obj, changes=object_snapshot(obj),
                         request=request)
        return entries

    def get_actions(self, request):
        actions = super().get_actions(request)  # type: ignore[misc]
        skip = getattr(self, "audit_skip_actions", ("delete_selected",))
        return {
            name: (func if name in skip else _audited_action(func, name), name, description)
            for name, (func, _name, description) in actions.items()
        }


def _audited_action(func: Any, name: str) -> Any:
    @functools.wraps(func)
    def run(modeladmin: Any, request: HttpRequest, queryset: models.QuerySet) -> Any:
        model = modeladmin.model
        ids: list[str] = []
        if not field_is_secret(model, model._meta.pk.name):
            ids = [str(pk) for pk in queryset.values_list("pk", flat=True)[:MAX_ACTION_IDS]]
        count = queryset.count()
        response = func(modeladmin, request, queryset)
        if isinstance(response, TemplateResponse):
            return response  # a page asking for confirmation: nothing was done yet
        audit_record(actor=request.user, action="admin.action", target=model, request=request, name=name,
                     count=count, ids=ids)
        return response

    return run


@functools.cache
def audited_admin_class(admin_class: type) -> type:
    """`admin_class` with `AuditedAdminMixin` in front (itself when it has it already)."""
    if issubclass(admin_class, AuditedAdminMixin):
        return admin_class
    return type(admin_class.__name__, (AuditedAdminMixin, admin_class),
                {"__module__": admin_class.__module__, "__doc__": admin_class.__doc__})


class AuditedAdminSite(admin.AdminSite):
    """The default admin site: every registered ModelAdmin is audited."""

    def register(self, model_or_iterable, admin_class=None, **options):
        super().register(model_or_iterable, audited_admin_class(admin_class or admin.ModelAdmin), **options)

