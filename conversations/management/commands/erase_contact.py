"""`manage.py erase_contact <contact id> [--actor <username>]`: erase a contact's personal data."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from conversations.models import Contact, ContactErasure
from conversations.services.contact_erasure import contact_erase


class Command(BaseCommand):
    help = (
        "Erase a contact's personal data everywhere it is kept (GDPR Art. 17); its conversations and "
        "messages stay, anonymised, for reports. Running it again changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("contact_id", type=int)
        parser.add_argument("--actor", help="username recorded as having asked for the erasure")

    def handle(self, *args, contact_id: int, actor: str | None, **options):
        user = None
        if actor:
            user = get_user_model().objects.filter(username=actor).first()
            if user is None:
                raise CommandError(f"No such user: {actor}")
        contact = Contact.objects.filter(pk=contact_id).first()
        if contact is None:
            raise CommandError(f"No such contact: {contact_id}")
        result = contact_erase(contact=contact, actor=user, via=ContactErasure.Via.COMMAND)
        self.stdout.write(result.summary)
