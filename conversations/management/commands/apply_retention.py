"""`manage.py apply_retention`: what the daily retention task does, now."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from conversations.services.retention import retention_apply, retention_policy


class Command(BaseCommand):
    help = "Delete or anonymise data older than the RETENTION_* settings, as the daily task does, and report."

    def handle(self, *args, **options):
        policy = retention_policy()
        kept = ", ".join(f"{name.removesuffix('_days').replace('_', ' ')} {days or 'for ever'}"
                         + (" days" if days else "") for name, days in vars(policy).items())
        self.stdout.write(f"Retention: {kept}.")
        counts = retention_apply()
        for kind, count in counts.items():
            self.stdout.write(f"  {kind.replace('_', ' ')}: {count}")
