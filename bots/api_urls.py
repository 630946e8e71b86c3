from django.urls import path

from bots import api

urlpatterns = [
    path(
        "conversations/<int:conversation_id>/handoff/",
        api.ConversationHandoffApi.as_view(),
        name="api-conversation-handoff",
    ),
]
