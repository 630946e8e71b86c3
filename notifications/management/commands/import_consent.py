"""`manage.py import_consent <file.csv> [--number <phone_number_id>] [--category marketing|utility|all]`."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from conversations.models import WhatsAppNumber
from notifications.services.consent_import import consent_import_csv


class Command(BaseCommand):
    help = "Record opt-ins and opt-outs from a CSV file (phone, category, action, proof, name); bad lines are reported."

    def add_arguments(self, parser):
        parser.add_argument("csv_path")
        parser.add_argument("--number", help="phone_number_id of the business number (default: the default number)")
        parser.add_argument("--category", default="marketing", help="marketing, utility or all, when a line has none")

    def handle(self, *args, csv_path: str, number: str | None, category: str, **options):
        path = Path(csv_path)
        if not path.is_file():
            raise CommandError(f"No such file: {csv_path}")
        numbers = WhatsAppNumber.objects.all()
        target = numbers.filter(phone_number_id=number).first() if number else numbers.filter(is_default=True).first()
        if target is None:
            raise CommandError("No such WhatsApp number; pass --number <phone_number_id>.")
        report = consent_import_csv(
            number=target, text=path.read_text(encoding="utf-8-sig"), default_category=category, filename=path.name
        )
        self.stdout.write(
            f"Recorded {report.recorded} consent change(s), {report.unchanged} unchanged, "
            f"{report.contacts_created} new contact(s), {len(report.rejected)} rejected line(s)."
        )
        for item in report.rejected:
            self.stdout.write(f"  line {item['line']}: {item['value']!r}: {item['reason']}")
