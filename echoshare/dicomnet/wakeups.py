"""Waits that end when there is work, in place of pynetdicom's fixed 1 ms polling sleeps.

pynetdicom runs two polling threads per association: the DUL thread sleeps 1 ms each time it
found nothing to do, and the association thread looks for a decoded DIMSE message every 1 ms.
A scanner sends one image and waits for its status before sending the next, so every such
sleep is added to every image (several per image; under load each sleep lasts longer).
`install()` makes those two sleeps end early: the DUL thread as soon as bytes arrive on its
socket (and, for a while after traffic, within 0.2 ms of a status waiting to be sent), the
association thread as soon as a message is decoded. The longest wait stays the original
1 ms, so an idle association costs about what it did. Every other sleep in pynetdicom is left
as it was.
"""

from __future__ import annotations

import select
import threading
import time
from typing import Any

import pynetdicom.association
import pynetdicom.dul
from pynetdicom.association import Association
from pynetdicom.dul import DULServiceProvider

_REACTOR_DELAY = 0.001  # the association reactor's sleep (pynetdicom/association.py)
# For this long after bytes arrived (an image, then its ingest), a waiting DUL thread also
# looks for a status to send every _SLICE; an association quiet for longer is back to the
# original cadence, so idle associations cost no more CPU than before.
_BUSY = 0.5
_SLICE = 0.0002


def _dul_wait(dul: DULServiceProvider, seconds: float) -> None:
    sock = getattr(dul.socket, "socket", None)
    if sock is None:
        time.sleep(seconds)
        return
    now = time.monotonic()
    deadline = now + seconds
    step = _SLICE if now < getattr(dul, "_echoshare_busy_until", 0.0) else seconds
    try:
        while dul.to_provider_queue.empty():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            if select.select([sock], [], [], min(remaining, step))[0]:
                dul._echoshare_busy_until = time.monotonic() + _BUSY  # type: ignore[attr-defined]
                return
    except (OSError, ValueError):  # closed meanwhile: the reactor sees that next round
        time.sleep(max(0.0, deadline - time.monotonic()))


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
