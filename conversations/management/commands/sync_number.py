from django.core.management.base import BaseCommand

from conversations.numbers import number_sync_from_settings


class Command(BaseCommand):
    help = "Create or update the default WhatsApp number from the WHATSAPP_* settings."

    def handle(self, *args, **options):
        number = number_sync_from_settings()
        if number is None:
            self.stdout.write("WHATSAPP_PHONE_NUMBER_ID is not set: no number to sync (add numbers in the admin).")
        else:
            self.stdout.write(f"Default number: {number} ({number.phone_number_id}), Graph API at {number.graph_base}")
