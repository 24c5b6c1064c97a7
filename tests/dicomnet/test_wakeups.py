"""The listener's waits end when there is work (echoshare/dicomnet/wakeups.py)."""

from __future__ import annotations

import gc
import os
import queue
import socket
import threading
import time
from types import SimpleNamespace
from typing import Any

import pynetdicom.association
import pynetdicom.dul
import pytest

from echoshare.dicomnet import wakeups

LONG = 30.0  # a wait that ends early ends long before this


class _Dul:
    """What _dul_wait uses of a DULServiceProvider (a plain class: it must be weakly
    referenced, as the real one can)."""

    def __init__(self, sock: socket.socket) -> None:
        self.socket = SimpleNamespace(socket=sock)
        self.to_provider_queue: queue.Queue[Any] = queue.Queue()


def _dul(sock: socket.socket) -> Any:
    return _Dul(sock)


def test_a_dul_wait_ends_as_soon_as_bytes_arrive():
    ours, peer = socket.socketpair()
    with ours, peer:
        peer.sendall(b"\x04")
        dul = _dul(ours)
        started = time.monotonic()
        wakeups._dul_wait(dul, LONG)
        assert time.monotonic() - started < LONG / 2


def test_a_dul_wait_ends_when_a_status_is_queued_to_be_sent():
    ours, peer = socket.socketpair()
    with ours, peer:
        dul = _dul(ours)
        wakeups._dul_wait(dul, 0.001)  # the doorbell is fitted on the first wait
        threading.Timer(0.05, dul.to_provider_queue.put, ["P-DATA"]).start()
        started = time.monotonic()
        wakeups._dul_wait(dul, LONG)
        assert time.monotonic() - started < LONG / 2
        assert dul.to_provider_queue.get_nowait() == "P-DATA"  # left for the reactor
        started = time.monotonic()
        wakeups._dul_wait(dul, 0.05)  # the ring was answered: no early wake-up again
        assert time.monotonic() - started >= 0.04


def test_the_doorbell_pipe_closes_with_its_dul():
    ours, peer = socket.socketpair()
    with ours, peer:
        dul = _dul(ours)
        wakeups._dul_wait(dul, 0.001)
        bell = dul._echoshare_doorbell
        os.fstat(bell)
        del dul
        gc.collect()
        with pytest.raises(OSError):
            os.fstat(bell)


def test_an_association_wait_ends_when_a_message_is_decoded():
    messages: queue.Queue[Any] = queue.Queue()
    assoc = SimpleNamespace(dimse=SimpleNamespace(msg_queue=messages))
    threading.Timer(0.05, messages.put, [(1, "C-STORE-RQ")]).start()
    started = time.monotonic()
    wakeups._association_wait(assoc, LONG)  # type: ignore[arg-type]
    assert time.monotonic() - started < LONG / 2
    assert messages.get_nowait() == (1, "C-STORE-RQ")  # the wait leaves it for the reactor


def test_installing_keeps_the_rest_of_the_time_module_for_pynetdicom():
    wakeups.install()
    assert pynetdicom.dul.time.monotonic() > 0
    assert pynetdicom.association.time.time() > 0
    started = time.monotonic()
    pynetdicom.dul.time.sleep(0.01)  # not a pynetdicom thread: an ordinary sleep
    assert time.monotonic() - started >= 0.01
