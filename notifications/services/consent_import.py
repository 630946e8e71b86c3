"""Importing consent from a CSV file (admin form and `manage.py import_consent`).

Columns (a header row is required; names are case-insensitive):
- `phone` (or `wa_id`, `number`): the customer's phone number in international format;
- `category`: marketing, utility or all (default: the importer's choice);
- `action` (or `status`, `opted_in`): opt_in / opt_out (yes/no, true/false, 1/0; default opt_in);
- `proof`: where the consent came from (default: the file's name and line);
- `name`: the contact's name, used when the contact is new.
Every valid line is recorded with source `import`; bad lines are reported with the reason
and change nothing.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from agents.services.audit import audit_record
from conversations.models import Contact, WhatsAppNumber
from conversations.services.contacts import ContactRefused, is_user_id, wa_id_normalize
from notifications.models import ConsentSource
from notifications.services.consent import CATEGORIES, consent_latest, consent_opt_in, consent_opt_out

PHONE_COLUMNS = ("phone", "wa_id", "number", "phone_number")
ACTION_COLUMNS = ("action", "status", "opted_in", "consent")
YES = {"opt_in", "in", "yes", "y", "true", "1", "subscribed", "opted_in"}
NO = {"opt_out", "out", "no", "n", "false", "0", "unsubscribed", "opted_out"}
MAX_ROWS = 100_000


@dataclass
class ImportReport:
    recorded: int = 0
    unchanged: int = 0
    contacts_created: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"recorded": self.recorded, "unchanged": self.unchanged,
                "contacts_created": self.contacts_created, "rejected": self.rejected}


def _column(row: dict[str, str], names: tuple[str, ...]) -> str:
    for name in names:
        if row.get(name):
            return row[name].strip()
    return ""


def consent_import_csv(
    *,
    number: WhatsAppNumber,
    text: str,
    default_category: str = "marketing",
    actor: User | None = None,
    filename: str = "upload.csv",
) -> ImportReport:
    """Record consent from CSV text; see the module docstring for the columns. Each line is
    its own transaction: one bad line never undoes the good ones."""
    report = ImportReport()
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    reader.fieldnames = [(name or "").strip().lower() for name in reader.fieldnames or []]
    if not any(name in reader.fieldnames for name in PHONE_COLUMNS):
        report.rejected.append({"line": 1, "value": ",".join(reader.fieldnames)[:100],
                                "reason": "The header needs a phone column (phone, wa_id or number)."})
        return report
    for index, row in enumerate(reader):
        line = index + 2
        if index >= MAX_ROWS:
            report.rejected.append({"line": line, "value": "", "reason": f"Only {MAX_ROWS} lines are read per file."})
            break
        row = {k: (v or "") for k, v in row.items() if k}
        raw_phone = _column(row, PHONE_COLUMNS)
        if not any(row.values()):
            continue
        # A customer WhatsApp gives no phone number of is named by their business-scoped user id.
        user_id = raw_phone.strip() if is_user_id(raw_phone) else ""
        try:
            wa_id = "" if user_id else wa_id_normalize(raw_phone)
        except ContactRefused as exc:
            report.rejected.append({"line": line, "value": raw_phone[:64], "reason": exc.detail})
            continue
        category = (row.get("category") or default_category).strip().lower()
        categories = list(CATEGORIES) if category in ("all", "both") else [category]
        if any(c not in CATEGORIES for c in categories):
            report.rejected.append({"line": line, "value": raw_phone[:64],
                                    "reason": f"Unknown category {category!r}: use marketing, utility or all."})
            continue
        action = _column(row, ACTION_COLUMNS).lower() or "opt_in"
        if action not in YES | NO:
            report.rejected.append({"line": line, "value": raw_phone[:64],
                                    "reason": f"Unknown action {action!r}: use opt_in or opt_out."})
            continue
        proof = row.get("proof", "").strip() or f"{filename}, line {line}"
        with transaction.atomic():
            identity = {"user_id": user_id} if user_id else {"wa_id": wa_id}
            contact, created = Contact.objects.get_or_create(
                number=number, **identity, defaults={"profile_name": row.get("name", "").strip()[:256]}
            )
            report.contacts_created += created
            change = consent_opt_in if action in YES else consent_opt_out
            for cat in categories:
                before = consent_latest(contact=contact, category=cat)
                after = change(contact=contact, category=cat, source=ConsentSource.IMPORT, proof=proof, actor=actor)
                if before is not None and after.pk == before.pk:
                    report.unchanged += 1
                else:
                    report.recorded += 1
    audit_record(actor=actor, action="consent.import", target=number, filename=filename, recorded=report.recorded,
                 unchanged=report.unchanged, contacts_created=report.contacts_created, rejected=len(report.rejected))
    return report
