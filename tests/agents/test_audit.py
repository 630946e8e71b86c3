"""The audit log: sign-ins, supervisor actions, admin changes (before/after, secrets and
personal data masked), admin actions and deletions, the read-only admin with its CSV
export, and retention."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone

from agents.models import AgentProfile, AuditEntry, Team
from agents.services.audit import MASKED, audit_prune, audit_record
from conversations.models import WebhookEvent, WhatsAppNumber
from notifications.models import ConsentRecord
from tests.factories import ContactFactory, ConversationFactory

ADMIN_IP = "198.51.100.7"


def entries(action: str):
    return AuditEntry.objects.filter(action=action).order_by("id")


def everything_stored(entry: AuditEntry) -> str:
    return json.dumps(
        [entry.actor_username, entry.target_repr, entry.target_id, entry.changes, entry.extra, entry.user_agent],
        ensure_ascii=False,
    )


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


class _FormReader(HTMLParser):
    """What a browser would post for the page's main form (inputs, selects, textareas)."""

    def __init__(self):
        super().__init__()
        self.data: dict[str, list[str]] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("submit", "button", "file"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.data.setdefault(name, []).append(a.get("value") or ("on" if a.get("type") == "checkbox" else ""))
        elif tag == "select" and name:
            self._select = name
            self.data.setdefault(name, [])
        elif tag == "option" and self._select and "selected" in a:
            self.data[self._select].append(a.get("value") or "")
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = [""]

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea][0] += data


def page_form(client, url: str) -> dict[str, list[str]]:
    reader = _FormReader()
    reader.feed(client.get(url).content.decode())
    return reader.data


# --- sign-ins -------------------------------------------------------------------------------


def test_desk_sign_in_is_recorded_with_where_from(client, agent):
    response = client.post("/accounts/login/", {"username": "agent", "password": "pw"}, REMOTE_ADDR="203.0.113.9",
                           HTTP_USER_AGENT="Mozilla/5.0 test")

    assert response.status_code == 302
    entry = entries("auth.login").get()
    assert (entry.actor, entry.actor_username, entry.target_id) == (agent, "agent", str(agent.pk))
    assert (entry.ip, entry.user_agent) == ("203.0.113.9", "Mozilla/5.0 test")
    assert entry.extra["path"] == "/accounts/login/"


def test_sign_out_is_recorded_and_answers_a_redirect(client, agent):
    client.post("/accounts/login/", {"username": "agent", "password": "pw"})

    response = client.post("/accounts/logout/")

    assert response.status_code == 302
    entry = entries("auth.logout").get()
    assert (entry.actor, entry.target_id) == (agent, str(agent.pk))


def test_failed_sign_in_records_the_username_tried_but_never_the_password(client, agent):
    response = client.post("/accounts/login/", {"username": "agent", "password": "wrong-password-77"},
                           REMOTE_ADDR="203.0.113.10")
    client.post("/accounts/login/", {"username": "x" * 400, "password": "wrong-password-77"})

    assert response.status_code == 200
    known, unknown = entries("auth.login_failed")
    assert known.actor is None
    assert (known.actor_username, known.target_id, known.ip) == ("agent", str(agent.pk), "203.0.113.10")
    assert unknown.actor_username == "x" * 150
    assert unknown.target_type is None
    assert "wrong-password-77" not in everything_stored(known) + everything_stored(unknown)
    assert not entries("auth.login").exists()


def test_admin_sign_in_and_failed_admin_sign_in_are_recorded(client, admin_user):
    client.post("/admin/login/?next=/admin/", {"username": "admin", "password": "nope"})
    response = client.post("/admin/login/?next=/admin/", {"username": "admin", "password": "pw"})

    assert response.status_code == 302
    assert entries("auth.login_failed").get().extra["path"] == "/admin/login/"
    signed_in = entries("auth.login").get()
    assert (signed_in.actor, signed_in.extra["path"]) == (admin_user, "/admin/login/")


# --- supervisor actions ----------------------------------------------------------------------


@pytest.fixture
def conversation(team, number, agent):
    contact = ContactFactory(number=number, profile_name="Ada Customer", wa_id="447700900123")
    return ConversationFactory(contact=contact, team=team, status="assigned", assignee=agent,
                               queued_at=timezone.now())


def _post(api, user, conversation, action, body=None):
    api.force_authenticate(user)
    return api.post(f"/api/v1/conversations/{conversation.pk}/{action}/", body or {}, format="json",
                    REMOTE_ADDR="192.0.2.44")


def test_supervisor_actions_through_the_api_are_recorded(api, supervisor, agent, teammate, conversation):
    for action, body in [("watch", None), ("join", None), ("whisper", {"text": "Offer Ada the refund"}),
                         ("takeover", {"reason": "VIP"})]:
        assert _post(api, supervisor, conversation, action, body).status_code == 200, action
    assert _post(api, supervisor, conversation, "transfer", {"agent": teammate.pk}).status_code == 200

    log = list(AuditEntry.objects.filter(actor=supervisor).order_by("id"))
    assert [e.action for e in log] == ["conference.watch", "conference.join", "conference.whisper",
                                      "conference.takeover", "conversation.transfer"]
    assert {(e.target_type.model, e.target_id, e.ip) for e in log} == {("conversation", str(conversation.pk),
                                                                        "192.0.2.44")}
    assert log[3].changes == {"assignee": ["agent", "supervisor"]}
    assert log[4].changes == {"assignee": ["supervisor", "teammate"]}
    stored = "".join(everything_stored(e) for e in log)
    assert "Offer Ada the refund" not in stored  # the whisper's text stays on the conversation
    assert "Ada" not in stored and "447700900123" not in stored  # the customer is never named
    assert log[0].target_repr == f"conversation #{conversation.pk}"


def test_reassign_by_a_supervisor_is_recorded_and_taking_it_yourself_is_not(api, supervisor, agent, teammate,
                                                                             team, number):
    queued = ConversationFactory(contact__number=number, team=team, status="queued", queued_at=timezone.now())
    other = ConversationFactory(contact__number=number, team=team, status="queued", queued_at=timezone.now())

    assert _post(api, supervisor, queued, "assign", {"agent": teammate.pk}).status_code == 200
    assert _post(api, agent, other, "assign").status_code == 200

    entry = entries("conversation.assign").get()
    assert (entry.actor, entry.target_id, entry.changes) == (supervisor, str(queued.pk), {"assignee": [None, "teammate"]})


def test_refused_actions_leave_no_entry(api, supervisor, outsider, conversation):
    AgentProfile.objects.update_or_create(user=supervisor, defaults={"capacity": 0})

    assert _post(api, supervisor, conversation, "takeover").status_code == 409
    assert _post(api, outsider, conversation, "join").status_code == 404

    assert not AuditEntry.objects.filter(action__startswith="conference.").exists()


# --- admin changes ---------------------------------------------------------------------------


@pytest.fixture
def secret_number(db):
    return WhatsAppNumber.objects.create(name="Main line", phone_number_id="555000", access_token="EAAG-old-token",
                                         app_secret="old-app-secret", verify_token="old-verify")


def test_admin_change_records_before_and_after_with_secrets_masked(admin_client, admin_user, secret_number):
    url = f"/admin/conversations/whatsappnumber/{secret_number.pk}/change/"
    data = page_form(admin_client, url)
    data.update(name=["Support line"], access_token=["EAAG-new-token-999"], throughput_mps=["40"])

    response = admin_client.post(url, data, REMOTE_ADDR=ADMIN_IP)

    assert response.status_code == 302
    entry = entries("admin.change").get()
    assert (entry.actor, entry.target_type.model, entry.target_id) == (admin_user, "whatsappnumber",
                                                                       str(secret_number.pk))
    assert (entry.target_repr, entry.ip) == ("Support line", ADMIN_IP)
    assert entry.changes == {"name": ["Main line", "Support line"], "throughput_mps": [80, 40],
                             "access_token": MASKED}
    stored = everything_stored(entry)
    assert "EAAG-new-token-999" not in stored and "EAAG-old-token" not in stored


def test_user_deactivated_in_the_admin_is_recorded(admin_client, admin_user, agent):
    url = f"/admin/auth/user/{agent.pk}/change/"
    data = page_form(admin_client, url)
    data.pop("is_active")  # an unticked checkbox is not posted

    response = admin_client.post(url, data)

    assert response.status_code == 302, response.content.decode()[:2000]
    agent.refresh_from_db()
    assert agent.is_active is False
    entry = entries("admin.change").get()
    assert (entry.actor, entry.target_repr, entry.changes) == (admin_user, "agent", {"is_active": [True, False]})


def test_team_inline_and_membership_changes_are_recorded(admin_client, team, agent, teammate):
    url = f"/admin/agents/team/{team.pk}/change/"
    data = page_form(admin_client, url)
    data["members"] = [str(agent.pk)]
    assert data["business_hours-TOTAL_FORMS"] == ["0"]
    data["business_hours-TOTAL_FORMS"] = ["1"]
    data.update({"business_hours-0-weekday": ["0"], "business_hours-0-opens": ["09:00"],
                 "business_hours-0-closes": ["17:00"]})

    response = admin_client.post(url, data)

    assert response.status_code == 302, response.content.decode()[:3000]
    changes = entries("admin.change").get().changes
    assert changes["members"] == [["agent", "teammate"], ["agent"]]
    hours = [key for key in changes if key.startswith("business hours #")]
    added = [key for key in hours if "." not in key]
    assert len(added) == 1 and changes[added[0]][0] is None
    assert changes[f"{added[0]}.opens"] == [None, "09:00:00"]
    assert changes[f"{added[0]}.weekday"] == [None, 0]


def test_admin_consent_entry_masks_the_customers_data(admin_client, number):
    contact = ContactFactory(number=number, profile_name="Grace Customer", wa_id="447700900555")

    response = admin_client.post("/admin/notifications/consentrecord/add/", {
        "contact": contact.pk, "category": "marketing", "opted_in": "on", "proof": "Signed form of Grace, 447700900555",
    })

    assert response.status_code == 302
    assert ConsentRecord.objects.filter(contact=contact, opted_in=True).exists()
    entry = entries("admin.add").get()
    assert entry.changes["proof"] == MASKED
    assert entry.changes["contact"] == [None, f"contact #{contact.pk}"]
    assert "Grace" not in everything_stored(entry) and "447700900555" not in everything_stored(entry)


def test_an_api_token_made_in_the_admin_is_never_written_to_the_log(admin_client, agent):
    from rest_framework.authtoken.models import Token

    response = admin_client.post("/admin/authtoken/tokenproxy/add/", {"user": agent.pk})

    assert response.status_code == 302
    key = Token.objects.get(user=agent).key
    entry = entries("admin.add").get()
    assert (entry.target_type.model, entry.target_id) == ("tokenproxy", str(agent.pk))  # as the admin links it
    assert key not in everything_stored(entry)
    assert entry.target_repr == f"Token #{agent.pk}"


def test_admin_actions_and_deletions_are_recorded(admin_client, admin_user, db, django_capture_on_commit_callbacks):
    event = WebhookEvent.objects.create(body=b"{}", state=WebhookEvent.State.FAILED)
    team = Team.objects.create(name="Night shift", slug="night")

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post("/admin/conversations/webhookevent/", {"action": "reprocess", "_selected_action": [event.pk]})
    admin_client.post(f"/admin/agents/team/{team.pk}/delete/", {"post": "yes"})

    action = entries("admin.action").get()
    assert (action.actor, action.target_type.model) == (admin_user, "webhookevent")
    assert action.extra == {"name": "reprocess", "count": 1, "ids": [str(event.pk)]}
    deleted = entries("admin.delete").get()
    assert (deleted.target_repr, deleted.target_id) == ("Night shift", str(team.pk))
    assert deleted.changes["slug"] == ["night", None]
    assert not Team.objects.filter(pk=team.pk).exists()


def test_contact_erasure_is_recorded_without_the_customers_data(admin_user, number):
    from conversations.services.contact_erasure import contact_erase

    contact = ContactFactory(number=number, profile_name="Zed Customer", wa_id="447700900999")
    ConversationFactory(contact=contact)

    contact_erase(contact=contact, actor=admin_user, via="admin")
    contact_erase(contact=contact, actor=admin_user, via="admin")  # already erased: nothing new

    entry = entries("contact.erase").get()
    assert (entry.actor, entry.target_type.model, entry.target_id) == (admin_user, "contact", str(contact.pk))
    assert entry.extra["via"] == "admin" and entry.extra["counts"]["messages"] == 0
    assert "Zed" not in everything_stored(entry) and "447700900999" not in everything_stored(entry)


def test_an_admin_action_is_recorded_once_confirmed_not_when_it_asks(admin_client, admin_user, number):
    contact = ContactFactory(number=number, profile_name="Zed Customer", wa_id="447700900999")
    chosen = {"action": "erase_personal_data", "_selected_action": [contact.pk]}

    asking = admin_client.post("/admin/conversations/contact/", chosen)
    assert asking.status_code == 200 and not AuditEntry.objects.exclude(action="auth.login").exists()
    admin_client.post("/admin/conversations/contact/", {**chosen, "confirm": "yes"})

    log = AuditEntry.objects.exclude(action="auth.login").order_by("id")
    assert [e.action for e in log] == ["contact.erase", "admin.action"]
    assert entries("admin.action").get().extra == {"name": "erase_personal_data", "count": 1, "ids": [str(contact.pk)]}


# --- the audit log in the admin ---------------------------------------------------------------


def test_the_audit_log_is_read_only_even_for_superusers(admin_client, admin_user):
    entry = audit_record(actor=admin_user, action="auth.login", target=admin_user)
    base = "/admin/agents/auditentry/"

    assert admin_client.get(base).status_code == 200
    assert admin_client.get(f"{base}{entry.pk}/change/").status_code == 200
    assert admin_client.get(f"{base}add/").status_code == 403
    assert admin_client.post(f"{base}{entry.pk}/change/", {"action": "forged"}).status_code == 403
    assert admin_client.post(f"{base}{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    admin_client.post(base, {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"})

    entry.refresh_from_db()
    assert entry.action == "auth.login"
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_desk_users_cannot_see_the_audit_log(client, supervisor):
    supervisor.is_staff = True
    supervisor.save(update_fields=["is_staff"])
    client.force_login(supervisor)

    assert client.get("/admin/agents/auditentry/").status_code == 403
    assert client.get("/admin/agents/auditentry/export/").status_code == 403


def _csv(response) -> list[list[str]]:
    async def read():
        return b"".join([chunk async for chunk in response.streaming_content])

    return list(csv.reader(io.StringIO(async_to_sync(read)().decode())))


def test_csv_export_streams_the_filtered_rows_formula_safe_and_is_recorded(admin_client, admin_user):
    hostile = Team.objects.create(name="=HYPERLINK(\"http://evil\")", slug="evil")
    audit_record(actor=admin_user, action="admin.change", target=hostile, changes={"name": ["+1", "@sum(A1)"]})
    audit_record(actor=admin_user, action="admin.change", target=hostile, changes={"name": ["-2", "\tTab"]})
    audit_record(actor=None, action="auth.login_failed", actor_username="=cmd|'/C calc'!A0")

    listing = admin_client.get("/admin/agents/auditentry/?action=admin.change").content.decode()
    response = admin_client.get("/admin/agents/auditentry/export/?action=admin.change")

    assert 'id="audit-export-csv"' in listing and "export/?action=admin.change" in listing
    assert response["Content-Type"].startswith("text/csv")
    rows = _csv(response)
    assert rows[0][:3] == ["time", "actor", "action"]
    assert [row[2] for row in rows[1:]] == ["admin.change", "admin.change"]
    assert {row[5] for row in rows[1:]} == {"'=HYPERLINK(\"http://evil\")"}
    assert json.loads(rows[2][6]) == {"name": ["+1", "@sum(A1)"]}  # JSON cells start with "{"
    exported = entries("audit.export").get()
    assert (exported.actor, exported.extra["rows"], exported.extra["filters"]) == (admin_user, 2,
                                                                                    {"action": "admin.change"})

    failed = _csv(admin_client.get("/admin/agents/auditentry/export/?action=auth.login_failed"))
    assert failed[1][1] == "'=cmd|'/C calc'!A0"


def test_csv_export_of_selected_entries(admin_client, admin_user):
    first = audit_record(actor=admin_user, action="auth.login", target=admin_user)
    audit_record(actor=admin_user, action="auth.logout", target=admin_user)

    response = admin_client.post("/admin/agents/auditentry/", {"action": "export_csv", "_selected_action": [first.pk]})

    rows = _csv(response)
    assert [row[2] for row in rows[1:]] == ["auth.login"]
    assert entries("audit.export").get().extra["source"] == "selection"
    assert not entries("admin.action").exists()


# --- retention -----------------------------------------------------------------------------


def test_retention_deletes_only_entries_older_than_the_setting(db, settings):
    settings.AUDIT_RETENTION_DAYS = 30
    old = audit_record(actor=None, action="auth.login_failed", actor_username="old")
    recent = audit_record(actor=None, action="auth.login_failed", actor_username="recent")
    AuditEntry.objects.filter(pk=old.pk).update(at=timezone.now() - timedelta(days=31))
    AuditEntry.objects.filter(pk=recent.pk).update(at=timezone.now() - timedelta(days=29))

    assert audit_prune() == 1
    assert audit_prune() == 0

    assert not AuditEntry.objects.filter(pk=old.pk).exists()
    assert AuditEntry.objects.filter(pk=recent.pk).exists()
    assert entries("audit.prune").get().extra["deleted"] == 1


def test_retention_zero_keeps_everything_and_the_task_runs_daily(db, settings):
    from agents.tasks import audit_prune as task

    settings.AUDIT_RETENTION_DAYS = 0
    entry = audit_record(actor=None, action="auth.login_failed", actor_username="ancient")
    AuditEntry.objects.filter(pk=entry.pk).update(at=timezone.now() - timedelta(days=5000))

    assert task() == 0
    assert AuditEntry.objects.filter(pk=entry.pk).exists()
    assert settings.PERIODIC_TASKS["agents.tasks.audit_prune"] == 24 * 3600
