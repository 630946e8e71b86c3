from django.urls import path

from agents import api

urlpatterns = [
    path("agents/", api.AgentListApi.as_view(), name="api-agents"),
    path("agents/me/", api.AgentMeApi.as_view(), name="api-agents-me"),
    *(
        path(
            f"conversations/<int:conversation_id>/{name}/",
            api.action_view(name).as_view(),
            name=f"api-conversation-{name}",
        )
        for name in api.ACTIONS
    ),
]
