"""`/api/v1/inboxes/`: admins manage web chat inboxes; nobody else may see them; the identity
secret is write-only."""

from __future__ import annotations

import pytest

from conversations.models import WebChatInbox


@pytest.fixture
def body(number, team):
    return {"name": "Shop", "number": number.pk, "team": team.pk, "allowed_origins": ["https://shop.example/"],
            "identity_secret": "s3cret", "color": "#123456"}


def test_admin_creates_lists_and_changes_an_inbox(api, admin_user, body):
    api.force_authenticate(admin_user)
    created = api.post("/api/v1/inboxes/", body, format="json")
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["allowed_origins"] == ["https://shop.example"]
    assert data["identity_verification"] is True and "identity_secret" not in data
    assert f'data-inbox="{data["key"]}"' in data["snippet"] and "/widget.js" in data["snippet"]
    assert [i["id"] for i in api.get("/api/v1/inboxes/").json()] == [data["id"]]
    changed = api.patch(f"/api/v1/inboxes/{data['id']}/", {"greeting": "Hi!", "identity_secret": ""}, format="json")
    assert changed.status_code == 200
    inbox = WebChatInbox.objects.get(pk=data["id"])
    assert inbox.greeting == "Hi!" and inbox.identity_secret == "s3cret"


@pytest.mark.parametrize("origins", [["javascript:alert(1)"], ["https://shop.example/path"], []])
def test_bad_origins_are_refused(api, admin_user, body, origins):
    api.force_authenticate(admin_user)
    response = api.post("/api/v1/inboxes/", {**body, "allowed_origins": origins}, format="json")
    assert response.status_code == 400
    assert not WebChatInbox.objects.exists()


@pytest.mark.parametrize("persona", ["agent", "supervisor", "outsider"])
def test_only_admins_manage_inboxes(api, body, persona, request):
    api.force_authenticate(request.getfixturevalue(persona))
    assert api.get("/api/v1/inboxes/").status_code == 403
    assert api.post("/api/v1/inboxes/", body, format="json").status_code == 403
    assert not WebChatInbox.objects.exists()
