"""Media files of messages, served after an access check (mounted at /media/)."""

from django.urls import path

from conversations import media_views

urlpatterns = [
    path("<int:message_id>/", media_views.message_media, name="message-media"),
    path("<int:message_id>/thumbnail/", media_views.message_media_thumbnail, name="message-media-thumbnail"),
]
