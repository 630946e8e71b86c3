from __future__ import annotations

from io import StringIO

from django.core.management import call_command

from conversations.models import Contact
from notifications.models import ConsentRecord
from notifications.services.consent import consent_is_current
from notifications.services.consent_import import consent_import_csv

CSV = """phone,category,action,proof,name
+44 7700 900123,marketing,opt_in,shop signup 2024-05-01,Ana
447700900124,all,yes,,Bo
not a phone,marketing,opt_in,,
+1 555,utility,opt_in,,
+44 7700 900125,promotions,opt_in,,
+44 7700 900126,marketing,maybe,,
+44 7700 900123,marketing,opt_in,again,
"""


def test_csv_import_records_good_lines_and_reports_bad_ones(number, admin_user):
    report = consent_import_csv(number=number, text=CSV, actor=admin_user, filename="list.csv")
    assert report.recorded == 3 and report.unchanged == 1 and report.contacts_created == 2
    assert [(r["line"], r["value"]) for r in report.rejected] == [
        (4, "not a phone"), (5, "+1 555"), (6, "+44 7700 900125"), (7, "+44 7700 900126")]
    assert "category" in report.rejected[2]["reason"] and "action" in report.rejected[3]["reason"]
    ana = Contact.objects.get(wa_id="447700900123")
    assert ana.profile_name == "Ana" and consent_is_current(contact=ana, category="marketing")
    assert not consent_is_current(contact=ana, category="utility")
    row = ConsentRecord.objects.get(contact=ana)
    assert row.source == "import" and row.proof == "shop signup 2024-05-01" and row.actor == admin_user
    bo = Contact.objects.get(wa_id="447700900124")
    assert consent_is_current(contact=bo, category="utility") and consent_is_current(contact=bo, category="marketing")
    assert ConsentRecord.objects.get(contact=bo, category="utility").proof == "list.csv, line 3"


def test_csv_without_a_phone_column_is_rejected_whole(number):
    report = consent_import_csv(number=number, text="name,category\nAna,marketing\n")
    assert report.recorded == 0 and report.rejected[0]["line"] == 1


def test_import_consent_command_prints_the_report(number, tmp_path):
    path = tmp_path / "consent.csv"
    path.write_text(CSV, encoding="utf-8")
    out = StringIO()
    call_command("import_consent", str(path), "--number", number.phone_number_id, stdout=out)
    text = out.getvalue()
    assert "Recorded 3 consent change(s)" in text and "4 rejected line(s)" in text
    assert "line 4: 'not a phone'" in text
