from typing import TextIO, cast

from django.core.management.base import BaseCommand, CommandError

from conversations.demo import DemoRefused, load


class Command(BaseCommand):
    help = "Create the demo users, teams and the demo number on the sandbox (idempotent; DEBUG or SANDBOX_ENABLED only)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=None, help="Port the demo server listens on (default: PORT).")

    def handle(self, *args, **options):
        try:
            load(cast(TextIO, self.stdout), port=options["port"])  # OutputWrapper writes like a text stream
        except DemoRefused as exc:
            raise CommandError(str(exc)) from exc
