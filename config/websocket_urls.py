from django.urls import path

from conversations.consumers import DeskConsumer
from conversations.providers.webchat.consumers import WebchatConsumer

# Desk sockets: session auth, origin among ALLOWED_HOSTS (config.asgi wraps them).
websocket_urlpatterns = [
    path("ws/desk/", DeskConsumer.as_asgi()),
]

# Web chat visitor sockets: no session; the consumer checks the visitor token and the
# origin against the inbox's allowed sites itself.
webchat_websocket_urlpatterns = [
    path("ws/webchat/<str:key>/", WebchatConsumer.as_asgi()),
]
