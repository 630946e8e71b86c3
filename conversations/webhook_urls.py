from django.urls import path

from conversations.webhooks import whatsapp_webhook

urlpatterns = [
    path("whatsapp/", whatsapp_webhook, name="whatsapp-webhook"),
]
