"""Verification (C-ECHO) and who may associate (F3): called and calling AE titles, addresses,
idle timeout."""

from __future__ import annotations

import socket
import time

import pytest
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from echoshare.dicomnet.config import AllowedCaller, DicomConfig
from tests.dicomnet.conftest import dcmtk, test_config

pytestmark = pytest.mark.dicom


def _echo(listener, *, called: str, calling: str = "US_ROOM1") -> tuple[bool, int | None]:
    ae = AE(ae_title=calling)
    ae.add_requested_context(Verification)
    ae.acse_timeout = 5
    assoc = ae.associate(listener.host, listener.port, ae_title=called)
    if not assoc.is_established:
        result = assoc.acceptor.primitive.diagnostic if assoc.is_rejected else None
        return False, result
    status = assoc.send_c_echo()
    assoc.release()
    return status.Status == 0x0000, None


def test_it_answers_echoscu_on_both_called_ae_titles(listener):
    for called in (listener.archive_ae, listener.patient_ae):
        result = dcmtk("echoscu", "-aec", called, "-aet", "US_ROOM1", listener.host, listener.port)
        assert result.returncode == 0, result.stderr


def test_it_rejects_an_unknown_called_ae_title_at_association(listener):
    result = dcmtk("echoscu", "-aec", "SOMEONE_ELSE", listener.host, listener.port)
    assert result.returncode != 0
    assert "called ae title not recogni" in (result.stdout + result.stderr).lower()

    established, diagnostic = _echo(listener, called="SOMEONE_ELSE")
    assert not established
    assert diagnostic == 0x07


def test_it_rejects_unknown_calling_ae_titles_when_callers_are_configured(start_listener):
    callers = (AllowedCaller.parse("US_ROOM1"), AllowedCaller.parse("US_ROOM2@127.0.0.1"))
    listener = start_listener(allowed_callers=callers)

    assert _echo(listener, called="ECHOSHARE", calling="US_ROOM1") == (True, None)
    assert _echo(listener, called="ECHOSHARE", calling="US_ROOM2") == (True, None)
    assert _echo(listener, called="ECHOSHARE", calling="INTRUDER") == (False, 0x03)
    result = dcmtk("echoscu", "-aet", "INTRUDER", "-aec", "ECHOSHARE", "127.0.0.1", listener.port)
    assert "calling ae title not recogni" in (result.stdout + result.stderr).lower()


def test_it_rejects_an_allowed_ae_title_from_another_address(start_listener):
    listener = start_listener(allowed_callers=(AllowedCaller.parse("US_ROOM1@10.9.8.7"),))
    assert _echo(listener, called="ECHOSHARE", calling="US_ROOM1") == (False, 0x03)


def test_it_keeps_serving_after_rejections(listener):
    for _ in range(3):
        assert _echo(listener, called="WRONG")[0] is False
    assert _echo(listener, called="ECHOSHARE") == (True, None)


def _associate(listener, calling: str = "US_ROOM1"):  # type: ignore[no-untyped-def]
    ae = AE(ae_title=calling)
    ae.add_requested_context(Verification)
    ae.acse_timeout = 5
    return ae.associate(listener.host, listener.port, ae_title="ECHOSHARE")


def test_associations_beyond_the_limit_are_rejected_and_the_others_keep_working(
    start_listener,
):
    listener = start_listener(max_associations=2)
    held = [_associate(listener, f"US_ROOM{n}") for n in (1, 2)]
    assert all(assoc.is_established for assoc in held)

    extra = _associate(listener, "US_ROOM3")
    assert extra.is_rejected
    rejection = extra.acceptor.primitive
    # Rejected-transient, service provider (presentation), local limit exceeded (PS3.8 9.3.4).
    assert (rejection.result, rejection.result_source, rejection.diagnostic) == (0x02, 0x03, 0x02)
    result = dcmtk("echoscu", "-aec", "ECHOSHARE", listener.host, listener.port)
    assert result.returncode != 0
    assert "local limit exceeded" in (result.stdout + result.stderr).lower()

    for assoc in held:
        assert assoc.send_c_echo().Status == 0x0000
    held[0].release()
    # One place is free again once the released association's thread has ended.
    deadline = time.monotonic() + 10
    while len(listener.server.active_associations) > 1:
        assert time.monotonic() < deadline, "the released association is still counted"
        time.sleep(0.05)
    again = _associate(listener, "US_ROOM3")
    assert again.is_established
    assert again.send_c_echo().Status == 0x0000
    again.release()
    held[1].release()


def test_it_drops_an_idle_association(start_listener):
    listener = start_listener(idle_timeout=1)
    ae = AE(ae_title="US_ROOM1")
    ae.add_requested_context(Verification)
    assoc = ae.associate(listener.host, listener.port, ae_title="ECHOSHARE")
    assert assoc.is_established
    deadline = time.monotonic() + 15
    while assoc.is_established and time.monotonic() < deadline:
        time.sleep(0.1)
    assert assoc.is_aborted


def test_it_drops_a_connection_that_never_asks_to_associate(start_listener):
    listener = start_listener(acse_timeout=1)
    with socket.create_connection((listener.host, listener.port), timeout=15) as sock:
        assert sock.recv(1) == b""  # closed by the listener, not by our timeout


def test_config_refusal_names_the_reason():
    config = test_config(allowed_callers=(AllowedCaller.parse("A@1.2.3.4"),))
    assert isinstance(config, DicomConfig)
    assert config.refusal(called_ae="X", calling_ae="A", address="1.2.3.4") == (
        "called AE title not recognised"
    )
    assert config.refusal(called_ae="ECHOSHARE", calling_ae="A", address="1.2.3.5") == (
        "calling AE title not recognised"
    )
    assert config.refusal(called_ae="ECHOSHARE_PT", calling_ae="A", address="1.2.3.4") is None
