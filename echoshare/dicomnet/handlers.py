"""pynetdicom event handlers: adapters that decode, check, call one service and answer a
DIMSE status (CONVENTIONS 4). They run in association threads, so each opens and closes its
database work with `close_old_connections()`.

Nothing received is logged unescaped (G4) and no patient data is logged at all: association
logs carry AE titles, the peer's address and counts.
"""

from __future__ import annotations

import errno
import logging
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import close_old_connections, connections
from django.utils import timezone
from pydicom.dataset import Dataset

from echoshare.archive.services import IngestOrigin, IngestRefused, Written, instance_store
from echoshare.core.logging import scrub
from echoshare.dicomnet.config import DicomConfig
from echoshare.dicomnet.spool import HashingSpool
from echoshare.dicomnet.worklist import (
    WorklistQueryError,
    worklist_appointments,
    worklist_query_parse,
    worklist_response,
)

logger = logging.getLogger("echoshare.dicomnet")

# DIMSE statuses (PS3.4 B.2.3, C.4.1.1.4, PS3.7 C).
SUCCESS = 0x0000
PENDING = 0xFF00
CANCEL = 0xFE00
PROCESSING_FAILURE = 0x0110
OUT_OF_RESOURCES = 0xA700
IDENTIFIER_DOES_NOT_MATCH = 0xA900
UNABLE_TO_PROCESS = 0xC000


@dataclass
class AssociationStats:
    started: float = field(default_factory=time.monotonic)
    stored: int = 0
    duplicates: int = 0
    refused: int = 0
    found: int = 0


_stats: weakref.WeakKeyDictionary[Any, AssociationStats] = weakref.WeakKeyDictionary()
_stats_lock = threading.Lock()


def _stats_of(assoc: Any) -> AssociationStats:
    with _stats_lock:
        return _stats.setdefault(assoc, AssociationStats())


def called_ae_of(assoc: Any) -> str:
    return str(assoc.requestor.primitive.called_ae_title).strip()


def calling_ae_of(assoc: Any) -> str:
    return str(assoc.requestor.primitive.calling_ae_title).strip()


def handle_requested(event: Any, config: DicomConfig) -> None:
    """EVT_REQUESTED: reject unknown called and, when configured, calling AE titles (F3)."""
    assoc = event.assoc
    called, calling, address = called_ae_of(assoc), calling_ae_of(assoc), assoc.requestor.address
    reason = config.refusal(called_ae=called, calling_ae=calling, address=address)
    if reason is None:
        _stats_of(assoc)
        return
    logger.warning(
        "association rejected: %s (calling %s, called %s, from %s)",
        reason,
        scrub(calling),
        scrub(called),
        address,
    )
    # Rejected permanent, by the service user; diagnostics 0x07 / 0x03 (PS3.8 9.3.4).
    diagnostic = 0x07 if reason.startswith("called") else 0x03
    assoc.acse.send_reject(0x01, 0x01, diagnostic)
    assoc.kill()


def handle_association_end(event: Any) -> None:
    """EVT_RELEASED / EVT_ABORTED: one log line per association, and close this thread's
    database connection (the thread ends with the association)."""
    assoc = event.assoc
    with _stats_lock:
        stats = _stats.pop(assoc, None)
    if stats is not None:
        logger.info(
            "association %s: calling %s, called %s, from %s, %.1f s, stored %d, "
            "duplicates %d, refused %d, worklist items %d",
            event.event.name.removeprefix("EVT_").lower(),
            scrub(calling_ae_of(assoc)),
            scrub(called_ae_of(assoc)),
            assoc.requestor.address,
            time.monotonic() - stats.started,
            stats.stored,
            stats.duplicates,
            stats.refused,
            stats.found,
        )
    if threading.current_thread() is assoc:
        connections.close_all()


def handle_connection_closed(event: Any) -> None:
    """EVT_CONN_CLOSE: drop the spool file of a C-STORE cut off half-way (abort, timeout);
    pynetdicom only removes the files of requests that reached the handler."""
    message = getattr(event.assoc.dimse, "message", None)
    spool = getattr(message, "_data_set_file", None)
    if spool is None:
        return
    spool.close()
    Path(spool.name).unlink(missing_ok=True)


def handle_echo(event: Any) -> int:
    return SUCCESS


def handle_store(event: Any, config: DicomConfig) -> int | Dataset:
    """EVT_C_STORE: hand the spooled file to the archive's ingest; answer its outcome."""
    assoc = event.assoc
    called = called_ae_of(assoc)
    origin = IngestOrigin(
        source="dicom",
        calling_ae=calling_ae_of(assoc),
        called_ae=called,
        address=str(assoc.requestor.address),
        for_patient=called == config.patient_ae,
    )
    stats = _stats_of(assoc)
    spool = _spool_of(event)
    if spool is not None and spool.failed is not None:
        # The data set never reached the disk whole (E4): the spool file is gone already and
        # nothing goes to the archive.
        stats.refused += 1
        logger.error("C-STORE not spooled: %s", scrub(str(spool.failed)))
        return _storage_error(spool.failed)
    close_old_connections()
    try:
        result = instance_store(
            path=Path(event.dataset_path), origin=origin, move=True, written=_written(event)
        )
    except IngestRefused as refused:
        stats.refused += 1
        logger.warning("C-STORE refused 0x%04X: %s", refused.status, scrub(refused.reason))
        return _status(refused.status, refused.reason)
    except OSError as exc:
        stats.refused += 1
        logger.exception("C-STORE failed: %s", scrub(str(exc)))
        return _storage_error(exc)
    except Exception:
        stats.refused += 1
        logger.exception("C-STORE failed")
        return _status(PROCESSING_FAILURE, "internal error")
    finally:
        close_old_connections()
    if result.created:
        stats.stored += 1
    else:
        stats.duplicates += 1
    return SUCCESS


def _spool_of(event: Any) -> HashingSpool | None:
    spool = getattr(event.request, "_dataset_file", None)
    return spool if isinstance(spool, HashingSpool) else None


def _written(event: Any) -> Written | None:
    """The SHA-256 and size of the spooled data set, hashed as pynetdicom wrote it."""
    spool = _spool_of(event)
    if spool is not None:
        return Written(sha256=spool.sha256(), size=spool.size)
    return None


def _storage_error(exc: OSError) -> Dataset:
    """A full disk or quota is Out of Resources (the sender may retry later); any other I/O
    error is a processing failure."""
    no_room = exc.errno in (errno.ENOSPC, errno.EDQUOT)
    if no_room:
        return _status(OUT_OF_RESOURCES, "out of disk space")
    return _status(PROCESSING_FAILURE, "storage error")


def handle_find(event: Any) -> Iterator[tuple[int | Dataset, Dataset | None]]:
    """EVT_C_FIND (Modality Worklist): one pending response per matching appointment."""
    stats = _stats_of(event.assoc)
    tz = timezone.get_default_timezone()
    close_old_connections()
    try:
        identifier = event.identifier
        query = worklist_query_parse(identifier, today=timezone.localdate())
        appointments = list(worklist_appointments(query, tz=tz))
    except WorklistQueryError as exc:
        logger.warning("worklist query refused: %s", scrub(str(exc)))
        yield _status(IDENTIFIER_DOES_NOT_MATCH, str(exc)), None
        return
    except Exception:
        logger.exception("worklist query failed")
        yield _status(UNABLE_TO_PROCESS, "internal error"), None
        return
    finally:
        close_old_connections()
    for appointment in appointments:
        if event.is_cancelled:
            yield CANCEL, None
            return
        stats.found += 1
        yield PENDING, worklist_response(appointment, identifier, tz=tz)


def _status(status: int, comment: str) -> Dataset:
    """A failure status with an Error Comment (LO: 64 characters, no control characters)."""
    answer = Dataset()
    answer.Status = status
    answer.ErrorComment = scrub(comment)[:64]
    return answer
