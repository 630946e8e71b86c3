from agents.models import Team
from agents.services.routing import conversation_enqueue
from conversations.models import Conversation, ConversationEvent, Participant
from tests.agents.conftest import make_agent


def test_handoff_is_assigned_to_an_online_agent_with_room(db, team, bot_conversation, django_capture_on_commit_callbacks):
    user = make_agent(team, "ana")
    conversation = bot_conversation()
    with django_capture_on_commit_callbacks(execute=True):
        conversation_enqueue(conversation=conversation, team=team, reason="asked for a person")
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.ASSIGNED
    assert conversation.assignee == user
    assert Participant.objects.get(conversation=conversation, left_at__isnull=True).role == "owner"
    kinds = list(ConversationEvent.objects.filter(conversation=conversation).values_list("kind", flat=True))
    assert kinds == ["queued", "assigned"]


def test_manual_team_keeps_the_conversation_queued(db, team, bot_conversation, django_capture_on_commit_callbacks):
    team.routing_mode = Team.RoutingMode.MANUAL
    team.save()
    make_agent(team, "ana")
    conversation = bot_conversation()
    with django_capture_on_commit_callbacks(execute=True):
        conversation_enqueue(conversation=conversation, team=team)
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.QUEUED
    assert conversation.assignee is None
