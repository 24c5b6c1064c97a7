"""The DICOM listener: one pynetdicom AE with explicit presentation contexts and handlers.

C-STORE data is streamed to a spool file in the archive's temporary folder while it arrives
(echoshare/dicomnet/spool.py): memory stays flat for a 173 MB cine, and the archive's ingest
can rename the file into place on the same filesystem instead of copying it.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

import pynetdicom
import pynetdicom.dimse_messages
from pynetdicom import AE, evt
from pynetdicom.transport import ThreadedAssociationServer

from echoshare.archive.services import archive_tmp_dir
from echoshare.dicomnet import handlers, large_reads, wakeups
from echoshare.dicomnet.config import DicomConfig
from echoshare.dicomnet.contexts import (
    MODALITY_WORKLIST_FIND,
    PLAIN_TRANSFER_SYNTAXES,
    STORAGE_SOP_CLASSES,
    STORAGE_TRANSFER_SYNTAXES,
    VERIFICATION,
)
from echoshare.dicomnet.spool import spool_clean_stale, spool_file

logger = logging.getLogger("echoshare.dicomnet")


def _configure_pynetdicom() -> None:
    pynetdicom._config.STORE_RECV_CHUNKED_DATASET = True
    # pynetdicom logs whole identifiers at INFO: patient names and IDs (G2).
    pynetdicom._config.LOG_REQUEST_IDENTIFIERS = False
    pynetdicom._config.LOG_RESPONSE_IDENTIFIERS = False
    pynetdicom.dimse_messages.NamedTemporaryFile = spool_file  # type: ignore[attr-defined,assignment]
    wakeups.install()  # no fixed 1 ms sleeps per image (docs/performance.md, Ingest)
    large_reads.install()  # a PDU in a few reads, not in 4 KiB pieces


def build_ae(config: DicomConfig) -> AE:
    ae = AE(ae_title=config.archive_ae)
    # Called AE titles are checked by handle_requested: there are two of them.
    ae.require_called_aet = False
    ae.network_timeout = config.idle_timeout
    ae.acse_timeout = config.acse_timeout
    ae.dimse_timeout = config.dimse_timeout
    ae.maximum_associations = config.max_associations
    ae.maximum_pdu_size = config.max_pdu
    for sop_class in STORAGE_SOP_CLASSES:
        ae.add_supported_context(sop_class, list(STORAGE_TRANSFER_SYNTAXES))
    ae.add_supported_context(VERIFICATION, list(PLAIN_TRANSFER_SYNTAXES))
    ae.add_supported_context(MODALITY_WORKLIST_FIND, list(PLAIN_TRANSFER_SYNTAXES))
    return ae


def event_handlers(config: DicomConfig) -> list[Any]:
    return [
        (evt.EVT_REQUESTED, handlers.handle_requested, [config]),
        (evt.EVT_C_ECHO, handlers.handle_echo),
        (evt.EVT_C_FIND, handlers.handle_find),
        (evt.EVT_C_STORE, handlers.handle_store, [config]),
        (evt.EVT_RELEASED, handlers.handle_association_end),
        (evt.EVT_ABORTED, handlers.handle_association_end),
        (evt.EVT_CONN_CLOSE, handlers.handle_connection_closed),
    ]


class _ReusePortServer(ThreadedAssociationServer):
    """Lets several listener processes share one port; the kernel spreads connections."""

    def server_bind(self) -> None:
        assert self.socket is not None
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()


def dicom_server_start(
    *, config: DicomConfig | None = None, reuse_port: bool = False
) -> ThreadedAssociationServer:
    """Start listening in a background thread; `server.server_address` has the real port."""
    config = config or DicomConfig.from_settings()
    _configure_pynetdicom()
    archive_tmp_dir().mkdir(parents=True, exist_ok=True)
    spool_clean_stale()
    ae = build_ae(config)
    server_class = _ReusePortServer if reuse_port else ThreadedAssociationServer
    server = ae.make_server(
        (config.bind_address, config.port),
        evt_handlers=event_handlers(config),
        server_class=server_class,
    )
    ae._servers.append(server)
    thread = threading.Thread(target=server.serve_forever, name="dicom-listener", daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    logger.info(
        "DICOM listening on %s:%s as %s (archive) and %s (patient)",
        host,
        port,
        config.archive_ae,
        config.patient_ae,
    )
    return server


def dicom_server_stop(server: ThreadedAssociationServer, *, grace: float) -> None:
    """Stop accepting, let running associations finish for up to `grace` seconds, then abort
    what is left (an aborted C-STORE was never acknowledged, so nothing is lost)."""
    server.shutdown()
    deadline = time.monotonic() + grace
    while server.active_associations and time.monotonic() < deadline:
        time.sleep(0.05)
    for assoc in server.active_associations:
        assoc.abort()
    for assoc in server.active_associations:
        assoc.join(timeout=5)
