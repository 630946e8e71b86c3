from django.urls import path

from conversations.consumers import DeskConsumer

websocket_urlpatterns = [
    path("ws/desk/", DeskConsumer.as_asgi()),
]
