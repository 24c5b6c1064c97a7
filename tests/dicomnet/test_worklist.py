"""Modality Worklist: identifier -> appointments (worklist.py), and round trips with dcmtk
findscu and pynetdicom."""

from __future__ import annotations

import logging
import threading
import time
import zoneinfo
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine
from pydicom import dcmread
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import ModalityWorklistInformationFind

from echoshare.clinic.models import Appointment, Patient
from echoshare.dicomnet import handlers
from echoshare.dicomnet.worklist import (
    WorklistQuery,
    WorklistQueryError,
    wildcard_regex,
    worklist_appointments,
    worklist_query_parse,
    worklist_response,
)
from tests.dicomnet.conftest import dcmtk

AMS = zoneinfo.ZoneInfo("Europe/Amsterdam")


def _appointment(
    accession: str,
    when: datetime,
    *,
    family: str = "Jansen",
    given: str = "Anna",
    patient_id: str | None = None,
    station: str = "",
    modality: str = "US",
    status: str = Appointment.Status.BOOKED,
) -> Appointment:
    patient, _ = Patient.objects.get_or_create(
        patient_id=patient_id or f"P-{accession}",
        defaults={
            "family_name": family,
            "given_name": given,
            "birth_date": date(1990, 5, 17),
            "sex": "F",
        },
    )
    return Appointment.objects.create(
        patient=patient,
        scheduled_at=when,
        exam_type="20-week anomaly scan",
        modality=modality,
        station_ae_title=station,
        accession_number=accession,
        status=status,
    )


def _query(**keys: str) -> Dataset:
    identifier = Dataset()
    step = Dataset()
    for keyword in ("Modality", "ScheduledStationAETitle", "ScheduledProcedureStepStartDate"):
        setattr(step, keyword, keys.pop(keyword, ""))
    identifier.ScheduledProcedureStepSequence = [step]
    for keyword in ("PatientName", "PatientID", "AccessionNumber"):
        setattr(identifier, keyword, keys.pop(keyword, ""))
    assert not keys
    return identifier


def _found(today: date = date(2026, 3, 10), **keys: str) -> list[str]:
    query = worklist_query_parse(_query(**keys), today=today)
    return [a.accession_number for a in worklist_appointments(query, tz=AMS)]


# --- the query ------------------------------------------------------------------------------


def test_wildcards_become_anchored_patterns():
    assert wildcard_regex("Jan*") == "^Jan.*$"
    assert wildcard_regex("J?n.s") == "^J.n\\.s$"


def test_an_empty_date_means_today_in_the_clinic_time_zone():
    query = worklist_query_parse(_query(), today=date(2026, 3, 10))
    assert query == WorklistQuery(date_from=date(2026, 3, 10), date_to=date(2026, 3, 10))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20260310", (date(2026, 3, 10), date(2026, 3, 10))),
        ("20260301-20260331", (date(2026, 3, 1), date(2026, 3, 31))),
        ("-20260331", (None, date(2026, 3, 31))),
        ("20260301-", (date(2026, 3, 1), None)),
    ],
)
def test_date_ranges_are_read(text, expected):
    query = worklist_query_parse(_query(ScheduledProcedureStepStartDate=text), today=date.today())
    assert (query.date_from, query.date_to) == expected


@pytest.mark.parametrize("text", ["2026031", "20261332", "20260331-20260301", "-", "today"])
def test_a_malformed_date_is_refused(text):
    with pytest.raises(WorklistQueryError):
        worklist_query_parse(_query(ScheduledProcedureStepStartDate=text), today=date.today())


@pytest.mark.django_db
def test_today_is_the_clinic_day_not_the_utc_day():
    # 23:30 in Amsterdam on 10 March is 22:30 UTC the same day; 00:30 on 11 March is
    # 23:30 UTC on 10 March: it belongs to the 11th.
    _appointment("LATE", datetime(2026, 3, 10, 23, 30, tzinfo=AMS))
    _appointment("NEXTDAY", datetime(2026, 3, 11, 0, 30, tzinfo=AMS))
    assert _found(today=date(2026, 3, 10)) == ["LATE"]
    assert _found(today=date(2026, 3, 11)) == ["NEXTDAY"]


@pytest.mark.django_db
def test_cancelled_appointments_are_never_offered():
    _appointment("KEEP", datetime(2026, 3, 10, 9, tzinfo=AMS))
    _appointment("GONE", datetime(2026, 3, 10, 10, tzinfo=AMS), status="cancelled")
    assert _found() == ["KEEP"]


@pytest.mark.django_db
def test_patient_name_matches_per_component_with_wildcards_ignoring_case():
    _appointment("A1", datetime(2026, 3, 10, 9, tzinfo=AMS), family="Jansen", given="Anna")
    _appointment("A2", datetime(2026, 3, 10, 10, tzinfo=AMS), family="Janssen", given="Bea")
    _appointment("A3", datetime(2026, 3, 10, 11, tzinfo=AMS), family="de Vries", given="Anna")
    assert _found(PatientName="jans*") == ["A1", "A2"]
    assert _found(PatientName="JANSEN") == ["A1"]
    assert _found(PatientName="Jans?en") == ["A2"]
    assert _found(PatientName="*^anna") == ["A1", "A3"]
    assert _found(PatientName="de v*^A*") == ["A3"]
    assert _found(PatientName="Jansen^Anna^^Dr") == []


@pytest.mark.django_db
def test_ids_modality_station_and_date_range_narrow_the_list():
    _appointment("ACC1", datetime(2026, 3, 10, 9, tzinfo=AMS), patient_id="111", station="US1")
    _appointment("ACC2", datetime(2026, 3, 10, 10, tzinfo=AMS), patient_id="222", station="US2")
    _appointment("ACC3", datetime(2026, 3, 10, 11, tzinfo=AMS), patient_id="333")
    _appointment("ACC4", datetime(2026, 3, 12, 9, tzinfo=AMS), patient_id="444", modality="MR")
    assert _found(PatientID="222") == ["ACC2"]
    assert _found(AccessionNumber="ACC?") == ["ACC1", "ACC2", "ACC3"]
    assert _found(AccessionNumber="ACC3") == ["ACC3"]
    # An appointment without a station is offered to every station.
    assert _found(ScheduledStationAETitle="US1") == ["ACC1", "ACC3"]
    assert _found(ScheduledProcedureStepStartDate="20260310-20260312") == [
        "ACC1",
        "ACC2",
        "ACC3",
        "ACC4",
    ]
    assert _found(ScheduledProcedureStepStartDate="20260312", Modality="US") == []
    assert _found(ScheduledProcedureStepStartDate="20260312", Modality="MR") == ["ACC4"]


@pytest.mark.django_db
def test_the_response_holds_what_was_asked_filled_or_empty():
    appointment = _appointment("ACC9", datetime(2026, 3, 10, 14, 5, tzinfo=AMS), station="US1")
    identifier = _query()
    identifier.PatientBirthDate = ""
    identifier.PatientSex = ""
    identifier.StudyInstanceUID = ""
    identifier.RequestedProcedureDescription = ""
    identifier.ReferringPhysicianName = ""  # asked, not known: returned empty
    identifier.ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartTime = ""
    response = worklist_response(appointment, identifier, tz=AMS)
    assert response.PatientName == "Jansen^Anna"
    assert response.PatientID == "P-ACC9"
    assert response.PatientBirthDate == "19900517"
    assert response.PatientSex == "F"
    assert response.AccessionNumber == "ACC9"
    assert response.StudyInstanceUID == appointment.study_instance_uid
    assert response.RequestedProcedureDescription == "20-week anomaly scan"
    assert "ReferringPhysicianName" in response
    assert not response.ReferringPhysicianName
    assert "RequestedProcedureID" not in response  # not asked
    step = response.ScheduledProcedureStepSequence[0]
    assert step.Modality == "US"
    assert step.ScheduledStationAETitle == "US1"
    assert step.ScheduledProcedureStepStartDate == "20260310"
    assert step.ScheduledProcedureStepStartTime == "140500"


# --- round trips ----------------------------------------------------------------------------


def _findscu_query(folder: Path, **keys: str) -> Path:
    identifier = _query(**keys)
    identifier.PatientBirthDate = ""
    identifier.StudyInstanceUID = ""
    identifier.RequestedProcedureDescription = ""
    step = identifier.ScheduledProcedureStepSequence[0]
    step.ScheduledProcedureStepStartTime = ""
    step.ScheduledProcedureStepDescription = ""
    path = folder / "query.dcm"
    identifier.save_as(path, implicit_vr=False, little_endian=True)
    return path


@pytest.mark.dicom
@time_machine.travel(datetime(2026, 3, 10, 8, 0, tzinfo=AMS), tick=True)
def test_findscu_gets_todays_matching_appointments(listener, tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="pynetdicom")
    _appointment("MWL1", datetime(2026, 3, 10, 9, 30, tzinfo=AMS), family="Müller", given="Eva")
    _appointment("MWL2", datetime(2026, 3, 10, 11, 0, tzinfo=AMS), family="Bakker", station="US2")
    _appointment("MWL3", datetime(2026, 3, 11, 9, 0, tzinfo=AMS), family="Smit")
    query = _findscu_query(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    result = dcmtk(
        "findscu", "-W", "-aec", "ECHOSHARE", "-aet", "US1", "-X", "-od", out,
        listener.host, listener.port, query,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    responses = [dcmread(path) for path in sorted(out.iterdir())]
    found = {ds.AccessionNumber: ds for ds in responses}
    assert set(found) == {"MWL1", "MWL2"}
    assert found["MWL1"].PatientName == "Müller^Eva"
    step = found["MWL1"].ScheduledProcedureStepSequence[0]
    assert (step.ScheduledProcedureStepStartDate, step.ScheduledProcedureStepStartTime) == (
        "20260310",
        "093000",
    )

    narrowed = _findscu_query(tmp_path, PatientName="bak*", ScheduledStationAETitle="US2")
    out2 = tmp_path / "out2"
    out2.mkdir()
    result = dcmtk(
        "findscu", "-W", "-aec", "ECHOSHARE", "-X", "-od", out2,
        listener.host, listener.port, narrowed,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert [dcmread(p).AccessionNumber for p in out2.iterdir()] == ["MWL2"]
    # pynetdicom would log whole query identifiers (names) at INFO: switched off.
    assert "bak*" not in caplog.text
    assert "Bakker" not in caplog.text


def _c_find(listener, identifier: Dataset) -> list[tuple[int, Dataset | None]]:
    ae = AE(ae_title="US1")
    ae.add_requested_context(ModalityWorklistInformationFind)
    assoc = ae.associate(listener.host, listener.port, ae_title="ECHOSHARE")
    assert assoc.is_established
    answers = [(status.Status, found) for status, found in assoc.send_c_find(
        identifier, ModalityWorklistInformationFind
    )]  # fmt: skip
    assoc.release()
    return answers


@pytest.mark.dicom
def test_pynetdicom_gets_a_date_range_with_patient_id(listener):
    _appointment("R1", datetime(2026, 4, 1, 9, tzinfo=AMS), patient_id="900")
    _appointment("R2", datetime(2026, 4, 2, 9, tzinfo=AMS), patient_id="900")
    _appointment("R3", datetime(2026, 4, 2, 10, tzinfo=AMS), patient_id="901")
    identifier = _query(PatientID="900", ScheduledProcedureStepStartDate="20260401-20260430")
    answers = _c_find(listener, identifier)
    assert [status for status, _ in answers] == [0xFF00, 0xFF00, 0x0000]
    assert [found.AccessionNumber for _, found in answers[:2]] == ["R1", "R2"]


@pytest.mark.dicom
def test_a_malformed_date_gets_a_failure_status(listener):
    answers = _c_find(listener, _query(ScheduledProcedureStepStartDate="2026-04"))
    assert answers == [(0xA900, None)]


@pytest.mark.dicom
def test_a_worklist_query_can_be_cancelled(listener, monkeypatch):
    for number in range(5):
        _appointment(f"C{number}", datetime(2026, 4, 1, 9 + number, tzinfo=AMS))
    # The listener would answer five appointments faster than the C-CANCEL can arrive: the
    # second answer waits until the listener has received the cancel request, so the third
    # finds it (the handler checks before each answer).
    built: list[str] = []

    def slow_response(appointment: Appointment, identifier: Dataset, *, tz: Any) -> Dataset:
        built.append(appointment.accession_number)
        if len(built) == 2:
            dimse = threading.current_thread().dimse  # type: ignore[attr-defined]
            deadline = time.monotonic() + 10
            while not dimse.cancel_req and time.monotonic() < deadline:
                time.sleep(0.01)
        return worklist_response(appointment, identifier, tz=tz)

    monkeypatch.setattr(handlers, "worklist_response", slow_response)
    ae = AE(ae_title="US1")
    ae.add_requested_context(ModalityWorklistInformationFind)
    assoc = ae.associate(listener.host, listener.port, ae_title="ECHOSHARE")
    assert assoc.is_established
    context_id = assoc.accepted_contexts[0].context_id
    identifier = _query(ScheduledProcedureStepStartDate="20260401")
    statuses = []
    for status, _ in assoc.send_c_find(identifier, ModalityWorklistInformationFind, msg_id=7):
        statuses.append(status.Status)
        if len(statuses) == 1:
            assoc.send_c_cancel(7, context_id)
    # No further request on this association: pynetdicom as a requestor may then lose the
    # response to its own reactor thread (a race in its pause flag after a C-FIND), which
    # says nothing about the listener.
    assoc.release()
    assert assoc.is_released
    assert statuses == [0xFF00, 0xFF00, 0xFE00]
    assert built == ["C0", "C1"]
