"""`echoshare appointments import FILE`: good, bad and duplicate rows.

The semantics tested here are those of docs/appointments-import.md.
"""

from __future__ import annotations

import datetime as dt
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from echoshare.audit import events
from echoshare.audit.models import AuditRecord
from echoshare.clinic.models import Appointment, Patient

pytestmark = pytest.mark.django_db

HEADER = (
    "patient_id,family_name,given_name,birth_date,phone,email,language,consent_sms,"
    "consent_email,date,time,exam_type,accession_number"
)
GOOD = (
    "P001,de Vries,Anna,14-03-1990,06-12345678,anna@example.nl,nl,ja,nee,"
    "2026-07-01,09:30,20-weken echo,ACC001"
)
GOOD_2 = "P002,Jansen,Eva,1988-11-02,,eva@example.nl,en,nee,ja,2026-07-01,10:00,Termijnecho,"
BAD_PHONE = (
    "P003,Bakker,Mia,1992-01-01,06-123,mia@example.nl,nl,ja,ja,2026-07-01,10:30,Termijnecho,ACC003"
)
BAD_MANY = "P004,,Lisa,31-02-1991,,lisa@,xx,ja,ja,2026-07-01,25:00,,ACC004"
DUPLICATE = "P005,Visser,Sara,1990-05-05,,,nl,nee,nee,2026-07-02,09:00,Termijnecho,ACC001"


def _run(tmp_path: Path, *lines: str, header: str = HEADER, args=(), encoding="utf-8"):
    path = tmp_path / "appointments.csv"
    path.write_bytes(("\n".join((header, *lines)) + "\n").encode(encoding))
    out = StringIO()
    try:
        call_command("appointments", "import", str(path), *args, stdout=out)
    except CommandError as exc:
        return out.getvalue(), exc
    return out.getvalue(), None


def test_good_rows_are_booked_with_normalized_contact_details(tmp_path):
    out, error = _run(tmp_path, GOOD, GOOD_2)
    assert error is None
    anna = Patient.objects.get(patient_id="P001")
    assert (anna.phone, anna.email, anna.consent_sms, anna.consent_email) == (
        "+31612345678",
        "anna@example.nl",
        True,
        False,
    )
    assert anna.birth_date == dt.date(1990, 3, 14)
    appointment = Appointment.objects.get(accession_number="ACC001")
    assert appointment.scheduled_at == dt.datetime(2026, 7, 1, 7, 30, tzinfo=dt.UTC)
    assert appointment.study_instance_uid.startswith("2.25.")
    generated = Appointment.objects.get(patient__patient_id="P002").accession_number
    assert len(generated) <= 16
    assert "row 2: imported ACC001" in out
    assert f"row 3: imported {generated}" in out
    assert "imported 2, duplicates 0, refused 0" in out


def test_each_import_is_audited(tmp_path):
    _run(tmp_path, GOOD)
    imported = AuditRecord.objects.get(event=events.APPOINTMENT_IMPORTED)
    assert (imported.patient_ref, imported.object_ref, imported.source) == (
        "P001",
        "appointment ACC001",
        "cli",
    )
    assert AuditRecord.objects.filter(event=events.PATIENT_CREATED, patient_ref="P001").count() == 1


def test_bad_rows_are_refused_naming_row_and_field_and_the_rest_is_imported(tmp_path):
    out, error = _run(tmp_path, GOOD, BAD_PHONE, BAD_MANY, GOOD_2)
    assert error is not None and error.returncode == 1
    assert "row 3: refused: phone: not a valid phone number" in out
    for field in ("family_name", "birth_date", "email", "language", "time", "exam_type"):
        assert f"row 4: refused: {field}: " in out
    assert "imported 2, duplicates 0, refused 2" in out
    assert set(Patient.objects.values_list("patient_id", flat=True)) == {"P001", "P002"}


def test_a_refused_row_leaves_nothing_behind_not_even_its_patient(tmp_path):
    _run(tmp_path, BAD_PHONE)
    assert not Patient.objects.filter(patient_id="P003").exists()
    assert not AuditRecord.objects.exists()


def test_a_row_whose_appointment_fails_keeps_no_half_written_patient(tmp_path, monkeypatch):
    from echoshare.clinic import appointments_import

    def broken(**kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(appointments_import, "appointment_create", broken)
    with pytest.raises(RuntimeError):
        _run(tmp_path, GOOD)
    assert not Patient.objects.exists()
    assert not AuditRecord.objects.exists()


def test_duplicate_accession_numbers_are_reported_in_the_file_and_against_the_database(tmp_path):
    out, error = _run(tmp_path, GOOD, DUPLICATE)
    assert error is None
    assert "row 3: duplicate: accession_number: accession number also in row 2" in out
    out, error = _run(tmp_path, GOOD)
    assert "row 2: duplicate: accession_number: accession number already booked" in out
    assert "imported 0, duplicates 1, refused 0" in out
    assert Appointment.objects.count() == 1
    assert not Patient.objects.filter(patient_id="P005").exists()


def test_a_known_patient_id_with_another_name_is_refused(tmp_path):
    _run(tmp_path, GOOD)
    typo = GOOD.replace("de Vries", "Smit").replace("ACC001", "ACC009")
    out, error = _run(tmp_path, typo)
    assert error is not None
    assert "row 2: refused: patient_id: belongs to a patient with another family name" in out
    assert Patient.objects.get(patient_id="P001").family_name == "de Vries"


def test_a_known_patient_gets_new_contact_details(tmp_path):
    _run(tmp_path, GOOD)
    moved = GOOD.replace("06-12345678", "06-87654321").replace("ACC001", "ACC010")
    _run(tmp_path, moved)
    assert Patient.objects.get(patient_id="P001").phone == "+31687654321"
    changed = AuditRecord.objects.get(event=events.PATIENT_CHANGED)
    assert changed.detail == "fields: phone"
    assert "687654321" not in changed.detail


def test_dry_run_checks_every_row_and_writes_nothing(tmp_path):
    out, error = _run(tmp_path, GOOD, BAD_PHONE, args=["--dry-run"])
    assert error is not None and error.returncode == 1
    assert "row 2: would import ACC001" in out
    assert "row 3: refused: phone" in out
    assert "would import 1, duplicates 0, refused 1" in out
    assert not Patient.objects.exists()
    assert not Appointment.objects.exists()
    assert not AuditRecord.objects.exists()


def test_semicolons_and_windows_1252_from_dutch_spreadsheets_are_read(tmp_path):
    header = HEADER.replace(",", ";")
    row = GOOD.replace(",", ";").replace("de Vries", "Çelik")
    out, error = _run(tmp_path, row, header=header, encoding="cp1252")
    assert error is None, out
    assert Patient.objects.get(patient_id="P001").family_name == "Çelik"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (HEADER.replace("exam_type", "exam"), "missing columns: exam_type; unknown columns: exam"),
        (HEADER + ",phone", "columns given twice: phone"),
    ],
)
def test_a_file_with_wrong_columns_is_refused_whole(tmp_path, header, message):
    _out, error = _run(tmp_path, GOOD + (",x" if "twice" in message else ""), header=header)
    assert error is not None
    assert message in str(error)
    assert "nothing was imported" in str(error)
    assert not Patient.objects.exists()


def test_a_row_with_too_many_fields_is_refused(tmp_path):
    out, error = _run(tmp_path, GOOD + ",extra")
    assert error is not None
    assert "row 2: refused: row: has 14 fields, the header has 13" in out


def test_control_characters_in_a_field_are_refused(tmp_path):
    out, error = _run(tmp_path, GOOD.replace("Anna", "An\x1bna"))
    assert error is not None
    assert "row 2: refused: given_name: contains control characters" in out


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="No such file"):
        call_command("appointments", "import", str(tmp_path / "nope.csv"))
