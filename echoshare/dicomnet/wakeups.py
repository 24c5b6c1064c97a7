"""Waits that end when there is work, in place of pynetdicom's fixed 1 ms polling sleeps.

pynetdicom runs two polling threads per association: the DUL thread sleeps 1 ms each time it
found nothing to do, and the association thread looks for a decoded DIMSE message every 1 ms.
A scanner sends one image and waits for its status before sending the next, so every such
sleep is added to every image (several per image; under load each sleep lasts longer).
`install()` makes those two sleeps end early: the DUL thread as soon as bytes arrive on its
socket or a PDU is queued for sending (a "doorbell" pipe rung by the queue's `put`), the
association thread as soon as a message is decoded. Neither polls: the longest wait stays
the original 1 ms, so an idle association costs what it did, and a busy one spends no CPU
(and no GIL) on waking up to look. Every other sleep in pynetdicom is left as it was.
"""

from __future__ import annotations

import os
import select
import threading
import time
import weakref
from typing import Any

import pynetdicom.association
import pynetdicom.dul
from pynetdicom.association import Association
from pynetdicom.dul import DULServiceProvider

_REACTOR_DELAY = 0.001  # the association reactor's sleep (pynetdicom/association.py)


def _doorbell(dul: DULServiceProvider) -> int:
    """The read end of a pipe that gets a byte whenever a PDU is queued for this DUL."""
    bell = getattr(dul, "_echoshare_doorbell", None)
    if bell is not None:
        return int(bell)
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    os.set_blocking(write_end, False)
    queue = dul.to_provider_queue
    put = queue.put

    def ring_after_put(item: Any, block: bool = True, timeout: float | None = None) -> None:
        put(item, block, timeout)
        try:
            os.write(write_end, b"\0")
        except BlockingIOError:  # the pipe is full of rings already: the DUL will wake
            pass
        except OSError:  # closed: the association is over
            pass

    queue.put = ring_after_put  # type: ignore[method-assign]
    # The pipe lives as long as the DUL object; an association ends its DUL for good.
    weakref.finalize(dul, _close_pair, read_end, write_end)
    dul._echoshare_doorbell = read_end  # type: ignore[attr-defined]
    return read_end


def _close_pair(read_end: int, write_end: int) -> None:
    for fd in (read_end, write_end):
        try:
            os.close(fd)
        except OSError:
            pass


def _dul_wait(dul: DULServiceProvider, seconds: float) -> None:
    sock = getattr(dul.socket, "socket", None)
    if sock is None:
        time.sleep(seconds)
        return
    bell = _doorbell(dul)
    if not dul.to_provider_queue.empty():
        return
    try:
        ready = select.select([sock, bell], [], [], seconds)[0]
    except (OSError, ValueError):  # closed meanwhile: the reactor sees that next round
        time.sleep(seconds)
        return
    if bell in ready:
        try:
            os.read(bell, 4096)  # every ring is answered by this one look at the queue
        except OSError:
            pass


def _association_wait(assoc: Association, seconds: float) -> None:
    messages = assoc.dimse.msg_queue
    with messages.not_empty:
        if not messages.queue:
            messages.not_empty.wait(seconds)


class _WakingTime:
    """Stands in for the `time` module inside pynetdicom.dul and pynetdicom.association."""

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        thread = threading.current_thread()
        if isinstance(thread, DULServiceProvider):
            _dul_wait(thread, seconds)
        elif isinstance(thread, Association) and seconds == _REACTOR_DELAY:
            _association_wait(thread, seconds)
        else:
            time.sleep(seconds)


def install() -> None:
    """Idempotent; called when the listener starts."""
    pynetdicom.dul.time = _WakingTime()  # type: ignore[assignment]
    pynetdicom.association.time = _WakingTime()  # type: ignore[assignment]
