"""The statement budget of an agent's reply to a web chat visitor, counted like
tests/test_statement_budget.py: the API call, the delivery (tasks run inline after commit)
and the frame to the visitor's socket group, on-commit work included, savepoints left out.

| path | statements (2026-12) | budget |
| --- | --- | --- |
| agent reply through the API to a web chat visitor, delivered | 9 | 10 |

The reply is stored `sent` in the API call's own transaction and pushed to the visitor's
socket on commit: no delivery task, no claim, no second transaction, no `message.updated`
for the desk, no read-mark query (the reply's own id is the read mark), the conversation's
activity and response fields in one update, the sender's roles read once for the access
check and the reply rule.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations.models import Channel, Contact, Conversation, Message
from conversations.services.webchat import webchat_visitor
from tests.webchat.conftest import new_visitor

BUDGET = 10

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_agent_reply_to_a_visitor_stays_within_budget(api, inbox, agent, django_capture_on_commit_callbacks):
    visitor = webchat_visitor(inbox=inbox, token=new_visitor(inbox))
    contact = Contact.objects.get(user_id=visitor.contact_user_id)
    conversation = Conversation.objects.create(
        number=inbox.number, contact=contact, channel=Channel.WEBCHAT, team=inbox.team, status="assigned",
        assignee=agent,
    )
    Message.objects.create(conversation=conversation, direction="in", text="hi", provider_message_id="webchat:x")
    api.force_authenticate(agent)
    url = f"/api/v1/conversations/{conversation.pk}/messages/"
    api.post(url, {"text": "warm-up"}, format="json")

    with CaptureQueriesContext(connection) as captured:
        response = api.post(url, {"text": "hello"}, format="json")
    assert response.status_code == 201, response.content
    statements = [q["sql"] for q in captured.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    reply = Message.objects.get(conversation=conversation, text="hello")
    assert reply.status == "sent" and str(reply.provider_message_id).startswith("webchat-")
    assert len(statements) <= BUDGET, len(statements)
