from django.urls import path

from conversations import api, api_erasure, api_inboxes

urlpatterns = [
    path("conversations/", api.ConversationListApi.as_view(), name="api-conversations"),
    path("conversations/<int:conversation_id>/", api.ConversationDetailApi.as_view(), name="api-conversation"),
    path(
        "conversations/<int:conversation_id>/messages/",
        api.ConversationMessagesApi.as_view(),
        name="api-conversation-messages",
    ),
    path(
        "conversations/<int:conversation_id>/messages/<int:message_id>/media/",
        api.MessageMediaApi.as_view(),
        name="api-message-media",
    ),
    path(
        "conversations/<int:conversation_id>/messages/<int:message_id>/media/retry/",
        api.MessageMediaRetryApi.as_view(),
        name="api-message-media-retry",
    ),
    path("contacts/", api.ContactListApi.as_view(), name="api-contacts"),
    path("contacts/<int:contact_id>/", api.ContactDetailApi.as_view(), name="api-contact"),
    path("inboxes/", api_inboxes.InboxListApi.as_view(), name="api-inboxes"),
    path("inboxes/<int:inbox_id>/", api_inboxes.InboxApi.as_view(), name="api-inbox"),
    path("contacts/<int:contact_id>/erase/", api_erasure.ContactEraseApi.as_view(), name="api-contact-erase"),
]
