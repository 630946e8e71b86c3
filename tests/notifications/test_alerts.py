"""Alerts that reach people: WhatsApp's admin error codes on a real send (Graph stand-in),
template status webhooks; one alert and one email per incident, the `alert.created` event to
the supervisors' group, the banner's API, closing."""

from __future__ import annotations

import pytest
from django.core import mail

from config.realtime import SUPERVISORS_GROUP, flush
from conversations.services.message_send import message_send_text
from notifications.models import Alert
from notifications.services.alerts import alert_raise
from tests.agents.conftest import GroupListener
from tests.factories import ContactFactory, ConversationFactory
from tests.support import webhooks

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def conversation(number, team, supervisor, admin_user):
    return ConversationFactory(contact=ContactFactory(number=number, wa_id="15557654321"), team=team)


def send(conversation, text="Hello"):
    message = message_send_text(conversation=conversation, text=text)
    message.refresh_from_db()
    return message


def test_an_expired_token_is_one_alert_and_one_email_per_incident(api, conversation, graph, number, agent, supervisor,
                                                                  admin_user):
    graph.error(190, "Error validating access token: Session has expired", status=401)
    graph.error(190, "Error validating access token: Session has expired", status=401)
    first, second = send(conversation), send(conversation, "Are you there?")
    assert first.status == second.status == "failed"

    alert = Alert.objects.get()
    assert alert.kind == "token_expired" and alert.occurrences == 2 and alert.severity == "critical"
    assert alert.link == f"/admin/conversations/whatsappnumber/{number.pk}/change/"
    assert sorted(m.to[0] for m in mail.outbox) == ["admin@example.com", "supervisor@example.com"]
    assert "access token" in mail.outbox[0].subject.lower()
    assert f"/admin/conversations/whatsappnumber/{number.pk}/change/" in mail.outbox[0].body

    api.force_authenticate(agent)
    assert api.get("/api/v1/alerts/").status_code == 403
    api.force_authenticate(supervisor)
    banner = api.get("/api/v1/alerts/").json()
    assert [(a["id"], a["kind"]) for a in banner] == [(alert.pk, "token_expired")]
    assert api.post(f"/api/v1/alerts/{alert.pk}/close/").status_code == 403

    api.force_authenticate(admin_user)
    closed = api.post(f"/api/v1/alerts/{alert.pk}/close/")
    assert closed.status_code == 200 and closed.json()["closed_at"] is not None
    assert api.post(f"/api/v1/alerts/{alert.pk}/close/").status_code == 200  # closing again changes nothing
    assert api.get("/api/v1/alerts/").json() == []

    # The token expires again later: a new incident, told once more.
    graph.error(190, "Error validating access token", status=401)
    send(conversation, "Third try")
    assert Alert.objects.filter(kind="token_expired").count() == 2
    assert len(mail.outbox) == 4


def test_account_restricted_and_locked_codes_share_one_alert(conversation, graph):
    graph.error(368, "Temporarily blocked for policies violations")
    graph.error(131031, "Account has been locked")
    send(conversation)
    send(conversation, "again")
    alert = Alert.objects.get()
    assert alert.kind == "account_restricted" and alert.occurrences == 2
    assert len(mail.outbox) == 2


def test_alert_created_reaches_the_supervisors_group_once(number):
    listener = GroupListener(SUPERVISORS_GROUP)
    try:
        _alert_created_reaches_the_supervisors_group_once(number, listener)
    finally:
        listener.close()


def _alert_created_reaches_the_supervisors_group_once(number, listener):
    alert, created = alert_raise(kind="number_red", incident=f"number:{number.pk}:red", number=number,
                                 title="Support turned red", link=f"/desk/compliance/?number={number.pk}")
    again, created_again = alert_raise(kind="number_red", incident=f"number:{number.pk}:red", number=number,
                                       title="Support turned red")
    flush()
    events = [e for e in listener.events() if e["type"].startswith("alert.")]
    assert created and not created_again and again.pk == alert.pk
    assert events == [{"type": "alert.created", "alert": {
        "id": alert.pk, "kind": "number_red", "severity": "warning", "title": "Support turned red", "detail": "",
        "link": f"/desk/compliance/?number={number.pk}", "number": number.pk,
        "opened_at": alert.opened_at.isoformat(), "occurrences": 1, "closed_at": None,
    }}]


def test_template_paused_or_rejected_alerts_and_approval_closes_them(client, number, admin_user):
    from notifications.models import MessageTemplate

    template = MessageTemplate.objects.create(
        number=number, business_account_id=webhooks.WABA_ID, name="order_update", language="en_US",
        category="UTILITY", components=[{"type": "BODY", "text": "Hi"}], status="APPROVED", remote_id="9001",
    )

    def status(event: str, reason: str = "NONE"):
        response = webhooks.post(client, webhooks.envelope({
            "event": event, "message_template_id": 9001, "message_template_name": "order_update",
            "message_template_language": "en_US", "reason": reason,
        }, field="message_template_status_update"))
        assert response.status_code == 200

    status("PAUSED", "LOW_QUALITY")
    paused = Alert.objects.get(kind="template_paused")
    assert "order_update [en_US] is paused" in paused.title
    assert paused.link == f"/admin/notifications/messagetemplate/{template.pk}/change/"
    status("APPROVED")
    paused.refresh_from_db()
    assert paused.closed_at is not None and paused.close_reason == "template approved"
    status("REJECTED", "INVALID_FORMAT")
    rejected = Alert.objects.get(kind="template_rejected", closed_at__isnull=True)
    assert "INVALID_FORMAT" in rejected.detail
    assert [m.to for m in mail.outbox] == [["admin@example.com"], ["admin@example.com"]]


def test_admin_lists_alerts_and_cases_links_compliance_and_closes_alerts(client, number, admin_user):
    alert, _ = alert_raise(kind="number_red", incident=f"number:{number.pk}:red", number=number, title="Support red")
    client.force_login(admin_user)
    index = client.get("/admin/").content.decode()
    assert 'id="admin-compliance-link"' in index and 'href="/desk/compliance/"' in index
    assert client.get("/admin/notifications/remediationcase/").status_code == 200
    assert "Support red" in client.get("/admin/notifications/alert/").content.decode()
    response = client.post("/admin/notifications/alert/", {"action": "close_alerts", "_selected_action": [alert.pk]})
    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.closed_at is not None and alert.closed_by == admin_user


def test_an_alert_reads_in_each_readers_language(client, conversation, graph, number, supervisor, admin_user):
    """Stored by key and parameters: a Spanish supervisor and an English admin read the same
    alert each in their own language, in the banner's API and in the email."""
    from agents.models import AgentProfile

    AgentProfile.objects.update_or_create(user=supervisor, defaults={"ui_language": "es"})
    graph.error(190, "Error validating access token: Session has expired", status=401)
    send(conversation)
    alert = Alert.objects.get()
    assert alert.title == "WhatsApp access token expired or revoked"  # stored in English

    client.force_login(supervisor)
    [spanish] = client.get("/api/v1/alerts/").json()
    assert spanish["title"] == "El token de acceso de WhatsApp caducó o fue revocado"
    assert spanish["detail"].startswith("El token de acceso del número caducó o fue revocado; un administrador "
                                        "debe renovarlo. No se envía nada hasta entonces. (error de WhatsApp 190")
    assert "No se envía nada más hasta que un administrador actúe" in spanish["detail"]
    client.force_login(admin_user)
    [english] = client.get("/api/v1/alerts/").json()
    assert english["title"] == "WhatsApp access token expired or revoked"

    emails = {m.to[0]: m for m in mail.outbox}
    assert emails["supervisor@example.com"].subject.startswith("[Handoff] El token de acceso")
    assert "Qué hacer:" in emails["supervisor@example.com"].body
    assert "What to do:" in emails["admin@example.com"].body


def test_a_remediation_reminder_counts_its_days_in_the_readers_language(client, number, supervisor):
    from django.utils.translation import gettext_noop

    from agents.models import AgentProfile
    from notifications.services.alerts import AlertText

    AgentProfile.objects.update_or_create(user=supervisor, defaults={"ui_language": "pt"})
    for n in (1, 3):
        alert_raise(kind="remediation_deadline", incident=f"case:1:deadline:{n}", number=number,
                    title=AlertText(gettext_noop("%(n)s day left to fix %(number)s"), {"n": n, "number": "Main"},
                                    plural=gettext_noop("%(n)s days left to fix %(number)s")))
    client.force_login(supervisor)
    titles = sorted(a["title"] for a in client.get("/api/v1/alerts/").json())
    assert titles == ["Falta 1 dia para corrigir Main", "Faltam 3 dias para corrigir Main"]
    assert sorted(Alert.objects.values_list("title", flat=True)) == ["1 day left to fix Main", "3 days left to fix Main"]
