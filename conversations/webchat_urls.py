from django.urls import path

from conversations.providers.webchat import views

urlpatterns = [
    path("<str:key>/", views.chat_frame, name="webchat-frame"),
    path("<str:key>/session/", views.session, name="webchat-session"),
    path("<str:key>/prechat/", views.prechat, name="webchat-prechat"),
    path("<str:key>/identify/", views.identify, name="webchat-identify"),
    path("<str:key>/offline/", views.offline, name="webchat-offline"),
    path("<str:key>/transcript/", views.transcript, name="webchat-transcript"),
    path("<str:key>/upload/", views.upload, name="webchat-upload"),
    path("<str:key>/media/<int:message_id>/", views.media, name="webchat-media"),
    path("<str:key>/media/<int:message_id>/thumbnail/", views.media, {"thumbnail": True}, name="webchat-media-thumbnail"),
]
