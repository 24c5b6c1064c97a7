"""The staff pages in Dutch and English, by the browser's language."""

from __future__ import annotations

from typing import Any

from echoshare.clinic.models import Appointment


def test_the_pages_follow_the_browsers_language(client_for: Any, exam: Appointment) -> None:
    client = client_for("sonographer")
    dutch = client.get("/staff/today/", HTTP_ACCEPT_LANGUAGE="nl").content.decode()
    assert "Afspraken op" in dutch and "beelden ontvangen" in dutch
    english = client.get("/staff/today/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Appointments on" in english and "images received" in english
    page = client.get(f"/staff/exams/{exam.accession_number}/", HTTP_ACCEPT_LANGUAGE="nl")
    assert "Naar patiënt sturen" in page.content.decode()
    assert "Wat de patiënt krijgt" in page.content.decode()
