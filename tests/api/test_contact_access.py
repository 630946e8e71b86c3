"""Contacts are scoped like conversations: a user sees the contacts of the conversations
they may see (admins all) and those they created; anything else answers 404 `not_found`
on every contact and consent endpoint, exactly as a contact that does not exist.
Recording an opt-in needs proof and the `notifications.record_opt_in` permission;
opt-outs are honoured from anyone who may see the contact."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission

from conversations.models import Contact
from notifications.models import ConsentRecord
from notifications.services.consent import consent_is_current, consent_opt_in
from tests.api.conftest import join
from tests.factories import ContactFactory, ConversationFactory, UserFactory

LIST = "/api/v1/contacts/"


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return sorted(row["id"] for row in response.json()["results"])


def grant_opt_in(user_or_group) -> None:
    permission = Permission.objects.get(codename="record_opt_in", content_type__app_label="notifications")
    if isinstance(user_or_group, Group):
        user_or_group.permissions.add(permission)
    else:
        user_or_group.user_permissions.add(permission)


def test_each_persona_lists_the_contacts_of_the_conversations_they_may_see(
    api, agent, outsider, supervisor, admin_user, team_conversation, other_conversation, teamless_conversation
):
    ada, bob, cy = team_conversation.contact, other_conversation.contact, teamless_conversation.contact
    lonely = ContactFactory(number=ada.number, profile_name="No Conversation")
    # A second conversation of the same contact does not list the contact twice.
    ConversationFactory(contact=ada, team=team_conversation.team, status="resolved")

    seen = {}
    for user in (agent, outsider, supervisor, admin_user):
        api.force_authenticate(user)
        seen[user.username] = ids(api.get(LIST))

    assert seen["agent"] == [ada.id]
    assert seen["outsider"] == [bob.id]
    # Supervisors see their teams' conversations and those without a team.
    assert seen["supervisor"] == sorted([ada.id, cy.id])
    assert seen["admin"] == sorted([ada.id, bob.id, cy.id, lonely.id])


def test_a_participant_sees_the_contact_while_taking_part(api, outsider, team_conversation):
    participant = join(team_conversation, outsider)
    api.force_authenticate(outsider)
    assert team_conversation.contact_id in ids(api.get(LIST))

    participant.left_at = team_conversation.created_at
    participant.save()
    assert team_conversation.contact_id not in ids(api.get(LIST))


def test_search_finds_nothing_of_another_teams_contacts(api, outsider, team_conversation):
    ada = team_conversation.contact
    api.force_authenticate(outsider)

    assert ids(api.get(LIST, {"q": ada.profile_name})) == []
    assert ids(api.get(LIST, {"q": ada.wa_id})) == []


def _endpoints(contact_id: int):
    return [
        ("get", f"/api/v1/contacts/{contact_id}/", None),
        ("get", f"/api/v1/contacts/{contact_id}/consent/", None),
        ("get", f"/api/v1/contacts/{contact_id}/consent/history/", None),
        ("post", f"/api/v1/contacts/{contact_id}/opt-in/", {"category": "marketing", "proof": "signed form"}),
        ("post", f"/api/v1/contacts/{contact_id}/opt-out/", {"category": "all"}),
    ]


@pytest.mark.parametrize("endpoint", range(5))
def test_outsider_meets_404_on_every_endpoint_of_another_teams_contact(api, outsider, team_conversation, endpoint):
    ada = team_conversation.contact
    consent_opt_in(contact=ada, category="marketing", source="web_form", proof="form 1")
    # Even the permission to record opt-ins does not reach a contact the user may not see.
    grant_opt_in(outsider)
    method, path, body = _endpoints(ada.id)[endpoint]
    api.force_authenticate(outsider)

    response = getattr(api, method)(path, body, format="json") if body else getattr(api, method)(path)
    missing = getattr(api, method)(path.replace(f"/{ada.id}/", "/999999/"), body or {}, format="json")

    assert response.status_code == 404 and response.json()["code"] == "not_found"
    # Exactly the answer for a contact that does not exist: nothing is revealed.
    assert response.json() == missing.json() and missing.status_code == 404
    assert ConsentRecord.objects.filter(contact=ada).count() == 1
    assert consent_is_current(contact=ada, category="marketing")


@pytest.mark.parametrize("endpoint", range(5))
def test_agent_reaches_every_endpoint_of_their_teams_contact(api, agent, team_conversation, endpoint):
    grant_opt_in(agent)
    method, path, body = _endpoints(team_conversation.contact_id)[endpoint]
    api.force_authenticate(agent)

    response = getattr(api, method)(path, body, format="json") if body else getattr(api, method)(path)

    assert response.status_code == 200, response.content


def test_detail_shows_the_contact(api, agent, team_conversation):
    api.force_authenticate(agent)

    body = api.get(f"/api/v1/contacts/{team_conversation.contact_id}/").json()

    assert body["id"] == team_conversation.contact_id and body["profile_name"] == "Ada Customer"


def test_a_created_contact_is_seen_by_its_creator_until_a_conversation_shows_it_to_the_team(
    api, agent, teammate, outsider, admin_user, team, number
):
    api.force_authenticate(agent)
    created = api.post(LIST, {"wa_id": "+44 7700 900555", "profile_name": "New Lead"}, format="json")
    assert created.status_code == 201
    contact = Contact.objects.get(pk=created.json()["id"])
    assert contact.created_by == agent

    def visible_to(user) -> bool:
        api.force_authenticate(user)
        listed = contact.id in ids(api.get(LIST))
        detail = api.get(f"/api/v1/contacts/{contact.id}/").status_code
        assert listed == (detail == 200)
        return listed

    assert [visible_to(u) for u in (agent, teammate, outsider, admin_user)] == [True, False, False, True]

    ConversationFactory(contact=contact, team=team)

    assert [visible_to(u) for u in (agent, teammate, outsider, admin_user)] == [True, True, False, True]


def test_creating_a_contact_that_exists_out_of_sight_reveals_nothing(api, outsider, team_conversation):
    ada = team_conversation.contact
    api.force_authenticate(outsider)

    response = api.post(LIST, {"wa_id": ada.wa_id, "profile_name": "Someone"}, format="json")

    assert response.status_code == 409
    assert set(response.json()) == {"code", "detail"} and response.json()["code"] == "contact_exists"
    assert ada.profile_name not in response.content.decode() and str(ada.id) not in response.json()["detail"]
    assert Contact.objects.get(pk=ada.pk).profile_name == "Ada Customer"


def test_an_opt_in_needs_the_permission(api, agent, team_conversation):
    contact = team_conversation.contact
    api.force_authenticate(agent)
    url = f"/api/v1/contacts/{contact.id}/opt-in/"

    refused = api.post(url, {"category": "marketing", "proof": "asked on the phone"}, format="json")

    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    assert "permission" in refused.json()["detail"]
    assert not ConsentRecord.objects.filter(contact=contact).exists()


@pytest.mark.parametrize("how", ["user", "group", "admin group", "superuser"])
def test_an_opt_in_is_recorded_by_those_granted_it(api, team, team_conversation, how):
    user = UserFactory(username="granted")
    team.members.add(user)
    if how == "user":
        grant_opt_in(user)
    elif how == "group":
        group = Group.objects.create(name="consent desk")
        grant_opt_in(group)
        user.groups.add(group)
    elif how == "admin group":
        user.groups.add(Group.objects.get_or_create(name="admin")[0])
    else:
        user.is_superuser = True
        user.save()
    contact = team_conversation.contact
    api.force_authenticate(user)

    response = api.post(f"/api/v1/contacts/{contact.id}/opt-in/", {"category": "marketing", "proof": "web form #12"},
                        format="json")

    assert response.status_code == 200 and response.json()["consent"]["marketing"]["opted_in"] is True
    record = ConsentRecord.objects.get(contact=contact)
    assert (record.opted_in, record.source, record.proof, record.actor) == (True, "api", "web form #12", user)


@pytest.mark.parametrize("proof", [None, "", "   "])
def test_an_opt_in_needs_proof(api, agent, team_conversation, proof):
    grant_opt_in(agent)
    contact = team_conversation.contact
    api.force_authenticate(agent)
    body = {"category": "marketing"} if proof is None else {"category": "marketing", "proof": proof}

    response = api.post(f"/api/v1/contacts/{contact.id}/opt-in/", body, format="json")

    assert response.status_code == 400 and response.json()["code"] == "invalid"
    assert response.json()["detail"].startswith("proof:")
    assert not ConsentRecord.objects.filter(contact=contact).exists()


def test_an_opt_out_is_honoured_from_anyone_who_sees_the_contact(api, agent, team_conversation):
    contact = team_conversation.contact
    consent_opt_in(contact=contact, category="marketing", source="web_form", proof="form 1")
    consent_opt_in(contact=contact, category="utility", source="web_form", proof="form 1")
    api.force_authenticate(agent)  # no permission, no proof

    response = api.post(f"/api/v1/contacts/{contact.id}/opt-out/", {}, format="json")

    assert response.status_code == 200
    assert not consent_is_current(contact=contact, category="marketing")
    assert not consent_is_current(contact=contact, category="utility")
    assert ConsentRecord.objects.filter(contact=contact, opted_in=False, actor=agent, source="api").count() == 2


def test_consent_history_lists_every_change_newest_first(api, agent, admin_user, team_conversation):
    contact = team_conversation.contact
    consent_opt_in(contact=contact, category="marketing", source="web_form", proof="form 1")
    api.force_authenticate(admin_user)
    api.post(f"/api/v1/contacts/{contact.id}/opt-out/", {"category": "marketing", "proof": "said stop by phone"},
             format="json")
    api.force_authenticate(agent)

    body = api.get(f"/api/v1/contacts/{contact.id}/consent/history/").json()

    assert body["count"] == 2
    assert [(r["opted_in"], r["source"], r["proof"], r["actor"]) for r in body["results"]] == [
        (False, "api", "said stop by phone", "admin"),
        (True, "web_form", "form 1", None),
    ]


def test_desk_shows_a_contact_only_through_a_visible_conversation(
    client, agent, outsider, team_conversation, other_team
):
    ada = team_conversation.contact
    elsewhere = ConversationFactory(contact=ada, team=other_team, status="resolved")
    url = f"/api/v1/desk/conversations/{team_conversation.id}/context/"

    client.force_login(outsider)
    assert client.get(url).status_code == 404

    client.force_login(agent)
    context = client.get(url).json()
    assert context["contact"]["id"] == ada.id
    # Earlier conversations of the same customer in another team stay out of sight.
    assert elsewhere.id not in [row["id"] for row in context["earlier"]]


def test_admin_consent_form_records_opt_ins_only_with_the_permission_and_proof(client, team_conversation):
    staff = UserFactory(username="clerk", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["add_consentrecord", "view_consentrecord"]))
    contact = team_conversation.contact
    client.force_login(staff)
    url = "/admin/notifications/consentrecord/add/"
    form = {"contact": contact.id, "category": "marketing", "proof": "paper form"}

    refused = client.post(url, {**form, "opted_in": "on"})
    opted_out = client.post(url, {**form, "proof": ""})
    grant_opt_in(staff)
    no_proof = client.post(url, {**form, "proof": "", "opted_in": "on"})
    recorded = client.post(url, {**form, "opted_in": "on"})

    assert refused.status_code == 200 and "record opt-in" in refused.content.decode()
    assert opted_out.status_code == 302 and no_proof.status_code == 200 and recorded.status_code == 302
    assert list(ConsentRecord.objects.filter(contact=contact).order_by("id").values_list("opted_in", "proof")) == [
        (False, ""),
        (True, "paper form"),
    ]
