"""Mounted under /sandbox/ only when settings.SANDBOX_ENABLED (see config/urls.py)."""

from django.urls import path, re_path

from conversations.providers.sandbox import graph_views, views

app_name = "sandbox"

urlpatterns = [
    path("", views.phone_page, name="phone"),
    path("api/phones/", views.phones, name="phones"),
    path("api/phones/<int:phone_id>/", views.thread, name="thread"),
    path("api/phones/<int:phone_id>/messages/", views.send, name="send"),
    path("api/phones/<int:phone_id>/seen/", views.seen, name="seen"),
    path("api/phones/<int:phone_id>/media/", views.send_media, name="send-media"),
    path("media/<str:media_id>/", views.media, name="media"),
    path("graph/media-files/<str:media_id>/", graph_views.media_file, name="graph-media-file"),
    re_path(r"^graph/(?P<version>v\d+\.\d+)/(?P<phone_number_id>[\w.-]+)/messages/?$", graph_views.messages, name="graph-messages"),
    re_path(r"^graph/(?P<version>v\d+\.\d+)/(?P<phone_number_id>[\w.-]+)/media/?$", graph_views.media_upload, name="graph-media-upload"),
    re_path(
        r"^graph/(?P<version>v\d+\.\d+)/(?P<business_account_id>[\w.-]+)/message_templates/?$",
        graph_views.message_templates,
        name="graph-templates",
    ),
    re_path(r"^graph/(?P<version>v\d+\.\d+)/(?P<media_id>[\w.-]+)/?$", graph_views.media_object, name="graph-media"),
]
